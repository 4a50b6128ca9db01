"""Geometry between the catalog and CVAT, track interpolation, and how tracks are sent."""

from __future__ import annotations

import json
import math

import pytest

from workbench.backends import AttributeSpec, FieldSchema, LabelSchema, ShapeError
from workbench.backends.cvat.geometry import (
    CvatGeometry,
    Keyframe,
    from_cvat,
    interpolate,
    to_cvat,
    track_frames,
)
from workbench.backends.cvat.labels import CvatLabel, ProjectLabels
from workbench.backends.cvat.payload import prepare

from .cvat_catalog import rotated_box


def test_axis_aligned_boxes_round_trip_exactly() -> None:
    ring = (10.1, 20.3, 30.7, 20.3, 30.7, 40.9, 10.1, 40.9)
    shape = to_cvat("box", [ring])
    assert shape == CvatGeometry("rectangle", (10.1, 20.3, 30.7, 40.9), 0.0)
    assert from_cvat(shape) == (ring,)
    assert to_cvat("box", [(30.7, 40.9, 10.1, 20.3)]).points == (10.1, 20.3, 30.7, 40.9)


@pytest.mark.parametrize("degrees", [15.0, 200.0, 359.0])
def test_rotated_boxes_turn_about_their_centre(degrees: float) -> None:
    ring = rotated_box(50.0, 40.0, 20.0, 10.0, degrees)
    shape = to_cvat("box", [ring])
    assert shape.rotation == pytest.approx(degrees)
    assert shape.points == pytest.approx((40.0, 35.0, 60.0, 45.0))  # unrotated, same centre
    assert from_cvat(shape)[0] == pytest.approx(ring)


def test_a_quarter_turn_is_an_upright_box() -> None:
    shape = to_cvat("box", [rotated_box(50.0, 40.0, 20.0, 10.0, 90.0)])
    assert shape.rotation == 0.0
    assert shape.points == pytest.approx((45.0, 30.0, 55.0, 50.0))


def test_polygons_polylines_points_are_flat_lists() -> None:
    assert to_cvat("polygon", [(0, 0, 4, 0, 4, 4)]) == CvatGeometry("polygon", (0, 0, 4, 0, 4, 4))
    assert to_cvat("point", [(1, 2)]).type == "points"
    with pytest.raises(ValueError, match="one ring; this polygon has 2"):
        to_cvat("polygon", [(0, 0, 4, 0, 4, 4), (1, 1, 2, 1, 2, 2)])
    with pytest.raises(ValueError, match="at least 3 points"):
        to_cvat("polygon", [(0, 0, 4, 0)])
    with pytest.raises(ValueError, match="no shape for kind 'mask'"):
        to_cvat("mask", [])


def _box(x: float, rotation: float = 0.0) -> CvatGeometry:
    return CvatGeometry("rectangle", (x, 0.0, x + 10.0, 10.0), rotation)


def test_tracks_interpolate_hold_and_end_like_cvat() -> None:
    keys = [
        Keyframe(1, _box(0.0), attributes=((5, "red"),)),
        Keyframe(5, _box(40.0), occluded=True, attributes=((6, "x"),)),
        Keyframe(7, _box(80.0), outside=True),
        Keyframe(9, _box(0.0)),
    ]
    frames = {f.frame: f for f in track_frames(keys, end=12)}
    assert sorted(frames) == [1, 2, 3, 4, 5, 6, 9, 10, 11]  # hidden from the outside on
    assert frames[3].geometry.points == (20.0, 0.0, 30.0, 10.0) and not frames[3].keyframe
    assert frames[6].geometry.points == (60.0, 0.0, 70.0, 10.0)  # towards the outside shape
    assert frames[11].geometry == _box(0.0) and frames[9].keyframe  # held to the task's end
    assert frames[6].occluded and not frames[4].occluded
    assert frames[6].attributes == {5: "red", 6: "x"}  # carried forward


