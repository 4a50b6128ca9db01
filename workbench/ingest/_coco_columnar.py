"""A COCO instances file imported column by column.

DuckDB parses the document's records, in pieces of about PIECE_BYTES cut from the file (in an
engine allowed that file only, held to ENGINE_MEMORY and spilling beyond), and the statements
of workbench.ingest._coco_sql check and convert every image and annotation at once; the
records SQL cannot vouch for go through the per-record path (workbench.ingest.coco and
_coco_annotations) and are stored or rejected with their usual errors (file, then image or
annotation id or number). Frames are written in the order of the file's images, whatever the
size of the file. The categories and images are staged first; then the annotations are
converted a batch of pieces at a time (ANNOTATION_BATCH_BYTES), so that their texts are never
held all at once. When the images take more than one write, the images are stored in their
order and each batch's annotations are kept by write (workbench.ingest._coco_staged), so
that each write reads its own rows only and costs the same whatever the size of the file.
"""

from __future__ import annotations

import bisect
import mimetypes
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import IngestError, RecordError
from workbench.ingest import _coco_sql as sql
from workbench.ingest._clearml_sql import MACROS
from workbench.ingest._coco_annotations import (
    Category,
    is_coco_id,
    keypoint_labels,
    read_categories,
    roi_from_annotation,
)
from workbench.ingest._coco_pieces import Member, members, pieces
from workbench.ingest._coco_rois import write_rois
from workbench.ingest._coco_staged import ByWrite, InEngine
from workbench.ingest._columnar import (
    NOT_FINITE,
    NOT_JSON,
    MemoryEngine,
    trailing_comma,
)
from workbench.ingest.jsonread import Unreadable, loads, raw_items
from workbench.ingest.report import is_record_failure, record_error
from workbench.ingest.writer import CatalogWriter, RowBatch, _promoted, _roi_row
from workbench.model.limits import MAX_JSON_DEPTH, MAX_ROIS_PER_FRAME
from workbench.model.records import (
    FRAME_SCHEMA,
    PROMOTED_KEYS,
    SOURCE_SCHEMA,
    Frame,
    Source,
)
from workbench.model.validation import WARN_OUTSIDE, WARN_ZERO_AREA, check_roi, validate_frame

if TYPE_CHECKING:
    from workbench.ingest.coco import _Instances

# DuckDB parses a document whole, with ten times its size or more: the records are parsed in
# runs of about this size (workbench.ingest._coco_pieces), whatever the size of the file.
PIECE_BYTES = 16 << 20
# The annotations' records are converted in batches of pieces of about this many bytes of
# text: the engine holds one batch's texts, not the file's.
ANNOTATION_BATCH_BYTES = 256 << 20
# A document that cannot be cut is read whole, within ENGINE_MEMORY, up to this size; past
# it, it is streamed a record at a time (memory stays flat either way).
MAX_WHOLE_BYTES = 64 << 20
# Files past this size are streamed a record at a time whatever their shape; None: no bound.
# (Only for comparing the two paths: 0 streams every file.)
MAX_DOCUMENT_BYTES: int | None = None
# The engine's own tables (every record's text, the annotations converted) spill beyond this.
ENGINE_MEMORY = "1GB"
# And, once the annotations are converted, this: each write reads back its own images' rows,
# which the engine would otherwise keep cached up to ENGINE_MEMORY.
WRITES_MEMORY = "256MB"
# What the engine's parser raises for a document that is not for it (malformed JSON, bytes
# not UTF-8, a record past its size): read record by record, each error naming its record.
_NOT_FOR_THE_ENGINE = (duckdb.InvalidInputException, duckdb.ConversionException)
# The kind of warning of a file read record by record because the engine ran out of memory.
WARN_READ_BY_RECORD = "files read record by record: the engine ran out of memory"
_ITEMS = {"categories": "_wb_cat_items", "images": "_wb_image_items", "annotations": "_wb_items"}
_FRAMES = pa.schema([f for f in FRAME_SCHEMA if f.name != "ingested"])


