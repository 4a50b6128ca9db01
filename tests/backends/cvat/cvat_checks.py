"""Request checks of the fake CVAT: cvat-sdk's own models, plus what the models do not check.

`validate(payload, Model)` walks the payload for keys the model does not have (the models
accept unknown keys) and then deserialises it with cvat-sdk's
`validate_and_convert_types(...)`, which rejects wrong types, missing required fields, bad
enum values and out-of-range numbers. The annotation checks add what CVAT's database and
serializers refuse and the generated models cannot know: point counts per shape type, label
ids of the project, attribute spec ids of the label and their values, frames of the task.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from cvat_sdk.api_client import Configuration, models
from cvat_sdk.api_client.model_utils import ModelNormal, validate_and_convert_types

CONFIGURATION = Configuration()
SOURCES = ("manual", "auto", "semi-auto", "file", "consensus")
LABEL_TYPES = (
    "any",
    "rectangle",
    "polygon",
    "polyline",
    "points",
    "tag",
    "ellipse",
    "cuboid",
    "mask",
    "skeleton",
)
# Numbers in `points` per shape type: exactly (rectangles) or at least, always even.
EXACT_POINTS = {"rectangle": 4, "ellipse": 4}
MIN_POINTS = {"polygon": 6, "polyline": 4, "points": 2, "cuboid": 16}


class BadRequest(Exception):
    """A 400 with this text as CVAT's `detail`."""


def unknown_keys(payload: Any, model: type, path: str = "") -> list[str]:
    """Keys of `payload` (at any depth) that `model` has no field for."""
    if not isinstance(payload, dict) or not (
        isinstance(model, type) and issubclass(model, ModelNormal)
    ):
        return []
    types = model.openapi_types
    out: list[str] = []
    for key, value in payload.items():
        if key not in types:
            out.append(f"{path}{key}")
            continue
        for kind in types[key]:
            if isinstance(kind, list) and isinstance(value, list):
                for number, item in enumerate(value):
                    out += unknown_keys(item, kind[0], f"{path}{key}[{number}].")
            elif isinstance(kind, type):
                out += unknown_keys(value, kind, f"{path}{key}.")
    return out


def validate(payload: Any, model: type) -> Any:
    """The payload as cvat-sdk deserialises it; BadRequest with the reason otherwise."""
    unknown = unknown_keys(payload, model)
    if unknown:
        raise BadRequest(f"{model.__name__}: unknown fields {unknown}")
    try:
        return validate_and_convert_types(
            copy.deepcopy(payload), (model,), ["payload"], True, True, configuration=CONFIGURATION
        )
    except Exception as exc:  # the generated code raises TypeError, ValueError, Api*Error
        raise BadRequest(f"{model.__name__}: {type(exc).__name__}: {exc}") from exc


def check_response(payload: Any, model: type) -> None:
    """The fake's own answers must be what the models describe (a test of the fake)."""
    try:
        validate_and_convert_types(
            copy.deepcopy(payload), (model,), ["response"], True, True, configuration=CONFIGURATION
        )
    except Exception as exc:
        raise AssertionError(f"fake CVAT answered an invalid {model.__name__}: {exc}") from exc


def check_labels(labels: list[dict[str, Any]]) -> None:
    """Label and attribute rules CVAT's serializers apply beyond the model types."""
    names = [label.get("name") for label in labels]
    if len(set(names)) != len(names):
        raise BadRequest(f"label names must be unique: {names}")
    for label in labels:
        if label.get("type", "any") not in LABEL_TYPES:
            raise BadRequest(f"label {label['name']!r}: unknown type {label.get('type')!r}")
        attributes = label.get("attributes", [])
        if len({a["name"] for a in attributes}) != len(attributes):
            raise BadRequest(f"label {label['name']!r}: attribute names must be unique")
        for attribute in attributes:
            _check_attribute_spec(label["name"], attribute)


def _check_attribute_spec(label: str, spec: Mapping[str, Any]) -> None:
    kind, values = spec["input_type"], spec["values"]
    default = spec.get("default_value", values[0] if values else "")
    where = f"label {label!r} attribute {spec['name']!r}"
    if kind in ("select", "radio") and (not values or default not in values):
        raise BadRequest(f"{where}: {kind} needs values holding the default {default!r}")
    if kind == "checkbox" and (values not in (["true"], ["false"]) or default not in values):
        raise BadRequest(f"{where}: a checkbox has values ['true'] or ['false']")
    if kind == "number" and len(values) != 3:
        raise BadRequest(f"{where}: a number has values [min, max, step]")


