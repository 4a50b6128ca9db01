"""Scale's own Nucleus SDK as the judge of annotation payloads (scale-nucleus, in its own
virtualenv): what its annotation and prediction classes' `to_json` write imports as ROIs of
the right kind on the right frames, and our export loads with the SDK's `from_json` into
objects whose payloads are the ones it wrote (every field the format has kept)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import workbench
from workbench.ingest import nucleus, nucleus_annotations

from .sdk_venv import run_in_sdk_venv

_SDK_PAYLOADS = """
import json
from nucleus import (BoxAnnotation, PolygonAnnotation, LineAnnotation, KeypointsAnnotation,
    Keypoint, CategoryAnnotation, MultiCategoryAnnotation, SceneCategoryAnnotation,
    SegmentationAnnotation, Segment, CuboidAnnotation, Point, Point3D, DatasetItem, VideoScene,
    BoxPrediction, PolygonPrediction, LinePrediction, KeypointsPrediction, CategoryPrediction,
    SceneCategoryPrediction, SegmentationPrediction)
items = [DatasetItem(image_location=f"s3://b/{n}.jpg", reference_id=f"f{n}") for n in range(3)]
scene = VideoScene(reference_id="drive", frame_rate=10, items=items)
face = dict(names=["left", "right", "nose"], skeleton=[[0, 1], [1, 2]])
annotations = [
    BoxAnnotation(label="car", x=10, y=20, width=30, height=40, reference_id="f0",
                  annotation_id="car-1", metadata={"color": "red", "n": 2},
                  embedding_vector=[0.5, 1.5], track_reference_id="car_a"),
    BoxAnnotation(label="car", x=12.5, y=20, width=30, height=40, reference_id="f1",
                  track_reference_id="car_a"),
    PolygonAnnotation(label="bus", vertices=[Point(1, 2), Point(30, 4), Point(5.5, 60)],
                      reference_id="f0", annotation_id="bus-1", metadata={"k": "v"}),
    LineAnnotation(label="lane", vertices=[Point(0, 0), Point(100, 50)], reference_id="f1"),
    KeypointsAnnotation(label="face", keypoints=[Keypoint(10, 10), Keypoint(20, 21, visible=False),
                        Keypoint(visible=False)], reference_id="f2", annotation_id="face-1", **face),
    CategoryAnnotation(label="day", reference_id="f0", taxonomy_name="time",
                       metadata={"src": "x"}),
    MultiCategoryAnnotation(labels=["wet", "dark"], reference_id="f1", taxonomy_name="tags"),
    SceneCategoryAnnotation(label="highway", reference_id="drive", taxonomy_name="road",
                            metadata={"w": 1}),
    SegmentationAnnotation(mask_url="s3://b/m2.png", reference_id="f2", annotation_id="seg-1",
                           annotations=[Segment("road", 1), Segment("sky", "2", {"a": 1})]),
]
predictions = [
    BoxPrediction(label="car", x=1, y=2, width=3, height=4, reference_id="f0", confidence=0.8,
                  annotation_id="p1", class_pdf={"car": 0.8, "bus": 0.2}, metadata={"m": 1},
                  track_reference_id="t9"),
    PolygonPrediction(label="bus", vertices=[Point(1, 2), Point(3, 4), Point(5, 9)],
                      reference_id="f1", confidence=0.5, annotation_id="p2"),
    LinePrediction(label="lane", vertices=[Point(0, 1), Point(2, 3)], reference_id="f2",
                   confidence=0.4, annotation_id="p3"),
    KeypointsPrediction(label="face", keypoints=[Keypoint(1, 2), Keypoint(3, 4),
                        Keypoint(5, 6)], reference_id="f0", confidence=0.7, **face),
    CategoryPrediction(label="night", reference_id="f1", confidence=0.6, taxonomy_name="time",
                       class_pdf={"night": 0.6, "day": 0.4}),
    SceneCategoryPrediction(label="urban", reference_id="drive", confidence=0.9),
    SegmentationPrediction(mask_url="s3://b/p1.png", reference_id="f1",
                           annotations=[Segment("road", 3)]),
]
cuboid = CuboidAnnotation(label="car", position=Point3D(1, 2, 3), dimensions=Point3D(4, 5, 6),
                          yaw=0.5, reference_id="f0")
print(json.dumps({"scene": json.loads(scene.to_json()),
                  "annotations": [json.loads(a.to_json()) for a in annotations],
                  "predictions": [json.loads(p.to_json()) for p in predictions],
                  "cuboid": json.loads(cuboid.to_json())}))
"""

# Each exported payload loaded by the SDK and written again: a scene's category by its own
# class, a payload with a confidence as a prediction, the others as annotations.
_LOAD = """
import json, sys
from nucleus import SceneCategoryAnnotation, SceneCategoryPrediction
from nucleus.annotation import Annotation
from nucleus import prediction
out = []
for line in open(sys.argv[1]):
    payload = json.loads(line)
    if payload["reference_id"] == "drive":
        cls = SceneCategoryPrediction if "confidence" in payload else SceneCategoryAnnotation
        loaded = cls.from_json(payload)
    elif "confidence" in payload:
        loaded = prediction.from_json(payload)
    else:
        loaded = Annotation.from_json(payload)
    out.append([type(loaded).__name__, loaded.to_payload()])
