"""The labelling config a run's label schema becomes, and geometry in Label Studio's terms.

Label types and their Label Studio tags:

| label type | tag | result value |
|---|---|---|
| detections | RectangleLabels (rotatable) | x, y, width, height (percent), rotation (degrees) |
| polygons | PolygonLabels | points [[x%, y%], ...] |
| keypoints | KeyPointLabels | x, y (percent) |
| classification / classifications | Choices (single / multiple), Taxonomy for long or `/`-nested class lists | choices / taxonomy paths |
| scalar | TextArea | text |

Attributes are per-region controls (perRegion="true") named `<field>__<attribute>`: TextArea
for text, Choices for select/radio (one value) and checkbox/occluded (one box that is ticked
or not), Number for group_id. Fields with tracks get a per-region Number `<field>__track`.

Geometry: Label Studio gives percentages of the original image size, (x, y) the top-left
corner and rotation clockwise about that corner (the corner form of workbench.model.rotated).
The catalog uses pixel rings (y down); a box is four corners. Conversion goes through pixel
space: a rotated rectangle becomes the four corners of the rotated box, starting at Label
Studio's (x, y) and going clockwise as drawn, so nothing is lost; an unrotated one gives the
catalog's usual top-left-first ring.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.backends.labelstudio.errors import LabelStudioError
from workbench.model.geometry import bounds, corner_ring
from workbench.model.labels import ATTRIBUTE_TYPES, FieldSchema, LabelSchema
from workbench.model.rotated import (
    CornerRect,
    clockwise,
    corners,
    from_corners,
    is_axis_aligned,
    to_centre,
    to_corner,
)

IMAGE = "image"  # the object tag's name, and the task data key holding the image URL
TAXONOMY_MIN_CLASSES = 30  # longer class lists are easier to pick from in a Taxonomy
TAXONOMY_SEPARATOR = "/"
KEYPOINT_SIZE = 0.6  # how big Label Studio draws a keypoint (percent of the image width)

LABEL_TAGS: dict[str, str] = {
    "detections": "RectangleLabels",
    "polygons": "PolygonLabels",
    "keypoints": "KeyPointLabels",
}
# Result types of region tags and the catalog kind each becomes.
REGION_KINDS: dict[str, str] = {
    "rectanglelabels": "box",
    "rectangle": "box",
    "polygonlabels": "polygon",
    "polygon": "polygon",
    "keypointlabels": "point",
    "keypoint": "point",
}
SUPPORTED_LABEL_TYPES: tuple[str, ...] = (
    "classification",
    "classifications",
    "detections",
    "polygons",
    "keypoints",
    "scalar",
)
# Every attribute type has a Label Studio control.
SUPPORTED_ATTRIBUTE_TYPES: tuple[str, ...] = ATTRIBUTE_TYPES


class ConfigError(LabelStudioError):
    """A label schema cannot be expressed as a Label Studio labelling config."""


@dataclass(frozen=True)
class Controls:
    """The control tags of a run's labelling config and what each stands for."""

    schema: LabelSchema
    # control name -> (field, attribute) for per-region attribute controls
    attributes: dict[str, tuple[str, str]] = field(default_factory=dict)
    # control name -> field, for the per-region track number of a field
    tracks: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_schema(cls, schema: LabelSchema, tracked: Sequence[str] = ()) -> Controls:
        """Names for every control; `tracked` fields get a track number control."""
        attributes: dict[str, tuple[str, str]] = {}
        tracks: dict[str, str] = {}
        taken = {IMAGE}
        for name, spec in schema.fields.items():
            if spec.type not in SUPPORTED_LABEL_TYPES:
                raise ConfigError(
                    f"field {name!r}: Label Studio cannot annotate {spec.type!r} here "
                    f"(supported: {', '.join(SUPPORTED_LABEL_TYPES)})"
                )
            _claim(taken, name, f"field {name!r}")
        for name, spec in schema.fields.items():
            for attr in spec.attributes:
                control = f"{name}__{attr}"
                _claim(taken, control, f"attribute {attr!r} of field {name!r}")
                attributes[control] = (name, attr)
            if name in tracked:
                control = f"{name}__track"
                _claim(taken, control, f"the track numbers of field {name!r}")
                tracks[control] = name
        return cls(schema=schema, attributes=attributes, tracks=tracks)

    def attribute_control(self, field_name: str, attr: str) -> str:
        return f"{field_name}__{attr}"

    def track_control(self, field_name: str) -> str | None:
        control = f"{field_name}__track"
        return control if control in self.tracks else None


def _claim(taken: set[str], name: str, what: str) -> None:
    if name in taken:
        raise ConfigError(f"{what}: the control name {name!r} is already used in this config")
    taken.add(name)


