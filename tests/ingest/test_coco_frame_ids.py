"""COCO image ids that differ only by their JSON type (1 and "1") make one frame id: an
import, and the same import again, store each frame id once, count what they store, and
store or refuse every annotation (none lost without an error), by SQL and record by record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import _coco_columnar, coco

_DOCUMENT = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 10, "height": 10},
        {"id": "1", "file_name": "b.jpg", "width": 10, "height": 10},  # frame id `inst:1` too
        {"id": 2, "file_name": "c.jpg", "width": 10, "height": 10},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]},
        {"id": 2, "image_id": "1", "category_id": 1, "bbox": [1, 1, 2, 2]},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [2, 2, 2, 2]},
    ],
    "categories": [{"id": 1, "name": "car"}],
}


@pytest.mark.parametrize("by_record", [False, True])
def test_images_of_one_frame_id_store_it_once_and_lose_no_annotation(
    tmp_path: Path, by_record: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if by_record:
        monkeypatch.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)
    path = tmp_path / "inst.json"
    path.write_text(json.dumps(_DOCUMENT))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        for _ in range(2):  # imported, then imported again (the frames replaced)
            report = coco.import_files(catalog, [path], progress=False)
            ids = [r[0] for r in catalog.sql("SELECT id FROM frames ORDER BY id").fetchall()]
            assert ids == sorted(set(ids)) == ["inst:1", "inst:2"]
            assert report.frames == len(ids)
            rois = catalog.sql("SELECT count(*) FROM rois").fetchall()[0][0]
            refused = [e for e in report.errors if e.where.startswith(f"{path}, annotation")]
            assert rois + len(refused) == len(_DOCUMENT["annotations"])
            assert report.rois == rois