def check_annotations(
    data: Mapping[str, Any],
    labels: Mapping[int, Mapping[str, Any]],
    size: int,
) -> None:
    """Frames, labels, attributes and point counts of a LabeledData body (already valid
    against the model). `labels`: label id -> label with its attributes (with ids)."""
    for number, tag in enumerate(data.get("tags", [])):
        where = f"tags[{number}]"
        label = _label(tag, labels, where)
        if label.get("type") not in ("tag", "any"):
            raise BadRequest(f"{where}: label {label['name']!r} is a {label['type']} label")
        _frame(tag["frame"], size, where)
        _check_source(tag, where)
        _check_values(tag.get("attributes", []), label, where)
    for number, shape in enumerate(data.get("shapes", [])):
        where = f"shapes[{number}]"
        label = _label(shape, labels, where)
        _check_shape(shape, label, size, where)
        _check_source(shape, where)
        _check_values(shape.get("attributes", []), label, where)
    for number, track in enumerate(data.get("tracks", [])):
        _check_track(track, labels, size, f"tracks[{number}]")


def _check_track(
    track: Mapping[str, Any], labels: Mapping[int, Mapping[str, Any]], size: int, where: str
) -> None:
    label = _label(track, labels, where)
    _check_source(track, where)
    _check_values(track.get("attributes", []), label, where)
    shapes = track["shapes"]
    if not shapes:
        raise BadRequest(f"{where}: a track needs shapes")
    frames = [s["frame"] for s in shapes]
    if len(set(frames)) != len(frames):
        raise BadRequest(f"{where}: two keyframes on one frame")
    if track["frame"] != min(frames):
        raise BadRequest(
            f"{where}: the track starts at {track['frame']}, its first shape at {min(frames)}"
        )
    if len({s["type"] for s in shapes}) != 1:
        raise BadRequest(f"{where}: a track's shapes are of one type")
    for number, shape in enumerate(shapes):
        at = f"{where}.shapes[{number}]"
        _check_shape(shape, label, size, at)
        _check_values(shape.get("attributes", []), label, at)


def _label(
    item: Mapping[str, Any], labels: Mapping[int, Mapping[str, Any]], where: str
) -> Mapping[str, Any]:
    label = labels.get(item["label_id"])
    if label is None:
        raise BadRequest(f"{where}: label id {item['label_id']} is not a label of this task")
    return label


def _frame(frame: int, size: int, where: str) -> None:
    if not 0 <= frame < size:
        raise BadRequest(f"{where}: frame {frame} is outside the task (0..{size - 1})")


def _check_source(item: Mapping[str, Any], where: str) -> None:
    if item.get("source", "manual") not in SOURCES:
        raise BadRequest(f"{where}: source {item['source']!r} is not one of {SOURCES}")


def _check_shape(shape: Mapping[str, Any], label: Mapping[str, Any], size: int, where: str) -> None:
    kind, points = shape["type"], shape.get("points", [])
    if label.get("type") not in (kind, "any"):
        raise BadRequest(
            f"{where}: a {kind} cannot have the {label['type']} label {label['name']!r}"
        )
    _frame(shape["frame"], size, where)
    if kind in EXACT_POINTS and len(points) != EXACT_POINTS[kind]:
        raise BadRequest(
            f"{where}: a {kind} has {EXACT_POINTS[kind]} coordinates, got {len(points)}"
        )
    if kind in MIN_POINTS and (len(points) < MIN_POINTS[kind] or len(points) % 2):
        raise BadRequest(
            f"{where}: a {kind} needs an even number >= {MIN_POINTS[kind]} of coordinates, got {len(points)}"
        )
    if kind not in ("rectangle", "ellipse") and shape.get("rotation", 0) != 0:
        raise BadRequest(f"{where}: a {kind} cannot be rotated")


def _check_values(values: list[Mapping[str, Any]], label: Mapping[str, Any], where: str) -> None:
    specs = {a["id"]: a for a in label.get("attributes", [])}
    for value in values:
        spec = specs.get(value["spec_id"])
        if spec is None:
            raise BadRequest(
                f"{where}: spec id {value['spec_id']} is not an attribute of label {label['name']!r}"
            )
        text, kind = value["value"], spec["input_type"]
        if kind in ("select", "radio") and text not in spec["values"]:
            raise BadRequest(f"{where}: {text!r} is not one of {spec['values']} ({spec['name']})")
        if kind == "checkbox" and text not in ("true", "false"):
            raise BadRequest(
                f"{where}: checkbox {spec['name']!r} takes 'true' or 'false', not {text!r}"
            )
        if kind == "number":
            try:
                float(text)
            except ValueError:
                raise BadRequest(
                    f"{where}: {spec['name']!r} takes a number, not {text!r}"
                ) from None


MODELS = models