@dataclass
class _Stored:
    """The images stored, and annotations handled in Python, by image ordinal (`rois` in
    the order of (image ordinal, annotation number) once staged, `ordinals` their ordinals)."""

    keys: dict[str, tuple[int, str, Any, int | None, int | None]] = field(default_factory=dict)
    rois: list[tuple[Any, ...]] = field(default_factory=list)
    warnings: dict[int, list[str]] = field(default_factory=dict)
    ordinals: list[int] = field(default_factory=list)
    # The annotations SQL converted, where each write finds its own.
    staged: InEngine | ByWrite = field(default_factory=InEngine)

    def rois_of(self, first: int, last: int) -> list[tuple[Any, ...]]:
        """The ROIs made in Python of the images first..last, found by bisection: a write
        costs what its own rows cost, not a pass over every ROI of the file."""
        start = bisect.bisect_left(self.ordinals, first)
        return self.rois[start : bisect.bisect_right(self.ordinals, last, lo=start)]


def import_instances(
    path: Path, writer: CatalogWriter, options: _Instances, frames_per_write: int
) -> bool:
    """Import an instances file through SQL, `frames_per_write` images per transaction; False
    (nothing done) when DuckDB cannot read it as one document, or ran out of memory staging
    it (then with a warning in the report), so that the caller streams it record by record
    instead. Any other failure of the engine stops the import (IngestError naming the file)."""
    size = path.stat().st_size
    if MAX_DOCUMENT_BYTES is not None and size > MAX_DOCUMENT_BYTES:
        return False
    found = members(path, PIECE_BYTES)
    if found is None and size > MAX_WHOLE_BYTES:
        return False
    # Allowed to read `path` only, held to ENGINE_MEMORY, spilling to a folder of its own.
    engine = MemoryEngine(
        MACROS, files=[str(path.resolve())], memory_limit=ENGINE_MEMORY, spill="workbench-coco-"
    )
    with engine as con, tempfile.TemporaryDirectory(prefix="workbench-coco-writes-") as folder:
        before = writer.report.copy()
        try:
            staged = _stage(con, path, found, size, writer, options, frames_per_write, folder)
        except duckdb.OutOfMemoryException as exc:
            # The per-record path holds one partition of the annotations at a time, whatever
            # the engine's budget: a large file still goes in, slower, and the report says why
            # (the records the staging refused are refused again there: its errors are undone).
            writer.report = before
            writer.report.warn(WARN_READ_BY_RECORD, f"{path}: {_first_line(exc)}")
            return False
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.InterruptException):
                raise
            # An I/O error (the spill folder's disk full, the file unreadable): the per-record
            # path would meet the same disk or file, after many times the time.
            raise IngestError(f"{path}: the import's engine failed: {_first_line(exc)}") from exc
        if staged is None:
            # The categories' and images' errors are given again by the per-record path.
            writer.report = before
            return False
        total, stored = staged
        engine.hold_to(WRITES_MEMORY)
        for first in range(0, total, frames_per_write):
            _write(con, path, writer, options, stored, first, first + frames_per_write - 1)
    return True


def _stage(
    con: Any,
    path: Path,
    found: dict[str, Member] | None,
    size: int,
    writer: CatalogWriter,
    options: _Instances,
    frames_per_write: int,
    folder: str,
) -> tuple[int, _Stored] | None:
    """Stage the categories, images and annotations (nothing written yet; past one write,
    the annotations in files of `folder`, one a write): the count of images to store and the
    ROIs made in Python; None when the document is not for the engine's parser (not JSON,
    not UTF-8, or holding what only that parser takes)."""
    try:
        if not _read(con, path, found, size):
            return None
    except _NOT_FOR_THE_ENGINE:
        return None  # the per-record path names each record it refuses
    categories = _categories(con, path, writer)
    total = _images(con, path, writer, options, frames_per_write)
    many = total > frames_per_write
    stored = _Stored(staged=ByWrite(Path(folder), frames_per_write) if many else InEngine())
    try:
        for _ in _annotation_batches(con, path, found):
            stored.staged.add(con)
    except _ByRecord:
        return None
    con.execute("DROP TABLE _wb_items")
    _annotations(con, path, writer, options, categories, stored, total, frames_per_write)
    return total, stored


