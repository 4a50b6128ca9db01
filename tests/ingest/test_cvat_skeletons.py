"""Keypoints as CVAT skeletons in "CVAT for images" XML: a round trip keeps points, names and
visibility; a skeleton's points are put in the order the catalog keeps for its label; a bad
skeleton costs only itself; datumaro (which reads no skeletons) still loads the rest."""

from __future__ import annotations

from pathlib import Path

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, cvat_xml
from workbench.model.keypoints import KeypointLabel
from workbench.store.keypoints import keypoint_labels

from .sdk_venv import run_in_sdk_venv

NAMES = ("nose", "left_eye", "right_eye")


def _catalog(tmp_path: Path) -> Path:
    path = tmp_path / "c.duckdb"
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        rois = [
            Roi("b", "box", ["car"], geometry=[box_ring(1, 2, 5, 6)]),
            Roi("k", "keypoints", ["person"], geometry=[[5, 6, 8.5, 9, 0, 0]],
                visibility=[2, 1, 0]),
        ]  # fmt: skip
        source = Source("image", "/data/clip/0000.jpg", 30, 20)
        writer.add(Frame("f0", sources=[source], rois=rois))
        writer.add_keypoint_labels([KeypointLabel("person", NAMES, ((1, 2), (1, 3)))])
    return path


def _keypoints(catalog, field: str) -> list[tuple]:
    return catalog.sql(
        "SELECT label, geometry, visibility FROM rois WHERE kind = 'keypoints' AND field = ?",
        [field],
    ).fetchall()


def test_keypoints_round_trip_as_skeletons(tmp_path):
    path = _catalog(tmp_path)
    dest = tmp_path / "out.xml"
    with workbench.open(path) as catalog:
        report = cvat_xml.export_files(catalog.view(), dest, progress=False)
        assert report.rois == 2 and not report.skipped
        text = dest.read_text()
        assert '<skeleton label="person"' in text
        assert '<points label="right_eye" source="manual" outside="1"' in text
        assert "<type>skeleton</type>" in text and "<parent>person</parent>" in text
        assert cvat_xml.import_files(catalog, [dest], progress=False, field="cvat").ok
        assert _keypoints(catalog, "cvat") == _keypoints(catalog, "ground_truth")
        assert _keypoints(catalog, "cvat") == [("person", [[5, 6, 8.5, 9, 0, 0]], [2, 1, 0])]


_CVAT = """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version>
<image id="0" name="0000.jpg" width="30" height="20">
  <skeleton label="person" source="manual" z_order="0">
    <points label="right_eye" source="manual" outside="0" occluded="1" points="7,8"/>
    <points label="nose" source="manual" outside="0" occluded="0" points="1.5,2"/>
  </skeleton>
  <skeleton label="person" source="manual" z_order="0">
    <points label="tail" source="manual" outside="0" occluded="0" points="1,2"/>
  </skeleton>
  <skeleton label="person" source="manual" z_order="0">
    <points label="nose" source="manual" outside="0" occluded="0" points="1;2"/>
  </skeleton>
  <skeleton label="horse" source="manual" z_order="0">
    <points label="head" source="manual" outside="0" occluded="0" points="3,4"/>
    <points label="tail" source="manual" outside="1" occluded="0" points="0,0"/>
  </skeleton>
</image></annotations>
"""


def test_skeleton_points_follow_the_label_order_and_bad_ones_cost_only_themselves(tmp_path):
    path = _catalog(tmp_path)
    source = tmp_path / "cvat.xml"
    source.write_text(_CVAT)
    with workbench.open(path) as catalog:
        report = cvat_xml.import_files(catalog, [source], progress=False, field="cvat")
        stored = _keypoints(catalog, "cvat")
        kept = keypoint_labels(catalog.cursor())
    assert stored == [
        ("person", [[1.5, 2, 0, 0, 7, 8]], [2, 0, 1]),  # the catalog's order; left_eye absent
        ("horse", [[3, 4, 0, 0]], [2, 0]),
    ]
    where = f"{source}, image '0000.jpg'"
    assert [str(e) for e in report.errors] == [
        f"{where}, <skeleton> #2: points ['tail'] are not points of 'person'",
        f"{where}, <skeleton> #3: point 'nose' must be 'x,y'",
    ]
    # a label the catalog had no names for takes the file's order
    assert kept["horse"] == KeypointLabel("horse", ("head", "tail"))
    assert kept["person"].names == NAMES


_DATUMARO_READ = """
import json, sys
import datumaro as dm
ds = dm.Dataset.import_from(sys.argv[1], "cvat")
labels = ds.categories()[dm.AnnotationType.label]
print(json.dumps(sorted([item.id, labels[a.label].name, a.type.name]
                        for item in ds for a in item.annotations)))
"""


def test_datumaro_still_loads_a_file_with_skeletons(tmp_path):
    path = _catalog(tmp_path)
    (tmp_path / "ours" / "images").mkdir(parents=True)
    (tmp_path / "ours" / "images" / "0000.jpg").write_bytes(b"")
    with workbench.open(path) as catalog:
        cvat_xml.export_files(catalog.view(), tmp_path / "ours" / "default.xml", progress=False)
    loaded = run_in_sdk_venv(_DATUMARO_READ, str(tmp_path / "ours"))
    assert ["0000", "car", "bbox"] in loaded