def test_rotation_takes_the_short_way_and_point_sets_hold() -> None:
    turned = interpolate(_box(0.0, 350.0), _box(0.0, 10.0), 0.5)
    assert turned.rotation == pytest.approx(0.0, abs=1e-9) or turned.rotation == pytest.approx(
        360.0
    )
    a = CvatGeometry("points", (0, 0, 1, 1))
    assert interpolate(a, CvatGeometry("points", (5, 5, 6, 6)), 0.5) == a
    single = interpolate(CvatGeometry("points", (0, 0)), CvatGeometry("points", (4, 2)), 0.5)
    assert single.points == (2.0, 1.0)
    triangle = CvatGeometry("polygon", (0, 0, 4, 0, 4, 4))
    assert interpolate(triangle, CvatGeometry("polygon", (0, 0, 4, 0, 4, 4, 0, 4)), 0.5) == triangle


SCHEMA = LabelSchema(
    fields={
        "gt": FieldSchema(
            type="detections",
            classes=("car",),
            attributes={
                "occluded": AttributeSpec(type="occluded"),
                "color": AttributeSpec(type="select", values=("red", "blue"), default="red"),
            },
        )
    }
)
LABELS = ProjectLabels(
    labels=(CvatLabel(3, "car", "gt", "car", "rectangle", {"color": 30}),),
    schema=SCHEMA,
    mutable=True,
)


def _row(frame: int, x: float, keyframe: bool | None, color: str = "red") -> dict:
    return {
        "roi_id": f"r{frame}",
        "frame_id": f"f{frame}",
        "field": "gt",
        "kind": "box",
        "label": "car",
        "confidence": None,
        "geometry": [[x, 0, x + 10, 0, x + 10, 10, x, 10]],
        "mask": None,
        "attributes": json.dumps({"color": color}),
        "value": None,
        "track_index": 4,
        "keyframe": keyframe,
        "source_ids": [],
    }


def test_a_track_is_sent_as_keyframes_with_outside_markers() -> None:
    # frames 0..3 move in a straight line (1 and 2 not keyframes); 4 is missing (a gap);
    # 5 is there with another colour; 6 is the last; the task has 9 frames.
    rows = [
        _row(0, 0.0, True),
        _row(1, 10.0, False),
        _row(2, 20.0, False),
        _row(3, 30.0, True),
        _row(5, 50.0, False, "blue"),
        _row(6, 60.0, False, "blue"),
    ]
    numbers = {f"f{i}": i for i in range(9)}
    prepared = prepare(list(enumerate(rows)), numbers, dict.fromkeys(numbers, 0), 9, LABELS)
    (track,) = prepared.body["tracks"]
    keys = [(s["frame"], s["outside"], s["points"][0]) for s in track["shapes"]]
    assert keys == [
        (0, False, 0.0),
        (3, False, 30.0),
        (4, True, 30.0),
        (5, False, 50.0),
        (6, False, 60.0),
        (7, True, 60.0),
    ]
    assert track["shapes"][3]["attributes"] == [{"spec_id": 30, "value": "blue"}]
    assert track["frame"] == 0 and track["label_id"] == 3 and not prepared.body["shapes"]
    # What CVAT will show for each label: frame 1 interpolated (not a keyframe).
    assert prepared.sent[1]["geometry"] == ["rectangle", [10.0, 0.0, 20.0, 10.0], 0.0]
    assert prepared.sent[1]["keyframe"] is False and prepared.sent[0]["keyframe"] is True
    assert prepared.tracks == [[(0, 0), (1, 1), (2, 2), (3, 3), (4, 5), (5, 6)]]


def test_labels_that_cannot_be_sent_are_refused_before_upload() -> None:
    numbers = {"f0": 0, "f1": 1}
    two = [(0, _row(0, 0.0, True)), (1, _row(0, 5.0, True) | {"frame_id": "f0"})]
    with pytest.raises(ShapeError, match="two labels on this frame"):
        prepare(two, numbers, dict.fromkeys(numbers, 0), 2, LABELS)
    holes = _row(0, 0.0, None) | {"track_index": None, "geometry": [[0, 0, 4, 0, 4, 4, 0, 4]] * 2}
    with pytest.raises(ShapeError, match=r"label r0 of field 'gt' on frame 'f0'.*one ring"):
        prepare([(0, holes)], numbers, dict.fromkeys(numbers, 0), 2, LABELS)
    bus = _row(0, 0.0, None) | {"label": "bus"}
    with pytest.raises(Exception, match="class 'bus' is not a class of field 'gt'"):
        prepare([(0, bus)], numbers, dict.fromkeys(numbers, 0), 2, LABELS)
    assert math.isfinite(to_cvat("box", [[0, 0, 1, 1]]).points[2])