def uses_taxonomy(spec: FieldSchema) -> bool:
    return spec.kind == "classification" and (
        len(spec.classes) >= TAXONOMY_MIN_CLASSES
        or any(TAXONOMY_SEPARATOR in c for c in spec.classes)
    )


# -- the labelling config -------------------------------------------------------------------


def label_config(controls: Controls) -> str:
    """The labelling config XML of a run."""
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=IMAGE, value=f"${IMAGE}", zoom="true")
    for name, spec in controls.schema.fields.items():
        ET.SubElement(view, "Header", value=name, size="6")
        _field_control(view, name, spec)
    per_region = ET.SubElement(view, "View", visibleWhen="region-selected")
    for control, (field_name, attr) in controls.attributes.items():
        _attribute_control(per_region, control, field_name, attr, controls.schema)
    for control, field_name in controls.tracks.items():
        ET.SubElement(per_region, "Header", value=f"{field_name}: track", size="6")
        ET.SubElement(per_region, "Number", name=control, toName=IMAGE, perRegion="true", min="0")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")


def _attribute_control(
    parent: ET.Element, control: str, field_name: str, attr: str, schema: LabelSchema
) -> None:
    spec = schema.fields[field_name].attributes[attr]
    ET.SubElement(parent, "Header", value=f"{field_name}: {attr}", size="6")
    common = {"name": control, "toName": IMAGE, "perRegion": "true"}
    if spec.type == "text":
        ET.SubElement(parent, "TextArea", {**common, "editable": "true", "maxSubmissions": "1"})
    elif spec.type in ("select", "radio"):
        layout = {"layout": "select"} if spec.type == "select" else {}
        choices = ET.SubElement(parent, "Choices", {**common, "choice": "single", **layout})
        for value in spec.values:
            ET.SubElement(choices, "Choice", value=str(value))
    elif spec.type in ("checkbox", "occluded"):
        choices = ET.SubElement(parent, "Choices", {**common, "choice": "multiple"})
        ET.SubElement(choices, "Choice", value=attr)
    else:  # group_id
        ET.SubElement(parent, "Number", {**common, "min": "0"})


def _field_control(view: ET.Element, name: str, spec: FieldSchema) -> None:
    if spec.type in LABEL_TAGS:
        attrib = {"name": name, "toName": IMAGE}
        if spec.type == "detections":
            attrib["canRotate"] = "true"
        tag = ET.SubElement(view, LABEL_TAGS[spec.type], attrib)
        for label in spec.classes:
            ET.SubElement(tag, "Label", value=label)
    elif spec.type == "scalar":
        ET.SubElement(
            view, "TextArea", name=name, toName=IMAGE, editable="true", maxSubmissions="1"
        )
    elif uses_taxonomy(spec):
        tag = ET.SubElement(view, "Taxonomy", name=name, toName=IMAGE)
        if spec.type == "classification":
            tag.set("maxUsages", "1")
        _taxonomy_tree(tag, spec.classes)
    else:
        choice = "single" if spec.type == "classification" else "multiple"
        tag = ET.SubElement(view, "Choices", name=name, toName=IMAGE, choice=choice)
        tag.set("showInline", "true")
        for label in spec.classes:
            ET.SubElement(tag, "Choice", value=label)


def _taxonomy_tree(root: ET.Element, classes: Sequence[str]) -> None:
    nodes: dict[tuple[str, ...], ET.Element] = {(): root}
    for label in classes:
        path = tuple(taxonomy_path(label))
        for depth in range(1, len(path) + 1):
            if path[:depth] not in nodes:
                nodes[path[:depth]] = ET.SubElement(
                    nodes[path[: depth - 1]], "Choice", value=path[depth - 1]
                )


def taxonomy_path(label: str) -> list[str]:
    return label.split(TAXONOMY_SEPARATOR)


def same_config(a: str, b: str) -> bool:
    """Whether two labelling configs are the same XML, whitespace aside."""
    try:
        return _canonical(ET.fromstring(a)) == _canonical(ET.fromstring(b))
    except ET.ParseError:
        return False


def _canonical(element: ET.Element) -> tuple[Any, ...]:
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        tuple(_canonical(child) for child in element),
    )


# -- geometry -------------------------------------------------------------------------------
# Every function takes and returns pixel rings (flat x, y lists) and Label Studio values;
# `w` and `h` are the image's size in pixels.


def _pct(value: float, size: float) -> float:
    return value / size * 100.0


