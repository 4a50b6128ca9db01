"""Keypoints ROIs in Label Studio JSON, the way Label Studio's converter reads them (its YOLO
keypoints export): one `rectanglelabels` result (the ROI's box and label) and, per labelled
point, a `keypointlabels` result labelled with the point's name whose `parentID` is that
rectangle's id. A point labelled but not visible (visibility 1) is `hidden`; an unlabelled one
(visibility 0) has no result. The labelling config names every point once in a
`KeyPointLabels` tag, with `model_index` its position in its label's points.

Read back, a rectangle that points name as their parent and whose label has point names in the
catalog becomes one keypoints ROI again. Tasks Label Studio's COCO converter made (every point
a `keypointlabels` result labelled with the category, in order, hidden unless visibility 2) are
read too: a run of as many such results as the category has points is one keypoints ROI; a
hidden point at 0, 0 is unlabelled (COCO writes 0, 0, 0).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.errors import RecordError
from workbench.model.keypoints import KeypointLabel
from workbench.model.records import Roi

KEYPOINT_SIZE = 0.6  # how big Label Studio draws a point (percent of the image width)


def keypoint_results(
    row: Mapping[str, Any],
    names: Sequence[str],
    size: tuple[int, int],
    placed: dict[str, Any],
    keypoints_name: str,
) -> list[dict[str, Any]]:
    """The results of one keypoints ROI: its rectangle, then its labelled points."""
    width, height = size
    box = {
        "x": row["x_min"] / width * 100,
        "y": row["y_min"] / height * 100,
        "width": (row["x_max"] - row["x_min"]) / width * 100,
        "height": (row["y_max"] - row["y_min"]) / height * 100,
        "rotation": 0,
        "rectanglelabels": [row["label"]],
    }
    parent = placed["id"]
    out = [{**placed, "type": "rectanglelabels", "value": box}]
    ring, visibility = row["geometry"][0], row["visibility"] or []
    for n, (name, v) in enumerate(zip(names, visibility, strict=False)):
        if not v or 2 * n + 1 >= len(ring):
            continue
        value: dict[str, Any] = {
            "x": ring[2 * n] / width * 100,
            "y": ring[2 * n + 1] / height * 100,
            "width": KEYPOINT_SIZE,
            "keypointlabels": [name],
        }
        if v == 1:
            value["hidden"] = True
        out.append(
            {
                **placed,
                "id": f"{parent}.{n}",
                "from_name": keypoints_name,
                "type": "keypointlabels",
                "parentID": parent,
                "value": value,
            }
        )
    return out


def label_config(
    rectangles: Sequence[str],
    keypoints: Mapping[str, KeypointLabel],
    names: tuple[str, str, str],
) -> str:
    """A labelling config for the exported boxes and keypoints (Label Studio's converter needs
    the points' `model_index` to order them)."""
    from_name, to_name, keypoints_name = names
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=to_name, value=f"${to_name}")
    boxes = ET.SubElement(view, "RectangleLabels", name=from_name, toName=to_name)
    for label in rectangles:
        ET.SubElement(boxes, "Label", value=label)
    points = ET.SubElement(view, "KeyPointLabels", name=keypoints_name, toName=to_name)
    seen: set[str] = set()
    for label in sorted(keypoints):
        for index, name in enumerate(keypoints[label].names):
            if name not in seen:
                seen.add(name)
                ET.SubElement(points, "Label", value=name, model_index=str(index))
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def keypoint_rois(
    results: Sequence[Any],
    keypoints: Mapping[str, KeypointLabel],
    field: str,
    where: str,
) -> tuple[list[Roi], set[int]]:
    """The keypoints ROIs among a task's results, and the result numbers they used."""
    rois: list[Roi] = []
    used: set[int] = set()
    _parented(results, keypoints, field, where, rois, used)
    _converter_runs(results, keypoints, field, where, rois, used)
    return rois, used


def _kind(result: Any, kind: str) -> bool:
    return (
        isinstance(result, dict)
        and result.get("type") == kind
        and isinstance(result.get("value"), dict)
        and isinstance(result["value"].get(kind), list)
        and bool(result["value"][kind])
    )