class _ByRecord(Exception):
    """The annotations' pieces are to be read record by record (see _read)."""


def _first_line(exc: BaseException) -> str:
    """The engine's message without its advice ("Possible solutions: ...")."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read(con: Any, path: Path, found: dict[str, Member] | None, size: int) -> bool:
    """Stage the records' texts with their numbers: `_wb_image_items`, `_wb_cat_items`, and
    for a document that is not cut (`found` None) `_wb_items` (the annotations, else read by
    _annotation_batches); a piece at a time when the document is cut.
    False when they must be read record by record instead: bytes holding a comma before a
    closing bracket (the engine's parser takes it and drops it from the record's text), or a
    document that cannot be cut holding anything only that parser takes."""
    if found is None:
        if _odd(pa.array([path.read_bytes()], pa.large_binary())) is not False:
            return False  # rare, and its records' texts as written are not at hand
        con.execute(sql.READ, {"file": str(path.resolve()), "size": size + 1})
        for key, table in _ITEMS.items():
            con.execute(sql.ITEMS_OF_DOC.format(table=table, key=key))
        con.execute("DROP TABLE _wb_doc")
        return True
    for key in ("categories", "images"):
        con.execute(sql.ITEMS_TABLE.format(table=_ITEMS[key]))
        count = 0
        for piece in pieces(path, found[key]):
            added = _piece(con, _ITEMS[key], piece, count, found[key].deepest)
            if added is None:
                return False
            count += added
    return True


def _annotation_batches(con: Any, path: Path, found: dict[str, Member] | None) -> Iterator[None]:
    """Fill `_wb_items` with the annotations' records a batch of pieces at a time (of about
    ANNOTATION_BATCH_BYTES; at least one batch, maybe of none), yielding when it holds one;
    _ByRecord when they are to be read record by record (see _read). (A document not cut is
    one batch, read by _read.)"""
    if found is None:
        yield
        return
    count, held = 0, 0
    con.execute(sql.ITEMS_TABLE.format(table="_wb_items"))
    for piece in pieces(path, found["annotations"]):
        try:
            added = _piece(con, "_wb_items", piece, count, found["annotations"].deepest)
        except _NOT_FOR_THE_ENGINE as exc:
            raise _ByRecord from exc
        if added is None:
            raise _ByRecord
        count, held = count + added, held + len(piece)
        if held >= ANNOTATION_BATCH_BYTES:
            yield
            con.execute(sql.ITEMS_TABLE.format(table="_wb_items"))
            held = 0
    if held or not count:
        yield


def _piece(con: Any, table: str, piece: bytes, first: int, deepest: int) -> int | None:
    """Add the records of `piece` to `table`, numbered from `first`: how many; None when the
    file is to be read record by record (see _read)."""
    data = pa.array([piece], pa.binary())
    odd = _odd(data)
    if odd is None:
        return None
    con.register("_wb_piece", pa.table({"x": data}))
    statement = sql.ITEMS_OF_PIECE.format(table=table)
    params = {"offset": first, "odd": odd or deepest > MAX_JSON_DEPTH}
    added = int(con.execute(statement, params).fetchall()[0][0])
    con.unregister("_wb_piece")
    if odd:
        _raw_texts(con, table, piece, first)
    return added


def _raw_texts(con: Any, table: str, piece: bytes, first: int) -> None:
    """Give the records of `piece` (numbered from `first`) that hold what only the engine's
    parser takes their text as written: the engine's own writes NaN and numbers its way, and
    the per-record path's error names the place in the record as written."""
    odd = re.compile(NOT_FINITE.encode())
    rows = [
        (first + n, raw.decode())
        for n, raw in enumerate(raw_items(piece))
        if raw is not None and odd.search(raw)
    ]
    if rows:
        i, x = zip(*rows, strict=True)
        con.register("_wb_raw", pa.table({"i": pa.array(i, pa.int64()), "x": pa.array(x)}))
        con.execute(sql.RAW_TEXTS.format(table=table))
        con.unregister("_wb_raw")