print(json.dumps(out))
"""


def _write_lines(path: Path, payloads: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    return path


def _json(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _catalog(tmp_path: Path, made: dict[str, Any]) -> workbench.Catalog:
    catalog = workbench.open(tmp_path / "c.duckdb")
    scenes = tmp_path / "scenes.json"
    scenes.write_text(json.dumps(made["scene"]))
    assert nucleus.import_files(catalog, [scenes], progress=False).ok
    return catalog


def test_payloads_the_sdk_wrote_import_as_rois_of_their_frames(tmp_path: Path) -> None:
    made = run_in_sdk_venv(_SDK_PAYLOADS)
    lines = _write_lines(tmp_path / "gt.ndjson", [*made["annotations"], made["cuboid"]])
    with _catalog(tmp_path, made) as catalog:
        report = nucleus_annotations.import_files(catalog, [lines], progress=False)
        assert [str(e) for e in report.errors] == [
            f"{lines}:10, item 'f0': a cuboid is a 3D annotation, which the catalog cannot hold"
        ]
        rows = catalog.sql(
            "SELECT frame_id, id, kind, labels, geometry, confidence, attributes, track_index,"
            " visibility, mask FROM rois WHERE field = 'ground_truth' ORDER BY frame_id, id"
        ).fetchall()
        by_id = {(r[0], r[1]): (*r[2:6], _json(r[6]), r[7], r[8], _json(r[9])) for r in rows}
        assert by_id[("f0", "car-1")] == (
            "box", ["car"], [[10, 20, 40, 20, 40, 60, 10, 60]], None,
            {"color": "red", "n": 2, "nucleus": {
                "track_reference_id": "car_a", "embedding_vector": [0.5, 1.5]}},
            0, None, None,
        )  # fmt: skip
        # The SDK's own id of a box it was given none; the same track on the next frame.
        assert by_id[("f1", "car-12.5-20-30-40-f1")][5] == 0
        assert by_id[("f1", "line-0")][:2] == ("polyline", ["lane"])
        assert by_id[("f1", "line-0")][4] == {"nucleus": {"annotation_id": None}}
        keypoints = by_id[("f2", "face-1")]
        assert keypoints[:3] == ("keypoints", ["face"], [[10, 10, 20, 21, 0, 0]])
        assert keypoints[6] == [2, 1, 0]
        assert catalog.sql("SELECT names, skeleton FROM keypoint_labels").fetchall() == [
            (["left", "right", "nose"], [[1, 2], [2, 3]])
        ]
        assert by_id[("f0", "category-0")][:2] == ("classification", ["day"])
        assert by_id[("f1", "multicategory-0")][:2] == ("classification", ["wet", "dark"])
        scene = [(f, r[1]) for (f, i), r in by_id.items() if i == "scene-category-0"]
        assert scene == [("f0", ["highway"]), ("f1", ["highway"]), ("f2", ["highway"])]
        masks = [(i, r[1], r[7]) for (f, i), r in by_id.items() if r[0] == "mask"]
        assert masks == [
            ("seg-1/0", ["road"], {"uri": "s3://b/m2.png", "value": 1}),
            ("seg-1/1", ["sky"], {"uri": "s3://b/m2.png", "value": 2}),
        ]
        preds = _write_lines(tmp_path / "pred.ndjson", made["predictions"])
        report = nucleus_annotations.import_files(
            catalog, [preds], progress=False, field="predictions"
        )
        assert report.ok, report
        box = catalog.sql(
            "SELECT confidence, attributes FROM rois WHERE field = 'predictions' AND id = 'p1'"
        ).fetchall()
        assert [(c, _json(a)) for c, a in box] == [(0.8, {"m": 1, "nucleus": {
            "track_reference_id": "t9", "class_pdf": {"car": 0.8, "bus": 0.2}}})]  # fmt: skip


def test_a_round_trip_gives_the_sdk_back_every_field(tmp_path: Path) -> None:
    made = run_in_sdk_venv(_SDK_PAYLOADS)
    gt = _write_lines(tmp_path / "gt.ndjson", made["annotations"])
    preds = _write_lines(tmp_path / "pred.json", [])
    preds.write_text(json.dumps(made["predictions"]))  # a JSON list reads as well
    with _catalog(tmp_path, made) as catalog:
        assert nucleus_annotations.import_files(catalog, [gt], progress=False).ok
        done = nucleus_annotations.import_files(
            catalog, [preds], progress=False, field="predictions"
        )
        assert done.ok, done
        out = tmp_path / "out.ndjson"
        report = nucleus_annotations.export_files(catalog.view(), out, progress=False)
    assert report.skipped == []
    assert report.frames == 3
    loaded = run_in_sdk_venv(_LOAD, str(out))
    classes = sorted(name for name, _ in loaded)
    assert classes == sorted([
        "BoxAnnotation", "BoxAnnotation", "PolygonAnnotation", "LineAnnotation",
        "KeypointsAnnotation", "CategoryAnnotation", "MultiCategoryAnnotation",
        "SceneCategoryAnnotation", "SegmentationAnnotation", "BoxPrediction",
        "PolygonPrediction", "LinePrediction", "KeypointsPrediction", "CategoryPrediction",
        "SceneCategoryPrediction", "SegmentationAnnotation",
    ])  # fmt: skip
    written = sorted(json.dumps(p, sort_keys=True) for _, p in loaded)
    given = sorted(json.dumps(p, sort_keys=True) for p in made["annotations"] + made["predictions"])
    assert written == given
