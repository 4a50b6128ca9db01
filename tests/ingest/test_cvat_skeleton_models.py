"""CVAT skeletons in "CVAT for images" XML against what CVAT publishes: the skeleton label's
`<svg>` (points and edges, as CVAT's own export writes it and its label editor keeps it) is
written and read, and the labels and shapes of our file, turned into the REST bodies CVAT's
XML importer makes of them, pass cvat-sdk's generated models (tests/backends/cvat/
cvat_checks.py) and the checks the models cannot make."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, cvat_xml
from workbench.model.keypoints import KeypointLabel
from workbench.store.keypoints import keypoint_labels

from ..backends.cvat.cvat_checks import validate

pytest.importorskip("cvat_sdk")
from cvat_sdk.api_client import models

NAMES = ("nose", "left_eye", "right_eye", "neck")
SKELETON = ((1, 2), (1, 3), (1, 4))
# What CVAT's label editor keeps of a skeleton's svg (its sanitizer's allowed elements and
# attributes).
SVG_TAGS = {"svg", "line", "circle", "desc"}
SVG_ATTRIBUTES = {"cx", "cy", "r", "data-type", "data-element-id", "data-label-name",
                  "data-label-id", "data-node-id", "x1", "y1", "x2", "y2", "data-node-from",
                  "data-node-to", "data-description-type"}  # fmt: skip


def _export(tmp_path: Path) -> Path:
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            writer.add_keypoint_labels([KeypointLabel("person", NAMES, SKELETON)])
            rois = [
                Roi("k", "keypoints", ["person"], geometry=[[5, 6, 8.5, 9, 0, 0, 7, 12]],
                    visibility=[2, 1, 0, 2]),
            ]  # fmt: skip
            writer.add(Frame("f0", sources=[Source("image", "/d/0000.jpg", 30, 20)], rois=rois))
        dest = tmp_path / "out.xml"
        report = cvat_xml.export_files(catalog.view(), dest, progress=False)
        assert report.rois == 1 and not report.skipped
    return dest


def test_the_export_declares_the_skeleton_as_cvat_does(tmp_path: Path) -> None:
    root = ET.parse(_export(tmp_path)).getroot()
    person = next(
        e for e in root.iterfind("meta/task/labels/label") if e.findtext("name") == "person"
    )
    assert person.findtext("type") == "skeleton"
    svg = ET.fromstring(f"<svg>{person.findtext('svg')}</svg>")
    assert {e.tag for e in svg.iter()} <= SVG_TAGS
    assert set().union(*(e.attrib for e in svg.iter())) <= SVG_ATTRIBUTES
    circles = {c.get("data-node-id"): c.get("data-label-name") for c in svg.iter("circle")}
    assert circles == {str(n): name for n, name in enumerate(NAMES, start=1)}
    lines = [(int(e.get("data-node-from")), int(e.get("data-node-to"))) for e in svg.iter("line")]
    assert tuple(lines) == SKELETON
    # A catalog that never saw the label gets its names and skeleton from the file.
    (tmp_path / "other").mkdir()
    with workbench.open(tmp_path / "other" / "c.duckdb") as other:
        with CatalogWriter(other, progress=False) as writer:
            writer.add(Frame("g0", sources=[Source("image", "/e/0000.jpg", 30, 20)]))
        report = cvat_xml.import_files(other, [tmp_path / "out.xml"], progress=False)
        assert report.ok, report
        assert keypoint_labels(other.cursor())["person"] == KeypointLabel("person", NAMES, SKELETON)
        assert other.sql("SELECT geometry, visibility FROM rois").fetchall() == [
            ([[5, 6, 8.5, 9, 0, 0, 7, 12]], [2, 1, 0, 2])
        ]


# As CVAT writes it: nodes numbered out of document order, lines first, drawing attributes.
_CVAT = """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><labels>
  <label><name>hand</name><color>#aa0000</color><type>skeleton</type><attributes/>
    <svg>&lt;line x1="1" y1="1" x2="2" y2="2" stroke="black" data-type="edge" data-node-from="2" data-node-to="3"&gt;&lt;/line&gt;&lt;circle r="1.5" stroke="black" cx="2" cy="2" data-type="element node" data-element-id="2" data-node-id="2" data-label-name="index"&gt;&lt;/circle&gt;&lt;circle r="1.5" cx="1" cy="1" data-type="element node" data-element-id="1" data-node-id="1" data-label-name="thumb"&gt;&lt;/circle&gt;&lt;circle r="1.5" cx="3" cy="3" data-type="element node" data-element-id="3" data-node-id="3" data-label-name="little"&gt;&lt;/circle&gt;</svg></label>
  <label><name>thumb</name><type>points</type><attributes/><parent>hand</parent></label>
  <label><name>index</name><type>points</type><attributes/><parent>hand</parent></label>
  <label><name>little</name><type>points</type><attributes/><parent>hand</parent></label>
