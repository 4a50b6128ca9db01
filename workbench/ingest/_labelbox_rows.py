"""Labelbox ROIs as Arrow rows, made a line at a time and vectorised over its frames.

A box object's keyframes are checked in Python (a few per object), then the boxes of every
frame between them are interpolated with numpy in the same float operations as
`_labelbox_keyframes.interpolated`, and a classification's answer becomes one attributes text per
distinct set of answers: no `Roi` per frame. Rows are in ROI_SCHEMA's column order with the
frame's position in its video (`Placed.positions`) beside them, so that the import can put
them in the order the per-record path wrote them (video by video, frame by frame, line by
line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from workbench.errors import RecordError
from workbench.ingest._labelbox_contexts import Video
from workbench.ingest.writer import json_text
from workbench.model.limits import MAX_COORDINATE
from workbench.model.records import GEOMETRY, ROI_SCHEMA

_ROWS = pa.schema([f for f in ROI_SCHEMA if f.name != "visibility"])


@dataclass(frozen=True)
class Base:
    """What every ROI of one line shares."""

    id: str
    field: str
    label: str
    confidence: float
    track_index: int | None


@dataclass
class Placed:
    """One line's ROIs: rows (ROI_SCHEMA without visibility) and the position in its video
    of each row's frame; `zero_area` counts its boxes of no area."""

    rows: pa.Table
    positions: np.ndarray
    zero_area: int = 0


@dataclass
class VideoIndex:
    """A video's frames as arrays: ids, and Labelbox number -> position (-1: not imported)."""

    video: Video
    ids: pa.Array = field(init=False)
    lookup: np.ndarray = field(init=False)
    position: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = pa.array(self.video.ids, pa.string())
        self.position = {frame_id: n for n, frame_id in enumerate(self.video.ids)}
        self.lookup = np.full(self.video.last + 1, -1, dtype=np.int64)
        for number, frame_id in self.video.numbers.items():
            self.lookup[number] = self.position[frame_id]


def box_steps(
    numbers: Sequence[int], values: Sequence[Sequence[float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every frame from the first keyframe to the last, as `_labelbox_keyframes.interpolated` yields
    them: (numbers, values n x 4, index of the keyframe each holds from, is a keyframe)."""
    nums = np.asarray(numbers, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    counts = np.append(np.diff(nums), 1)
    held = np.repeat(np.arange(len(nums)), counts)
    starts = np.cumsum(counts) - counts
    offsets = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    spans = counts[held]
    t = (offsets / spans)[:, None]
    before, after = vals[held], vals[np.minimum(held + 1, len(nums) - 1)]
    is_key = offsets == 0
    stepped = np.where(is_key[:, None], before, before + (after - before) * t)
    return nums[held] + offsets, stepped, held, is_key


def box_rows(
    base: Base,
    index: VideoIndex,
    numbers: np.ndarray,
    values: np.ndarray,
    attributes: list[str | None],
    keyframe: np.ndarray,
) -> Placed | None:
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
    x_min, y_min = np.minimum(x, x1), np.minimum(y, y1)
    x_max, y_max = np.maximum(x, x1), np.maximum(y, y1)
    count = len(positions)
    rings = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 8 * count + 1, 8, dtype=np.int32)), pa.array(ring.ravel())
    )
    geometry = pa.ListArray.from_arrays(pa.array(np.arange(count + 1, dtype=np.int32)), rings)
    columns = _constant(base, positions, "box")
    columns.update(
        geometry=geometry.cast(GEOMETRY),
        x_min=pa.array(x_min),
        y_min=pa.array(y_min),
        x_max=pa.array(x_max),
        y_max=pa.array(y_max),
        area=pa.array((x_max - x_min) * (y_max - y_min)),
        attributes=pa.array(texts, pa.string()),
        keyframe=pa.array(keyframe[keep]),
    )
    zero = int(np.count_nonzero((x_max <= x_min) | (y_max <= y_min)))
    return Placed(_table(columns), positions, zero)


def classification_rows(
    base: Base, index: VideoIndex, positions: np.ndarray, texts: list[str | None]
) -> Placed:
    """Rows of a classification on the frames at `positions` with their attributes texts."""
    count = len(positions)
    columns = _constant(base, positions, "classification")
    empty = pa.ListArray.from_arrays(
        pa.array(np.zeros(count + 1, dtype=np.int32)), pa.array([], GEOMETRY.value_type)
    )
    columns.update(
        geometry=empty.cast(GEOMETRY),
        attributes=pa.array(texts, pa.string()),
        keyframe=pa.nulls(count, pa.bool_()),
    )
    return Placed(_table(columns), positions)


def roi_rows(rows: list[tuple[Any, ...]], index: VideoIndex, zero_area: int) -> Placed:
    """Rows made by the per-record path (writer's `_roi_row` tuples, visibility last)."""
    trimmed = [row[:-1] for row in rows]
    if not trimmed:
        table = _ROWS.empty_table()
    else:
        columns = zip(*trimmed, strict=True)
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, _ROWS, strict=True)]
        table = pa.Table.from_arrays(arrays, schema=_ROWS)
    positions = np.array([index.position[row[0]] for row in rows], dtype=np.int64)
    return Placed(table, positions, zero_area)


def attributes_text(attributes: dict[str, Any], where: str) -> str | None:
    try:
        return json_text(attributes)
    except (TypeError, ValueError) as exc:
        raise RecordError(where, f"attributes: {exc}") from exc


def _constant(base: Base, positions: np.ndarray, kind: str) -> dict[str, Any]:
    count = len(positions)
    labels = pa.ListArray.from_arrays(
        pa.array(np.arange(count + 1, dtype=np.int32)),
        pa.repeat(pa.scalar(base.label, pa.string()), count),
    )
    no_sources = pa.ListArray.from_arrays(
        pa.array(np.zeros(count + 1, dtype=np.int32)), pa.array([], pa.string())
    )
    return {
        "frame_id": pa.nulls(count, pa.string()),  # set per video when written (`frame_ids`)
        "id": pa.repeat(pa.scalar(base.id, pa.string()), count),
        "field": pa.repeat(pa.scalar(base.field, pa.string()), count),
        "label": pa.repeat(pa.scalar(base.label, pa.string()), count),
        "labels": labels,
        "confidence": pa.array(np.full(count, base.confidence)),
        "kind": pa.repeat(pa.scalar(kind, pa.string()), count),
        "x_min": pa.nulls(count, pa.float64()),
        "y_min": pa.nulls(count, pa.float64()),
        "x_max": pa.nulls(count, pa.float64()),
        "y_max": pa.nulls(count, pa.float64()),
        "area": pa.nulls(count, pa.float64()),
        "source_ids": no_sources,
        "mask": pa.nulls(count, pa.string()),
        "track_index": pa.repeat(pa.scalar(base.track_index, pa.int32()), count),
    }


def with_frame_ids(rows: pa.Table, positions: np.ndarray, index: VideoIndex) -> pa.Table:
    """`rows` of one video with the id of the frame at each row's position."""
    at = rows.schema.get_field_index("frame_id")
    return rows.set_column(at, "frame_id", index.ids.take(pa.array(positions)))


def _table(columns: dict[str, Any]) -> pa.Table:
    return pa.Table.from_arrays([columns[f.name] for f in _ROWS], schema=_ROWS)
