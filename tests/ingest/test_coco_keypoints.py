"""COCO person keypoints as keypoints ROIs: names and skeleton once per label, each point's
visibility kept; exports give them back exactly, and pycocotools and datumaro (CVAT's format
library) read both ways."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.ingest import _coco_columnar, coco
from workbench.store.keypoints import keypoint_labels

from .sdk_venv import run_in_sdk_venv

NAMES = ["nose", "left_eye", "right_eye", "left_ear"]
SKELETON = [[1, 2], [1, 3], [2, 4]]


def _document(ball: bool = True) -> dict[str, Any]:
    """Two images of people (and a ball, unless told otherwise)."""
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 20, 30], "area": 410.5,
         "iscrowd": 0, "num_keypoints": 3, "keypoints": [5, 6, 2, 8, 9, 1, 0, 0, 0, 12.5, 7, 2],
         "segmentation": [[2, 3, 22, 3, 22, 33, 2, 33]]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [30, 5, 10, 12], "area": 120.0,
         "iscrowd": 0, "num_keypoints": 1, "keypoints": [0, 0, 0, 35, 9, 2, 0, 0, 0, 0, 0, 0],
         "segmentation": [[30, 5, 40, 5, 40, 17, 30, 17]]},
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [1, 1, 15, 15], "area": 225.0,
         "iscrowd": 0, "num_keypoints": 4, "keypoints": [3, 3, 2, 6, 4, 2, 9, 4, 2, 12, 6, 1],
         "segmentation": [[1, 1, 16, 1, 16, 16, 1, 16]]},
        {"id": 4, "image_id": 2, "category_id": 2, "bbox": [20, 20, 5, 5], "area": 25.0,
         "iscrowd": 0, "segmentation": []},
    ]  # fmt: skip
    categories = [
        {"id": 1, "name": "person", "supercategory": "person", "keypoints": NAMES,
         "skeleton": SKELETON},
        {"id": 2, "name": "ball", "supercategory": "thing"},
    ]  # fmt: skip
    return {
        "images": [{"id": n, "file_name": f"{n}.jpg", "width": 60, "height": 40} for n in (1, 2)],
        "annotations": annotations if ball else annotations[:3],
        "categories": categories if ball else categories[:1],
    }


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "kp.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(params=["columnar", "streamed"])
def route(request, monkeypatch) -> str:
    """Both ways into the catalog: the whole document in SQL, or record by record (files too
    large for one document)."""
    if request.param == "streamed":
        monkeypatch.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)
    return request.param


def test_keypoints_become_rois_with_visibility_and_label_names(tmp_path, route):
    source = _write(tmp_path, _document())
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [source], progress=False).ok
        rows = catalog.sql(
            "SELECT id, kind, geometry, visibility, x_min, y_min, x_max, y_max, "
            "attributes->>'$.num_keypoints' FROM rois WHERE label = 'person' ORDER BY id"
        ).fetchall()
        kept = keypoint_labels(catalog.cursor())
    assert rows[0] == (
        "1", "keypoints", [[5, 6, 8, 9, 0, 0, 12.5, 7]], [2, 1, 0, 2], 2, 3, 22, 33, "3"
    )  # fmt: skip
    assert [r[3] for r in rows] == [[2, 1, 0, 2], [0, 2, 0, 0], [2, 2, 2, 1]]
    assert list(kept) == ["person"]
    assert (list(kept["person"].names), [list(p) for p in kept["person"].skeleton]) == (
        NAMES,
        SKELETON,
    )


def test_an_export_gives_every_keypoint_field_back(tmp_path, route):
    doc = _document()
    source = _write(tmp_path, doc)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [source], progress=False).ok
        dest = tmp_path / "out" / "kp.json"
        report = coco.export_files(catalog.view(), dest, progress=False)
    assert report.rois == 4 and not report.skipped
    out = json.loads(dest.read_text())
    assert out["categories"] == doc["categories"]
    by_id = {a["id"]: a for a in out["annotations"]}
    for annotation in doc["annotations"]:
        assert by_id[annotation["id"]] == annotation
        if "keypoints" in annotation:  # integers stay integers, visibility as given
            assert json.dumps(by_id[annotation["id"]]["keypoints"]) == json.dumps(
                annotation["keypoints"]
            )


def test_bad_keypoint_records_cost_only_themselves(tmp_path, route):
    doc = _document()
    doc["annotations"] += [
        {"id": 11, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2],
         "keypoints": [1, 2, 2, 3, 4]},  # not triplets
        {"id": 12, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2],
         "keypoints": [1, 2, 2, 3, 4, 7, 0, 0, 0, 1, 1, 1]},  # v = 7
        {"id": 13, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2],
         "keypoints": [1, 2, 2, 3, 4, 1]},  # two points, the category names four
        {"id": 14, "image_id": 2, "category_id": 1, "keypoints": "nose"},
    ]  # fmt: skip
    doc["categories"].append(
        {"id": 3, "name": "cat", "keypoints": ["a", "b"], "skeleton": [[1, 3]]}
    )
    source = _write(tmp_path, doc)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
        ids = [r[0] for r in catalog.sql("SELECT id FROM rois ORDER BY id").fetchall()]
    assert ids == ["1", "2", "3", "4"]
    assert report.rois == 4
    errors = sorted(str(e) for e in report.errors)
    assert errors == [
        f"{source}, annotation 11: keypoints must be a flat list of [x, y, v] number triplets",
        f"{source}, annotation 12: keypoint visibility must be 0, 1 or 2, got 7",
        f"{source}, annotation 13: 2 keypoints, but category 'person' names 4",
        f"{source}, annotation 14: keypoints must be a flat list of [x, y, v] number triplets",
        f"{source}, category 3: skeleton must be a list of [a, b] point numbers from 1 to 2",
    ]


def test_predicted_keypoints_are_checked_against_the_label_names(tmp_path):
    source = _write(tmp_path, _document())
    results = _write(
        tmp_path,
        [
            {
                "image_id": 1,
                "category_id": 1,
                "score": 0.9,
                "bbox": [2, 3, 20, 30],
                "keypoints": [5, 6, 2, 8, 9, 2, 0, 0, 0, 12, 7, 2],
            },
            {
                "image_id": 2,
                "category_id": 1,
                "score": 0.8,
                "bbox": [2, 3, 20, 30],
                "keypoints": [5, 6, 2],
            },
        ],
        "results.json",
    )
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [source], progress=False).ok
        report = coco.import_files(catalog, [results], progress=False)
        rows = catalog.sql(
            "SELECT kind, visibility, confidence FROM rois WHERE field = 'predictions'"
        ).fetchall()
    assert rows == [("keypoints", [2, 2, 0, 2], 0.9)]
    assert [e.problem for e in report.errors] == ["1 keypoints, but category 'person' names 4"]


def test_pycocotools_evaluates_an_export_of_its_own_file_at_oks_ap_1(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    doc = _document()
    source = _write(tmp_path, doc)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(source))
        made = tmp_path / "made.json"  # the file as pycocotools holds it, written back
        made.write_text(json.dumps(truth.dataset))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [made], progress=False).ok
        dest = tmp_path / "out.json"
        coco.export_files(catalog.view(), dest, progress=False)
    with contextlib.redirect_stdout(io.StringIO()):
        ours = COCO(str(dest))
        detections = [
            {"image_id": a["image_id"], "category_id": a["category_id"],
             "keypoints": a["keypoints"], "score": 1.0}
            for a in ours.dataset["annotations"] if "keypoints" in a
        ]  # fmt: skip
        evaluation = COCOeval(truth, truth.loadRes(detections), "keypoints")
        evaluation.params.catIds = [1]
        evaluation.params.kpt_oks_sigmas = np.full(len(NAMES), 0.05)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)
    assert ours.loadCats(1)[0]["keypoints"] == NAMES
    assert ours.loadCats(1)[0]["skeleton"] == SKELETON


_DATUMARO_EXPORT = """
import json, sys
import datumaro as dm, numpy as np
from datumaro.components.annotation import AnnotationType, LabelCategories, PointsCategories
from datumaro.components.media import Image
items = [dm.DatasetItem(id="im1", subset="default",
             media=Image.from_numpy(np.zeros((20, 30, 3), dtype=np.uint8)),
             annotations=[dm.Points([5, 6, 8, 9, 0, 0], [2, 1, 0], label=0, id=1, group=1),
                          dm.Bbox(2, 3, 10, 12, label=0, id=1, group=1)])]
