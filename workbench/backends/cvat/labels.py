"""A run's label schema as CVAT project labels, and attribute values both ways.

Every class of every field becomes one CVAT label, typed by its field (`detections` ->
rectangle, `polygons` -> polygon, `polylines` -> polyline, `keypoints` -> points,
classifications -> tag) so annotators can only draw what the field holds. A class name used
by two fields is prefixed with its field (`field:class`) to keep CVAT's label names unique.

Attributes of type `occluded` and `group_id` are CVAT's own shape fields (`occluded`,
`group`), not attributes. The others become CVAT attributes on every label of their field
(text, select, radio, checkbox); they are `mutable` (may change from frame to frame of a
track) when the run has sequences, since the catalog keeps attributes per frame.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workbench.backends.cvat.errors import CvatResponseError
from workbench.model.labels import AttributeSpec, FieldSchema, LabelSchema
from workbench.model.serialise import Serialisable

CVAT_LABEL_TYPE: dict[str, str] = {
    "classification": "tag",
    "classifications": "tag",
    "detections": "rectangle",
    "polygons": "polygon",
    "polylines": "polyline",
    "keypoints": "points",
}
# Attribute types CVAT keeps as fields of the shape itself.
SHAPE_FIELDS = ("occluded", "group_id")
MAX_NAME = 64


@dataclass(frozen=True)
class CvatLabel(Serialisable):
    """One CVAT label of a run's project: the field and class it stands for, and the spec
    id of each of its attributes."""

    id: int
    name: str
    field: str
    class_name: str
    type: str
    attributes: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class ProjectLabels(Serialisable):
    """The labels of a run's CVAT project, with the schema they were made from."""

    labels: tuple[CvatLabel, ...]
    schema: LabelSchema
    mutable: bool

    def label(self, field_name: str, class_name: str) -> CvatLabel | None:
        for label in self.labels:
            if label.field == field_name and label.class_name == class_name:
                return label
        return None

    def by_id(self) -> dict[int, CvatLabel]:
        return {label.id: label for label in self.labels}


def label_names(schema: LabelSchema) -> dict[tuple[str, str], str]:
    """(field, class) -> the CVAT label name."""
    counts = Counter(c for f in schema.fields.values() for c in f.classes)
    names: dict[tuple[str, str], str] = {}
    for field_name, field_schema in schema.fields.items():
        for class_name in field_schema.classes:
            name = class_name if counts[class_name] == 1 else f"{field_name}:{class_name}"
            if len(name) > MAX_NAME:
                raise ValueError(f"CVAT label names have at most {MAX_NAME} characters: {name!r}")
            names[(field_name, class_name)] = name
    return names


def cvat_attributes(field_schema: FieldSchema, mutable: bool) -> list[dict[str, Any]]:
    """The AttributeRequest bodies of one field (occluded and group_id are shape fields)."""
    out: list[dict[str, Any]] = []
    for name, spec in field_schema.attributes.items():
        if spec.type in SHAPE_FIELDS:
            continue
        if len(name) > MAX_NAME:
            raise ValueError(f"CVAT attribute names have at most {MAX_NAME} characters: {name!r}")
        if spec.type in ("select", "radio"):
            values = [str(v) for v in spec.values]
            default = str(spec.default) if spec.default is not None else values[0]
        elif spec.type == "checkbox":
            default = "true" if spec.default is True else "false"
            values = [default]
        else:
            default = "" if spec.default is None else str(spec.default)
            values = [default]
        out.append(
            {
                "name": name,
                "mutable": mutable,
                "input_type": spec.type,
                "values": values,
                "default_value": default,
            }
        )
    return out


def project_labels_body(schema: LabelSchema, mutable: bool) -> list[dict[str, Any]]:
    names = label_names(schema)
    return [
        {
            "name": names[(field_name, class_name)],
            "type": CVAT_LABEL_TYPE[field_schema.type],
            "attributes": cvat_attributes(field_schema, mutable),
        }
        for field_name, field_schema in schema.fields.items()
        for class_name in field_schema.classes
    ]