def _px(value: Any, size: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number: {value!r}")
    return float(value) / 100.0 * size


def rectangle_value(ring: Sequence[float], w: float, h: float) -> dict[str, float]:
    """A box ring (two opposite corners, or four corners of a possibly rotated rectangle)
    as Label Studio's x, y, width, height and rotation."""
    box = bounds([ring])
    if box is not None and (len(ring) == 4 or is_axis_aligned(ring)):
        x_min, y_min, x_max, y_max = box
        return {
            "x": _pct(x_min, w),
            "y": _pct(y_min, h),
            "width": _pct(x_max - x_min, w),
            "height": _pct(y_max - y_min, h),
            "rotation": 0.0,
        }
    if len(ring) != 8:
        raise ValueError(f"a box needs 2 or 4 corners, got {len(ring) // 2}")
    rect = to_corner(from_corners(clockwise(ring)))
    return {
        "x": _pct(rect.x, w),
        "y": _pct(rect.y, h),
        "width": _pct(rect.width, w),
        "height": _pct(rect.height, h),
        "rotation": rect.angle,
    }


def rectangle_ring(value: dict[str, Any], w: float, h: float) -> tuple[float, ...]:
    """The four corners, in pixels, of a Label Studio rectangle (rotated about its (x, y))."""
    x = _px(value.get("x"), w, "x")
    y = _px(value.get("y"), h, "y")
    width = _px(value.get("width"), w, "width")
    height = _px(value.get("height"), h, "height")
    rotation = value.get("rotation") or 0.0
    if isinstance(rotation, bool) or not isinstance(rotation, int | float):
        raise ValueError(f"rotation is not a number: {rotation!r}")
    if rotation % 360.0 == 0.0:
        return corner_ring(x, y, x + width, y + height)
    return corners(to_centre(CornerRect(x, y, width, height, float(rotation))))


def polygon_value(ring: Sequence[float], w: float, h: float) -> dict[str, Any]:
    points = [[_pct(ring[i], w), _pct(ring[i + 1], h)] for i in range(0, len(ring) - 1, 2)]
    return {"points": points, "closed": True}


def polygon_value_ring(value: dict[str, Any], w: float, h: float) -> tuple[float, ...]:
    """The ring, in pixels, of a Label Studio polygon's points (percent of the image)."""
    points = value.get("points")
    if not isinstance(points, list) or not points:
        raise ValueError(f"points must be a list of [x, y] pairs, got {points!r}")
    out: list[float] = []
    for point in points:
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise ValueError(f"a polygon point must be [x, y], got {point!r}")
        out += [_px(point[0], w, "x"), _px(point[1], h, "y")]
    return tuple(out)


def keypoint_value(x: float, y: float, w: float, h: float) -> dict[str, float]:
    return {"x": _pct(x, w), "y": _pct(y, h), "width": KEYPOINT_SIZE}


def keypoint_ring(value: dict[str, Any], w: float, h: float) -> tuple[float, float]:
    return (_px(value.get("x"), w, "x"), _px(value.get("y"), h, "y"))


def region_values(
    kind: str, geometry: Sequence[Sequence[float]], w: float, h: float
) -> list[dict[str, Any]]:
    """The Label Studio regions (pieces) of one catalog shape: one per ring, one per keypoint."""
    if kind == "box":
        return [rectangle_value(ring, w, h) for ring in geometry]
    if kind == "polygon":
        return [polygon_value(ring, w, h) for ring in geometry]
    if kind == "point":
        return [
            keypoint_value(ring[i], ring[i + 1], w, h)
            for ring in geometry
            for i in range(0, len(ring) - 1, 2)
        ]
    raise ValueError(f"a {kind} has no region in Label Studio")


def region_ring(kind: str, value: dict[str, Any], w: float, h: float) -> tuple[float, ...]:
    if kind == "box":
        return rectangle_ring(value, w, h)
    if kind == "polygon":
        return polygon_value_ring(value, w, h)
    return keypoint_ring(value, w, h)


def join_pieces(kind: str, rings: Sequence[tuple[float, ...]]) -> tuple[tuple[float, ...], ...]:
    """A shape's geometry from its pieces: keypoints are one ring of points, others a ring each."""
    if kind == "point":
        return (tuple(v for ring in rings for v in ring),)
    return tuple(rings)


# Values closer than this (in percent of the image) are the same: what Label Studio hands
# back for an untouched region differs from what was sent only by float noise.
TOLERANCE = 1e-6


def same_values(sent: Sequence[dict[str, Any]], got: Sequence[dict[str, Any]]) -> bool:
    """Whether the regions that came back are the ones sent (same order, within TOLERANCE)."""
    if len(sent) != len(got):
        return False
    return all(_close(a, b) for a, b in zip(sent, got, strict=True))


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and all(
            _close(v, b.get(k, 0.0 if k == "rotation" else None))
            for k, v in a.items()
            if k != "width" or "height" in a  # a keypoint's drawn size is not geometry
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, int | float) and not isinstance(a, bool):
        return (
            isinstance(b, int | float)
            and not isinstance(b, bool)
            and abs(float(a) - float(b)) <= TOLERANCE * max(1.0, abs(float(a)))
        )
    return bool(a == b)