categories = {
    AnnotationType.label: LabelCategories.from_iterable(["person"]),
    AnnotationType.points: PointsCategories.from_iterable(
        [(0, ["nose", "left_eye", "right_eye"], {(1, 2), (1, 3)})]),
}
dm.Dataset.from_iterable(items, categories=categories).export(
    sys.argv[1], "coco_person_keypoints", save_media=True)
print(json.dumps("ok"))
"""
_DATUMARO_LOAD = """
import json, sys
import datumaro as dm
ds = dm.Dataset.import_from(sys.argv[1], "coco_person_keypoints")
labels = ds.categories()[dm.AnnotationType.label]
points = ds.categories()[dm.AnnotationType.points]
cats = {labels[i].name: [c.labels, sorted(map(list, c.joints))] for i, c in points.items.items()}
found = sorted([labels[a.label].name, [round(v, 3) for v in a.points], [int(v) for v in a.visibility]]
               for item in ds for a in item.annotations if a.type.name == "points")
print(json.dumps([cats, found]))
"""


def test_datumaro_keypoints_import_and_our_export_loads_in_datumaro(tmp_path):
    run_in_sdk_venv(_DATUMARO_EXPORT, str(tmp_path / "dm"))
    path = tmp_path / "dm" / "annotations" / "person_keypoints_default.json"
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(
            catalog, [path], progress=False, images_dir=tmp_path / "dm" / "images" / "default"
        )
        assert report.ok, report
        rows = catalog.sql("SELECT kind, geometry, visibility FROM rois").fetchall()
        assert rows == [("keypoints", [[5, 6, 8, 9, 0, 0]], [2, 1, 0])]
        # datumaro's person keypoints want keypoint names on every category
        _write(tmp_path, _document(ball=False), "kp.json")
        for n in (1, 2):
            Image.new("RGB", (60, 40)).save(tmp_path / f"{n}.jpg")
        assert coco.import_files(catalog, [tmp_path / "kp.json"], progress=False).ok
        dest = tmp_path / "export" / "annotations" / "person_keypoints_default.json"
        coco.export_files(catalog.view(), dest, progress=False, media="copy",
                          images_dir=tmp_path / "export" / "images" / "default")  # fmt: skip
    cats, found = run_in_sdk_venv(_DATUMARO_LOAD, str(tmp_path / "export"))
    assert cats == {"person": [NAMES, sorted(SKELETON)]}
    assert ["person", [5.0, 6.0, 8.0, 9.0, 0.0, 0.0, 0.0, 0.0], [2, 1, 0, 0]] not in found
    assert ["person", [5.0, 6.0, 8.0, 9.0, 0.0, 0.0, 12.5, 7.0], [2, 1, 0, 2]] in found
    assert len(found) == 4  # datumaro's own and our three


def test_people_with_keypoints_are_evaluated_by_their_box(tmp_path):
    from workbench.analysis.evaluation import evaluate_detections

    source = _write(tmp_path, _document())
    results = _write(
        tmp_path,
        [{"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [2, 3, 20, 30]},
         {"image_id": 2, "category_id": 1, "score": 0.8, "bbox": [40, 30, 5, 5]}],
        "results.json",
    )  # fmt: skip
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [source], progress=False).ok
        assert coco.import_files(catalog, [results], progress=False).ok
        found = evaluate_detections(catalog.view(), "predictions")
        person = next(c for c in found.classes if c.label == "person")
    assert (person.tp, person.fp, person.fn) == (1, 1, 2)


def test_pictures_with_rois_draw_only_the_labelled_points(tmp_path):
    from workbench.ingest.views import frame_rois

    source = _write(tmp_path, _document())
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [source], progress=False).ok
        drawn = frame_rois(catalog.view(), ["kp:1"])["kp:1"]
    person = next(r for r in drawn if r.kind == "keypoints")
    assert person.geometry == [[5, 6, 8, 9, 12.5, 7]]  # the unlabelled point at 0, 0 is not
