"""Keypoints ROIs as CVAT skeletons ("CVAT for images" 1.1): a `<skeleton label>` holding one
`<points label="<point name>" points="x,y" outside occluded>` per point of the label. The
visibility maps to CVAT's flags: 0 (not labelled) is `outside="1"`, 1 (labelled but not
visible) is `occluded="1"`, 2 neither. The label is declared in `<meta>` as a skeleton, each
point name as a `points` label whose `<parent>` it is, as CVAT's own export declares them: the
skeleton label's `<svg>` holds a `<circle>` per point (`data-node-id` its number from 1,
`data-label-name` its name) and a `<line>` per skeleton pair (`data-node-from`,
`data-node-to`), the elements and attributes CVAT's label editor keeps."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.errors import RecordError
from workbench.model.keypoints import KeypointLabel
from workbench.store.keypoints import keypoint_labels

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog


def point_names(label: KeypointLabel | None, count: int) -> tuple[str, ...]:
    """The names of a label's points; numbers when the catalog has none (or too few)."""
    if label is not None and len(label.names) == count:
        return label.names
    return tuple(str(n + 1) for n in range(count))


def declare(
    labels: ET.Element, name: str, points: tuple[str, ...], skeleton: tuple[tuple[int, int], ...]
) -> None:
    """Mark the `<label>` named `name` a skeleton (with its `<svg>`) and declare its points."""
    for element in labels.findall("label"):
        if element.findtext("name") == name:
            ET.SubElement(element, "type").text = "skeleton"
            ET.SubElement(element, "svg").text = svg(points, skeleton)
    for point in points:
        element = ET.SubElement(labels, "label")
        ET.SubElement(element, "name").text = point
        ET.SubElement(element, "type").text = "points"
        ET.SubElement(element, "attributes")
        ET.SubElement(element, "parent").text = name


def svg(points: tuple[str, ...], skeleton: tuple[tuple[int, int], ...]) -> str:
    """The skeleton as CVAT keeps it: points on a circle (where the editor draws them; the
    figures are only a picture), lines between the numbered points."""
    parts: list[str] = []
    where = {}
    for n, name in enumerate(points, start=1):
        angle = 2 * math.pi * (n - 1) / max(len(points), 1)
        x, y = 50 + 40 * math.cos(angle), 50 + 40 * math.sin(angle)
        where[n] = (x, y)
        circle = ET.Element("circle", r="1.5", cx=f"{x:.4g}", cy=f"{y:.4g}")
        circle.attrib.update({"data-type": "element node", "data-element-id": str(n),
                              "data-node-id": str(n), "data-label-name": name})  # fmt: skip
        parts.append(ET.tostring(circle, encoding="unicode"))
    for a, b in skeleton:
        (x1, y1), (x2, y2) = where[a], where[b]
        line = ET.Element("line", x1=f"{x1:.4g}", y1=f"{y1:.4g}", x2=f"{x2:.4g}", y2=f"{y2:.4g}")
        line.attrib.update({"data-type": "edge", "data-node-from": str(a), "data-node-to": str(b)})
        parts.append(ET.tostring(line, encoding="unicode"))
    return "".join(parts)


def declared(root: ET.Element) -> dict[str, KeypointLabel]:
    """The skeleton labels `<meta>` declares with an `<svg>`: points in the order of their
    node numbers, pairs from the lines. A label whose svg cannot be read is left out (its
    points then take the file's order)."""
    out: dict[str, KeypointLabel] = {}
    for element in root.iterfind("meta//labels/label"):
        name, text = element.findtext("name"), element.findtext("svg")
        if element.findtext("type") != "skeleton" or not name or not text:
            continue
        try:
            nodes = ET.fromstring(f"<svg>{text}</svg>")
            circles = sorted(
                (int(c.attrib["data-node-id"]), c.attrib["data-label-name"])
                for c in nodes.iter("circle")
            )
            names = tuple(n for _, n in circles)
            number = {node: i + 1 for i, (node, _) in enumerate(circles)}
            pairs = tuple(
                (
                    number[int(line.attrib["data-node-from"])],
                    number[int(line.attrib["data-node-to"])],
                )
                for line in nodes.iter("line")
            )
        except (ET.ParseError, KeyError, ValueError):
            continue
        if names and len(set(names)) == len(names) and all(names):
            out[name] = KeypointLabel(name, names, pairs)
    return out


def write(
    element: ET.Element, row: Mapping[str, Any], names: tuple[str, ...], frame: int | None = None
) -> None:
    """The `<points>` of a keypoints ROI row under its `<skeleton>` element; in a video
    track's (`frame`), each point also names its frame and keyframe, as CVAT reads them (it
    takes the skeleton's frame and ignores the point's) and datumaro needs them (it reads each
    point of a track's skeleton as a points shape of the track, and fails without its frame)."""
    ring, visibility = row["geometry"][0], row["visibility"]
    for n, v in enumerate(visibility):
        point = ET.SubElement(element, "points", label=names[n], source="manual")
        if frame is not None:
            point.set("frame", str(frame))
            point.set("keyframe", "0" if row["keyframe"] is False else "1")
        point.set("outside", "1" if v == 0 else "0")
        point.set("occluded", "1" if v == 1 else "0")
        point.set("points", f"{ring[2 * n]:.12g},{ring[2 * n + 1]:.12g}")


def ended(element: ET.Element) -> bool:
    """Whether `element` is a video track's skeleton whose points are all outside: the
    track's end (CVAT marks a skeleton's points outside, not the skeleton)."""
    points = element.findall("points") if element.tag == "skeleton" else []
    return bool(points) and all(p.get("outside") == "1" for p in points)


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


def declare_all(
    catalog: Catalog, root: ET.Element, rows: Sequence[Mapping[str, Any]]
) -> dict[str, tuple[str, ...]]:
    """The point names of each label of keypoints rows, declared in `<meta>` as skeletons."""
    sizes = {r["label"]: len(r["visibility"]) for r in rows if r["kind"] == "keypoints"}
    sizes.pop(None, None)
    if not sizes:
        return {}
    con = catalog.cursor()
    try:
        kept = keypoint_labels(con, sorted(sizes))
    finally:
        con.close()
    names = {label: point_names(kept.get(label), n) for label, n in sizes.items()}
    labels = root.find("meta/task/labels")
    assert labels is not None  # _document made it
    for label, points in sorted(names.items()):
        found = kept.get(label)
        pairs = found.skeleton if found is not None and found.names == points else ()
        declare(labels, label, points, pairs)
    return names


def known(
    catalog: Catalog, root: ET.Element
) -> tuple[dict[str, KeypointLabel], dict[str, KeypointLabel]]:
    """The point names the catalog keeps (skeleton points are put in their order), and those
    with the file's own skeletons (`<svg>` in `<meta>`) for labels the catalog has none for."""
    con = catalog.cursor()
    try:
        kept = keypoint_labels(con)
    finally:
        con.close()
    return kept, {**declared(root), **kept}
