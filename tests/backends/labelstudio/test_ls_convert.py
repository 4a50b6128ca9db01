"""Label configs and geometry without a server: pixel rings <-> Label Studio percentages."""

import json
import xml.etree.ElementTree as ET

import pytest

from workbench.backends import AttributeSpec, FieldSchema, LabelSchema
from workbench.backends.labelstudio import ConfigError, Controls, ResultError, label_config
from workbench.backends.labelstudio.convert import (
    polygon_value,
    rectangle_ring,
    rectangle_value,
    same_config,
)
from workbench.backends.labelstudio.convert import (
    polygon_value_ring as polygon_ring,
)
from workbench.backends.labelstudio.results import TaskReader, frame_prediction

from .ls_samples import LABELS, SCHEMA, H, W, rotated_ring


def test_an_axis_aligned_box_is_percent_of_the_image():
    value = rectangle_value([20, 10, 60, 10, 60, 40, 20, 40], W, H)
    assert value == {"x": 10.0, "y": 10.0, "width": 20.0, "height": 30.0, "rotation": 0.0}
    assert rectangle_ring(value, W, H) == (20, 10, 60, 10, 60, 40, 20, 40)
    # two opposite corners make the same box
    assert rectangle_value([60, 40, 20, 10], W, H) == value


def test_a_rotated_label_studio_rectangle_turns_about_its_top_left_corner_in_pixels():
    # x=10%, y=20% of 200x100 is (20, 20); width 30% = 60 px, height 40% = 40 px; 90 degrees
    # clockwise points the width straight down and the height to the left.
    value = {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 90}
    ring = rectangle_ring(value, W, H)
    assert ring == pytest.approx((20, 20, 20, 80, -20, 80, -20, 20), abs=1e-9)


@pytest.mark.parametrize("degrees", [0, 15, 30, 135, 200, 330])
def test_rotated_boxes_survive_a_round_trip(degrees):
    ring = rotated_ring(80, 30, 50, 20, degrees)
    value = rectangle_value(ring, W, H)
    assert value["rotation"] == pytest.approx(degrees % 360, abs=1e-9)
    assert value["width"] == pytest.approx(25.0) and value["height"] == pytest.approx(20.0)
    assert rectangle_ring(value, W, H) == pytest.approx(tuple(ring), abs=1e-9)


def test_a_box_turned_a_quarter_is_sent_unrotated_as_the_same_region():
    ring = rotated_ring(80, 30, 50, 20, 90)  # corners at x 60..80, y 30..80
    value = rectangle_value(ring, W, H)
    assert value == pytest.approx({"x": 30, "y": 30, "width": 10, "height": 50, "rotation": 0})
    corners = rectangle_ring(value, W, H)

    def points(r):
        return sorted((round(x, 9), round(y, 9)) for x, y in zip(r[0::2], r[1::2], strict=True))

    assert points(corners) == points(ring)


def test_a_counter_clockwise_ring_is_walked_the_other_way():
    ring = rotated_ring(80, 30, 50, 20, 30)
    backwards = ring[:2] + ring[6:8] + ring[4:6] + ring[2:4]
    value = rectangle_value(backwards, W, H)
    assert value["rotation"] == pytest.approx(30)
    assert rectangle_ring(value, W, H) == pytest.approx(tuple(ring), abs=1e-9)


def test_polygons_convert_both_ways():
    ring = [0.0, 60.0, 100.0, 60.0, 50.0, 90.0]
    value = polygon_value(ring, W, H)
    assert value["points"] == [[0.0, 60.0], [50.0, 60.0], [25.0, 90.0]]
    assert polygon_ring(value, W, H) == tuple(ring)
    with pytest.raises(ValueError, match="finite number"):
        polygon_ring({"points": [[1, "a"]]}, W, H)


def test_the_config_has_a_control_per_field_and_per_region_attribute():
    xml = label_config(Controls.for_schema(SCHEMA, tracked=["gt"]))
    root = ET.fromstring(xml)
    tags = {e.get("name"): e.tag for e in root.iter() if e.get("name")}
    assert tags == {
        "image": "Image",
        "gt": "RectangleLabels",
        "area": "PolygonLabels",
        "kp": "KeyPointLabels",
        "scene": "Choices",
        "tags": "Choices",
        "kind": "Taxonomy",
        "quality": "TextArea",
        "gt__occluded": "Choices",
        "gt__color": "Choices",
        "gt__size": "Choices",
        "gt__note": "TextArea",
        "gt__group": "Number",
        "gt__parked": "Choices",
        "gt__track": "Number",
    }
    per_region = [e for e in root.iter() if e.get("perRegion") == "true"]
    assert len(per_region) == 7
    taxonomy = next(e for e in root.iter("Taxonomy"))
    assert [(c.get("value"), [g.get("value") for g in c]) for c in taxonomy] == [
        ("vehicle", ["car", "bus"])
    ]
    assert same_config(xml, xml.replace("\n  ", "\n"))
    assert not same_config(xml, xml.replace('"truck"', '"van"'))