def _odd(data: pa.Array) -> bool | None:
    """Whether the bytes (one value) hold what only the engine's JSON parser takes, so that
    their records are looked at one by one in SQL; None when that is a comma before a closing
    bracket. (One pass of RE2 over the bytes: 2 ns a byte.)"""
    if not pc.any(pc.match_substring_regex(data, NOT_JSON)).as_py():
        return False
    return None if trailing_comma(data[0].as_py()) else True


def _categories(con: Any, path: Path, writer: CatalogWriter) -> dict[Any, Category]:
    items = []
    for i, text in con.execute("SELECT i, x FROM _wb_cat_items ORDER BY i").fetchall():
        value = loads(text.encode())
        if isinstance(value, Unreadable):
            writer.reject(RecordError(f"{path}, category #{i + 1}", value.problem))
            continue
        items.append((i, value))
    found = read_categories(items, str(path), writer.reject)
    writer.add_keypoint_labels(keypoint_labels(found))
    names = ["key", "id", "name", "supercategory", "keypoints"]
    rows = [
        (_key(c.id), orjson.dumps(c.id).decode(), c.name, c.supercategory,
         "yes" if c.keypoints is not None else None)
        for c in found.values()
    ]  # fmt: skip
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    table = pa.table({n: pa.array(col, pa.string()) for n, col in zip(names, columns, strict=True)})
    con.register("_wb_t", table)
    con.execute("CREATE OR REPLACE TEMP TABLE _wb_cats AS SELECT * FROM _wb_t")
    con.unregister("_wb_t")
    return found


def _key(value: Any) -> str:
    """A COCO id as the JSON text DuckDB gives it (1 and "1" differ)."""
    return orjson.dumps(value).decode()


def _images(
    con: Any, path: Path, writer: CatalogWriter, options: _Instances, frames_per_write: int
) -> int:
    """Stage `_wb_images`: the images to store, first of each id, numbered `o` in file order
    (and stored in that order when they take more than one write); their count."""
    from workbench.ingest.coco import _image, _source

    con.execute(sql.IMAGES)
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
            (i, _key(image.id), str(image.id), *values, source.uri, source.content_type, *promoted)
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
    con.register("_wb_t", table)
    folder = str(options.images_dir)
    # The images SQL took get their content type from their `probe` (_content_types); the
    # others have theirs (and no probe).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wb_all AS "
        "SELECT i, key, id, file_name, width, height, metadata, "
        "CASE WHEN contains(file_name, '://') OR starts_with(file_name, '/') THEN file_name "
        "ELSE $folder || '/' || file_name END AS uri, NULL::VARCHAR AS ctype, "
        f"{', '.join(PROMOTED_KEYS)}, {sql.PROBE} AS probe FROM _wb_img "
        "WHERE ok UNION ALL SELECT *, NULL FROM _wb_t",
        {"folder": folder},
    )
    con.unregister("_wb_t")
    con.execute("DROP TABLE _wb_img")
    _content_types(con)
    # The first image of each id, numbered in file order by a window over the narrow
    # (i, o) rows only (a window over the wide rows cost twice the whole statement).
    # Past one write (counted before the repeated ids go), stored in that order: each write
    # then reads the row groups of its images only.
    many = con.execute("SELECT count(*) FROM _wb_all").fetchall()[0][0] > frames_per_write
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wb_images AS "
        "SELECT n.o, $prefix || a.id AS frame_id, a.* EXCLUDE (ctype, probe), "
        "coalesce(a.ctype, g.guess) AS ctype FROM _wb_all a JOIN "
        "(SELECT i, row_number() OVER (ORDER BY i) - 1 AS o FROM "
        "(SELECT min(i) AS i FROM _wb_all GROUP BY key)) n ON n.i = a.i "
        "LEFT JOIN _wb_ext g ON g.probe = a.probe" + (" ORDER BY n.o" if many else ""),
        {"prefix": options.prefix},
    )
    con.execute("DROP TABLE _wb_ext")
    total = con.execute("SELECT count(*) FROM _wb_images").fetchall()[0][0]
    again = con.execute(  # an anti-join, whose table may spill, rather than NOT IN's
        "SELECT i, id FROM _wb_all a WHERE NOT EXISTS (SELECT 1 FROM _wb_images b WHERE b.i = a.i)"
    ).fetchall()
    con.execute("DROP TABLE _wb_all")
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


