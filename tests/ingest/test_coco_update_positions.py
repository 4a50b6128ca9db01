"""A COCO instances file imported again stores what a first import of it stores, where the
frames depend on where an image's annotations stand in the file and not on their texts
alone: an annotation without an id is the ROI numbered by its place among all annotations,
and an image's ROIs are stored in the order of its annotations. An update that leaves an
image unconverted because its text and its annotations' texts are unchanged must not keep a
ROI id or an order the file no longer gives."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _coco_columnar, coco


def _document(ids: bool) -> dict[str, Any]:
    """Images 1..4, three annotations each spread over the file, with ids or without."""
    annotations = []
    for k in range(12):
        ann: dict[str, Any] = {
            "image_id": 1 + k % 4,
            "category_id": 1,
            "bbox": [1 + k, 2, 10, 8],
            "area": 80,
            "iscrowd": 0,
        }
        annotations.append({"id": 100 + k, **ann} if ids else ann)
    return {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in range(1, 5)
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car"}],
    }


def _rois(catalog: Any) -> list[tuple[str, str, float]]:
    """Each frame's ROIs (id and left edge) in their stored order."""
    return catalog.sql("SELECT frame_id, id, x_min FROM rois ORDER BY frame_id, rowid").fetchall()


def _update_and_first_import(
    tmp_path: Path, first: dict[str, Any], second: dict[str, Any]
) -> tuple[list, list]:
    """The ROIs of a catalog after importing `first` then `second` at the same path, and of
    a catalog that imported only `second`."""
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(first))
    with workbench.open(tmp_path / "updated.duckdb") as catalog:
        assert coco.import_files(catalog, [path], progress=False).ok
        path.write_text(json.dumps(second))
        report = coco.import_files(catalog, [path], progress=False)
        assert report.ok and not report.warnings
        updated = _rois(catalog)
    with workbench.open(tmp_path / "fresh.duckdb") as catalog:
        assert coco.import_files(catalog, [path], progress=False).ok
        fresh = _rois(catalog)
    return updated, fresh


@pytest.fixture(params=["whole", "cut"])
def layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The file read in one piece and batch, or in pieces of a few records, one a batch."""
    if request.param == "cut":
        monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 200)
        monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", 1)
    return str(request.param)


def test_annotations_without_ids_are_renumbered_when_an_annotation_is_inserted_before_them(
    tmp_path: Path, layout: str
) -> None:
    """An annotation added at the head of the file (on image 2) moves every annotation
    after it one place on: their ROIs, numbered by place, take the new numbers on every
    image, as a first import of the new file gives them (images 1, 3 and 4 unchanged in
    text included)."""
    first = _document(ids=False)
    second = copy.deepcopy(first)
    added = {"image_id": 2, "category_id": 1, "bbox": [5, 5, 5, 5], "area": 25, "iscrowd": 0}
    second["annotations"].insert(0, added)
    updated, fresh = _update_and_first_import(tmp_path, first, second)
    assert [r[1] for r in fresh if r[0] == "instances:1"] == ["2", "6", "10"]
    assert updated == fresh


def test_an_image_whose_annotations_changed_order_stores_them_in_the_new_order(
    tmp_path: Path, layout: str
) -> None:
    """Two annotations of image 1 swapped in the file, nothing else changed: the image's
    ROIs are stored in the file's new order, as a first import of the new file stores them
    (and as the writer's own check of stored frames holds order to be part of a frame)."""
    first = _document(ids=True)
    second = copy.deepcopy(first)
    anns = second["annotations"]
    anns[0], anns[4] = anns[4], anns[0]  # both of image 1
    updated, fresh = _update_and_first_import(tmp_path, first, second)
    assert [r[1] for r in fresh if r[0] == "instances:1"] == ["104", "100", "108"]
    assert updated == fresh


def test_annotations_without_ids_keep_their_numbers_when_nothing_moves_them(
    tmp_path: Path, layout: str
) -> None:
    """The control of the two above: an annotation edited in place (same place, another
    box) leaves every other number as it was, and the update stores what a first import
    stores."""
    first = _document(ids=False)
    second = copy.deepcopy(first)
    second["annotations"][5]["bbox"][0] += 1
    updated, fresh = _update_and_first_import(tmp_path, first, second)
    assert updated == fresh


def test_images_whose_annotations_only_moved_together_are_left_unconverted(
    tmp_path: Path, layout: str, coco_unchanged: list[int]
) -> None:
    """What the places cost an update: an annotation with an id added at the head of the file
    (on image 2) moves every other image's annotations by one place, together; those images
    are still found unchanged, and only image 2 is converted again."""
    first = _document(ids=True)
    second = copy.deepcopy(first)
    added = {"id": 99, "image_id": 2, "category_id": 1, "bbox": [5, 5, 5, 5], "area": 25}
    second["annotations"].insert(0, {**added, "iscrowd": 0})
    updated, fresh = _update_and_first_import(tmp_path, first, second)
    assert updated == fresh
    assert coco_unchanged[:2] == [0, 3]  # the first import, then the update: images 1, 3 and 4
