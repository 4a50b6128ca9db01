"""Label Studio brushes and turned rectangles, judged by Label Studio's own converter
(label_studio_sdk.converter, in the Label Studio virtualenv): brushes it encodes import as the
same pixels, our brushes decode to the catalog's masks (and are the bytes its encoder writes),
a turned rectangle is the polygon of the corners its converter computes, and results of tools
not held here are refused one by one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, labelstudio_json
from workbench.model import rle

from .test_labelstudio_json import _in_label_studio_venv

_PIXELS = np.zeros((20, 30), dtype=bool)
_PIXELS[3:9, 4:15], _PIXELS[5, 6], _PIXELS[19, 29] = True, False, True

# Tasks as Label Studio's converter writes them: a brush (brush.mask2rle), a rectangle turned
# 30 degrees, a text area; and the corners the converter gives the turned rectangle.
_TASKS = """
import json, sys
import numpy as np
from label_studio_sdk.converter import brush
from label_studio_sdk.converter.utils import convert_annotation_to_yolo_obb
pixels = np.array(json.loads(sys.argv[2]), dtype=np.uint8) * 255
common = {"to_name": "image", "original_width": 30, "original_height": 20, "image_rotation": 0}
turned = {"x": 20, "y": 25, "width": 30, "height": 20, "rotation": 30, "rectanglelabels": ["car"]}
results = [
    {**common, "id": "b1", "type": "brushlabels", "from_name": "brush",
     "value": {"format": "rle", "rle": brush.mask2rle(pixels), "brushlabels": ["road"]}},
    {**common, "id": "r1", "type": "rectanglelabels", "from_name": "label", "value": turned},
    {**common, "id": "t1", "type": "textarea", "from_name": "note", "value": {"text": ["hi"]}},
]
task = {"id": 1, "data": {"image": "/data/local-files/?d=images/0.jpg"},
        "annotations": [{"id": 1, "result": results}]}
json.dump([task], open(sys.argv[1], "w"))
corners = convert_annotation_to_yolo_obb({**turned, "original_width": 30, "original_height": 20},
                                         normalize=False)
print(json.dumps([v for corner in corners for v in corner]))
"""
# The converter's BRUSH_TO_NUMPY export of our tasks: each brush layer's pixels.
_DECODE = """
import glob, json, os, sys
import numpy as np
from label_studio_sdk.converter import Converter, brush
config = '<View><Image name="image" value="$image"/>' \\
    '<BrushLabels name="brush" toName="image"><Label value="road"/></BrushLabels></View>'
os.makedirs(sys.argv[3], exist_ok=True)
Converter(config, project_dir=None, download_resources=False).convert(
    sys.argv[1], sys.argv[3], "BRUSH_TO_NUMPY", is_dir=False)
out = [[os.path.basename(p).split("-by-")[-1], np.flatnonzero(np.load(p)).tolist()]
       for p in sorted(glob.glob(os.path.join(sys.argv[3], "*.npy")))]
pixels = np.array(json.loads(sys.argv[2]), dtype=np.uint8) * 255
mine = [r["value"]["rle"] for t in json.load(open(sys.argv[1]))
        for r in t["annotations"][0]["result"] if r["type"] == "brushlabels"]
out.append(["same bytes", mine == [brush.mask2rle(pixels)]])
print(json.dumps(out))
"""


def _catalog(path: Path) -> None:
    mask = {"rle": {"size": [20, 30], "counts": rle.to_string(rle.encode(_PIXELS))}}
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        rois = [Roi("m", "mask", ["road"], "predictions", mask=mask, confidence=0.5)]
        writer.add(Frame("f0", sources=[Source("image", "/data/images/0.jpg", 30, 20)], rois=rois))


def test_label_studio_brushes_and_turned_rectangles_import_as_meant(tmp_path):
    tasks = tmp_path / "tasks.json"
    corners = _in_label_studio_venv(_TASKS, str(tasks), json.dumps(_PIXELS.astype(int).tolist()))
    _catalog(tmp_path / "c.duckdb")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = labelstudio_json.import_files(catalog, [tasks], progress=False, field="ls")
        rows = catalog.sql(
            "SELECT id, kind, label, geometry, mask FROM rois WHERE field = 'ls' ORDER BY id"
        ).fetchall()
    held = "rectanglelabels, polygonlabels, keypointlabels, brushlabels (rle), choices"
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{tasks}, task #1, result 3", f"'textarea' results are not imported (here: {held})")
    ]
    (brush_id, kind, label, _, mask), (turned_id, turned_kind, _, ring, _) = rows
    assert (brush_id, kind, label, turned_id, turned_kind) == (
        "b1",
        "mask",
        "road",
        "r1",
        "polygon",
    )
    stored = json.loads(mask)["rle"]
    assert (rle.decode(stored["counts"], stored["size"]).astype(bool) == _PIXELS).all()
    assert np.allclose(ring[0], corners)


def test_our_brushes_decode_in_label_studio_to_the_catalog_masks(tmp_path):
    _catalog(tmp_path / "c.duckdb")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = labelstudio_json.export_files(catalog.view(), tmp_path / "out.json",
                                               progress=False, target="annotations")  # fmt: skip
        assert (report.rois, report.skipped) == (1, [])
        assert labelstudio_json.import_files(catalog, [tmp_path / "out.json"], progress=False,
                                             field="again").ok  # fmt: skip
        masks = catalog.sql("SELECT field, mask, confidence FROM rois ORDER BY field").fetchall()
    decoded = _in_label_studio_venv(_DECODE, str(tmp_path / "out.json"),
                                    json.dumps(_PIXELS.astype(int).tolist()),
                                    str(tmp_path / "numpy"))  # fmt: skip
    assert decoded == [["-brush-road-0.npy", np.flatnonzero(_PIXELS).tolist()],
                       ["same bytes", True]]  # fmt: skip
    (_, again, _), (_, stored, confidence) = masks
    assert (json.loads(again), confidence) == (json.loads(stored), 0.5)


def test_bad_brushes_cost_only_their_result(tmp_path):
    from workbench.ingest import _labelstudio_brush as brush

    good = brush.encode(_PIXELS)
    common = {"to_name": "image", "from_name": "brush", "type": "brushlabels",
              "original_width": 30, "original_height": 20}  # fmt: skip

    def result(n: int, rle_value, **over):
        value = {"format": "rle", "rle": rle_value, "brushlabels": ["road"]}
        return {**common, "id": f"b{n}", "value": value, **over}

    results = [
        result(1, good[:-3]),  # cut short
        result(2, good, original_width=31),  # the count of values is another image's
        result(3, [*good[:5], 300]),  # not bytes
        result(4, good, original_width=100_000, original_height=100_000),
        result(5, good),
    ]
    task = {"id": 1, "data": {"image": "/data/images/0.jpg", "frame_id": "f0"},
            "annotations": [{"result": results}]}  # fmt: skip
    path = tmp_path / "t.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([task]).encode())  # with a BOM
    _catalog(tmp_path / "c.duckdb")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = labelstudio_json.import_files(catalog, [path], progress=False, field="ls")
        ids = catalog.sql("SELECT id FROM rois WHERE field = 'ls'").fetchall()
    where = f"{path}, task #1, result "
    assert [(e.where, e.problem) for e in report.errors] == [
        (where + "1", "a brush's rle ends inside a run"),
        (where + "2", "a brush's rle holds 2400 values, a 31x20 image 2480"),
        (where + "3", "a brush's rle must be a list of bytes (integers 0-255)"),
        (where + "4", "a 100000x100000 brush is past the pixel limit"),
    ]
    assert ids == [("b5",)]
