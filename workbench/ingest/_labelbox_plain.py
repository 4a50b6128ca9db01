"""The usual Labelbox line, an object whose every keyframe is a plain box, checked and placed
for a whole chunk of lines at once.

A line's fields are read in Python (a walk over its dicts, no numpy), then the keyframes of
every such line of the chunk are checked, sorted and placed by a few numpy operations over
all of them: numbers in the video and each once per segment, boxes finite and inside the
coordinate limit, the frames each segment spans found in its video, segments of one line
not overlapping. A line that any of this refuses, or that is not of that shape, is left to
`workbench.ingest.labelbox`'s per-line path, which places it or rejects it with its error
(file and line) exactly as it would have anyway; what this module places is what that path
would have placed.
"""

from __future__ import annotations

import itertools
import operator
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from workbench.errors import RecordError
from workbench.ingest._labelbox_contexts import Contexts
from workbench.ingest._labelbox_keyframes import is_number
from workbench.ingest._labelbox_rows import _SAFE_COORDINATE, VideoIndex, attributes_text
from workbench.model.limits import MAX_LABEL_LENGTH
from workbench.model.validation import check_id, check_text

__all__ = ["PlainLine", "plain_lines"]

_BOX_KEYS = ("left", "top", "width", "height")
_FRAME, _BBOX = operator.itemgetter("frame"), operator.itemgetter("bbox")
_CORNERS = operator.itemgetter(*_BOX_KEYS)


class PlainLine(NamedTuple):
    """A plain box object placed: its keyframes sorted per segment (`numbers`, `values`
    n x 4, `ends` the index of each segment's last keyframe), per frame a segment spans
    whether it was imported, the positions of those (`positions`, segment after segment) and
    the same sorted (`taken`: no position twice)."""

    context_id: str
    uuid: str
    name: str
    confidence: float
    text: str | None
    numbers: np.ndarray
    values: np.ndarray
    ends: np.ndarray
    imported: np.ndarray
    positions: np.ndarray
    taken: np.ndarray


@dataclass
class _Read:
    """What a line's dicts give, before the checks on arrays."""

    at: int
    context_id: str
    uuid: str
    name: str
    confidence: float
    text: str | None
    frames: list[Any]
    boxes: list[Any]
    sizes: list[int]


class _NotPlain(Exception):
    """The line is not a plain box object (the per-line path takes it)."""


def plain_lines(
    chunk: Sequence[tuple[str, Any]],
    contexts: Contexts,
    indexes: dict[str, VideoIndex],
    names: set[str],
) -> dict[int, PlainLine]:
    """The lines of `chunk` (by their index in it) that are plain box objects and pass
    every check, placed. `indexes` are the videos' frames as the import holds them (taken
    from and added to); `names` the labels known to be valid (added to)."""
    read: list[_Read] = []
    for at, (where, line) in enumerate(chunk):
        try:
            read.append(_read(at, where, line, contexts, names))
        except (_NotPlain, RecordError):
            continue
    if not read:
        return {}
    try:
        numbers = np.array([f for r in read for f in r.frames], dtype=np.int64)
        values = np.array([b for r in read for b in r.boxes], dtype=np.float64).reshape(-1, 4)
    except OverflowError:  # a number beyond int64 or float: the per-line path names it
        return {}
    for r in read:
        if r.context_id not in indexes:
            indexes[r.context_id] = VideoIndex(contexts.video(r.context_id))
    return _placed(read, numbers, values, [indexes[r.context_id] for r in read])


