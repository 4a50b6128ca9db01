"""Keypoints ROIs as CVAT skeletons ("CVAT for images" 1.1): a `<skeleton label>` holding one
`<points label="<point name>" points="x,y" outside occluded>` per point of the label. The
visibility maps to CVAT's flags: 0 (not labelled) is `outside="1"`, 1 (labelled but not
visible) is `occluded="1"`, 2 neither. The label is declared in `<meta>` as a skeleton, each
point name as a `points` label whose `<parent>` it is."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from workbench.errors import RecordError
from workbench.model.keypoints import KeypointLabel


def point_names(label: KeypointLabel | None, count: int) -> tuple[str, ...]:
    """The names of a label's points; numbers when the catalog has none (or too few)."""
    if label is not None and len(label.names) == count:
        return label.names
    return tuple(str(n + 1) for n in range(count))


def declare(labels: ET.Element, name: str, points: tuple[str, ...]) -> None:
    """Mark the `<label>` named `name` a skeleton and declare its points under it."""
    for element in labels.findall("label"):
        if element.findtext("name") == name:
            ET.SubElement(element, "type").text = "skeleton"
    for point in points:
        element = ET.SubElement(labels, "label")
        ET.SubElement(element, "name").text = point
        ET.SubElement(element, "type").text = "points"
        ET.SubElement(element, "attributes")
        ET.SubElement(element, "parent").text = name


def write(element: ET.Element, row: Mapping[str, Any], names: tuple[str, ...]) -> None:
    """The `<points>` of a keypoints ROI row under its `<skeleton>` element."""
    ring, visibility = row["geometry"][0], row["visibility"]
    for n, v in enumerate(visibility):
        point = ET.SubElement(element, "points", label=names[n], source="manual")
        point.set("outside", "1" if v == 0 else "0")
        point.set("occluded", "1" if v == 1 else "0")
        point.set("points", f"{ring[2 * n]:.12g},{ring[2 * n + 1]:.12g}")


def read(
    element: ET.Element, label: KeypointLabel | None, where: str
) -> tuple[list[float], list[int], tuple[str, ...]]:
    """A `<skeleton>`'s ring, visibility and point names, in the order the catalog keeps the
    label's points (else the file's order); RecordError when a point is unknown or repeated."""
    found: dict[str, tuple[float, float, int]] = {}
    for point in element.findall("points"):
        name = point.get("label") or ""
        if not name or name in found:
            raise RecordError(where, f"a skeleton point needs a label of its own, got {name!r}")
        parts = (point.get("points") or "").split(",")
        try:
            x, y = (float(p) for p in parts)
        except ValueError as exc:
            raise RecordError(where, f"point {name!r} must be 'x,y'") from exc
        outside, occluded = point.get("outside") == "1", point.get("occluded") == "1"
        found[name] = (x, y, 0 if outside else 1 if occluded else 2)
    if not found:
        raise RecordError(where, "a skeleton needs its points")
    names = label.names if label is not None else tuple(found)
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise RecordError(where, f"points {unknown} are not points of {label and label.label!r}")
    ring: list[float] = []
    visibility: list[int] = []
    for name in names:
        x, y, v = found.get(name, (0.0, 0.0, 0))
        ring += [x, y]
        visibility.append(v)
    return ring, visibility, names