def _annotations(
    con: Any,
    path: Path,
    writer: CatalogWriter,
    options: _Instances,
    categories: dict[Any, Category],
    stored: _Stored,
    total: int,
    per_write: int,
) -> None:
    """The annotations SQL does not take (staged by `stored.staged`) converted here or
    rejected, and those whose id came before on their image (of the `total` images, written
    `per_write` at a time) refused."""
    rest = stored.staged.rest(con)
    values = [(i, loads(text.encode())) for i, text in rest]
    stored.keys = _images_named(con, values)
    errors: list[tuple[int, RecordError]] = []
    ids: list[tuple[int, int, str]] = []
    warned: list[tuple[int, int, list[str]]] = []  # (o, i, warnings): kept unless refused
    for i, value in values:
        found = _annotation(path, i, value, options, categories, stored)
        if isinstance(found, RecordError):
            errors.append((i, found))
        else:
            ids.append((found[0], i, stored.rois[-1][1]))
            warned.append((found[0], i, found[1]))
    table = pa.table(
        {
            "o": pa.array([o for o, _, _ in ids], pa.int64()),
            "i": pa.array([i for _, i, _ in ids], pa.int64()),
            "id": pa.array([r for _, _, r in ids], pa.string()),
        }
    )
    con.register("_wb_t", table)
    # The annotations whose id came before on their image, a write's images at a time: each
    # range reads its own rows, and its aggregate fits in memory (one over a multi-GB file's
    # every annotation spilled).
    again = []
    for first in range(0, total, per_write):
        last = first + per_write - 1
        stored.staged.load(con, first, last, ["o", "i", "id", "ok"])
        again += con.execute(sql.AGAIN, {"first": first, "last": last}).fetchall()
        stored.staged.unload(con)
    con.unregister("_wb_t")
    repeated = {i for i, _ in again}
    stored.staged.refuse(con, repeated)
    stored.rois = sorted(
        (row for row in stored.rois if row[-1] not in repeated), key=lambda row: (row[-2], row[-1])
    )
    for o, i, warnings in warned:  # a repeated id is refused, not warned about
        if warnings and i not in repeated:
            stored.warnings.setdefault(o, []).extend(warnings)
    stored.ordinals = [row[-2] for row in stored.rois]
    for i, roi_id in again:
        where = f"{path}, annotation {roi_id}"
        errors.append((i, RecordError(where, "the id appears twice for this image")))
    for _, error in sorted(errors, key=lambda item: item[0]):
        writer.reject(error)


def _images_named(
    con: Any, values: list[tuple[int, Any]]
) -> dict[str, tuple[int, str, Any, int | None, int | None]]:
    """The stored images the annotations `values` name, by key: only those, so that what
    Python holds grows with the annotations SQL did not take, not with the file."""
    wanted = {
        _key(value.get("image_id"))
        for _, value in values
        if isinstance(value, dict) and is_coco_id(value.get("image_id", 0))
    }
    if not wanted:
        return {}
    con.register("_wb_t", pa.table({"key": pa.array(sorted(wanted), pa.string())}))
    rows = con.execute(
        "SELECT key, o, frame_id, id, width, height FROM _wb_images SEMI JOIN _wb_t USING (key)"
    ).fetchall()
    con.unregister("_wb_t")
    return {key: (o, frame_id, raw, width, height) for key, o, frame_id, raw, width, height in rows}


