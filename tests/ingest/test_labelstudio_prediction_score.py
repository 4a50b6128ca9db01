"""A Label Studio prediction's `score` (the prediction's own, as Label Studio's SDK writes it:
`PredictionValue(score=...)`) is the confidence of its results that give none of their own."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Source, labelstudio_json

VENV = Path(os.environ.get("LABEL_STUDIO_VENV", Path.home() / ".cache/workbench/labelstudio-venv"))

_PREDICTIONS = """
import json
from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.objects import PredictionValue
config = '''<View><Image name="image" value="$image"/>
<RectangleLabels name="label" toName="image"><Label value="car"/></RectangleLabels>
<Choices name="time" toName="image"><Choice value="day"/></Choices></View>'''
face = LabelInterface(config)
box = face.get_control("label").label(["car"], x=5, y=20, width=15, height=40)
day = face.get_control("time").label(["day"])
scored = face.get_control("label").label(["car"], x=50, y=20, width=10, height=10)
prediction = json.loads(PredictionValue(model_version="m1", score=0.8,
                                        result=[box, day, scored]).model_dump_json())
prediction["result"][2]["score"] = 0.3  # a result's own score wins
for result in prediction["result"]:  # as Label Studio's export places them
    result.update(original_width=200, original_height=100)
print(json.dumps([{"data": {"image": "/data/images/0.jpg"}, "predictions": [prediction]},
                  {"data": {"image": "/data/images/0.jpg"},
                   "annotations": [{"result": prediction["result"][:1]}]}]))
"""


def _tasks() -> list:
    python = VENV / "bin" / "python"
    if not python.is_file():
        pytest.skip(f"no Label Studio virtualenv at {VENV} (.ci/labelstudio-venv builds it)")
    done = subprocess.run([str(python), "-c", _PREDICTIONS], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": ""})  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_predictions_own_score_is_its_results_confidence(tmp_path):
    tasks = _tasks()
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            writer.add(Frame("f0", sources=[Source("image", "/data/images/0.jpg", 200, 100)]))
        (tmp_path / "p.json").write_text(json.dumps(tasks[:1]))
        report = labelstudio_json.import_files(catalog, [tmp_path / "p.json"], progress=False)
        assert report.ok, report
        rows = catalog.sql(
            "SELECT kind, label, x_min, confidence FROM rois WHERE field = 'predictions' "
            "ORDER BY x_min NULLS FIRST"
        ).fetchall()
        assert rows == [("classification", "day", None, 0.8), ("box", "car", 10.0, 0.8),
                        ("box", "car", 100.0, 0.3)]  # fmt: skip
        # An annotation (a person's) has no score: none is taken from anywhere.
        (tmp_path / "a.json").write_text(json.dumps(tasks[1:]))
        report = labelstudio_json.import_files(catalog, [tmp_path / "a.json"], progress=False,
                                               field="people")  # fmt: skip
        assert report.ok, report
        rows = catalog.sql("SELECT confidence FROM rois WHERE field = 'people'").fetchall()
        assert rows == [(None,)]
