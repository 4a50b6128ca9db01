"""Labelbox ROIs as Arrow rows, described a line at a time and made a write at a time.

A line's ROIs are kept as parts, not rows: a box object's segments as their keyframes (the
boxes of every frame between them are interpolated when the rows are made, by numpy in the
same float operations as `_labelbox_keyframes.interpolated`), a classification as the
positions it holds on with one attributes text per distinct set of answers, and the rarer
ROIs made one by one (points, lines, boxes near the coordinate limit) as rows. `rows_of`
then makes the rows of every part of a write at once, in ROI_SCHEMA's column order, with
the frame's position in its video beside each row, so that the import can put them in the
order the per-record path wrote them (video by video, frame by frame, line by line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa

from workbench.errors import RecordError
from workbench.ingest._labelbox_contexts import Video
from workbench.ingest.writer import json_text
from workbench.model.limits import MAX_COORDINATE
from workbench.model.records import GEOMETRY, ROI_SCHEMA

ROWS = pa.schema([f for f in ROI_SCHEMA if f.name != "visibility"])
# Keyframe corners this far inside the limit keep every interpolated corner inside it.
_SAFE_COORDINATE = MAX_COORDINATE * (1 - 1e-9)


@dataclass(frozen=True)
class Base:
    """What every ROI of one line shares."""

    id: str
    field: str
    label: str
    confidence: float
    track_index: int | None


@dataclass
class Boxes:
    """Box segments of one line as keyframes (sorted, checked): `numbers` and `values`
    (n x 4: left, top, width, height) of every segment in turn, `ends` marking each
    segment's last keyframe, `texts` the attributes text of each keyframe, and per frame
    from each segment's first keyframe to its last whether it was imported (`imported`)."""

    base: Base
    numbers: np.ndarray
    values: np.ndarray
    ends: np.ndarray
    texts: list[str | None]
    imported: np.ndarray
    positions: np.ndarray


@dataclass
class Answers:
    """A classification on the frames at `positions`, the attributes text of each being
    `texts[text_at[i]]`."""

    base: Base
    positions: np.ndarray
    texts: list[str | None]
    text_at: np.ndarray


@dataclass
class Rows:
    """ROIs made one by one, as rows (ROWS); `zero_area` counts the boxes of no area."""

    table: pa.Table
    positions: np.ndarray
    zero_area: int = 0


Part = Boxes | Answers | Rows


@dataclass
class Placed:
    """One line's ROIs as parts, and the position in its video of every row's frame."""

    parts: list[Part]
    track_index: int | None = None

    @cached_property
    def positions(self) -> np.ndarray:
        if len(self.parts) == 1:
            return self.parts[0].positions
        return np.concatenate([p.positions for p in self.parts] or [np.zeros(0, np.int64)])


@dataclass
class VideoIndex:
    """A video's frames as arrays: ids, and Labelbox number -> position (-1: not imported)."""

    video: Video
    ids: pa.Array = field(init=False)
    lookup: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.ids = pa.array(self.video.ids, pa.string())
        self.lookup = self.video.lookup

    @cached_property
    def position(self) -> dict[str, int]:
        return {frame_id: n for n, frame_id in enumerate(self.video.ids)}