def _read(at: int, where: str, line: Any, contexts: Contexts, names: set[str]) -> _Read:
    """A line's fields when it is an object of plain box segments (_NotPlain otherwise),
    checked as `labelbox._annotation` checks them."""
    if type(line) is not dict or "segments" not in line or line.get("classifications"):
        raise _NotPlain
    name = line.get("name") or line.get("schemaId")
    if type(name) is not str:
        raise _NotPlain
    context_id = contexts.resolve(line.get("dataRow"))
    if context_id is None:
        raise _NotPlain
    given = line.get("uuid") or str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, where))
    uuid = check_id(given, "uuid", where)
    if name not in names:
        check_text(name, "label", where, MAX_LABEL_LENGTH)
        names.add(name)
    confidence = line.get("confidence")
    answer = line.get("answer")
    if confidence is None and isinstance(answer, dict):
        confidence = answer.get("confidence")
    if confidence is None:
        confidence = 1.0
    elif not is_number(confidence) or not 0.0 <= confidence <= 1.0:
        raise _NotPlain
    segments = line["segments"]
    if type(segments) is not list or not segments:
        raise _NotPlain
    lists: list[Any] = [s.get("keyframes") if type(s) is dict else None for s in segments]
    if not all(type(keyframes) is list and keyframes for keyframes in lists):
        raise _NotPlain
    frames, boxes = _keyframes(list(itertools.chain.from_iterable(lists)))
    sizes = list(map(len, lists))
    text = attributes_text({"uuid": uuid}, where)
    return _Read(at, context_id, uuid, name, float(confidence), text, frames, boxes, sizes)


def _keyframes(keyframes: list[Any]) -> tuple[list[Any], list[Any]]:
    """The frame numbers and the box values (left, top, width, height, keyframe after
    keyframe) of keyframes that are each a `frame` integer and a `bbox` of four integers or
    floats, nothing else (_NotPlain otherwise); checked by builtins mapped over them all
    rather than a Python loop per keyframe."""
    try:
        if set(map(type, keyframes)) != {dict} or set(map(len, keyframes)) != {2}:
            raise _NotPlain
        frames = list(map(_FRAME, keyframes))
        given = list(map(_BBOX, keyframes))
        if set(map(type, given)) != {dict} or set(map(len, given)) != {4}:
            raise _NotPlain
        values = list(itertools.chain.from_iterable(map(_CORNERS, given)))
    except KeyError:
        raise _NotPlain from None
    if set(map(type, frames)) != {int} or not set(map(type, values)) <= {int, float}:
        raise _NotPlain
    return frames, values