def _annotation(
    path: Path,
    i: int,
    value: Any,
    options: _Instances,
    categories: dict[Any, Category],
    stored: _Stored,
) -> tuple[int, list[str]] | RecordError:
    """One annotation through the per-record path: its image's ordinal and its warnings, or
    its error."""
    if isinstance(value, Unreadable):
        return RecordError(f"{path}, annotation #{i + 1}", value.problem)
    if not isinstance(value, dict):
        return RecordError(f"{path}, annotation #{i + 1}", "not a JSON object")
    value.setdefault("id", i + 1)
    if not is_coco_id(value["id"]) or not is_coco_id(value.get("image_id", 0)):
        where = f"{path}, annotation #{i + 1}"
        return RecordError(where, "id and image_id must be integers or strings")
    where = f"{path}, annotation {value['id']}"
    image = stored.keys.get(_key(value.get("image_id")))
    if value.get("image_id") is None or image is None:
        return RecordError(where, f"unknown image_id {value.get('image_id')!r}")
    o, frame_id, _, width, height = image
    size = (height, width) if width is not None and height is not None else None
    try:
        roi = roi_from_annotation(value, categories, options.field, size, where)
        warnings = check_roi(roi, where, {"image": (width or 0, height or 0)})
        row = _roi_row(frame_id, roi)
    except Exception as exc:
        if not is_record_failure(exc):
            raise
        return record_error(exc, where)
    stored.rois.append((*row, o, i))
    return o, warnings


def _write(
    con: Any,
    path: Path,
    writer: CatalogWriter,
    options: _Instances,
    stored: _Stored,
    first: int,
    last: int,
) -> None:
    """Write the frames of the images with ordinals first..last, with their ROIs."""
    stored.staged.load(con, first, last)
    params = {"first": first, "last": last}
    con.execute(sql.FRAMES, {**params, "dataset": options.dataset, "version": options.version})
    mine = stored.rois_of(first, last)
    extra: dict[int, int] = {}
    for row in mine:
        extra[row[-2]] = extra.get(row[-2], 0) + 1
    refused = set()
    for o, image_id, frame_id, uri, count in con.execute(
        "SELECT _line, image_id, id, context_id, rois FROM _wb_frames WHERE NOT ok "
        "OR _line IN (SELECT unnest(?::BIGINT[]))",
        [sorted(extra)],
    ).fetchall():
        where = f"{path}, image {image_id}"
        try:
            validate_frame(Frame(frame_id, sources=[Source("image", uri)]), where)
            total = count + extra.get(o, 0)
            if total > MAX_ROIS_PER_FRAME:
                problem = f"the frame has {total:,} ROIs, more than {MAX_ROIS_PER_FRAME:,}"
                raise RecordError(where, problem)
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            writer.reject(record_error(exc, where))
            refused.add(o)
    con.execute(
        "DELETE FROM _wb_frames WHERE _line IN (SELECT unnest(?::BIGINT[]))", [sorted(refused)]
    )
    frames = con.sql(sql.FRAME_ROWS).to_arrow_table().cast(_FRAMES)
    sources = con.sql(sql.SOURCE_ROWS).to_arrow_table().cast(SOURCE_SCHEMA)
    warnings = []
    warned = [o for o in stored.warnings if first <= o <= last]
    found = con.execute(sql.ROI_WARNINGS, {"warned": warned}).fetchall()
    for o, image_id, zero, outside in found:
        kinds = stored.warnings.get(o, [])
        zero, outside = zero + kinds.count(WARN_ZERO_AREA), outside + kinds.count(WARN_OUTSIDE)
        where = f"{path}, image {image_id}"
        warnings += [
            (k, where, n) for k, n in ((WARN_ZERO_AREA, zero), (WARN_OUTSIDE, outside)) if n
        ]
    rois = write_rois(con, mine, options.field, params, refused)
    stored.staged.release(con, first)
    writer.write_rows(RowBatch(frames, sources, rois, warnings))
