"""A COCO instances file whose annotations fill exactly one batch (the batch closes on the
last piece) loses none of them when the import looks its images up (the catalog already
holds frames, of this file or of another): the annotations hashed for the lookup are the
ones converted, stored as ROIs or refused with their errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, _coco_columnar, coco


def _document() -> dict[str, Any]:
    """Three images with an annotation each, and one annotation of an unknown image."""
    annotations = [
        {"id": 10 + i, "image_id": i, "category_id": 1, "bbox": [1, 1, 5, 5]} for i in range(1, 4)
    ]
    annotations.append({"id": 99, "image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5]})
    return {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in range(1, 4)
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car"}],
    }


def _imported(catalog: Any, path: Path) -> tuple[int, int, list[str], list[tuple[str, str]]]:
    report = coco.import_files(catalog, [path], progress=False)
    rois = catalog.sql("SELECT frame_id, id FROM rois ORDER BY frame_id, id").fetchall()
    return report.frames, report.rois, [e.problem for e in report.errors], rois


_EXPECTED = (
    3,
    3,
    ["unknown image_id 7"],
    [("instances:1", "11"), ("instances:2", "12"), ("instances:3", "13")],
)


@pytest.fixture(params=[1 << 28, 1], ids=["batch-past-the-file", "batch-full-on-its-piece"])
def batch_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The annotations (one piece) in a batch that closes after the file's end, or on the
    piece itself (a batch of as many bytes or fewer)."""
    monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", request.param)
    return int(request.param)


def test_a_first_import_into_a_catalog_holding_frames_stores_every_annotation(
    tmp_path: Path, batch_bytes: int
) -> None:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document()))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            writer.add(Frame(id="other"))
        assert _imported(catalog, path) == _EXPECTED


def test_an_update_converting_an_edited_image_stores_its_annotations(
    tmp_path: Path, batch_bytes: int
) -> None:
    """Image 2's record edited (as long as before): its frame is converted again with its
    annotation; the refused annotation is reported again."""
    path = tmp_path / "instances.json"
    doc = _document()
    path.write_text(json.dumps(doc))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert _imported(catalog, path) == _EXPECTED
        doc["images"][1]["file_name"] = "x.jpg"
        path.write_text(json.dumps(doc))
        assert _imported(catalog, path) == _EXPECTED