def read_project_labels(
    schema: LabelSchema, mutable: bool, found: list[dict[str, Any]]
) -> ProjectLabels:
    """Match the labels CVAT lists for the project (with ids) to the schema's classes."""
    by_name = {str(item.get("name")): item for item in found}
    labels: list[CvatLabel] = []
    for (field_name, class_name), name in label_names(schema).items():
        item = by_name.get(name)
        if item is None or not isinstance(item.get("id"), int):
            raise CvatResponseError(f"the CVAT project has no label {name!r} (or it has no id)")
        specs: dict[str, int] = {
            str(a.get("name")): int(a["id"])
            for a in item.get("attributes") or []
            if isinstance(a, dict) and isinstance(a.get("id"), int)
        }
        wanted = [a["name"] for a in cvat_attributes(schema.fields[field_name], mutable)]
        missing = [a for a in wanted if a not in specs]
        if missing:
            raise CvatResponseError(f"CVAT label {name!r} lacks attributes {missing}")
        labels.append(
            CvatLabel(
                id=item["id"],
                name=name,
                field=field_name,
                class_name=class_name,
                type=CVAT_LABEL_TYPE[schema.fields[field_name].type],
                attributes={a: specs[a] for a in wanted},
            )
        )
    return ProjectLabels(labels=tuple(labels), schema=schema, mutable=mutable)


def foreign_label(item: Mapping[str, Any], schema: LabelSchema) -> CvatLabel | None:
    """A label someone added to the project in CVAT after the run was made. It goes to the
    only schema field of its type (else to a field of its own, which the merge reports as
    unexpected); its class is its name, which the merge checks against the field's."""
    label_id = item.get("id")
    if not isinstance(label_id, int):
        return None
    kind = str(item.get("type") or "any")
    fields = [f for f, s in schema.fields.items() if CVAT_LABEL_TYPE[s.type] == kind]
    name = str(item.get("name"))
    specs = {
        str(a.get("name")): int(a["id"])
        for a in item.get("attributes") or []
        if isinstance(a, dict) and isinstance(a.get("id"), int)
    }
    field_name = fields[0] if len(fields) == 1 else f"cvat:{name}"
    return CvatLabel(label_id, name, field_name, name, kind, specs)


# -- attribute values -----------------------------------------------------------------------


def attribute_text(spec: AttributeSpec, value: Any) -> str | None:
    """A catalog attribute value as CVAT holds it (None: not sent). `occluded` and
    `group_id` give their shape field's value as text, so all compare alike."""
    if spec.type == "occluded":
        return "true" if value is True else "false"
    if value is None:
        return None
    if spec.type == "group_id":
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return str(value) if ok else None
    if spec.type == "checkbox":
        return ("true" if value else "false") if isinstance(value, bool) else None
    if spec.type in ("select", "radio"):
        matches = [v for v in spec.values if v == value and type(v) is type(value)]
        return str(matches[0]) if matches else None
    return str(value)


def attribute_value(spec: AttributeSpec, text: str | None) -> Any:
    """A CVAT attribute text as a catalog value of the attribute's type."""
    if text is None:
        return None
    if spec.type in ("occluded", "checkbox"):
        lowered = text.strip().lower()
        return True if lowered == "true" else False if lowered == "false" else text
    if spec.type == "group_id":
        try:
            group = int(text)
        except ValueError:
            return text
        return group if group > 0 else None
    if spec.type in ("select", "radio"):
        for value in spec.values:
            if str(value) == text:
                return value
        return text
    if spec.type == "number":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if math.isfinite(number) and number.is_integer() else number
    return text


def shown_texts(
    field_schema: FieldSchema,
    label: CvatLabel,
    values: Mapping[int, str],
    occluded: bool,
    group: int | None,
) -> dict[str, str | None]:
    """The text of each schema attribute as CVAT shows it on a shape: from the attribute
    values (by spec id), or from the shape's own `occluded` and `group` fields."""
    out: dict[str, str | None] = {}
    for name, spec in field_schema.attributes.items():
        if spec.type == "occluded":
            out[name] = "true" if occluded else "false"
        elif spec.type == "group_id":
            out[name] = str(group) if group else None
        else:
            spec_id = label.attributes.get(name)
            out[name] = values.get(spec_id) if spec_id is not None else None
    return out