def _placed(
    read: list[_Read], numbers: np.ndarray, values: np.ndarray, videos: list[VideoIndex]
) -> dict[int, PlainLine]:
    """The lines `read` whose keyframes (`numbers`, `values` of every line in turn) pass the
    checks, placed in their videos."""
    sizes = np.array([s for r in read for s in r.sizes], dtype=np.int64)
    per_line = np.array([len(r.sizes) for r in read], dtype=np.int64)
    segment_line = np.repeat(np.arange(len(read)), per_line)
    segment = np.repeat(np.arange(len(sizes)), sizes)
    order = np.lexsort((numbers, segment))  # per segment by number, stably as `sorted`
    numbers, values = numbers[order], values[order]
    ends = np.cumsum(sizes) - 1
    starts = ends - sizes + 1
    first, last = numbers[starts], numbers[ends]
    bad = np.zeros(len(read), dtype=bool)
    # Refused as plain_boxes / Video.check / _check_segment / box_segment refuse them.
    lasts = np.array([v.video.last for v in videos], dtype=np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        corners = np.abs(np.concatenate([values[:, :2], values[:, :2] + values[:, 2:]], axis=1))
        keyframe_bad = ~np.isfinite(values).all(axis=1) | (values[:, 2:] < 0).any(axis=1)
        keyframe_bad |= ~(corners.max(axis=1) <= _SAFE_COORDINATE)
    twice = np.zeros(len(numbers), dtype=bool)
    twice[1:] = (numbers[1:] == numbers[:-1]) & (segment[1:] == segment[:-1])
    keyframe_bad |= twice
    segment_bad = np.add.reduceat(keyframe_bad, starts) > 0 if len(starts) else keyframe_bad
    segment_bad |= (first < 1) | (last > lasts[segment_line])
    np.logical_or.at(bad, segment_line, segment_bad)
    good = ~bad[segment_line]
    found = _spans(first[good], last[good], segment_line[good], videos)
    return _lines(read, numbers, values, sizes, per_line, good, found, bad)


def _spans(
    first: np.ndarray, last: np.ndarray, line: np.ndarray, videos: list[VideoIndex]
) -> np.ndarray:
    """Per segment, the position in its video of every frame number from `first` to `last`
    (-1: not imported), segment after segment."""
    distinct: dict[int, int] = {}
    lookups: list[np.ndarray] = []
    offsets = np.zeros(len(videos), dtype=np.int64)
    held = 0
    for number, video in enumerate(videos):
        key = id(video)
        if key not in distinct:
            distinct[key] = held
            lookups.append(video.lookup)
            held += len(video.lookup)
        offsets[number] = distinct[key]
    lengths = last - first + 1
    total = int(lengths.sum())
    begin = np.repeat(offsets[line] + first - (np.cumsum(lengths) - lengths), lengths)
    return np.concatenate(lookups)[begin + np.arange(total)] if total else np.zeros(0, np.int64)


def _lines(
    read: list[_Read],
    numbers: np.ndarray,
    values: np.ndarray,
    sizes: np.ndarray,
    per_line: np.ndarray,
    good: np.ndarray,
    found: np.ndarray,
    bad: np.ndarray,
) -> dict[int, PlainLine]:
    """The lines not `bad` as PlainLines; a line whose segments share a frame is left out."""
    line_keyframes = np.add.reduceat(sizes, np.cumsum(per_line) - per_line)
    key_start = np.cumsum(line_keyframes) - line_keyframes
    seg_start = np.cumsum(per_line) - per_line
    kept = np.flatnonzero(~bad)
    if not len(kept):
        return {}
    # Spans (found) per kept line: the frames from each segment's first keyframe to its last.
    spans = (numbers[np.cumsum(sizes) - 1] - numbers[np.cumsum(sizes) - sizes] + 1)[good]
    kept_segments = per_line[kept]
    span_of_line = np.add.reduceat(spans, np.cumsum(kept_segments) - kept_segments)
    span_start = np.cumsum(span_of_line) - span_of_line
    imported = found >= 0
    before = np.zeros(len(imported) + 1, dtype=np.int64)  # imported frames before each one
    np.cumsum(imported, out=before[1:])
    positions = found[imported]
    line_of_frame = np.repeat(np.arange(len(kept)), span_of_line)[imported]
    ranked, counts, overlapping = _ranked(positions, line_of_frame, len(kept))
    pos_start = np.cumsum(counts) - counts
    # Each segment's last keyframe counted from its line's first keyframe (Boxes.ends).
    ends = np.cumsum(sizes) - 1 - np.repeat(key_start, per_line)
    span_end = span_start + span_of_line
    bounds = zip(
        kept.tolist(),
        overlapping.tolist(),
        key_start[kept].tolist(),
        (key_start + line_keyframes)[kept].tolist(),
        seg_start[kept].tolist(),
        (seg_start + per_line)[kept].tolist(),
        span_start.tolist(),
        span_end.tolist(),
        before[span_start].tolist(),
        before[span_end].tolist(),
        pos_start.tolist(),
        (pos_start + counts).tolist(),
        strict=True,
    )
    out: dict[int, PlainLine] = {}
    for n, overlaps, ks, ke, es, ee, ss, se, fs, fe, ps, pe in bounds:
        if overlaps:
            continue
        r = read[n]
        out[r.at] = PlainLine(
            r.context_id, r.uuid, r.name, r.confidence, r.text, numbers[ks:ke], values[ks:ke],
            ends[es:ee], imported[ss:se], positions[fs:fe], ranked[ps:pe],
        )  # fmt: skip
    return out


def _ranked(
    positions: np.ndarray, line: np.ndarray, lines: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The positions of each line (`line`: of each position) sorted, line after line, as
    int32; how many each line has; whether a line has a position twice. Positions that
    rise within every line (one segment each, or segments in frame order) are already so."""
    counts = np.bincount(line, minlength=lines)
    rising = (positions[1:] > positions[:-1]) | (line[1:] != line[:-1])
    if rising.all():
        return positions.astype(np.int32), counts, np.zeros(lines, dtype=bool)
    order = np.lexsort((positions, line))
    ranked, owner = positions[order], line[order]
    twice = np.zeros(len(ranked), dtype=bool)
    twice[1:] = (ranked[1:] == ranked[:-1]) & (owner[1:] == owner[:-1])
    overlapping = np.bincount(owner[twice], minlength=lines) > 0
    return ranked.astype(np.int32), counts, overlapping
