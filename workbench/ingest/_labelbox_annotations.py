"""What one Labelbox line places on its video's frames: an object's ROIs, or an answer's.

An object's segments of keyframes become rows of boxes (interpolated on arrays where they
can be) or ROIs made one by one (points, lines, boxes near the coordinate limit); a
classification's answer holds on the frames of its ranges, or on every frame of the video.
Each line's ROIs are checked as the catalog checks them. Apart from the import
(workbench/ingest/labelbox.py), which reads the files, finds each line's video and writes
what the lines placed, because this is what a line means, whichever file it came from.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from workbench.errors import RecordError
from workbench.ingest._labelbox_contexts import Video
from workbench.ingest._labelbox_keyframes import (
    Keyframe,
    interpolated,
    is_integer,
    normalised,
    parsed_keyframes,
    plain_boxes,
)
from workbench.ingest._labelbox_rows import (
    Answers,
    Base,
    Boxes,
    Part,
    Placed,
    VideoIndex,
    attributes_text,
    box_rows,
    box_segment,
    box_steps,
    roi_rows,
)
from workbench.ingest.writer import _roi_row
from workbench.model.geometry import box_ring
from workbench.model.records import Roi
from workbench.model.validation import WARN_ZERO_AREA, check_roi

# -- objects -----------------------------------------------------------------------------------


def place_object(line: dict[str, Any], where: str, index: VideoIndex, base: Roi) -> Placed:
    segments = line["segments"]
    if not isinstance(segments, list) or not segments:
        raise RecordError(where, "segments must be a non-empty list")
    video = index.video
    attributes = dict(base.attributes)
    if line.get("classifications"):
        attributes["track_classifications"] = normalised(line["classifications"])
    texts = _Texts(attributes, where)
    boxes: list[Boxes] = []
    parts: list[Part] = []
    others: list[tuple[str, Roi]] = []  # ROIs of the segments not made as rows
    kinds: set[str] = set()
    for number, segment in enumerate(segments):
        keyframes = segment.get("keyframes") if isinstance(segment, dict) else None
        if not isinstance(keyframes, list) or not keyframes:
            raise RecordError(where, f"segment {number} needs a non-empty keyframes list")
        plain = plain_boxes(keyframes)
        if plain is not None:  # the usual segment, checked as the others are, on arrays
            numbers, values = plain
            _check_segment(numbers.tolist(), {"box"}, where, video, kinds)
            parsed = None
            made, text_at = texts.plain(len(numbers))
        else:
            parsed = _parsed_segment(keyframes, where, video, kinds)
            if "box" not in kinds:
                others.extend(_per_roi(parsed, attributes, video, base))
                continue
            numbers = np.array([k.number for k in parsed], dtype=np.int64)
            values = np.array([k.values for k in parsed], dtype=np.float64)
            made, text_at = texts.of(parsed)
        found = box_segment(numbers, values, index)
        if found is not None:
            boxes.append(Boxes(_base(base), numbers, values, made, text_at, *found))
            continue
        rows = _box_rows(numbers, values, [made[i] for i in text_at.tolist()], index, base)
        if rows is not None:
            parts.append(rows)
            continue
        if parsed is None:
            parsed = [
                Keyframe(n, "box", v, [])
                for n, v in zip(numbers.tolist(), values.tolist(), strict=True)
            ]
        others.extend(_per_roi(parsed, attributes, video, base))
    if boxes:
        parts.insert(0, boxes[0] if len(boxes) == 1 else Boxes.joined(boxes))
    return _checked(parts, others, base, where, index)


def _parsed_segment(
    keyframes: list[Any], where: str, video: Video, kinds: set[str]
) -> list[Keyframe]:
    """A segment's keyframes parsed and checked one by one, sorted by frame number."""
    parsed = sorted(parsed_keyframes(keyframes, where), key=lambda k: k.number)
    _check_segment([k.number for k in parsed], {k.kind for k in parsed}, where, video, kinds)
    return parsed