def box_steps(
    numbers: Sequence[int] | np.ndarray,
    values: Sequence[Sequence[float]] | np.ndarray,
    ends: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every frame from the first keyframe to the last of each segment (`ends` marks the
    last keyframe of each; by default there is one segment), as
    `_labelbox_keyframes.interpolated` yields them: (numbers, values n x 4, index of the
    keyframe each holds from, is a keyframe)."""
    nums = np.asarray(numbers, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64).reshape(len(nums), 4)
    counts = np.append(np.diff(nums), 1)
    if ends is not None:
        counts[ends] = 1
    held = np.repeat(np.arange(len(nums)), counts)
    starts = np.cumsum(counts) - counts
    offsets = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    spans = counts[held]
    t = (offsets / spans)[:, None]
    before, after = vals[held], vals[np.minimum(held + 1, len(nums) - 1)]
    is_key = offsets == 0
    stepped = np.where(is_key[:, None], before, before + (after - before) * t)
    return nums[held] + offsets, stepped, held, is_key


def box_segment(
    numbers: list[int], values: list[list[float]], index: VideoIndex
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per frame of one segment (sorted keyframes in range) whether it was imported, and
    the positions of those that were; None when a keyframe's corner is near the coordinate
    limit (`box_rows` then checks each interpolated box)."""
    vals = np.asarray(values, dtype=np.float64)
    corners = np.abs(np.concatenate([vals[:, :2], vals[:, :2] + vals[:, 2:]]))
    if not corners.max() <= _SAFE_COORDINATE:
        return None
    found = index.lookup[numbers[0] : numbers[-1] + 1]
    imported = found >= 0
    return imported, found[imported]


def box_rows(
    base: Base,
    index: VideoIndex,
    numbers: np.ndarray,
    values: np.ndarray,
    attributes: list[str | None],
    keyframe: np.ndarray,
) -> Rows | None:
    """The rows of boxes (left, top, width, height) on Labelbox frames `numbers`; frames not
    imported are left out. None when a corner lies beyond MAX_COORDINATE (the per-record
    path then names it)."""
    positions = index.lookup[numbers]
    keep = positions >= 0
    positions, values = positions[keep], values[keep]
    texts = [attributes[i] for i in np.flatnonzero(keep)] if not keep.all() else attributes
    x, y, w, h = values.T
    x1, y1 = x + w, y + h
    ring = np.column_stack([x, y, x1, y, x1, y1, x, y1])
    if ring.size and not (np.isfinite(ring).all() and np.abs(ring).max() <= MAX_COORDINATE):
        return None
    count = len(positions)
    parts = np.zeros(count, dtype=np.int64)
    columns, zero = _box_columns([base], parts, ring, pa.array(texts, pa.string()))
    columns["keyframe"] = pa.array(keyframe[keep])
    return Rows(_table(columns), positions, int(np.count_nonzero(zero)))


def roi_rows(rows: list[tuple[Any, ...]], index: VideoIndex, zero_area: int) -> Rows:
    """Rows made by the per-record path (writer's `_roi_row` tuples, visibility last)."""
    trimmed = [row[:-1] for row in rows]
    if not trimmed:
        table = ROWS.empty_table()
    else:
        columns = zip(*trimmed, strict=True)
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, ROWS, strict=True)]
        table = pa.Table.from_arrays(arrays, schema=ROWS)
    positions = np.array([index.position[row[0]] for row in rows], dtype=np.int64)
    return Rows(table, positions, zero_area)


def attributes_text(attributes: dict[str, Any], where: str) -> str | None:
    try:
        return json_text(attributes)
    except (TypeError, ValueError) as exc:
        raise RecordError(where, f"attributes: {exc}") from exc


# -- a write's rows at once --------------------------------------------------------------------
@dataclass
class Made:
    """The rows of a write (ROWS, frame ids not yet set) sorted video by video, frame by
    frame, line by line: each row's video (its number in the write) and position in it,
    and per video the boxes of no area."""

    rows: pa.Table
    video: np.ndarray
    positions: np.ndarray
    zero_area: np.ndarray


def rows_of(videos: list[list[tuple[int, Part]]]) -> Made:
    """The rows of every video's parts (each with the number of its line in the write)."""
    boxes: list[tuple[int, int, Boxes]] = []
    answers: list[tuple[int, int, Answers]] = []
    tables: list[pa.Table] = []
    keys: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    zero = np.zeros(len(videos), dtype=np.int64)
    for v, parts in enumerate(videos):
        for line, part in parts:
            if isinstance(part, Boxes):
                boxes.append((v, line, part))
            elif isinstance(part, Answers):
                answers.append((v, line, part))
            else:
                tables.append(part.table)
                keys.append(_keys(v, line, part.positions))
                zero[v] += part.zero_area
    if boxes:
        table, zeros = _boxes_table([p for _, _, p in boxes])
        tables.insert(0, table)
        keys.insert(0, _keys_of(boxes))
        videos_of = np.repeat([v for v, _, _ in boxes], [len(p.positions) for _, _, p in boxes])
        zero += np.bincount(videos_of, weights=zeros, minlength=len(videos)).astype(np.int64)
    if answers:
        tables.append(_answers_table([p for _, _, p in answers]))
        keys.append(_keys_of(answers))
    if not tables:
        empty = np.zeros(0, dtype=np.int64)
        return Made(ROWS.empty_table(), empty, empty, zero)
    video, positions, line = (np.concatenate(k) for k in zip(*keys, strict=True))
    order = np.lexsort((line, positions, video))
    rows = pa.concat_tables(tables).take(pa.array(order))
    return Made(rows, video[order], positions[order], zero)


def _keys(video: int, line: int, positions: np.ndarray) -> tuple[np.ndarray, ...]:
    count = len(positions)
    return np.full(count, video, np.int64), positions, np.full(count, line, np.int64)


def _keys_of(parts: Sequence[tuple[int, int, Boxes | Answers]]) -> tuple[np.ndarray, ...]:
    counts = [len(p.positions) for _, _, p in parts]
    video = np.repeat(np.array([v for v, _, _ in parts], np.int64), counts)
    line = np.repeat(np.array([n for _, n, _ in parts], np.int64), counts)
    return video, np.concatenate([p.positions for _, _, p in parts]), line


