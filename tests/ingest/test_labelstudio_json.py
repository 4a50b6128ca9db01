"""Label Studio JSON tasks, judged by Label Studio's own converter (label_studio_sdk.converter,
in the Label Studio virtualenv): our export converts to the same COCO boxes, the converter's
tasks import as meant, and a round trip keeps the ROIs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, labelstudio_json

VENV = Path(os.environ.get("LABEL_STUDIO_VENV", Path.home() / ".cache/workbench/labelstudio-venv"))


def _in_label_studio_venv(code: str, *args: str):
    python = VENV / "bin" / "python"
    if not python.is_file():
        pytest.skip(f"no Label Studio virtualenv at {VENV} (.ci/labelstudio-venv builds it)")
    done = subprocess.run([str(python), "-c", code, *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": ""})  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _catalog(tmp_path: Path) -> Path:
    path = tmp_path / "c.duckdb"
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for n in range(2):
            rois = [
                Roi("b", "box", ["car"], "predictions", [box_ring(10 + n, 20, 30, 40)], 0.75),
                Roi("p", "polygon", ["person"], "predictions", [[1, 1, 50, 1, 25, 40]]),
                Roi("k", "point", ["nose"], "predictions", [[20, 10]]),
                Roi("c", "classification", ["day"], "predictions"),
            ]
            source = Source("image", f"/data/images/{n}.jpg", 200, 100)
            writer.add(Frame(f"f{n}", sources=[source], rois=rois))
    return path


def _rois(catalog, field: str) -> list[tuple]:
    rows = catalog.sql(
        "SELECT frame_id, label, kind, geometry, confidence FROM rois WHERE field = ? "
        "ORDER BY frame_id, label",
        [field],
    ).fetchall()
    return [(f, label, k, [[round(v, 6) for v in r] for r in g], c) for f, label, k, g, c in rows]


def test_round_trip_keeps_the_rois(tmp_path):
    with workbench.open(_catalog(tmp_path)) as catalog:
        report = labelstudio_json.export_files(catalog.view(), tmp_path / "tasks.json",
                                               progress=False)  # fmt: skip
        assert (report.frames, report.rois, report.skipped) == (2, 8, [])
        done = labelstudio_json.import_files(catalog, [tmp_path / "tasks.json"],
                                             progress=False, field="again")  # fmt: skip
        assert done.ok, done
        assert _rois(catalog, "again") == _rois(catalog, "predictions")


_TO_COCO = """
import json, sys, os
from label_studio_sdk.converter import Converter
config = '''<View><Image name="image" value="$image"/>
<RectangleLabels name="label" toName="image"><Label value="car"/></RectangleLabels></View>'''
Converter(config, project_dir=None, download_resources=False).convert_to_coco(
    sys.argv[1], sys.argv[2], is_dir=False)
coco = json.load(open(os.path.join(sys.argv[2], "result.json")))
names = {c["id"]: c["name"] for c in coco["categories"]}
print(json.dumps(sorted([names[a["category_id"]], [round(v, 3) for v in a["bbox"]]]
                        for a in coco["annotations"])))
"""
_FROM_COCO = """
import json, sys
from label_studio_sdk.converter.imports.coco import convert_coco_to_ls
convert_coco_to_ls(sys.argv[1], sys.argv[2], out_type="predictions",
                   image_root_url="/data/local-files/?d=images/")
print(json.dumps("ok"))
"""


def test_the_converter_reads_our_export(tmp_path):
    with workbench.open(_catalog(tmp_path)) as catalog:
        labelstudio_json.export_files(catalog.view().filter_rois("predictions", labels=["car"]),
                                      tmp_path / "tasks.json", progress=False,
                                      target="annotations")  # fmt: skip
    boxes = _in_label_studio_venv(_TO_COCO, str(tmp_path / "tasks.json"), str(tmp_path / "coco"))
    assert boxes == [["car", [10.0, 20.0, 30.0, 40.0]], ["car", [11.0, 20.0, 30.0, 40.0]]]


def test_tasks_the_converter_made_import_as_meant(tmp_path):
    coco = {
        "images": [{"id": 1, "file_name": "0.jpg", "width": 200, "height": 100}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40],
                         "area": 1200, "iscrowd": 0, "segmentation": []}],
        "categories": [{"id": 1, "name": "car"}],
    }  # fmt: skip
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    _in_label_studio_venv(_FROM_COCO, str(tmp_path / "coco.json"), str(tmp_path / "ls.json"))
    with workbench.open(_catalog(tmp_path)) as catalog:
        report = labelstudio_json.import_files(catalog, [tmp_path / "ls.json"], progress=False,
                                               field="converted")  # fmt: skip
        assert report.ok, report
        assert _rois(catalog, "converted") == [
            ("f0", "car", "box", [[10.0, 20.0, 40.0, 20.0, 40.0, 60.0, 10.0, 60.0]], None)
        ]
