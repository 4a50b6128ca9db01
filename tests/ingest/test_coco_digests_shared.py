"""The digests a first import keeps are made from what the annotations' conversion parsed (each
annotation's `image_id`, its text's hash, whether it may name `image_id` twice), not from a
pass of their own; an update makes them by that pass, before any conversion. The two must
agree on every kind of record, or an unchanged file would be converted again."""

import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _coco_columnar, coco
from workbench.store import line_digests


def _document() -> dict[str, Any]:
    """Images of integer and string ids; annotations plain and not (keys of their own, keys
    in another order, polygons, an RLE mask made in Python), spread over the file."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in range(1, 7)]
    images += [{"id": s, "file_name": f"{s}.png", "width": 32, "height": 32} for s in ("a", "b")]
    annotations: list[dict[str, Any]] = []
    for k in range(24):
        image: int | str = [1, 2, 3, 4, 5, 6, "a", "b"][k % 8]
        box = [1 + k % 5, 2, 10 + k % 3, 8]
        record: dict[str, Any] = {"id": 100 + k, "image_id": image, "category_id": 1 + k % 2,
                                  "bbox": box, "area": box[2] * box[3], "iscrowd": 0}  # fmt: skip
        if k % 4 == 1:
            record["note"] = f"n{k}"  # a key of its own
        if k % 4 == 2:
            record = {"image_id": image, **{x: v for x, v in record.items() if x != "image_id"}}
            record["segmentation"] = [[1, 1, 9, 1, 9, 7, 1, 7]]
        if k % 8 == 3:
            record["attributes"] = {"occluded": True, "seen": [1, 2]}
        if k == 5:  # an RLE mask: made by the per-record path
            record.pop("bbox")
            record["segmentation"] = {"size": [48, 64], "counts": [100, 20, 2952]}
        annotations.append(record)
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "bus", "supercategory": "v"}],
    }


@pytest.mark.parametrize("per_write", [3, 1000])
@pytest.mark.parametrize("batch_bytes", [1, 1 << 28])
def test_the_first_imports_digests_are_the_updates(
    tmp_path: Path,
    per_write: int,
    batch_bytes: int,
    monkeypatch: pytest.MonkeyPatch,
    coco_unchanged: list[int],
) -> None:
    """Every frame a first import digests (in one write or several, the annotations in one
    batch or many) is found unchanged by the next import of the same file."""
    monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 300)
    monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", batch_bytes)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document()))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        first = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
        assert first.ok and (first.frames, first.rois) == (8, 24), first.errors
        kept = (
            catalog.cursor().execute(f"SELECT count(*) FROM {line_digests.TABLE}").fetchall()[0][0]
        )
        assert kept == 8  # every frame converted cleanly
        again = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
        assert again.ok and (again.frames, again.rois) == (8, 24)
        assert coco_unchanged[-1] == 8


@pytest.mark.parametrize("per_write", [3, 1000])
@pytest.mark.parametrize("batch_bytes", [1, 1 << 28])
def test_images_after_one_not_stored_keep_their_digests(
    tmp_path: Path,
    per_write: int,
    batch_bytes: int,
    monkeypatch: pytest.MonkeyPatch,
    coco_unchanged: list[int],
) -> None:
    """An image refused and an image repeating another's id, early in the file, are not
    stored: the images after them are stored at other places than their numbers in the file,
    and a first import still sums their annotations into their own digests (found unchanged
    by the next import, which sums them by their ids)."""
    monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 300)
    monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", batch_bytes)
    doc = _document()
    doc["images"].insert(1, {"id": 90, "width": 64, "height": 48})  # no file_name: refused
    doc["images"].insert(3, {**doc["images"][2], "file_name": "again.jpg"})  # id 2 twice
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        first = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
        assert (first.frames, first.rois, len(first.errors)) == (8, 24, 2), first.errors
        again = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
        assert (again.frames, again.rois, len(again.errors)) == (8, 24, 2)
        # every image but 2, whose id an image not stored repeats (converted every time)
        assert coco_unchanged[-1] == 7