def _check_segment(
    numbers: list[int], segment_kinds: set[str], where: str, video: Video, kinds: set[str]
) -> None:
    """A segment's sorted keyframe numbers in the video and each once, and its kinds of
    geometry the object's (`kinds`, which takes them)."""
    for number in (numbers[0], numbers[-1]):  # before interpolating between them
        video.check(number, where)
    kinds.update(segment_kinds)
    if len(kinds) > 1:
        raise RecordError(where, f"an object mixes kinds of geometry: {sorted(kinds)}")
    for previous, current in itertools.pairwise(numbers):
        if previous == current:
            raise RecordError(where, f"frame {current} is a keyframe twice")


def _per_roi(
    parsed: list[Keyframe], attributes: dict[str, Any], video: Video, base: Roi
) -> Iterator[tuple[str, Roi]]:
    """The ROIs of a segment one by one (points, lines, boxes near the coordinate limit)."""
    for step, is_keyframe in interpolated(parsed):
        frame_id = video.numbers.get(step.number)
        if frame_id is None:
            continue  # a frame of the video not imported (frame_step)
        yield (
            frame_id,
            replace(
                base,
                kind=step.kind,
                geometry=_geometry(step.kind, step.values),
                keyframe=is_keyframe,
                attributes=_with_classifications(attributes, step.classifications),
            ),
        )


class _Texts:
    """The attributes texts of a line's keyframes: the line's own (made once, when a box
    segment first needs it) or with a keyframe's classifications."""

    def __init__(self, attributes: dict[str, Any], where: str) -> None:
        self.attributes, self.where = attributes, where
        self.text: list[str | None] = []

    def plain(self, count: int) -> tuple[list[str | None], np.ndarray]:
        if not self.text:
            self.text.append(attributes_text(self.attributes, self.where))
        return self.text, np.zeros(count, dtype=np.int64)

    def of(self, parsed: list[Keyframe]) -> tuple[list[str | None], np.ndarray]:
        plain = self.plain(0)[0][0]
        made = [
            attributes_text(_with_classifications(self.attributes, k.classifications), self.where)
            if k.classifications
            else plain
            for k in parsed
        ]
        return made, np.arange(len(made), dtype=np.int64)


def _box_rows(
    numbers: np.ndarray,
    values: np.ndarray,
    texts: list[str | None],
    index: VideoIndex,
    base: Roi,
) -> Part | None:
    """The rows of one segment of boxes near the coordinate limit, interpolated at once
    (None: a corner out of range, left to the per-ROI checks to name)."""
    steps, stepped, held, is_key = box_steps(numbers, values)
    return box_rows(_base(base), index, steps, stepped, [texts[i] for i in held.tolist()], is_key)


def _base(roi: Roi) -> Base:
    return Base(roi.id, roi.field, roi.labels[0], float(roi.confidence or 0.0), roi.track_index)


def _checked(
    parts: list[Part], others: list[tuple[str, Roi]], base: Roi, where: str, index: VideoIndex
) -> Placed:
    """One line's parts, its ROIs checked as the catalog checks them; the ROIs made one by
    one are turned into rows here."""
    if any(len(p.positions) for p in parts):
        check_roi(base, where)  # what rows of one line share: id, field, label, confidence
    zero = 0
    rows = []
    for frame_id, roi in others:
        zero += check_roi(roi, where).count(WARN_ZERO_AREA)
        rows.append(_roi_row(frame_id, roi))
    if rows or not parts:
        parts.append(roi_rows(rows, index, zero))
    return Placed(parts, base.track_index)


def _geometry(kind: str, values: list[float]) -> list[list[float]]:
    return [box_ring(*values)] if kind == "box" else [values]


def _with_classifications(attributes: dict[str, Any], nested: list[Any]) -> dict[str, Any]:
    return {**attributes, "classifications": nested} if nested else attributes


def _normalised_answer(answer: Any) -> Any:
    return normalised([{"answer": answer}])[0]["answer"]


