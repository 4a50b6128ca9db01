"""COCO judged by the tools people load it with: pycocotools (an export evaluated against its
source scores AP 1.0), kwcoco (validate), and datumaro, CVAT's format library (its own exports
import as meant and it loads ours), in its own virtualenv."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import coco

from .sdk_venv import run_in_sdk_venv


def _source(tmp_path: Path) -> Path:
    """Boxes, polygons of several parts, crowd RLE masks and small objects on three images."""
    rle = {"size": [40, 60], "counts": [100, 20, 20, 20, 20, 20, 2200]}
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 20, 10], "area": 200.0,
         "iscrowd": 0, "segmentation": []},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [5, 5, 20, 20], "area": 150.0,
         "iscrowd": 0, "segmentation": [[5, 5, 25, 5, 15, 25], [30, 30, 35, 30, 35, 35]]},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [2, 40, 8, 4], "area": 32.0,
         "iscrowd": 0},
        {"id": 4, "image_id": 2, "category_id": 2, "segmentation": rle, "area": 80.0,
         "bbox": [2, 20, 3, 20], "iscrowd": 1},
        {"id": 5, "image_id": 3, "category_id": 2, "bbox": [10, 10, 30, 25], "area": 750.0,
         "iscrowd": 0},
    ]  # fmt: skip
    doc = {
        "images": [{"id": n, "file_name": f"{n}.jpg", "width": 60, "height": 40} for n in (1, 2, 3)],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car", "supercategory": "vehicle"},
                       {"id": 2, "name": "person", "supercategory": "human"}],
    }  # fmt: skip
    path = tmp_path / "src" / "instances.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    return path


def _exported(tmp_path: Path, **options) -> tuple[Path, Path]:
    source = _source(tmp_path)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
        assert report.ok, report
        dest = tmp_path / "out" / "gt.json"
        coco.export_files(catalog.view(), dest, progress=False, **options)
    return source, dest


def test_an_export_evaluated_against_its_source_scores_ap_1(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    source, dest = _exported(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(source))
        ours = COCO(str(dest))
        detections = [
            {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "score": 1.0}
            for a in ours.dataset["annotations"]
        ]  # fmt: skip
        evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)
    # Every polygon and mask is the same set of pixels, crowd flags and areas as in the source.
    for ann in truth.dataset["annotations"]:
        mine = ours.anns[ann["id"]]
        assert (mine["iscrowd"], mine["area"]) == (ann["iscrowd"], ann["area"])
        if ann.get("segmentation"):
            assert (ours.annToMask(mine) == truth.annToMask(ann)).all()


def test_an_export_passes_kwcoco_validation(tmp_path):
    kwcoco = pytest.importorskip("kwcoco")
    source, dest = _exported(tmp_path)
    dataset = kwcoco.CocoDataset(str(dest))
    result = dataset.validate(missing=False, require_keys=["images", "annotations"])
    assert result.get("errors", []) == []
    assert len(dataset.anns) == len(json.loads(source.read_text())["annotations"])


_DATUMARO_EXPORT = """
import json, sys
import datumaro as dm, numpy as np
from datumaro.components.media import Image
items = [dm.DatasetItem(id="im1", subset="default",
             media=Image.from_numpy(np.zeros((20, 30, 3), dtype=np.uint8)),
             annotations=[dm.Bbox(1, 2, 5, 6, label=0, id=1, attributes={"occluded": False}),
                          dm.Polygon([1, 1, 9, 1, 5, 8], label=1, id=2)])]
dm.Dataset.from_iterable(items, categories=["car", "person"]).export(
    sys.argv[1], "coco_instances", save_media=True)
print(json.dumps("ok"))
"""
_DATUMARO_LOAD = """
import json, sys
import datumaro as dm
ds = dm.Dataset.import_from(sys.argv[1], "coco_instances")
labels = ds.categories()[dm.AnnotationType.label]
print(json.dumps(sorted(
    [item.id, str(item.media.path).split("/")[-1], labels[a.label].name, a.type.name,
     [round(v, 3) for v in a.get_bbox()]]
    for item in ds for a in item.annotations)))
