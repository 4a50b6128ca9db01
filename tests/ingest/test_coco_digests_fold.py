"""The update's annotation sums folded in numpy, one row an annotation, and the annotations'
images found by number when the images' ids are numbered on (image i's id the first's plus
i): the digests are those the import's own sums give, whatever the ids the annotations name."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import workbench
from workbench.ingest import _coco_columnar, _coco_digests, coco
from workbench.ingest._coco_digests import _PLACES, _SUM
from workbench.ingest._coco_sums import ImageSums

from .test_coco_digests import _outcome


def _rows(sums: ImageSums) -> pa.Table:
    return pa.concat_tables(list(sums.rows()))


def test_each_annotation_folded_as_the_engine_sums_them() -> None:
    """Batches of annotations (image, hash, number), the same images in several, hashes past
    2^63 and numbers past 2^32: folded one row an annotation, the sums are those of the
    engine's statement (128-bit products and sums modulo 2^64) folded a row an image."""
    rng = np.random.default_rng(7)
    images = 3000
    each, engine = ImageSums(images), ImageSums(images)
    con = duckdb.connect()
    try:
        for batch in range(3):
            count = 20_000
            image = rng.integers(0, images, count)
            h = rng.integers(0, 2**64, count, dtype=np.uint64, endpoint=False)
            i = rng.integers(0, 2**40, count)
            each.add_each(image, h, i, batch)
            con.register("_t", pa.table({"g": image, "h": h, "i": i}))
            summed = con.sql(
                f"SELECT g AS i, {_SUM} AS h, count(*) AS n, {_PLACES} FROM _t GROUP BY g "
                "ORDER BY g"
            ).to_arrow_table()
            engine.add(summed, batch)
        assert _rows(each).equals(_rows(engine))
    finally:
        con.close()
        each.close()
        engine.close()


def _document(first: int) -> dict[str, Any]:
    """Six images numbered on from `first`, three annotations each spread over the file, and
    annotations naming ids no image has as text: past either end, a string of a number, a
    float, out of BIGINT's range."""
    ids = [first + n for n in range(6)]
    annotations = []
    for k in range(18):
        box = [1 + k % 5, 2, 10 + k % 3, 8]
        annotations.append(
            {"id": 100 + k, "image_id": ids[k % 6], "category_id": 1, "bbox": box,
             "area": box[2] * box[3], "iscrowd": 0}
        )  # fmt: skip
    strays: list[Any] = [first - 1, first + 6, str(first), float(first), 10**30, -(2**63)]
    for n, stray in enumerate(strays):
        annotations.insert(3 * n, {"id": 900 + n, "image_id": stray, "category_id": 1,
                                   "bbox": [1, 1, 2, 2], "area": 4, "iscrowd": 0})  # fmt: skip
    return {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in ids],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car"}],
    }


@pytest.mark.parametrize("first", [1, 0, -3, 2**63 - 6], ids=["1", "0", "-3", "max"])
@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_numbered_images_found_by_number(
    tmp_path: Path,
    first: int,
    small: bool,
    coco_unchanged: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Images numbered on from `first`: imported again unchanged, every image is found
    unchanged; with one box changed, that image alone is converted; the catalog and the
    report end as the imports without lookup leave them."""
    if small:  # pieces of a few records, each its own batch, folded two rows at a time
        monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 200)
        monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", 1)
        monkeypatch.setattr(_coco_digests, "FOLD_ROWS", 2)
    path = tmp_path / "instances.json"
    results = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        doc = _document(first)
        path.write_text(json.dumps(doc))
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            imported = coco.import_files(catalog, [path], progress=False, batch_size=4)
            assert (imported.frames, imported.rois) == (6, 18)
            again = coco.import_files(catalog, [path], progress=False, batch_size=4)
            assert coco_unchanged[-1] == (6 if look else 0)
            results.append(_outcome(catalog, again))
            changed = copy.deepcopy(doc)
            box = next(a for a in changed["annotations"] if a["id"] == 104)
            box["bbox"][0] += 1
            path.write_text(json.dumps(changed))
            report = coco.import_files(catalog, [path], progress=False, batch_size=4)
            assert coco_unchanged[-1] == (5 if look else 0)
            results.append(_outcome(catalog, report))
    assert results[:2] == results[2:]
