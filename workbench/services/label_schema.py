"""Building and validating the label schema of an annotation run.

Follows FiftyOne's `annotate()`: either a `label_schema` (a LabelSchema, a dict of field ->
{type, classes, attributes, mask_targets}, or a list of field names) or one `label_field` with
`label_type`, `classes`, `attributes`, `mask_targets`. Existing fields supply what is not
given (their label type, their classes, their attributes when `attributes=True`); new fields
must say everything. Every problem is a LabelSchemaError naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from workbench.backends.base import Capabilities
from workbench.model.labels import (
    ATTRIBUTE_TYPES,
    LABEL_TYPES,
    VALUED_ATTRIBUTE_TYPES,
    AttributeSpec,
    FieldSchema,
    LabelSchema,
)
from workbench.services.errors import LabelSchemaError

# Where the label types live in the catalog: ROI kind, and whether they carry a mask.
_TYPE_PREDICATE = {
    "classification": "kind = 'classification'",
    "classifications": "kind = 'classification'",
    "detections": "kind = 'box' AND mask IS NULL",
    "instances": "kind = 'box' AND mask IS NOT NULL",
    "polylines": "kind = 'polyline'",
    "polygons": "kind = 'polygon'",
    "keypoints": "kind = 'point'",
    "segmentation": "kind = 'mask'",
}
# The label type ROIs of an existing field are, by kind and mask; classification is singular
# only when asked for.
_EXISTING_TYPE = {
    ("classification", False): "classifications",
    ("classification", True): "classifications",
    ("box", False): "detections",
    ("box", True): "instances",
    ("polyline", False): "polylines",
    ("polygon", False): "polygons",
    ("point", False): "keypoints",
    ("mask", False): "segmentation",
    ("mask", True): "segmentation",
}
RUN_FRAMES = "_wb_run_frames"  # the registered table of the run's frame ids


def type_predicate(label_type: str) -> str:
    """SQL over `rois` selecting the labels of a type (scalars are not ROIs)."""
    return _TYPE_PREDICATE.get(label_type, "FALSE")


def build_label_schema(
    con: duckdb.DuckDBPyConnection,
    capabilities: Capabilities,
    *,
    label_schema: LabelSchema | Mapping[str, Any] | Sequence[str] | None,
    label_field: str | None,
    label_type: str | None,
    classes: Sequence[str] | None,
    attributes: bool | Sequence[str] | Mapping[str, Any],
    mask_targets: Mapping[int, str] | None,
) -> LabelSchema:
    """The validated schema. `con` must have the run's frames registered as RUN_FRAMES."""
    wanted = _requested_fields(label_schema, label_field, label_type)
    out: dict[str, FieldSchema] = {}
    for name, info in wanted.items():
        if not isinstance(name, str) or not name:
            raise LabelSchemaError(None, f"field names must be non-empty strings, got {name!r}")
        existing = _existing_types(con, name)
        field_type = _field_type(name, info.get("type"), existing, capabilities)
        held = set(existing) & (
            {field_type, "classifications"} if field_type == "classification" else {field_type}
        )
        out[name] = _field_schema(
            con,
            name,
            field_type,
            existing=bool(held),
            classes=info.get("classes", classes),
            attributes=info.get("attributes", attributes),
            mask_targets=info.get("mask_targets", mask_targets),
            capabilities=capabilities,
        )
    return LabelSchema(fields=out)


def _requested_fields(
    label_schema: LabelSchema | Mapping[str, Any] | Sequence[str] | None,
    label_field: str | None,
    label_type: str | None,
) -> dict[str, dict[str, Any]]:
    if label_schema is None:
        if not label_field:
            raise LabelSchemaError(None, "give a label_schema or a label_field")
        return {label_field: {"type": label_type} if label_type else {}}
    if isinstance(label_schema, LabelSchema):
        return {
            name: {k: v for k, v in schema.to_dict().items() if k != "existing"}
            for name, schema in label_schema.fields.items()
        }
    if isinstance(label_schema, str):
        return {label_schema: {"type": label_type} if label_type else {}}
    if isinstance(label_schema, Mapping):
        fields = (
            label_schema.get("fields", label_schema) if "fields" in label_schema else label_schema
        )
        out: dict[str, dict[str, Any]] = {}
        for name, info in fields.items():
            if info is None:
                info = {}
            if not isinstance(info, Mapping):
                raise LabelSchemaError(
                    name, f"expected a dict of type/classes/attributes, got {info!r}"
                )
            unknown = set(info) - {"type", "classes", "attributes", "mask_targets", "existing"}
            if unknown:
                raise LabelSchemaError(name, f"unknown keys {sorted(unknown)}")
            out[name] = {k: v for k, v in info.items() if k != "existing"}
        return out
    return {name: {} for name in label_schema}