</labels></task></meta>
<image id="0" name="0000.jpg" width="30" height="20">
  <skeleton label="hand" source="manual" z_order="0">
    <points label="little" source="manual" outside="0" occluded="0" points="9,9"/>
    <points label="index" source="manual" outside="0" occluded="1" points="5,5"/>
    <points label="thumb" source="manual" outside="1" occluded="0" points="1,1"/>
  </skeleton>
</image></annotations>
"""


def test_a_file_as_cvat_writes_it_keeps_the_skeleton(tmp_path: Path) -> None:
    source = tmp_path / "cvat.xml"
    source.write_text(_CVAT)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            writer.add(Frame("f0", sources=[Source("image", "/d/0000.jpg", 30, 20)]))
        report = cvat_xml.import_files(catalog, [source], progress=False)
        assert report.ok, report
        kept = keypoint_labels(catalog.cursor())["hand"]
        rows = catalog.sql("SELECT geometry, visibility FROM rois").fetchall()
    assert kept == KeypointLabel("hand", ("thumb", "index", "little"), ((2, 3),))
    assert rows == [([[1, 1, 5, 5, 9, 9]], [0, 1, 2])]


def _rest_bodies(root: ET.Element) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The label and shape bodies CVAT's XML import makes of our file (label ids by position,
    sublabels numbered after them)."""
    labels, ids = [], {}
    declared = list(root.iterfind("meta/task/labels/label"))
    for element in declared:
        if element.findtext("parent"):
            continue
        name = element.findtext("name") or ""
        ids[name] = len(ids) + 1
        body: dict[str, Any] = {"name": name, "type": element.findtext("type") or "any",
                                "attributes": []}  # fmt: skip
        if body["type"] == "skeleton":
            body["svg"] = element.findtext("svg")
            body["sublabels"] = [
                {"name": e.findtext("name"), "type": e.findtext("type"), "attributes": []}
                for e in declared
                if e.findtext("parent") == name
            ]
        labels.append(body)
    for label in labels:
        for sub in label.get("sublabels", []):
            ids[f"{label['name']}/{sub['name']}"] = len(ids) + 1
    shapes = []
    for frame, image in enumerate(root.iterfind("image")):
        for element in image.iterfind("skeleton"):
            parent = element.get("label") or ""
            elements = []
            for point in element.iterfind("points"):
                x, y = (float(v) for v in (point.get("points") or "").split(","))
                elements.append({
                    "type": "points", "frame": frame, "label_id": ids[f"{parent}/{point.get('label')}"],
                    "points": [x, y], "outside": point.get("outside") == "1",
                    "occluded": point.get("occluded") == "1", "source": point.get("source"),
                })  # fmt: skip
            shapes.append({"type": "skeleton", "frame": frame, "label_id": ids[parent],
                           "points": [], "source": element.get("source"),
                           "z_order": int(element.get("z_order") or 0),
                           "elements": elements})  # fmt: skip
    return labels, shapes


def test_our_skeletons_are_what_cvat_sdk_models_take(tmp_path: Path) -> None:
    labels, shapes = _rest_bodies(ET.parse(_export(tmp_path)).getroot())
    (person,) = [label for label in labels if label["type"] == "skeleton"]
    validate(person, models.PatchedLabelRequest)
    for sub in person["sublabels"]:
        validate(sub, models.SublabelRequest)
    # What the models cannot know: the svg names exactly the sublabels, once each.
    svg = ET.fromstring(f"<svg>{person['svg']}</svg>")
    assert sorted(c.get("data-label-name") for c in svg.iter("circle")) == sorted(
        s["name"] for s in person["sublabels"]
    )
    (shape,) = shapes
    validate(shape, models.LabeledShapeRequest)
    assert len(shape["elements"]) == len(NAMES)
    assert all(len(e["points"]) == 2 for e in shape["elements"])
    assert [(e["outside"], e["occluded"]) for e in shape["elements"]] == [
        (False, False), (False, True), (True, False), (False, False)
    ]  # fmt: skip
    # A body the models refuse, so the check can fail.
    with pytest.raises(Exception, match="LabeledShapeRequest"):
        validate({**shape, "type": "skeletons"}, models.LabeledShapeRequest)