"""


def test_a_datumaro_export_imports_as_meant(tmp_path):
    run_in_sdk_venv(_DATUMARO_EXPORT, str(tmp_path / "dm"))
    path = tmp_path / "dm" / "annotations" / "instances_default.json"
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(
            catalog, [path], progress=False, images_dir=tmp_path / "dm" / "images" / "default"
        )
        assert report.ok, report
        source = catalog.sql("SELECT uri, width, height FROM sources").fetchall()
        assert source == [(str(tmp_path / "dm" / "images" / "default" / "im1.jpg"), 30, 20)]
        rois = catalog.sql(
            "SELECT label, kind, geometry, attributes->'$.attributes' FROM rois ORDER BY id"
        ).fetchall()
    assert rois == [
        ("car", "box", [[1.0, 2.0, 6.0, 2.0, 6.0, 8.0, 1.0, 8.0]], '{"occluded":false}'),
        ("person", "polygon", [[1.0, 1.0, 9.0, 1.0, 5.0, 8.0]], None),
    ]


def test_datumaro_loads_our_export_with_its_media(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "p.jpg").write_bytes(b"not decoded")
    doc = {
        "images": [{"id": 3, "file_name": "p.jpg", "width": 40, "height": 30}],
        "annotations": [
            {"id": 9, "image_id": 3, "category_id": 1, "bbox": [2, 3, 10, 5]},
            {"id": 10, "image_id": 3, "category_id": 2, "bbox": [1, 1, 8, 7],
             "segmentation": [[1, 1, 9, 1, 5, 8]], "area": 28.0},
        ],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}],
    }  # fmt: skip
    (src / "i.json").write_text(json.dumps(doc))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [src / "i.json"], progress=False, images_dir=src).ok
        dest = tmp_path / "export" / "annotations" / "instances_default.json"
        coco.export_files(catalog.view(), dest, progress=False, media="copy",
                          images_dir=tmp_path / "export" / "images" / "default")  # fmt: skip
    loaded = run_in_sdk_venv(_DATUMARO_LOAD, str(tmp_path / "export"))
    assert loaded == [  # datumaro reads a polygon's bbox as an annotation of its own
        ["p", "p.jpg", "car", "bbox", [2.0, 3.0, 10.0, 5.0]],
        ["p", "p.jpg", "person", "bbox", [1.0, 1.0, 8.0, 7.0]],
        ["p", "p.jpg", "person", "polygon", [1.0, 1.0, 8.0, 7.0]],
    ]


def test_keypoint_categories_keep_their_names_and_skeleton(tmp_path):
    doc = {
        "images": [{"id": 1, "file_name": "p.jpg", "width": 40, "height": 30}],
        "annotations": [
            {"id": 7, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 20], "area": 200.0,
             "iscrowd": 0, "num_keypoints": 2, "keypoints": [5, 6, 2, 8, 9, 1, 0, 0, 0]},
        ],
        "categories": [{"id": 1, "name": "person", "supercategory": "person",
                        "keypoints": ["nose", "left_eye", "right_eye"], "skeleton": [[1, 2], [1, 3]]}],
    }  # fmt: skip
    source = tmp_path / "kp.json"
    source.write_text(json.dumps(doc))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [source], progress=False).ok
        dest = tmp_path / "out" / "kp.json"
        coco.export_files(catalog.view(), dest, progress=False)
    out = json.loads(dest.read_text())
    assert out["categories"] == doc["categories"]
    annotation = out["annotations"][0]
    assert annotation["keypoints"] == [5, 6, 2, 8, 9, 1, 0, 0, 0]
    assert "category_keypoints" not in annotation and "category_skeleton" not in annotation