def _existing_types(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, int]:
    """Label types the field already holds on the run's frames, with counts."""
    found = con.execute(
        f"SELECT kind, mask IS NOT NULL, count(*) FROM rois WHERE field = ? "
        f"AND frame_id IN (SELECT frame_id FROM {RUN_FRAMES}) GROUP BY ALL",
        [name],
    ).fetchall()
    out: dict[str, int] = {}
    for kind, has_mask, count in found:
        label_type = _EXISTING_TYPE.get((kind, bool(has_mask)))
        if label_type:
            out[label_type] = out.get(label_type, 0) + int(count)
    scalars = con.execute(
        f"SELECT count(*) FROM frames WHERE id IN (SELECT frame_id FROM {RUN_FRAMES}) "
        "AND json_exists(metadata, ?)",
        [json_path(name)],
    ).fetchall()[0][0]
    if scalars:
        out["scalar"] = int(scalars)
    return out


def json_path(key: str) -> str:
    """The JSON path of a top-level key, quoted so any character is allowed."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field_type(
    name: str, given: str | None, existing: dict[str, int], capabilities: Capabilities
) -> str:
    if given is None:
        if not existing:
            raise LabelSchemaError(name, "a new label field needs a label type")
        if len(existing) > 1:
            raise LabelSchemaError(
                name,
                f"the field holds {', '.join(sorted(existing))}: give the label type to annotate",
            )
        given = next(iter(existing))
    if given not in LABEL_TYPES:
        raise LabelSchemaError(
            name, f"unknown label type {given!r}: expected one of {', '.join(LABEL_TYPES)}"
        )
    if given not in capabilities.label_types:
        raise LabelSchemaError(name, f"label type {given!r} is not supported by this backend")
    compatible = {given, "classifications"} if given == "classification" else {given}
    if existing and not compatible & set(existing):
        raise LabelSchemaError(
            name,
            f"label type {given!r} does not match the field's labels ({', '.join(sorted(existing))})",
        )
    return given


def _field_schema(
    con: duckdb.DuckDBPyConnection,
    name: str,
    field_type: str,
    *,
    existing: bool,
    classes: Sequence[str] | None,
    attributes: bool | Sequence[str] | Mapping[str, Any] | None,
    mask_targets: Mapping[Any, str] | None,
    capabilities: Capabilities,
) -> FieldSchema:
    targets = None
    if field_type == "segmentation":
        targets = _mask_targets(name, mask_targets)
        found_classes = tuple(v for k, v in sorted(targets.items()) if k != 0)
    elif field_type == "scalar":
        found_classes = tuple(_classes(name, classes)) if classes else ()
    else:
        found_classes = (
            _classes(name, classes) if classes else _existing_classes(con, name, field_type)
        )
        if not found_classes:
            raise LabelSchemaError(name, "give the classes of a new label field")
    specs: dict[str, AttributeSpec] = {}
    if field_type in ("scalar", "segmentation"):
        if attributes not in (True, False, None) and attributes:
            raise LabelSchemaError(name, f"{field_type} fields have no attributes")
    else:
        specs = _attributes(con, name, field_type, attributes, existing, capabilities)
    return FieldSchema(
        type=field_type,
        classes=found_classes,
        attributes=specs,
        mask_targets=targets,
        existing=existing,
    )


def _classes(name: str, classes: Sequence[Any]) -> tuple[str, ...]:
    if isinstance(classes, str):
        raise LabelSchemaError(name, f"classes must be a list, got the string {classes!r}")
    out = tuple(classes)
    bad = [c for c in out if not isinstance(c, str) or not c]
    if bad:
        raise LabelSchemaError(name, f"classes must be non-empty strings, got {bad[:5]!r}")
    if len(set(out)) != len(out):
        twice = sorted({c for c in out if out.count(c) > 1})
        raise LabelSchemaError(name, f"classes listed twice: {twice}")
    return out


def _existing_classes(
    con: duckdb.DuckDBPyConnection, name: str, field_type: str
) -> tuple[str, ...]:
    found = con.execute(
        f"SELECT DISTINCT label FROM rois WHERE field = ? AND label IS NOT NULL "
        f"AND {type_predicate(field_type)} ORDER BY label",
        [name],
    ).fetchall()
    return tuple(r[0] for r in found)


def _mask_targets(name: str, targets: Mapping[Any, str] | None) -> dict[int, str]:
    if targets is None:
        return {0: "background", **{i: str(i) for i in range(1, 256)}}
    out: dict[int, str] = {}
    for key, label in targets.items():
        try:
            value = int(key)
        except (TypeError, ValueError):
            raise LabelSchemaError(name, f"mask target {key!r} is not a pixel value") from None
        if not 0 <= value <= 255 or not isinstance(label, str) or not label:
            raise LabelSchemaError(
                name, f"mask target {key!r}: {label!r} must map 0..255 to a name"
            )
        out[value] = label
    return out


def _attributes(
    con: duckdb.DuckDBPyConnection,
    name: str,
    field_type: str,
    attributes: bool | Sequence[str] | Mapping[str, Any] | None,
    existing: bool,
    capabilities: Capabilities,
) -> dict[str, AttributeSpec]:
    if attributes is None or attributes is False:
        return {}
    found = _existing_attributes(con, name, field_type) if existing else {}
    if attributes is True:
        requested: Mapping[str, Any] = {k: None for k in found}
    elif isinstance(attributes, str):
        requested = {attributes: None}
    elif isinstance(attributes, Mapping):
        requested = attributes
    else:
        requested = {a: None for a in attributes}
    out: dict[str, AttributeSpec] = {}
    for attr, spec in requested.items():
        if spec is None or spec == {}:
            spec = AttributeSpec(type=found.get(attr, "text"))
        elif isinstance(spec, Mapping):
            spec = _attribute_from_dict(name, attr, spec)
        elif not isinstance(spec, AttributeSpec):
            raise LabelSchemaError(name, f"attribute {attr!r}: expected a dict, got {spec!r}")
        out[attr] = _checked_attribute(name, attr, spec, capabilities)
    return out


def _attribute_from_dict(name: str, attr: str, spec: Mapping[str, Any]) -> AttributeSpec:
    unknown = set(spec) - {"type", "values", "default", "read_only", "mutable"}
    if unknown:
        raise LabelSchemaError(name, f"attribute {attr!r}: unknown keys {sorted(unknown)}")
    if "type" not in spec:
        raise LabelSchemaError(name, f"attribute {attr!r} has no type")
    values = spec.get("values") or ()
    if isinstance(values, str):
        raise LabelSchemaError(name, f"attribute {attr!r}: values must be a list")
    # FiftyOne's `mutable: False` (CVAT video) means the same as read_only here.
    read_only = bool(spec.get("read_only", False)) or spec.get("mutable") is False
    return AttributeSpec(
        type=spec["type"], values=tuple(values), default=spec.get("default"), read_only=read_only
    )


def _checked_attribute(
    name: str, attr: str, spec: AttributeSpec, capabilities: Capabilities
) -> AttributeSpec:
    where = f"attribute {attr!r}"
    if spec.type not in ATTRIBUTE_TYPES:
        raise LabelSchemaError(
            name,
            f"{where} has unknown type {spec.type!r}: expected one of {', '.join(ATTRIBUTE_TYPES)}",
        )
    if spec.type not in capabilities.attribute_types:
        raise LabelSchemaError(
            name, f"{where}: type {spec.type!r} is not supported by this backend"
        )
    if spec.read_only and not capabilities.supports_read_only_attributes:
        raise LabelSchemaError(name, f"{where}: this backend has no read-only attributes")
    if spec.type in VALUED_ATTRIBUTE_TYPES and not spec.values:
        raise LabelSchemaError(name, f"{where} of type {spec.type!r} needs a list of values")
    if spec.type in ("checkbox", "occluded") and any(not isinstance(v, bool) for v in spec.values):
        raise LabelSchemaError(name, f"{where} of type {spec.type!r} takes true/false values only")
    if spec.type == "group_id" and spec.values:
        raise LabelSchemaError(name, f"{where} of type 'group_id' takes no values")
    if spec.default is not None and spec.values and spec.default not in spec.values:
        raise LabelSchemaError(
            name, f"{where}: default {spec.default!r} is not one of its values {list(spec.values)}"
        )
    if spec.default is not None and not attribute_value_ok(spec, spec.default):
        raise LabelSchemaError(
            name, f"{where}: default {spec.default!r} does not fit type {spec.type!r}"
        )
    return spec


def attribute_value_ok(spec: AttributeSpec, value: Any) -> bool:
    """Whether an annotator's value fits the attribute (None always does: unset)."""
    if value is None:
        return True
    if spec.type in ("checkbox", "occluded"):
        return isinstance(value, bool)
    if spec.type == "group_id":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type in VALUED_ATTRIBUTE_TYPES:
        return value in spec.values
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _existing_attributes(
    con: duckdb.DuckDBPyConnection, name: str, field_type: str
) -> dict[str, str]:
    """Attribute names found on the field's labels of the run, with the input type they suit."""
    found = con.execute(
        f"SELECT j.key, list(DISTINCT json_type(j.value)) FROM rois, json_each(rois.attributes) j "
        f"WHERE rois.field = ? AND rois.attributes IS NOT NULL AND {type_predicate(field_type)} "
        f"AND rois.frame_id IN (SELECT frame_id FROM {RUN_FRAMES}) GROUP BY 1 ORDER BY 1",
        [name],
    ).fetchall()
    out: dict[str, str] = {}
    for key, types in found:
        if key in ("occluded", "group_id"):
            out[key] = key
        elif set(types) == {"BOOLEAN"}:
            out[key] = "checkbox"
        else:
            out[key] = "text"
    return out