def _boxes_table(parts: list[Boxes]) -> tuple[pa.Table, np.ndarray]:
    """The rows of box parts, part after part, and whether each box has no area."""
    numbers = np.concatenate([p.numbers for p in parts])
    values = np.concatenate([p.values for p in parts])
    ends = np.concatenate([p.ends for p in parts])
    _, stepped, held, is_key = box_steps(numbers, values, np.flatnonzero(ends))
    imported = np.concatenate([p.imported for p in parts])
    held, is_key = held[imported], is_key[imported]
    x, y, w, h = stepped[imported].T
    x1, y1 = x + w, y + h
    ring = np.column_stack([x, y, x1, y, x1, y1, x, y1])
    texts = pa.array([t for p in parts for t in p.texts], pa.string()).take(pa.array(held))
    counts = [len(p.positions) for p in parts]
    owner = np.repeat(np.arange(len(parts)), counts)
    columns, zero = _box_columns([p.base for p in parts], owner, ring, texts)
    columns["keyframe"] = pa.array(is_key)
    return _table(columns), zero


def _box_columns(
    bases: list[Base], owner: np.ndarray, ring: np.ndarray, texts: pa.Array
) -> tuple[dict[str, Any], np.ndarray]:
    """The columns of boxes given as rings (n x 8), `owner` the base of each."""
    x, y, x1, y1 = ring[:, 0], ring[:, 1], ring[:, 2], ring[:, 5]
    x_min, y_min = np.minimum(x, x1), np.minimum(y, y1)
    x_max, y_max = np.maximum(x, x1), np.maximum(y, y1)
    count = len(ring)
    rings = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 8 * count + 1, 8, dtype=np.int32)), pa.array(ring.ravel())
    )
    geometry = pa.ListArray.from_arrays(pa.array(np.arange(count + 1, dtype=np.int32)), rings)
    columns = _constant(bases, owner, "box")
    columns.update(
        geometry=geometry.cast(GEOMETRY),
        x_min=pa.array(x_min),
        y_min=pa.array(y_min),
        x_max=pa.array(x_max),
        y_max=pa.array(y_max),
        area=pa.array((x_max - x_min) * (y_max - y_min)),
        attributes=texts,
    )
    return columns, (x_max <= x_min) | (y_max <= y_min)


def _answers_table(parts: list[Answers]) -> pa.Table:
    counts = [len(p.positions) for p in parts]
    owner = np.repeat(np.arange(len(parts)), counts)
    offsets = np.cumsum([0] + [len(p.texts) for p in parts[:-1]])
    at = np.concatenate([p.text_at + o for p, o in zip(parts, offsets, strict=True)])
    texts = pa.array([t for p in parts for t in p.texts], pa.string()).take(pa.array(at))
    count = len(owner)
    columns = _constant([p.base for p in parts], owner, "classification")
    empty = pa.ListArray.from_arrays(
        pa.array(np.zeros(count + 1, dtype=np.int32)), pa.array([], GEOMETRY.value_type)
    )
    columns.update(
        geometry=empty.cast(GEOMETRY), attributes=texts, keyframe=pa.nulls(count, pa.bool_())
    )
    return _table(columns)


def _constant(bases: list[Base], owner: np.ndarray, kind: str) -> dict[str, Any]:
    """The columns each row takes from its line's base (`owner`: the base of each row)."""
    count = len(owner)
    take = pa.array(owner)
    label = pa.array([b.label for b in bases], pa.string()).take(take)
    labels = pa.ListArray.from_arrays(pa.array(np.arange(count + 1, dtype=np.int32)), label)
    no_sources = pa.ListArray.from_arrays(
        pa.array(np.zeros(count + 1, dtype=np.int32)), pa.array([], pa.string())
    )
    confidence = np.array([b.confidence for b in bases], dtype=np.float64)
    return {
        "frame_id": pa.nulls(count, pa.string()),  # set per video when written (`frame_ids`)
        "id": pa.array([b.id for b in bases], pa.string()).take(take),
        "field": pa.array([b.field for b in bases], pa.string()).take(take),
        "label": label,
        "labels": labels,
        "confidence": pa.array(confidence[owner] if count else confidence[:0]),
        "kind": pa.repeat(pa.scalar(kind, pa.string()), count),
        "x_min": pa.nulls(count, pa.float64()),
        "y_min": pa.nulls(count, pa.float64()),
        "x_max": pa.nulls(count, pa.float64()),
        "y_max": pa.nulls(count, pa.float64()),
        "area": pa.nulls(count, pa.float64()),
        "source_ids": no_sources,
        "mask": pa.nulls(count, pa.string()),
        "track_index": pa.array([b.track_index for b in bases], pa.int32()).take(take),
    }


def _table(columns: dict[str, Any]) -> pa.Table:
    return pa.Table.from_arrays([columns[f.name] for f in ROWS], schema=ROWS)
