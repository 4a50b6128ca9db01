"""Our Label Studio JSON export imported by a real Label Studio server (offline, on loopback,
from its own virtualenv) into a project whose labelling config has every control we write,
read back from the server's API and imported again: the same ROIs (boxes, polygons of several
rings, points, brush masks, choices, with their confidences)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, labelstudio_json
from workbench.model import rle

from ..backends.labelstudio import lsserver

_CONFIG = """<View><Image name="image" value="$image"/>
<RectangleLabels name="label" toName="image"><Label value="car"/></RectangleLabels>
<PolygonLabels name="polygon" toName="image"><Label value="car"/></PolygonLabels>
<BrushLabels name="brush" toName="image"><Label value="road"/></BrushLabels>
<Choices name="choice" toName="image"><Choice value="day"/></Choices></View>"""


def _catalog(path: Path) -> None:
    pixels = np.zeros((100, 200), dtype=bool)
    pixels[10:30, 20:60], pixels[50, 70:90] = True, True
    mask = {"rle": {"size": [100, 200], "counts": rle.to_string(rle.encode(pixels))}}
    rings = [[1, 1, 50, 1, 25, 40], [100, 50, 150, 50, 120, 90]]
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for n in range(2):
            rois = [
                Roi("b", "box", ["car"], "predictions", [box_ring(10 + n, 20, 30, 40)], 0.75),
                Roi("p", "polygon", ["car"], "predictions", rings),
                Roi("k", "point", ["nose"], "predictions", [[20, 10]]),
                Roi("m", "mask", ["road"], "predictions", mask=mask, confidence=0.5),
                Roi("c", "classification", ["day"], "predictions"),
            ]
            source = Source("image", f"/data/images/{n}.jpg", 200, 100)
            writer.add(Frame(f"f{n}", sources=[source], rois=rois))


def _rois(catalog, field: str) -> list[tuple]:
    rows = catalog.sql(
        "SELECT frame_id, id, label, kind, geometry, mask, confidence FROM rois WHERE field = ? "
        "ORDER BY frame_id, kind, label",
        [field],
    ).fetchall()
    return [(f, label, k, [[round(v, 6) for v in r] for r in g], m and json.loads(m), c)
            for f, _, label, k, g, m, c in rows]  # fmt: skip


def test_label_studio_keeps_what_we_export(tmp_path):
    if not lsserver.installed():
        pytest.skip(lsserver.not_installed_reason())
    _catalog(tmp_path / "c.duckdb")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = labelstudio_json.export_files(catalog.view(), tmp_path / "tasks.json",
                                               progress=False)  # fmt: skip
        assert (report.rois, report.skipped) == (10, [])
    server = lsserver.LabelStudioServer(tmp_path / "server")
    server.start()
    try:
        back = _through_the_server(server, json.loads((tmp_path / "tasks.json").read_text()))
    finally:
        server.stop()
    (tmp_path / "back.json").write_text(json.dumps(back))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        done = labelstudio_json.import_files(catalog, [tmp_path / "back.json"], progress=False,
                                             field="again")  # fmt: skip
        assert done.ok, done.errors
        assert _rois(catalog, "again") == _rois(catalog, "predictions")


def _through_the_server(server: lsserver.LabelStudioServer, tasks: list) -> list:
    """The tasks imported into a new project and read back, predictions and all."""
    headers = {"Authorization": f"Token {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
        made = http.post("/api/projects", json={"title": "fidelity", "label_config": _CONFIG})
        project = made.raise_for_status().json()["id"]
        done = http.post(f"/api/projects/{project}/import", json=tasks).raise_for_status()
        assert done.json()["prediction_count"] == len(tasks)
        stored = http.get("/api/tasks", params={"project": project, "page_size": 100})
        predictions = http.get("/api/predictions/", params={"project": project})
    by_task: dict[int, list] = {}
    for prediction in predictions.raise_for_status().json():
        by_task.setdefault(prediction["task"], []).append({"result": prediction["result"]})
    return [{"id": task["id"], "data": task["data"], "predictions": by_task[task["id"]]}
            for task in stored.raise_for_status().json()["tasks"]]  # fmt: skip
