"""A polygon of several rings (COCO's parts of one object) in Label Studio JSON: one
`polygonlabels` result a ring (Label Studio's polygons have one), which Label Studio's
converter turns into those rings, and which import joins back into one ROI; so are the
points of a point ROI."""

from __future__ import annotations

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, labelstudio_json

from .test_labelstudio_json import _in_label_studio_venv

_RINGS = [[10.0, 10.0, 90.0, 10.0, 50.0, 40.0], [120.0, 50.0, 180.0, 50.0, 150.0, 90.0]]
_TO_COCO = """
import json, sys, os
from label_studio_sdk.converter import Converter
config = '<View><Image name="image" value="$image"/>' \\
    '<PolygonLabels name="label" toName="image"><Label value="car"/></PolygonLabels></View>'
Converter(config, project_dir=None, download_resources=False).convert_to_coco(
    sys.argv[1], sys.argv[2], is_dir=False)
coco = json.load(open(os.path.join(sys.argv[2], "result.json")))
print(json.dumps(sorted([round(v, 3) for v in a["segmentation"][0]] for a in coco["annotations"])))
"""


def test_every_ring_of_a_polygon_is_written_and_read_back(tmp_path):
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            rois = [Roi("p", "polygon", ["car"], "predictions", _RINGS)]
            source = Source("image", "/data/images/0.jpg", 200, 100)
            writer.add(Frame("f0", sources=[source], rois=rois))
        report = labelstudio_json.export_files(catalog.view(), tmp_path / "t.json",
                                               progress=False, target="annotations")  # fmt: skip
        assert (report.rois, report.skipped) == (1, [])
        assert labelstudio_json.import_files(catalog, [tmp_path / "t.json"], progress=False,
                                             field="again").ok  # fmt: skip
        back = catalog.sql("SELECT geometry FROM rois WHERE field = 'again'").fetchall()
    assert [[[round(v, 6) for v in ring] for ring in g] for (g,) in back] == [_RINGS]
    converted = _in_label_studio_venv(_TO_COCO, str(tmp_path / "t.json"), str(tmp_path / "coco"))
    assert converted == _RINGS


def test_a_point_roi_of_several_points_comes_back_whole(tmp_path):
    """Its points are one `keypointlabels` result each (`<id>`, `<id>.1`, ...), joined back."""
    points = [[20.0, 10.0, 40.0, 30.0, 60.0, 50.0]]
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            rois = [Roi("k", "point", ["nose"], "predictions", points)]
            source = Source("image", "/data/images/0.jpg", 200, 100)
            writer.add(Frame("f0", sources=[source], rois=rois))
        labelstudio_json.export_files(catalog.view(), tmp_path / "t.json", progress=False)
        assert labelstudio_json.import_files(
            catalog, [tmp_path / "t.json"], progress=False, field="again"
        ).ok
        back = catalog.sql("SELECT kind, geometry FROM rois WHERE field = 'again'").fetchall()
    assert [(k, [[round(v, 6) for v in r] for r in g]) for k, g in back] == [("point", points)]
