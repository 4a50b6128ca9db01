import json

import pytest

from workbench.backends.base import Capabilities
from workbench.errors import SerialisationError
from workbench.model.labels import AttributeSpec, FieldSchema, LabelSchema
from workbench.model.shapes import Shape


def test_label_schema_round_trips_through_json_with_int_mask_keys():
    schema = LabelSchema(
        fields={
            "gt": FieldSchema(
                type="detections",
                classes=("car", "bus"),
                attributes={
                    "kind": AttributeSpec(type="select", values=("a", "b"), read_only=True)
                },
            ),
            "seg": FieldSchema(type="segmentation", mask_targets={0: "bg", 7: "road"}),
        }
    )
    text = json.dumps(schema.to_dict())
    assert json.loads(text)["fields"]["seg"]["mask_targets"] == {"0": "bg", "7": "road"}
    assert LabelSchema.from_dict(json.loads(text)) == schema


def test_from_dict_names_what_is_wrong():
    with pytest.raises(SerialisationError, match="AttributeSpec: unknown keys colour"):
        AttributeSpec.from_dict({"type": "text", "colour": 1})
    with pytest.raises(SerialisationError, match=r"FieldSchema.classes: expected a list"):
        FieldSchema.from_dict({"type": "detections", "classes": "car"})
    with pytest.raises(SerialisationError, match=r"Capabilities: .*missing"):
        Capabilities.from_dict({"label_types": []})
    with pytest.raises(SerialisationError, match=r"Shape.track_index: .* matches none"):
        Shape.from_dict({"frame_id": "f", "field": "gt", "kind": "box", "track_index": "one"})


def test_shape_box_is_four_corners_and_survives_json():
    shape = Shape.box("f", "gt", "car", 1, 2, 3, 4, attributes={"occluded": True}, track_index=2)
    assert shape.geometry == ((1, 2, 4, 2, 4, 6, 1, 6),)
    again = Shape.from_dict(json.loads(json.dumps(shape.to_dict())))
    assert again == shape and again.track_index == 2
    row = shape.to_row()
    assert row["attributes"] == '{"occluded":true}' and row["geometry"] == [
        [1.0, 2.0, 4.0, 2.0, 4.0, 6.0, 1.0, 6.0]
    ]
    assert Shape.from_row({**row}) == Shape(
        **{**shape.__dict__, "geometry": ((1.0, 2.0, 4.0, 2.0, 4.0, 6.0, 1.0, 6.0),)}
    )
