"""Labelbox keyframes and nested classifications as read from a line: checked, with the
frames between two keyframes interpolated (workbench.ingest.labelbox places them)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

import numpy as np

from workbench.errors import RecordError
from workbench.ingest._labelbox_contexts import TOOLS

__all__ = [
    "Keyframe",
    "interpolated",
    "is_integer",
    "is_number",
    "normalised",
    "parsed_keyframes",
    "plain_boxes",
]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Keyframe:
    number: int
    kind: str
    values: list[float]  # bbox: left, top, width, height; point/line: x0, y0, x1, y1...
    classifications: list[Any]


_PLAIN_BOX = frozenset({"frame", "bbox"})
_BOX_KEY_SET = frozenset({"left", "top", "width", "height"})


def parsed_keyframes(keyframes: list[Any], where: str) -> list[Keyframe]:
    """The keyframes of a segment; those that are plain boxes (`frame` and a `bbox` of four
    numbers, no classifications) checked at once, any other one by one (`_keyframe`)."""
    plain = all(type(k) is dict and k.keys() == _PLAIN_BOX for k in keyframes) and all(
        type(k["bbox"]) is dict and k["bbox"].keys() == _BOX_KEY_SET for k in keyframes
    )
    if plain:
        boxes = [[k["bbox"][key] for key in _BOX_KEYS] for k in keyframes]
        frames = [k["frame"] for k in keyframes]
        types = set(map(type, itertools.chain.from_iterable(boxes)))
        if types <= {int, float} and set(map(type, frames)) == {int}:
            values = np.array(boxes, dtype=np.float64)
            if np.isfinite(values).all() and (values[:, 2:] >= 0).all():
                return [
                    Keyframe(frame, "box", box, [])
                    for frame, box in zip(frames, values.tolist(), strict=True)
                ]
    return [_keyframe(k, where) for k in keyframes]


def _keyframe(keyframe: Any, where: str) -> Keyframe:
    if not isinstance(keyframe, dict) or "frame" not in keyframe:
        raise RecordError(where, "a keyframe needs a frame number")
    tools = [tool for tool in TOOLS if tool in keyframe]
    if len(tools) != 1:
        raise RecordError(where, f"keyframe {keyframe['frame']} needs one of bbox, point, line")
    tool, value = tools[0], keyframe[tools[0]]
    values = _values(tool, value)
    if values is None:
        problem = f"keyframe {keyframe['frame']} has a malformed {tool}: {value!r}"
        raise RecordError(where, problem)
    frame = keyframe["frame"]
    if not is_integer(frame):
        raise RecordError(where, f"frame number {frame!r} is not an integer")
    nested = normalised(keyframe["classifications"]) if keyframe.get("classifications") else []
    return Keyframe(frame, TOOLS[tool], values, nested)


_BOX_KEYS = ("left", "top", "width", "height")


def plain_boxes(keyframes: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The frame numbers and boxes (left, top, width, height) of a segment whose every
    keyframe is a plain box (what `parsed_keyframes` takes at once), sorted by frame number
    as `sorted` sorts them; None for any other segment."""
    if not all(type(k) is dict and len(k) == 2 for k in keyframes):
        return None
    try:
        frames = [k["frame"] for k in keyframes]
        boxes = [k["bbox"] for k in keyframes]
        if not all(type(b) is dict and len(b) == 4 for b in boxes):
            return None
        given = [[b["left"], b["top"], b["width"], b["height"]] for b in boxes]
    except KeyError:
        return None
    if set(map(type, frames)) != {int}:
        return None
    if not set(map(type, itertools.chain.from_iterable(given))) <= {int, float}:
        return None
    try:
        numbers = np.array(frames, dtype=np.int64)
        values = np.array(given, dtype=np.float64)
    except OverflowError:
        return None
    if not (np.isfinite(values).all() and (values[:, 2:] >= 0).all()):
        return None
    order = np.argsort(numbers, kind="stable")
    return numbers[order], values[order]


def _values(tool: str, value: Any) -> list[float] | None:
    """A keyframe's coordinates (bbox: left, top, width, height; point/line: x0, y0, ...),
    or None when they are malformed."""
    if tool == "bbox":
        if not isinstance(value, dict):
            return None
        given: list[Any] = [value.get(k) for k in _BOX_KEYS]
        if not all(map(is_number, given)):
            return None
        values = [float(v) for v in given]
        return None if values[2] < 0 or values[3] < 0 else values
    points = [value] if tool == "point" else value
    if not isinstance(points, list) or not all(_xy(p) for p in points):
        return None
    return [float(p[axis]) for p in points for axis in ("x", "y")]


def _xy(point: Any) -> bool:
    return isinstance(point, dict) and is_number(point.get("x")) and is_number(point.get("y"))


def interpolated(keyframes: Sequence[Keyframe]) -> Iterator[tuple[Keyframe, bool]]:
    """The keyframes and, between two of them, linearly interpolated frames.

    Lines whose point counts differ hold the earlier shape; classifications of a keyframe
    hold until the next one.
    """
    for previous, current in itertools.pairwise(keyframes):
        yield previous, True
        span = current.number - previous.number
        same_shape = len(previous.values) == len(current.values)
        for offset in range(1, span):
            t = offset / span
            values = (
                [a + (b - a) * t for a, b in zip(previous.values, current.values, strict=True)]
                if same_shape
                else previous.values
            )
            yield replace(previous, number=previous.number + offset, values=values), False
    yield keyframes[-1], True


def normalised(classifications: Any) -> list[Any]:
    """Nested classifications with checklists' `answers` spelled `answer`, as Labelbox writes."""
    if not isinstance(classifications, list):
        return []
    out = []
    for item in classifications:
        if not isinstance(item, dict):
            continue
        item = dict(item)
        if "answers" in item and "answer" not in item:
            item["answer"] = item.pop("answers")
        answer = item.get("answer")
        if isinstance(answer, dict) and "classifications" in answer:
            item["answer"] = {**answer, "classifications": normalised(answer["classifications"])}
        elif isinstance(answer, list):
            item["answer"] = [
                {**a, "classifications": normalised(a["classifications"])}
                if isinstance(a, dict) and "classifications" in a
                else a
                for a in answer
            ]
        out.append(item)
    return out


def is_integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
