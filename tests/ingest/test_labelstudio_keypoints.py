"""Keypoints ROIs in Label Studio JSON: a rectangle per ROI with its labelled points as
`keypointlabels` children (`parentID`), read back into the same ROIs; Label Studio's own
converter (in the Label Studio virtualenv) turns our export into the same YOLO keypoints, and
the tasks its COCO importer makes become keypoints ROIs again. ROIs that cannot be written
faithfully are counted as skipped."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, coco, labelstudio_json

from .test_coco_keypoints import NAMES, _document, _write
from .test_labelstudio_json import _in_label_studio_venv


def _catalog(tmp_path: Path, ball: bool = True) -> workbench.Catalog:
    catalog = workbench.open(tmp_path / "c.duckdb")
    doc = _document(ball)
    for annotation in doc["annotations"]:
        annotation.pop("segmentation", None)
    assert coco.import_files(catalog, [_write(tmp_path, doc)], progress=False).ok
    return catalog


def _keypoints(catalog: workbench.Catalog, field: str) -> list[tuple]:
    rows = catalog.sql(
        "SELECT frame_id, label, kind, geometry, visibility, x_min, y_min, x_max, y_max,"
        " confidence FROM rois WHERE field = ? ORDER BY frame_id, x_min",
        [field],
    ).fetchall()
    return [
        (*r[:3], [[round(v, 6) for v in g] for g in r[3]], r[4], *(round(v, 6) for v in r[5:9]),
         r[9])
        for r in rows
    ]  # fmt: skip


def test_keypoints_round_trip(tmp_path: Path) -> None:
    with _catalog(tmp_path) as catalog:
        report = labelstudio_json.export_files(
            catalog.view(), tmp_path / "tasks.json", progress=False, field="ground_truth"
        )
        assert (report.frames, report.rois, report.skipped) == (2, 4, [])
        tasks = json.loads((tmp_path / "tasks.json").read_text())
        results = tasks[0]["predictions"][0]["result"]
        boxes = [r for r in results if r["type"] == "rectanglelabels"]
        points = [r for r in results if r["type"] == "keypointlabels"]
        # Person 1 has three labelled points (one hidden), person 2 one.
        assert [b["value"]["rectanglelabels"] for b in boxes] == [["person"], ["person"]]
        assert [p["value"]["keypointlabels"][0] for p in points] == [
            "nose", "left_eye", "left_ear", "left_eye"
        ]  # fmt: skip
        assert [p["parentID"] for p in points] == [boxes[0]["id"]] * 3 + [boxes[1]["id"]]
        assert [bool(p["value"].get("hidden")) for p in points] == [False, True, False, False]
        config = ET.parse(tmp_path / "tasks.label_config.xml").getroot()
        kp = config.find("KeyPointLabels")
        assert kp is not None
        assert [(e.get("value"), e.get("model_index")) for e in kp] == [
            (n, str(i)) for i, n in enumerate(NAMES)
        ]
        assert report.files == [tmp_path / "tasks.json", tmp_path / "tasks.label_config.xml"]
        done = labelstudio_json.import_files(
            catalog, [tmp_path / "tasks.json"], progress=False, field="again"
        )
        assert done.ok, done
        assert _keypoints(catalog, "again") == _keypoints(catalog, "ground_truth")


def test_keypoints_that_cannot_be_written_are_counted_as_skipped(tmp_path: Path) -> None:
    """A label without point names, or a ROI with no labelled point, has no faithful form."""
    with _catalog(tmp_path, ball=False) as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            rois = [
                Roi("h", "keypoints", ["hand"], "ground_truth", [[1, 2, 3, 4]],
                    visibility=[2, 2]),
                Roi("e", "keypoints", ["person"], "ground_truth", [[0, 0] * 4],
                    visibility=[0, 0, 0, 0], bbox=(1, 1, 5, 5)),
            ]  # fmt: skip
            writer.add(Frame("x", sources=[Source("image", "/x.jpg", 60, 40)], rois=rois))
        report = labelstudio_json.export_files(
            catalog.view(), tmp_path / "tasks.json", progress=False, field="ground_truth"
        )
        assert report.rois == 3
        assert sorted(report.skipped) == [
            "1 keypoints ROIs whose label has no point names",
            "1 keypoints ROIs without a labelled point",
        ]
        tasks = json.loads((tmp_path / "tasks.json").read_text())
        frame_x = next(t for t in tasks if t["data"]["frame_id"] == "x")
        assert frame_x["predictions"][0]["result"] == []


_TO_YOLO = """
import json, os, sys
from label_studio_sdk.converter import Converter
config = open(sys.argv[3]).read()
Converter(config, project_dir=None, download_resources=False).convert_to_yolo(
    sys.argv[1], sys.argv[2], is_dir=False)
out = {}
for name in sorted(os.listdir(os.path.join(sys.argv[2], "labels"))):
    lines = open(os.path.join(sys.argv[2], "labels", name)).read().split("\\n")
    out[name] = [[round(float(v), 6) for v in line.split()] for line in lines if line]
print(json.dumps(out))
"""


def test_label_studio_converter_reads_our_keypoints(tmp_path: Path) -> None:
    with _catalog(tmp_path, ball=False) as catalog:
        labelstudio_json.export_files(
            catalog.view(), tmp_path / "tasks.json", progress=False, field="ground_truth",
            target="annotations",
        )  # fmt: skip
        expected = {}
        for frame, _, _, ring, vis, x0, y0, x1, y1, _ in _keypoints(catalog, "ground_truth"):
            line = [0, (x0 + x1) / 2 / 60, (y0 + y1) / 2 / 40, (x1 - x0) / 60, (y1 - y0) / 40]
            for n, v in enumerate(vis):
                point = (ring[0][2 * n] / 60, ring[0][2 * n + 1] / 40, 2) if v else (0, 0, 0)
                line += point
            expected.setdefault(frame, []).append([round(float(v), 6) for v in line])
    got = _in_label_studio_venv(
        _TO_YOLO, str(tmp_path / "tasks.json"), str(tmp_path / "yolo"),
        str(tmp_path / "tasks.label_config.xml"),
    )  # fmt: skip
    # The converter names label files by image; frames "1" and "2" are 1.jpg and 2.jpg.
    assert sorted(got.values()) == sorted(expected.values())
    assert sum(len(v) for v in got.values()) == 3


_FROM_COCO = """
import json, sys
from label_studio_sdk.converter.imports.coco import convert_coco_to_ls
convert_coco_to_ls(sys.argv[1], sys.argv[2], out_type="predictions",
                   image_root_url="/data/local-files/?d=images/")
print(json.dumps("ok"))
"""


def test_tasks_the_converter_made_from_coco_keypoints_import(tmp_path: Path) -> None:
    doc = _document(ball=False)
    source = _write(tmp_path, doc, "coco.json")
    _in_label_studio_venv(_FROM_COCO, str(source), str(tmp_path / "ls.json"))
    with _catalog(tmp_path, ball=False) as catalog:
        report = labelstudio_json.import_files(
            catalog, [tmp_path / "ls.json"], progress=False, field="converted"
        )
        assert report.ok, report
        # The segmentation comes as polygons beside the keypoints; the keypoints ROI gets the
        # box and every point with its visibility back.
        kinds = catalog.sql(
            "SELECT kind, count(*) FROM rois WHERE field = 'converted' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert kinds == [("keypoints", 3), ("polygon", 3)]
        got = [r[:9] for r in _keypoints(catalog, "converted") if r[2] == "keypoints"]
        want = [r[:9] for r in _keypoints(catalog, "ground_truth")]
        assert got == want
