"""Sample label schemas and label rows for the converter and server tests."""

import json
import math

from workbench.backends import AttributeSpec, FieldSchema, LabelSchema

W, H = 200, 100


def rotated_ring(x, y, w, h, degrees):
    """Four corners of a w x h box with its top-left corner at (x, y), turned clockwise (as
    drawn, y down) about that corner."""
    r = math.radians(degrees)
    u, v = (math.cos(r), math.sin(r)), (-math.sin(r), math.cos(r))
    return [
        x,
        y,
        x + w * u[0],
        y + w * u[1],
        x + w * u[0] + h * v[0],
        y + w * u[1] + h * v[1],
        x + h * v[0],
        y + h * v[1],
    ]


SCHEMA = LabelSchema(
    fields={
        "gt": FieldSchema(
            type="detections",
            classes=("car", "truck"),
            attributes={
                "occluded": AttributeSpec("occluded"),
                "color": AttributeSpec("select", ("red", "blue")),
                "size": AttributeSpec("radio", (1, 2)),
                "note": AttributeSpec("text"),
                "group": AttributeSpec("group_id"),
                "parked": AttributeSpec("checkbox"),
            },
        ),
        "area": FieldSchema(type="polygons", classes=("road",)),
        "kp": FieldSchema(type="keypoints", classes=("nose",)),
        "scene": FieldSchema(type="classification", classes=("day", "night")),
        "tags": FieldSchema(type="classifications", classes=("blur", "glare")),
        "kind": FieldSchema(type="classification", classes=("vehicle/car", "vehicle/bus")),
        "quality": FieldSchema(type="scalar"),
    }
)


def label(field, kind, label=None, geometry=(), attributes=None, value=None, **more):
    row = {
        "roi_id": more.pop("roi_id", f"{field}-{label}"),
        "frame_id": "f",
        "field": field,
        "kind": kind,
        "label": label,
        "confidence": None,
        "geometry": [list(r) for r in geometry],
        "mask": None,
        "attributes": json.dumps(attributes) if attributes else None,
        "value": json.dumps(value) if value is not None else None,
        "track_index": None,
        "keyframe": None,
        "source_ids": [],
    }
    row.update(more)
    return row


LABELS = [
    label(
        "gt",
        "box",
        "car",
        [rotated_ring(80, 30, 50, 20, 30)],
        {"occluded": True, "color": "blue", "size": 2, "note": "dent", "group": 4, "parked": False},
        confidence=0.5,
        track_index=3,
        keyframe=False,
    ),
    label("area", "polygon", "road", [[0, 60, 100, 60, 50, 90], [150, 10, 190, 10, 170, 40]]),
    label("kp", "point", "nose", [[20, 20, 30, 25, 40, 30]]),
    label("scene", "classification", "night"),
    label("tags", "classification", "blur"),
    label("tags", "classification", "glare"),
    label("kind", "classification", "vehicle/bus"),
    label("quality", "scalar", value="3"),  # a string that looks like a number
    label("gt", "box", "truck", [[0, 0, 10, 0, 10, 10, 0, 10]], source_ids=["rear"], roi_id="r"),
]
