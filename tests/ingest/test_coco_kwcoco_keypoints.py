"""kwcoco's keypoints (objects naming the file's `keypoint_categories`) imported as keypoints
ROIs, points with names and visibility, judged by kwcoco and kwimage: the export validates in
kwcoco, and kwimage reads the same point at each name as in the file kwcoco wrote."""

from __future__ import annotations

import json

import pytest

import workbench
from workbench.ingest import coco

kwcoco = pytest.importorskip("kwcoco")
kwimage = pytest.importorskip("kwimage")


def _points(dataset, annotation) -> dict[str, list[float]]:
    """kwcoco's points of a source annotation, by keypoint category name."""
    names = {k["id"]: k["name"] for k in dataset.dataset["keypoint_categories"]}
    return {names[p["keypoint_category_id"]]: [round(v, 6) for v in p["xy"]]
            for p in annotation["keypoints"]}  # fmt: skip


def _exported_points(annotation, names: list[str]) -> dict[str, list[float]]:
    """kwimage's reading of our (COCO) keypoints with the category's names."""
    points = kwimage.Points.from_coco(annotation["keypoints"], classes=names)
    xy, seen = points.data["xy"].data, points.data["visible"]
    return {names[n]: [round(float(v), 6) for v in xy[n]] for n in range(len(names)) if seen[n]}


@pytest.mark.parametrize("columnar", [True, False])
def test_kwcoco_keypoints_are_keypoints_rois(tmp_path, monkeypatch, columnar):
    if not columnar:  # the streaming path, as files the engine cannot stage take
        monkeypatch.setattr(coco, "import_instances", lambda *a, **k: False)
    dataset = kwcoco.CocoDataset.demo("vidshapes8", num_frames=2, rng=0)
    source = tmp_path / "v.kwcoco.json"
    dataset.dump(str(source))
    doc = json.loads(source.read_text())
    with_points = [a for a in doc["annotations"] if a.get("keypoints")]
    assert with_points and doc["keypoint_categories"]
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
        assert report.ok, report.errors
        kinds = dict(catalog.sql("SELECT kind, count(*) FROM rois GROUP BY kind").fetchall())
        assert kinds["keypoints"] == len(with_points)
        names = [k["name"] for k in doc["keypoint_categories"]]
        labels = catalog.sql("SELECT label, names FROM keypoint_labels ORDER BY 1").fetchall()
        used = sorted({c["name"] for c in doc["categories"]
                       for a in with_points if a["category_id"] == c["id"]})  # fmt: skip
        assert labels == [(label, names) for label in used]
        dest = tmp_path / "out" / "out.json"
        coco.export_files(catalog.view(), dest, progress=False)
    ours = kwcoco.CocoDataset(str(dest))
    assert ours.validate(missing=False).get("errors", []) == []
    categories = {c["id"]: c for c in ours.dataset["categories"]}
    back = {a["id"]: a for a in ours.dataset["annotations"]}
    for annotation in with_points:
        mine = back[annotation["id"]]
        kept = categories[mine["category_id"]]["keypoints"]
        assert _exported_points(mine, kept) == _points(dataset, annotation)
        assert mine["track_id"] == annotation["track_id"]  # kept as given


def test_bad_kwcoco_keypoints_cost_only_their_annotation(tmp_path):
    dataset = kwcoco.CocoDataset()
    dataset.add_category("star", id=1)
    image = dataset.add_image(file_name="a.png", width=30, height=30)
    shapes = [
        [{"xy": [1, 2], "keypoint_category_id": 4}, {"xy": [3, 4], "visible": 1,
                                                     "keypoint_category": "eye"}],
        [{"xy": [1, 2], "keypoint_category_id": 5}],
        [{"xy": [1, 2], "keypoint_category_id": 4, "visible": 7}],
        [{"xy": [1], "keypoint_category_id": 4}],
        [{"xy": [1, 2], "keypoint_category_id": 4}, {"xy": [1, 2], "keypoint_category_id": 4}],
    ]  # fmt: skip
    for points in shapes:
        dataset.add_annotation(image_id=image, category_id=1, bbox=[0, 0, 9, 9], keypoints=points)
    source = tmp_path / "k.kwcoco.json"
    dataset.dump(str(source))
    doc = json.loads(source.read_text())
    doc["keypoint_categories"] = [{"id": 4, "name": "tip"}, {"id": 9, "name": "eye"}]
    source.write_text(json.dumps(doc))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
        assert [(e.where.rpartition(", ")[2], e.problem) for e in report.errors] == [
            ("annotation 2", "keypoint 0: unknown keypoint_category_id 5"),
            ("annotation 3", "keypoint 0: visible must be 0, 1 or 2, got 7"),
            ("annotation 4", "keypoint 0: xy must be two finite numbers"),
            ("annotation 5", "keypoint 1: 'tip' is given twice"),
        ]
        assert catalog.sql("SELECT kind, geometry, visibility FROM rois").fetchall() == [
            ("keypoints", [[1.0, 2.0, 3.0, 4.0]], [2, 1])
        ]


def test_kwcoco_keypoints_without_keypoint_categories_are_refused(tmp_path):
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 9, "height": 9}],
        "categories": [{"id": 1, "name": "star"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2],
                         "keypoints": [{"xy": [1, 1], "keypoint_category_id": 1}]}],
    }  # fmt: skip
    source = tmp_path / "k.json"
    source.write_text(json.dumps(doc))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
        assert [e.problem for e in report.errors] == [
            "kwcoco keypoints, but the file has no keypoint_categories"
        ]
