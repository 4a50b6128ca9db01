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
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.ingest._labelbox_contexts import Video
from workbench.ingest.writer import json_text
from workbench.model.limits import MAX_COORDINATE
from workbench.model.records import GEOMETRY, ROI_SCHEMA

ROWS = pa.schema([f for f in ROI_SCHEMA if f.name != "visibility"])
# Keyframe corners this far inside the limit keep every interpolated corner inside it.
_SAFE_COORDINATE = MAX_COORDINATE * (1 - 1e-9)
# A box's ring from its corners (left, top, right, bottom): x, y, x1, y, x1, y1, x, y1.
_RING = np.array([0, 1, 2, 1, 2, 3, 0, 3])


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
    (n x 4: left, top, width, height) of every segment in turn, the attributes text of each
    keyframe (`texts[text_at[i]]`), per frame from each segment's first keyframe to its last
    whether it was imported (`imported`), the positions of those, and the index of each
    segment's last keyframe (`ends`; by default one segment)."""

    base: Base
    numbers: np.ndarray
    values: np.ndarray
    texts: list[str | None]
    text_at: np.ndarray
    imported: np.ndarray
    positions: np.ndarray
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if not len(self.ends):
            self.ends = np.array([len(self.numbers) - 1], dtype=np.int64)

    @classmethod
    def joined(cls, segments: list[Boxes]) -> Boxes:
        """The segments of one line as one part."""
        sizes = np.cumsum([0] + [len(s.numbers) for s in segments])
        texts = np.cumsum([0] + [len(s.texts) for s in segments])
        return cls(
            segments[0].base,
            np.concatenate([s.numbers for s in segments]),
            np.concatenate([s.values for s in segments]),
            [t for s in segments for t in s.texts],
            np.concatenate([s.text_at + t for s, t in zip(segments, texts, strict=False)]),
            np.concatenate([s.imported for s in segments]),
            np.concatenate([s.positions for s in segments]),
            np.concatenate([s.ends + n for s, n in zip(segments, sizes, strict=False)]),
        )


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
        column = self.video.column
        self.ids = pa.array(self.video.ids, pa.string()) if column is None else column
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
    stepped, held, offsets = _steps(nums, vals, ends)
    return nums[held] + offsets, stepped, held, offsets == 0


