"""COCO files as kwcoco writes them, judged by kwcoco and kwimage: its polygons
(`{"exterior", "interiors"}` objects), its keypoints, its videos' `video_id`,
`frame_index` and `track_id`, and its masks, imported as kwcoco means them and given back by
our export in a file kwcoco validates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.ingest import coco

kwcoco = pytest.importorskip("kwcoco")
kwimage = pytest.importorskip("kwimage")


def _mask(segmentation, width: int, height: int) -> np.ndarray:
    """The pixels kwimage rasterises a COCO or kwcoco segmentation to."""
    shape = kwimage.Segmentation.coerce(segmentation, dims=(height, width))
    return np.asarray(shape.to_mask(dims=(height, width)).to_c_mask().data, dtype=bool)


def _import_and_export(tmp_path: Path, source: Path):
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
        kinds = catalog.sql("SELECT kind, count(*) FROM rois GROUP BY ALL ORDER BY ALL").fetchall()
        dest = tmp_path / "out" / "out.json"
        coco.export_files(catalog.view(), dest, progress=False)
    return report, kinds, dest


def test_a_kwcoco_video_dataset_imports_whole_and_comes_back(tmp_path):
    dataset = kwcoco.CocoDataset.demo("vidshapes2", num_frames=3, rng=0)
    source = tmp_path / "vid.kwcoco.json"
    dataset.dump(str(source))
    doc = json.loads(source.read_text())
    assert any(isinstance(a["segmentation"], list) and isinstance(a["segmentation"][0], dict)
               for a in doc["annotations"])  # fmt: skip
    report, kinds, dest = _import_and_export(tmp_path, source)
    assert report.ok, report.errors
    points = sum(1 for a in doc["annotations"] if a.get("keypoints"))
    # kwcoco's keypoints are keypoints ROIs (test_coco_kwcoco_keypoints.py), their polygon
    # kept beside them, as a COCO keypoints annotation's
    assert kinds == [("keypoints", points), ("polygon", len(doc["annotations"]) - points)]
    ours = kwcoco.CocoDataset(str(dest))
    assert ours.validate(missing=False).get("errors", []) == []
    size = {i["id"]: (i["width"], i["height"]) for i in doc["images"]}
    back = {a["id"]: a for a in ours.dataset["annotations"]}
    for ann in doc["annotations"]:
        mine = back[ann["id"]]
        # The same pixels; the video's frame and track numbers as given.
        w, h = size[ann["image_id"]]
        assert (_mask(mine["segmentation"], w, h) == _mask(ann["segmentation"], w, h)).all()
        assert mine["track_id"] == ann["track_id"]
        assert bool(mine.get("keypoints")) == bool(ann.get("keypoints"))
    frames = {i["id"]: (i["video_id"], i["frame_index"]) for i in ours.dataset["images"]}
    assert frames == {i["id"]: (i["video_id"], i["frame_index"]) for i in doc["images"]}


def test_kwcoco_polygons_with_holes_and_row_order_masks_cost_only_themselves(tmp_path):
    dataset = kwcoco.CocoDataset()
    dataset.add_category("car", id=5)
    image = dataset.add_image(file_name="a.png", width=30, height=30)
    square = np.array([[0, 0], [20, 0], [20, 20], [0, 20]])
    holed = kwimage.Polygon(exterior=square, interiors=[np.array([[5, 5], [10, 5], [10, 10]])])
    parts = kwimage.MultiPolygon(
        [kwimage.Polygon(exterior=np.array([[0, 0], [8, 0], [8, 8]])),
         kwimage.Polygon(exterior=np.array([[10, 10], [18, 10], [18, 18]]))]
    )  # fmt: skip
    pixels = np.zeros((30, 30), dtype=np.uint8)
    pixels[2:6, 3:12] = 1
    mask = kwimage.Mask.coerce(pixels).to_coco()
    for segmentation in (holed.to_coco("new"), parts.to_coco("new"), mask):
        dataset.add_annotation(image_id=image, category_id=5, segmentation=segmentation,
                               bbox=[0, 0, 20, 20])  # fmt: skip
    source = tmp_path / "k.kwcoco.json"
    dataset.dump(str(source))
    doc = json.loads(source.read_text())
    doc["annotations"].append({**doc["annotations"][2], "id": 4,
                               "segmentation": {**mask, "order": "C"}})  # fmt: skip
    doc["annotations"].append({**doc["annotations"][2], "id": 5, "segmentation": [mask]})
    source.write_text(json.dumps(doc))
    report, kinds, dest = _import_and_export(tmp_path, source)
    assert [(e.where, e.problem) for e in report.errors] == [
        (
            f"{source}, annotation 1",
            "polygon 0 has holes (kwcoco interiors), which COCO cannot hold",
        ),
        (f"{source}, annotation 4", "RLE order 'C': only COCO's column order 'F' is read"),
        (
            f"{source}, annotation 5",
            "segmentation must be polygons, an RLE object or kwcoco's polygon objects",
        ),
    ]
    assert kinds == [("mask", 1), ("polygon", 1)]
    back = {a["id"]: a for a in json.loads(dest.read_text())["annotations"]}
    assert (_mask(back[2]["segmentation"], 30, 30) == _mask(parts.to_coco("new"), 30, 30)).all()
    assert (_mask(back[3]["segmentation"], 30, 30) == pixels.astype(bool)).all()


def test_kwcoco_images_of_several_files_are_refused_with_the_reason(tmp_path):
    dataset = kwcoco.CocoDataset.demo("vidshapes1-multispectral", num_frames=1, rng=0)
    source = tmp_path / "ms.kwcoco.json"
    dataset.dump(str(source))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
    first = report.errors[0]
    assert first.where == f"{source}, image 1"
    assert "kwcoco's images of several files" in first.problem
