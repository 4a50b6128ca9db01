"""A COCO instances document's categories and images staged in the import's engine.

The categories are read in Python (they are few, and their keypoint names go to the catalog);
the images SQL vouches for are converted by workbench.ingest._coco_sql.IMAGES and the others
by the per-record path's own functions, with its errors, into `_wb_images`: the first image of
each id, numbered `o` in file order.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from workbench.errors import RecordError
from workbench.ingest import _coco_sql as sql
from workbench.ingest._coco_annotations import Categories, keypoint_labels, read_categories
from workbench.ingest._coco_kwcoco import KwcocoPoints
from workbench.ingest.jsonread import Unreadable, loads
from workbench.ingest.report import is_record_failure, record_error
from workbench.ingest.writer import CatalogWriter, _promoted
from workbench.model.records import PROMOTED_KEYS

if TYPE_CHECKING:
    from workbench.ingest.coco import _Instances


def stage_categories(con: Any, path: Path, writer: CatalogWriter) -> Categories:
    items = []
    for i, text in con.execute("SELECT i, x FROM _wb_cat_items ORDER BY i").fetchall():
        value = loads(text.encode())
        if isinstance(value, Unreadable):
            writer.reject(RecordError(f"{path}, category #{i + 1}", value.problem))
            continue
        items.append((i, value))
    found = read_categories(items, str(path), writer.reject)
    writer.add_keypoint_labels(keypoint_labels(found))
    found.kwcoco = KwcocoPoints(path, writer.reject, writer.add_keypoint_labels)
    names = ["key", "id", "name", "supercategory", "keypoints"]
    rows = [
        (key(c.id), orjson.dumps(c.id).decode(), c.name, c.supercategory,
         "yes" if c.keypoints is not None else None)
        for c in found.values()
    ]  # fmt: skip
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    table = pa.table({n: pa.array(col, pa.string()) for n, col in zip(names, columns, strict=True)})
    con.register("_wb_t", table)
    con.execute("CREATE OR REPLACE TEMP TABLE _wb_cats AS SELECT * FROM _wb_t")
    con.unregister("_wb_t")
    return found


def key(value: Any) -> str:
    """A COCO id as the JSON text DuckDB gives it (1 and "1" differ)."""
    return orjson.dumps(value).decode()


def stage_images(
    con: Any,
    path: Path,
    writer: CatalogWriter,
    options: _Instances,
    frames_per_write: int,
    by_place: bool = False,
) -> int:
    """Stage `_wb_images`: the images to store, first of each id, numbered `o` in file order
    (and stored in that order when they take more than one write); the number past the last
    `o`. `o` counts the images staged, or with `by_place` (an update that left images out)
    it is the image's place in the file: each write of `frames_per_write` ordinals then holds
    the changed images of one stretch of the file, whose stored frames lie together in the
    catalog. (Counted, 1% of the images changed all over a file of 3.8M made one write of
    their 38,000 frames, which replaced frames in every row group of the catalog's tables;
    the engine holds memory for each row group a transaction deletes from until it commits,
    and ran out of the import's 256MB.)"""
    from workbench.ingest.coco import _image, _source

    folder = str(options.images_dir)
    con.execute(sql.IMAGES, {"folder": folder})
    con.execute("DROP TABLE _wb_image_items")
    extra: list[tuple[Any, ...]] = []
    errors: list[tuple[int, RecordError]] = []
    for i, text in con.execute("SELECT i, x FROM _wb_img WHERE NOT ok ORDER BY i").fetchall():
        value = loads(text.encode())
        try:
            if isinstance(value, Unreadable):
                raise RecordError(f"{path}, image #{i + 1}", value.problem)
            image = _image(value, path, i)
            meta = orjson.dumps(image.extra).decode() if image.extra else None
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            errors.append((i, record_error(exc, f"{path}, image #{i + 1}")))
            continue
        source = _source(image, options.images_dir)
        values = (image.file_name, image.width, image.height, meta)
        promoted = [_promoted(image.extra.get(k)) for k in PROMOTED_KEYS]
        extra.append(
            (i, key(image.id), str(image.id), *values, source.uri, source.content_type, *promoted)
        )
    names = ["i", "key", "id", "file_name", "width", "height", "metadata", "uri", "ctype"]
    names += list(PROMOTED_KEYS)
    types = [pa.int64(), *[pa.string()] * 3, pa.int32(), pa.int32(), *[pa.string()] * 7]
    table = pa.table(
        [pa.array(col, t) for col, t in zip(zip(*extra, strict=True), types, strict=True)]
        if extra
        else [pa.array([], t) for t in types],
        names=names,
    )
    con.register("_wb_img_rest", table)
    # The images SQL took (their URI and `probe` made by sql.IMAGES) and the others (their
    # content type found, no probe): a view, read by the few statements below, rather than a
    # copy of every image.
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _wb_all AS "
        "SELECT i, key, id, file_name, width, height, metadata, uri, NULL::VARCHAR AS ctype, "
        f"{', '.join(PROMOTED_KEYS)}, probe FROM _wb_img "
        "WHERE ok UNION ALL SELECT *, NULL FROM _wb_img_rest"
    )
    _content_types(con)
    # The first image of each id, numbered in file order by a window over the narrow
    # (i, o) rows only (a window over the wide rows cost twice the whole statement).
    # Past one write (counted before the repeated ids go), stored in that order: each write
    # then reads the row groups of its images only.
    count = "coalesce(max(i) + 1, 0)" if by_place else "count(*)"
    many = con.execute(f"SELECT {count} FROM _wb_all").fetchall()[0][0] > frames_per_write
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wb_images AS "
        "SELECT n.o, $prefix || a.id AS frame_id, a.* EXCLUDE (ctype, probe), "
        "coalesce(a.ctype, g.guess) AS ctype FROM _wb_all a JOIN "
        f"(SELECT i, {'i' if by_place else 'row_number() OVER (ORDER BY i) - 1'} AS o FROM "
        "(SELECT min(i) AS i FROM _wb_all GROUP BY id)) n ON n.i = a.i "
        "LEFT JOIN _wb_ext g ON g.probe = a.probe" + (" ORDER BY n.o" if many else ""),
        {"prefix": options.prefix},
    )
    con.execute("DROP TABLE _wb_ext")
    total = con.execute("SELECT coalesce(max(o) + 1, 0) FROM _wb_images").fetchall()[0][0]
    again = con.execute(  # an anti-join, whose table may spill, rather than NOT IN's
        "SELECT i, id FROM _wb_all a WHERE NOT EXISTS (SELECT 1 FROM _wb_images b WHERE b.i = a.i)"
    ).fetchall()
    con.execute("DROP VIEW _wb_all")
    con.unregister("_wb_img_rest")
    con.execute("DROP TABLE _wb_img")
    errors += [
        (i, RecordError(f"{path}, image {i_id}", "the id appears twice")) for i, i_id in again
    ]
    for _, error in sorted(errors, key=lambda item: item[0]):
        writer.reject(error)
    return int(total)


def _content_types(con: Any) -> None:
    """`_wb_ext`: the content type of each probe of `_wb_all` (sql.PROBE), guessed by Python's
    mimetypes once per file extension."""
    probes = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT probe FROM _wb_all WHERE probe IS NOT NULL"
        ).fetchall()
    ]
    guessed = pa.table(
        {
            "probe": pa.array(probes, pa.string()),
            "guess": pa.array([mimetypes.guess_type(p)[0] for p in probes], pa.string()),
        }
    )
    con.register("_wb_t", guessed)
    con.execute("CREATE OR REPLACE TEMP TABLE _wb_ext AS SELECT * FROM _wb_t")
    con.unregister("_wb_t")