def _steps(
    nums: np.ndarray, vals: np.ndarray, ends: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`box_steps`' values, keyframe held from and offset from it (0: a keyframe) of every
    frame, without the frames' numbers."""
    counts = np.append(np.diff(nums), 1)
    if ends is not None:
        counts[ends] = 1
    held = np.repeat(np.arange(len(nums)), counts)
    starts = np.cumsum(counts) - counts
    offsets = np.arange(len(held))
    offsets -= starts[held]
    return _stepped(vals, counts, held, offsets, starts), held, offsets


def _stepped(
    vals: np.ndarray, counts: np.ndarray, held: np.ndarray, offsets: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """The values of every frame: `a + (b - a) * t` with t = offset / span, the float
    operations of `interpolated`, between the keyframe a frame holds from (`held`) and the
    next; a keyframe's own values as they are. `b - a` is taken once per keyframe."""
    delta = np.empty_like(vals)
    np.subtract(vals[1:], vals[:-1], out=delta[:-1])
    delta[-1:] = 0.0
    stepped = delta.take(held, axis=0)
    stepped *= (offsets / counts[held])[:, None]
    stepped += vals.take(held, axis=0)
    stepped[starts] = vals  # each keyframe's row
    return stepped


def box_segment(
    numbers: np.ndarray, values: np.ndarray, index: VideoIndex
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per frame of one segment (sorted keyframes in range) whether it was imported, and
    the positions of those that were; None when a keyframe's corner is near the coordinate
    limit (`box_rows` then checks each interpolated box)."""
    corners = np.abs(np.concatenate([values[:, :2], values[:, :2] + values[:, 2:]]))
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
    corners = np.column_stack([x, y, x1, y1])
    if corners.size and not (
        np.isfinite(corners).all() and np.abs(corners).max() <= MAX_COORDINATE
    ):
        return None
    count = len(positions)
    x_min, y_min = np.minimum(x, x1), np.minimum(y, y1)
    x_max, y_max = np.maximum(x, x1), np.maximum(y, y1)
    zero = (x_max <= x_min) | (y_max <= y_min)
    owner, every = np.zeros(count, dtype=np.int64), np.ones(count, dtype=bool)
    text_at = np.arange(count, dtype=np.int64)
    texts_array = pa.array(texts, pa.string())
    columns = _Columns(
        [base], owner, every, corners, np.arange(count), keyframe[keep], texts_array, text_at,
        zero,
    )  # fmt: skip
    return Rows(columns.table(text_at), positions, int(np.count_nonzero(zero)))


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
    """The rows of every video's parts (each with the number of its line in the write).

    Boxes and answers become one set of numpy columns that is sorted before any Arrow
    column is made; rows made one by one are merged in by a take of the whole table."""
    parts: list[tuple[int, int, Boxes | Answers]] = []
    tables: list[tuple[int, int, Rows]] = []
    zero = np.zeros(len(videos), dtype=np.int64)
    for v, placed in enumerate(videos):
        for line, part in placed:
            if isinstance(part, Rows):
                tables.append((v, line, part))
                zero[v] += part.zero_area
            else:
                parts.append((v, line, part))
    counts = np.array([len(p.positions) for _, _, p in parts], dtype=np.int64)
    owner = np.repeat(np.arange(len(parts)), counts)
    video = np.array([v for v, _, _ in parts], dtype=np.int64)[owner]
    lines = np.array([n for _, n, _ in parts], dtype=np.int64)[owner]
    positions = np.concatenate([p.positions for _, _, p in parts] or [np.zeros(0, np.int64)])
    columns = _Columns.of([p for _, _, p in parts], owner)
    zero += np.bincount(video, weights=columns.zero, minlength=len(videos)).astype(np.int64)
    if not tables:
        order = _order(video, positions, lines)
        return Made(columns.table(order), video[order], positions[order], zero)
    keys = [(video, positions, lines)] + [
        (np.full(len(t.positions), v), t.positions, np.full(len(t.positions), n))
        for v, n, t in tables
    ]
    video, positions, lines = (np.concatenate(k).astype(np.int64) for k in zip(*keys, strict=True))
    order = _order(video, positions, lines)
    whole = [columns.table(np.arange(len(owner))), *(t.table for _, _, t in tables)]
    rows = pa.concat_tables([t.cast(ROWS) for t in whole]).take(pa.array(order))
    return Made(rows, video[order], positions[order], zero)


def _order(video: np.ndarray, positions: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The rows sorted by video, position and line (as `np.lexsort` sorts them), by one
    integer key: the rows come as runs already sorted (a part's positions ascend), which a
    stable sort of one key merges faster than three sorts."""
    if not len(video):
        return np.zeros(0, dtype=np.int64)
    line_span = int(lines.max()) + 1
    position_span = int(positions.max()) + 1
    if (int(video.max()) + 1) * position_span * line_span >= 1 << 62:
        return np.lexsort((lines, positions, video))
    key = (video * position_span + positions) * line_span + lines
    return np.argsort(key, kind="stable")


@dataclass
class _Columns:
    """Per row of box and answer parts (in part order): its part, whether it is a box, the
    row of its box in `corners` (the boxes only, n x 4: left, top, right, bottom; -1 for
    answers), keyframe flag, attributes text (an index into `texts`)."""

    bases: list[Base]
    owner: np.ndarray
    box: np.ndarray
    corners: np.ndarray
    corners_at: np.ndarray
    keyframe: np.ndarray
    texts: pa.Array
    text_at: np.ndarray
    zero: np.ndarray

    @classmethod
    def of(cls, parts: list[Boxes | Answers], owner: np.ndarray) -> _Columns:
        count = len(owner)
        box = np.zeros(count, dtype=bool)
        corners = np.zeros((0, 4))
        corners_at = np.full(count, -1, dtype=np.int64)
        keyframe = np.zeros(count, dtype=bool)
        text_at = np.zeros(count, dtype=np.int64)
        zero = np.zeros(count, dtype=bool)
        is_box = np.array([isinstance(p, Boxes) for p in parts], dtype=bool)
        box = is_box[owner] if count else box
        texts: list[str | None] = []
        boxes = [p for p in parts if isinstance(p, Boxes)]
        if boxes:
            corners, held, is_key = _boxes(boxes)
            at = np.flatnonzero(box)
            corners_at[at], keyframe[at] = np.arange(len(at)), is_key
            first = np.cumsum([0] + [len(p.texts) for p in boxes[:-1]])
            kept = [p.text_at + n for p, n in zip(boxes, first, strict=True)]
            text_at[at] = np.concatenate(kept)[held]
            texts.extend(t for p in boxes for t in p.texts)
            # No area: max(x, x1) <= min(x, x1) is x == x1 (both false for NaN).
            zero[at] = (corners[:, 0] == corners[:, 2]) | (corners[:, 1] == corners[:, 3])
        answers = [p for p in parts if isinstance(p, Answers)]
        if answers:
            first = len(texts) + np.cumsum([0] + [len(p.texts) for p in answers[:-1]])
            held_at = [p.text_at + n for p, n in zip(answers, first, strict=True)]
            text_at[~box] = np.concatenate(held_at)
            texts.extend(t for p in answers for t in p.texts)
        bases = [p.base for p in parts]
        return cls(
            bases, owner, box, corners, corners_at, keyframe, pa.array(texts, pa.string()),
            text_at, zero,
        )  # fmt: skip

    def table(self, order: np.ndarray) -> pa.Table:
        """The rows in `order`; the boxes' rings are made in that order, from their corners."""
        at, owner = self.corners_at[order], self.owner[order]
        box, count = at >= 0, len(order)
        boxes = self.corners.take(at[box], axis=0)
        ring = boxes.take(_RING, axis=1)  # (a take, not indexing: several times faster)
        inner = pa.ListArray.from_arrays(
            pa.array(np.arange(0, 8 * len(ring) + 1, 8, dtype=np.int32)), pa.array(ring.ravel())
        )
        outer = np.zeros(count + 1, dtype=np.int32)
        np.cumsum(box, out=outer[1:])
        geometry = pa.ListArray.from_arrays(pa.array(outer), inner)
        every = len(boxes) == count
        # A box's value, null for an answer: one validity bitmap for every such column.
        validity = None if every else pa.py_buffer(np.packbits(box, bitorder="little"))
        nulls = count - len(boxes)
        sides = _sides(self.corners)

        def column(values: np.ndarray) -> pa.Array:
            """A box's value per row from its value per box (`values`, a 0 last: an answer's,
            at -1)."""
            return pa.Array.from_buffers(
                pa.float64(), count, [validity, pa.py_buffer(values.take(at))], null_count=nulls
            )

        keyframe = pa.Array.from_buffers(
            pa.bool_(), count,
            [validity, pa.py_buffer(np.packbits(self.keyframe[order], bitorder="little"))],
            null_count=nulls,
        )  # fmt: skip
        columns = _constant(self.bases, owner)
        kinds = pa.array(["box", "classification"], pa.string())
        texts = pc.dictionary_encode(self.texts)
        columns.update(
            kind=pa.DictionaryArray.from_arrays(pa.array((~box).view(np.int8)), kinds),
            geometry=geometry.cast(GEOMETRY),
            x_min=column(sides[0]),
            y_min=column(sides[1]),
            x_max=column(sides[2]),
            y_max=column(sides[3]),
            area=column((sides[2] - sides[0]) * (sides[3] - sides[1])),
            attributes=_coded(texts, pa.array(self.text_at[order])),
            keyframe=keyframe,
        )
        return _table(columns)


def _sides(corners: np.ndarray) -> np.ndarray:
    """Per box (corners n x 4: left, top, right, bottom) its x_min, y_min, x_max and y_max
    (4 x n + 1), each followed by a 0 (an answer's value, taken at -1)."""
    sides = np.zeros((4, len(corners) + 1))
    x, y, x1, y1 = corners.T
    np.minimum(x, x1, out=sides[0, :-1])
    np.minimum(y, y1, out=sides[1, :-1])
    np.maximum(x, x1, out=sides[2, :-1])
    np.maximum(y, y1, out=sides[3, :-1])
    return sides


def _boxes(parts: list[Boxes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The corners (n x 4: left, top, right, bottom) of box parts' frames, part after part,
    the keyframe each holds from (an index into the parts' texts) and whether it is a
    keyframe."""
    numbers = np.concatenate([p.numbers for p in parts])
    values = np.concatenate([p.values for p in parts])
    first = np.cumsum([0] + [len(p.numbers) for p in parts[:-1]])
    ends = np.concatenate([p.ends + n for p, n in zip(parts, first, strict=True)])
    vals = np.asarray(values, dtype=np.float64).reshape(len(numbers), 4)
    stepped, held, offsets = _steps(numbers, vals, ends)
    is_key = offsets == 0
    imported = np.concatenate([p.imported for p in parts])
    if not imported.all():
        stepped, held, is_key = stepped[imported], held[imported], is_key[imported]
    stepped[:, 2:] += stepped[:, :2]  # width, height -> right, bottom (x + w, y + h)
    return stepped, held, is_key


def _constant(bases: list[Base], owner: np.ndarray) -> dict[str, Any]:
    """The columns each row takes from its line's base (`owner`: the base of each row);
    the box's columns are `_Columns.table`'s."""
    count = len(owner)
    take = pa.array(owner, pa.int64())
    label = _coded(pc.dictionary_encode(pa.array([b.label for b in bases], pa.string())), take)
    plain = label.dictionary.take(label.indices)
    labels = pa.ListArray.from_arrays(pa.array(np.arange(count + 1, dtype=np.int32)), plain)
    no_sources = pa.ListArray.from_arrays(
        pa.array(np.zeros(count + 1, dtype=np.int32)), pa.array([], pa.string())
    )
    confidence = np.array([b.confidence for b in bases], dtype=np.float64)
    return {
        "frame_id": pa.nulls(count, pa.string()),  # set per video when written (`frame_ids`)
        "id": _coded(pc.dictionary_encode(pa.array([b.id for b in bases], pa.string())), take),
        "field": _coded(pc.dictionary_encode(pa.array([b.field for b in bases])), take),
        "label": label,
        "labels": labels,
        "confidence": pa.array(confidence[owner]),
        "source_ids": no_sources,
        "mask": pa.nulls(count, pa.string()),
        "track_index": pa.array([b.track_index for b in bases], pa.int32()).take(take),
    }


def _coded(values: pa.DictionaryArray, at: pa.Array) -> pa.DictionaryArray:
    """The values at `at` (each an index into `values`), as indices into the same distinct
    values: the rows of a write repeat few texts (a line's id, label and attributes on
    each of its frames), which the engine takes as they are rather than copied per row."""
    return pa.DictionaryArray.from_arrays(values.indices.take(at), values.dictionary)


def _table(columns: dict[str, Any]) -> pa.Table:
    """The rows in ROWS' column order; the repeated texts as dictionaries (`_coded`)."""
    return pa.Table.from_arrays([columns[f.name] for f in ROWS], names=ROWS.names)
