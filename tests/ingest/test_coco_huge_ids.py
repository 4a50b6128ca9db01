"""COCO ids at the edges of 64 bits, judged by pycocotools and kwcoco: ids a signed 64-bit
integer holds come back as themselves, ids up to 2**64 - 1 (which JSON readers take) import
and export under new numbers instead of the export failing, and ids past 64 bits (read as
floats) are refused by name."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

import workbench
from workbench.ingest import coco

kwcoco = pytest.importorskip("kwcoco")
pycocotools = pytest.importorskip("pycocotools.coco")

_IDS = [2**53 + 1, 2**63 - 1, 2**64 - 1, 2**64 + 7]


def test_ids_at_the_edges_of_64_bits(tmp_path):
    doc = {
        "images": [{"id": i, "file_name": f"{n}.jpg", "width": 10, "height": 10}
                   for n, i in enumerate(_IDS)],
        "annotations": [{"id": i, "image_id": i, "category_id": 2**64 - 1, "bbox": [1, 1, 2, 2]}
                        for i in _IDS],
        "categories": [{"id": 2**64 - 1, "name": "car"}],
    }  # fmt: skip
    source = tmp_path / "big.json"
    source.write_text(json.dumps(doc))
    dest = tmp_path / "out.json"
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
        coco.export_files(catalog.view(), dest, progress=False)
    past = " (an integer past 64 bits)"
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{source}, image #4", f"an image id must be an integer or a string, got float{past}"),
        (f"{source}, annotation #4", f"id and image_id must be integers or strings{past}"),
    ]
    out = json.loads(dest.read_text())
    images = [i["id"] for i in out["images"]]
    annotations = [(a["id"], a["image_id"]) for a in out["annotations"]]
    assert images[:2] == _IDS[:2] and annotations[:2] == [(i, i) for i in _IDS[:2]]
    assert len(set(images)) == 3 and all(-(2**63) <= i < 2**63 for i in images)
    assert len({a for a, _ in annotations}) == 3
    assert kwcoco.CocoDataset(str(dest)).validate(missing=False).get("errors", []) == []
    with contextlib.redirect_stdout(io.StringIO()):
        loaded = pycocotools.COCO(str(dest))
    assert sorted(loaded.getImgIds()) == sorted(images)
    assert [a["bbox"] for a in loaded.loadAnns(loaded.getAnnIds())] == [[1.0, 1.0, 2.0, 2.0]] * 3