def _parented(
    results: Sequence[Any],
    keypoints: Mapping[str, KeypointLabel],
    field: str,
    where: str,
    rois: list[Roi],
    used: set[int],
) -> None:
    children: dict[str, list[int]] = {}
    for number, result in enumerate(results):
        if _kind(result, "keypointlabels") and isinstance(result.get("parentID"), str):
            children.setdefault(result["parentID"], []).append(number)
    for number, result in enumerate(results):
        if not _kind(result, "rectanglelabels") or str(result.get("id")) not in children:
            continue
        label = str(result["value"]["rectanglelabels"][0])
        if label not in keypoints:
            continue
        here = f"{where}, result {number + 1}"
        names = keypoints[label].names
        ring = [0.0] * (2 * len(names))
        visibility = [0] * len(names)
        for child in children[str(result["id"])]:
            value = results[child]["value"]
            name = str(value["keypointlabels"][0])
            if name not in names:
                raise RecordError(here, f"label {label!r} has no point named {name!r}")
            n = names.index(name)
            ring[2 * n], ring[2 * n + 1] = _point(results[child], here)
            visibility[n] = 1 if value.get("hidden") else 2
            used.add(child)
        used.add(number)
        rois.append(
            Roi(
                str(result["id"]),
                "keypoints",
                [label],
                field,
                [ring],
                _score(result),
                visibility=visibility,
                bbox=_box(result, here),
            )
        )


def _converter_runs(
    results: Sequence[Any],
    keypoints: Mapping[str, KeypointLabel],
    field: str,
    where: str,
    rois: list[Roi],
    used: set[int],
) -> None:
    number = 0
    while number < len(results):
        result = results[number]
        label = (
            str(result["value"]["keypointlabels"][0])
            if number not in used and _kind(result, "keypointlabels")
            else None
        )
        if label is None or label not in keypoints:
            number += 1
            continue
        count = len(keypoints[label].names)
        run = results[number : number + count]
        if len(run) < count or not all(
            _kind(r, "keypointlabels") and r["value"]["keypointlabels"][0] == label for r in run
        ):
            raise RecordError(
                f"{where}, result {number + 1}",
                f"{label!r} has {count} points: expected {count} results in a row",
            )
        ring: list[float] = []
        visibility: list[int] = []
        for r in run:
            x, y = _point(r, f"{where}, result {number + 1}")
            hidden = bool(r["value"].get("hidden"))
            ring += [x, y]
            visibility.append(2 if not hidden else 0 if x == 0 and y == 0 else 1)
        used.update(range(number, number + count))
        # The converter writes the annotation's bbox as a rectangle before its polygons and
        # points.
        box = None
        back = number - 1
        while back >= 0 and _kind(results[back], "polygonlabels"):
            back -= 1
        before = results[back] if back >= 0 else None
        if (
            before is not None
            and back not in used
            and _kind(before, "rectanglelabels")
            and before["value"]["rectanglelabels"][0] == label
        ):
            box = _box(before, f"{where}, result {back + 1}")
            used.add(back)
        rois.append(
            Roi(
                str(result.get("id") or f"{where}#{number}"),
                "keypoints",
                [label],
                field,
                [ring],
                _score(result),
                visibility=visibility,
                bbox=box,
            )
        )
        number += count


def _scale(result: Mapping[str, Any], where: str) -> tuple[float, float]:
    width, height = result.get("original_width"), result.get("original_height")
    if not all(_positive(v) for v in (width, height)):
        raise RecordError(where, "original_width and original_height are needed to place it")
    return float(width) / 100, float(height) / 100  # type: ignore[arg-type]


def _point(result: Mapping[str, Any], where: str) -> tuple[float, float]:
    sx, sy = _scale(result, where)
    try:
        return float(result["value"]["x"]) * sx, float(result["value"]["y"]) * sy
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(where, f"malformed keypoint value: {exc}") from exc


def _box(result: Mapping[str, Any], where: str) -> tuple[float, float, float, float]:
    sx, sy = _scale(result, where)
    value = result["value"]
    if value.get("rotation") not in (None, 0, 0.0):
        raise RecordError(where, "rotated rectangles are not imported here")
    try:
        x, y = float(value["x"]) * sx, float(value["y"]) * sy
        return x, y, x + float(value["width"]) * sx, y + float(value["height"]) * sy
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(where, f"malformed rectanglelabels value: {exc}") from exc


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _score(result: Mapping[str, Any]) -> float | None:
    score = result.get("score")
    return float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