def test_schemas_label_studio_cannot_show_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"field 'lines'.*polylines"):
        Controls.for_schema(LabelSchema(fields={"lines": FieldSchema(type="polylines")}))
    clash = LabelSchema(
        fields={
            "gt": FieldSchema(
                type="detections", classes=("car",), attributes={"x": AttributeSpec("text")}
            ),
            "gt__x": FieldSchema(type="scalar"),
        }
    )
    with pytest.raises(ConfigError, match="'gt__x' is already used"):
        Controls.for_schema(clash)


def roundtrip(results, prediction, ids):
    data = {"wb_frame": "f", "wb_size": [W, H], "wb_shapes": prediction.sent}
    data["wb_hidden"] = prediction.hidden
    reader = TaskReader("run", "7", data, Controls.for_schema(SCHEMA, tracked=["gt"]))
    return {s.id: s for s in reader.shapes(results)}


def test_labels_sent_and_read_back_untouched_are_exactly_what_was_sent():
    ids = [f"s{n}" for n in range(len(LABELS))]
    prediction = frame_prediction(
        LABELS, ids, Controls.for_schema(SCHEMA, tracked=["gt"]), (W, H), "front"
    )
    # the polygon has two rings and the keypoints three points: a region each
    regions = [r["id"] for r in prediction.results if r["from_name"] in ("area", "kp")]
    assert regions == ["s1:0", "s1:1", "s2:0", "s2:1", "s2:2"]
    # the truck is on another camera: not shown, but carried along
    assert [h["id"] for h in prediction.hidden] == ["s8"]
    # what comes back has float noise; it is still the labels as sent
    noisy = json.loads(json.dumps(prediction.results))
    for result in noisy:
        if "x" in result["value"]:
            result["value"]["x"] += 1e-9
    shapes = roundtrip(noisy, prediction, ids)
    assert set(shapes) == set(ids)
    box = shapes["s0"]
    assert [list(r) for r in box.geometry] == LABELS[0]["geometry"]
    assert box.attributes == {
        "occluded": True,
        "color": "blue",
        "size": 2,
        "note": "dent",
        "group": 4,
        "parked": False,
    }
    assert (box.confidence, box.track_index, box.keyframe) == (0.5, 3, False)
    assert [list(r) for r in shapes["s1"].geometry] == LABELS[1]["geometry"]
    assert [list(r) for r in shapes["s2"].geometry] == LABELS[2]["geometry"]
    assert shapes["s3"].label == "night"
    assert {shapes["s4"].label, shapes["s5"].label} == {"blur", "glare"}
    assert shapes["s6"].label == "vehicle/bus"
    assert shapes["s7"].value == "3"
    assert shapes["s8"].label == "truck" and shapes["s8"].source_ids == ("rear",)


def test_edited_regions_come_back_in_pixels_and_new_ones_get_stable_ids():
    ids = [f"s{n}" for n in range(len(LABELS))]
    controls = Controls.for_schema(SCHEMA, tracked=["gt"])
    prediction = frame_prediction(LABELS, ids, controls, (W, H), "front")
    results = [r for r in prediction.results if r["id"] == "s0"]
    results[0]["value"].update(x=10, y=20, width=30, height=40, rotation=90)
    track = next(r for r in results if r["from_name"] == "gt__track")
    track["value"] = {"number": 5}
    new = {
        "id": "ab12",
        "from_name": "gt",
        "to_name": "image",
        "type": "rectanglelabels",
        "value": {"x": 50, "y": 50, "width": 10, "height": 10, "rectanglelabels": ["truck"]},
    }
    first = roundtrip([*results, new], prediction, ids)
    moved = first["s0"]
    assert len(moved.geometry) == 1
    assert moved.geometry[0] == pytest.approx((20, 20, 20, 80, -20, 80, -20, 20), abs=1e-9)
    assert (moved.track_index, moved.keyframe) == (5, True)
    added = next(s for s in first.values() if s.label == "truck" and s.id != "s8")
    assert added.geometry == ((100, 50, 120, 50, 120, 60, 100, 60),)
    assert added.attributes == {"occluded": False, "parked": False}
    # read again: the same id for the same region
    assert added.id in roundtrip([*results, new], prediction, ids)
    # everything not in the results is gone (deleted by the annotator), hidden labels stay
    assert set(first) == {"s0", added.id, "s8"}


def test_unreadable_results_name_the_task_and_region():
    prediction = frame_prediction([], [], Controls.for_schema(SCHEMA), (W, H), None)
    bad = [
        {"id": "r1", "from_name": "gt", "type": "rectanglelabels", "value": {"x": "left"}},
    ]
    with pytest.raises(ResultError, match=r"task 7 \(frame 'f'\), region 'r1': x is not"):
        roundtrip(bad, prediction, [])
    with pytest.raises(ResultError, match="result type 'ellipselabels'"):
        roundtrip(
            [{"id": "e", "from_name": "gt", "type": "ellipselabels", "value": {}}], prediction, []
        )
    with pytest.raises(ResultError, match="without id or from_name"):
        roundtrip([{"type": "choices", "value": {}}], prediction, [])