# -- classifications ---------------------------------------------------------------------------
def place_classification(line: dict[str, Any], where: str, index: VideoIndex, base: Roi) -> Placed:
    """One ROI per frame the answer holds on; a whole-video answer sits on every frame, so
    that an export of any of them carries it."""
    video = index.video
    answer = line["answer"] if "answer" in line else line["answers"]
    if isinstance(answer, str):
        kind, items = "text", []
    elif _is_video_text(answer):
        kind, items = "text", answer  # texts of frame ranges (the SDK's NDVideoText)
    elif isinstance(answer, dict) and (answer.get("name") or answer.get("schemaId")):
        kind, items = "radio", [answer]
    elif isinstance(answer, list) and all(isinstance(a, dict) for a in answer):
        kind, items = "checklist", answer
    else:
        raise RecordError(where, f"answer must be a string, an object or a list, got {answer!r}")
    attributes = {**base.attributes, "type": kind}
    if "frames" not in line and not any("frames" in item for item in items):
        whole = {**attributes, "answer": _normalised_answer(answer), "global": True}
        positions = np.arange(len(video.ids), dtype=np.int64)
        texts, text_at = [attributes_text(whole, where)], np.zeros(len(video.ids), np.int64)
    else:
        positions, texts, text_at = _answers(
            line, items or [answer], kind, attributes, where, index
        )
    if len(positions):
        check_roi(base, where)
    return Placed([Answers(_base(base), positions, texts, text_at)])


def _answers(
    line: dict[str, Any],
    items: list[Any],
    kind: str,
    attributes: dict[str, Any],
    where: str,
    index: VideoIndex,
) -> tuple[np.ndarray, list[str | None], np.ndarray]:
    """The positions of the frames answers hold on (ranges at the top or, newer files, per
    answer), the attributes text of each distinct set of answers and which one each frame
    has."""
    lookup = index.lookup
    active: dict[int, list[int]] = defaultdict(list)
    held_values = []
    held_frames = []
    for item in items:
        ranges, held = line.get("frames"), item
        if isinstance(item, dict):
            ranges = item.get("frames", ranges)
            held = {k: v for k, v in item.items() if k != "frames"}
        video_text = kind == "text" and isinstance(item, dict)
        held_values.append(item["value"] if video_text else _normalised_answer(held))
        frames = _frame_numbers(ranges, where, index.video.last)
        held_frames.append(frames[lookup[frames] >= 0])
    if len(items) == 1 and len(held_frames[0]):  # every frame holds the one answer
        value = held_values if kind == "checklist" else held_values[0]
        text = attributes_text({**attributes, "answer": value}, where)
        return lookup[held_frames[0]], [text], np.zeros(len(held_frames[0]), dtype=np.int64)
    for number, frames in enumerate(held_frames):
        for frame in frames.tolist():
            active[frame].append(number)
    numbers = sorted(active)
    texts: dict[tuple[int, ...], int] = {}
    made: list[str | None] = []
    for frame in numbers:
        key = tuple(active[frame])
        if key not in texts:
            value = [held_values[i] for i in key] if kind == "checklist" else held_values[key[0]]
            texts[key] = len(made)
            made.append(attributes_text({**attributes, "answer": value}, where))
    positions = lookup[np.array(numbers, dtype=np.int64)]
    at = np.array([texts[tuple(active[frame])] for frame in numbers], dtype=np.int64)
    return positions, made, at


def _is_video_text(answer: Any) -> bool:
    """`[{"value": text, "frames": [...]}, ...]`: what Labelbox writes for a text answer that
    holds on frame ranges (a checklist's options have a `name` or `schemaId` instead)."""
    return (
        isinstance(answer, list)
        and bool(answer)
        and all(
            isinstance(a, dict)
            and isinstance(a.get("value"), str)
            and "frames" in a
            and not (a.keys() - {"value", "frames"})
            for a in answer
        )
    )


def _frame_numbers(ranges: Any, where: str, count: int) -> np.ndarray:
    """The frame numbers of `ranges`, sorted, each once."""
    if not isinstance(ranges, list):
        raise RecordError(where, f"frames must be a list of {{start, end}}, got {ranges!r}")
    blocks = []
    for block in ranges:
        start, end = (block.get("start"), block.get("end")) if isinstance(block, dict) else (0, 0)
        if not (is_integer(start) and is_integer(end) and start <= end):
            raise RecordError(where, f"a frames range needs integers start <= end, got {block!r}")
        if start < 1 or end > count:
            # Checked before the range is expanded: [1, 10**12] must not become a list.
            raise RecordError(
                where,
                f"frames range {start}-{end} is out of range: the video's frames are 1 to {count}",
            )
        blocks.append(np.arange(start, end + 1, dtype=np.int64))
    if len(blocks) == 1:
        return blocks[0]
    return np.unique(np.concatenate(blocks)) if blocks else np.zeros(0, dtype=np.int64)
