"""The label schema of an annotation run: label types, attribute types, the shape kind each
label type is made of, and the schema's dataclasses.

The vocabulary is FiftyOne's (label types `detections`, `polygons`..., attributes `select`,
`radio`...). Each word list is its `Literal` type's values (`LabelType`, `AttributeType`;
`ShapeKind` for the kinds of shapes), for code that handles known values. The dataclasses' `type` fields stay `str`:
a schema arrives from callers and from platforms, and the service's own checks
(workbench.services.label_schema) name an unknown type with the field it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from workbench.model.records import RoiKind
from workbench.model.serialise import Serialisable

LabelType = Literal[
    "classification",
    "classifications",
    "detections",
    "instances",
    "polylines",
    "polygons",
    "keypoints",
    "segmentation",
    "scalar",
]
LABEL_TYPES: tuple[LabelType, ...] = get_args(LabelType)
AttributeType = Literal["text", "select", "radio", "checkbox", "occluded", "group_id"]
ATTRIBUTE_TYPES: tuple[AttributeType, ...] = get_args(AttributeType)
# Attribute types whose values must be listed in the schema.
VALUED_ATTRIBUTE_TYPES: tuple[AttributeType, ...] = ("select", "radio")

# What a shape is: a catalog ROI kind, or the value of a scalar field (kept in frame metadata).
ShapeKind = RoiKind | Literal["scalar"]

# The shape kind each label type is made of.
KIND_OF_LABEL_TYPE: dict[str, ShapeKind] = {
    "classification": "classification",
    "classifications": "classification",
    "detections": "box",
    "instances": "box",
    "polylines": "polyline",
    "polygons": "polygon",
    "keypoints": "point",
    "segmentation": "mask",
    "scalar": "scalar",
}
# The label type a shape of some kind is, when it arrives where it was not expected.
LABEL_TYPE_OF_KIND: dict[str, LabelType] = {
    "classification": "classifications",
    "box": "detections",
    "polyline": "polylines",
    "polygon": "polygons",
    "point": "keypoints",
    "keypoints": "keypoints",
    "mask": "segmentation",
    "scalar": "scalar",
}
# Label types whose objects can be tracks across the frames of a sequence.
TRACKABLE_TYPES: tuple[LabelType, ...] = (
    "detections",
    "instances",
    "polylines",
    "polygons",
    "keypoints",
)


@dataclass(frozen=True)
class AttributeSpec(Serialisable):
    """One attribute of a label field: its input type, allowed values, default, editability."""

    type: str
    values: tuple[Any, ...] = ()
    default: Any = None
    read_only: bool = False


@dataclass(frozen=True)
class FieldSchema(Serialisable):
    """One label field of a run: its label type, classes, attributes and mask targets."""

    type: str
    classes: tuple[str, ...] = ()
    attributes: dict[str, AttributeSpec] = field(default_factory=dict)
    mask_targets: dict[int, str] | None = None
    # Whether the field already held labels of this type when the run was created.
    existing: bool = False

    @property
    def kind(self) -> ShapeKind:
        return KIND_OF_LABEL_TYPE[self.type]


@dataclass(frozen=True)
class LabelSchema(Serialisable):
    """The label fields a run annotates. Built and validated by the service layer."""

    fields: dict[str, FieldSchema]

    def names(self) -> list[str]:
        return list(self.fields)


@dataclass(frozen=True)
class EditRestrictions(Serialisable):
    """What annotators may change of the labels sent with a run (FiftyOne's allow_* flags)."""

    allow_additions: bool = True
    allow_deletions: bool = True
    allow_label_edits: bool = True
    allow_index_edits: bool = True
    allow_spatial_edits: bool = True
