"""Labelbox NDJSON annotations of videos: import onto frames already in the catalog, export a view.

Each line is one annotation of one data row (a video): an object with `segments` of
`keyframes` (bbox, point or line per keyframe, optionally nested classifications), or a
classification with an `answer` (radio: an object, checklist: a list, free text: a string;
`answers` is accepted for checklists) over `frames` ranges, or over the whole video when it has
none. A data row is a context of the catalog and Labelbox frame n (1-based) is the context's
n-th frame in frame_index/timestamp order. See docs/formats/labelbox.md for the mapping.

Import replaces the ROIs of one label field on every frame of the videos it touches, so all
ROIs are gathered first (lines of one video may be spread over files) and written at the end.
Export is workbench.ingest._labelbox_export's.
"""

from __future__ import annotations

import itertools
import math
import os
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from tqdm.auto import tqdm

from workbench.errors import IngestError, RecordError
from workbench.ingest._labelbox_contexts import TOOLS, Contexts, Video
from workbench.ingest._labelbox_export import export_files
from workbench.ingest.imports import recorded
from workbench.ingest.jsonread import Unreadable, read_lines
from workbench.ingest.writer import CatalogWriter, IngestReport
from workbench.model.geometry import box_ring
from workbench.model.records import Roi
from workbench.model.validation import check_id, check_roi

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["export_files", "import_files"]


@dataclass
class _Collected:
    """ROIs gathered so far, per frame, and the track index of every object per context."""

    rois: dict[str, list[Roi]] = field(default_factory=lambda: defaultdict(list))
    ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    tracks: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    contexts: dict[str, None] = field(default_factory=dict)

    def keep(self, context_id: str, placed: Sequence[tuple[str, Roi]], where: str) -> None:
        """Store one line's ROIs, or none of them if one clashes with an earlier line or with
        another of its own (overlapping segments)."""
        mine: set[tuple[str, str]] = set()
        for frame_id, roi in placed:
            if roi.id in self.ids[frame_id]:
                raise RecordError(where, f"uuid {roi.id!r} is already on frame {frame_id!r}")
            if (frame_id, roi.id) in mine:
                raise RecordError(where, f"segments overlap on frame {frame_id!r}")
            mine.add((frame_id, roi.id))
        self.contexts[context_id] = None
        for frame_id, roi in placed:
            self.ids[frame_id].add(roi.id)
            self.rois[frame_id].append(roi)
            if roi.track_index is not None:
                self.tracks[context_id].setdefault(roi.id, roi.track_index)


@recorded("labelbox")
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    progress: bool = True,
    field: str = "predictions",
    data_rows: Mapping[str, str] | None = None,
) -> IngestReport:
    """Import Labelbox NDJSON video annotations as ROIs of `field` on frames in the catalog.

    `data_rows` maps dataRow ids or global keys to context ids; without it a data row's
    globalKey, else its id, must be the context_id of frames in the catalog. Every frame of
    each video named in the files gets its `field` ROIs replaced (emptied when the files have
    none for it). A bad line is reported with its file and line number and skipped whole.
    """
    files = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    contexts = Contexts(catalog, data_rows)
    collected = _Collected()
    with CatalogWriter(catalog, progress=progress, desc="labelbox import") as writer:
        for path in files:
            lines = tqdm(
                _lines(path), desc=path.name, unit="line", disable=not progress, leave=False
            )
            for where, line in lines:
                with writer.record(where):
                    context_id, placed = _annotation(line, where, contexts, collected, field)
                    collected.keep(context_id, placed, where)
        for context_id in collected.contexts:
            for frame_id in contexts.frames(context_id):
                rois = collected.rois.get(frame_id, [])
                writer.add_labels(frame_id, field, rois, where=f"context {context_id!r}")
    return writer.report


def _lines(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed line) for every non-blank line; a RecordError in place of a bad one."""
    if not path.is_file():
        raise IngestError(f"{path}: cannot be read (no such file)")
    try:
        for number, value in read_lines(path):
            where = f"{path}:{number}"
            if isinstance(value, Unreadable):
                problem = value.problem
                if value.syntax is not None:
                    problem = f"not valid JSON ({value.syntax.msg})"
                yield where, RecordError(where, problem)
            else:
                yield where, value
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror})") from exc


def _annotation(
    line: Any, where: str, contexts: Contexts, collected: _Collected, field_name: str
) -> tuple[str, list[tuple[str, Roi]]]:
    """The context of one NDJSON line and its ROIs, each with the frame it belongs to."""
    if isinstance(line, RecordError):
        raise line
    if not isinstance(line, dict):
        raise RecordError(where, "a line must be a JSON object")
    name = line.get("name") or line.get("schemaId")
    if not isinstance(name, str):
        raise RecordError(where, "an annotation needs a name (or a schemaId)")
    context_id = contexts.resolve(line.get("dataRow"))
    if context_id is None:
        raise RecordError(where, f"unknown data row {line.get('dataRow')!r}")
    video = contexts.video(context_id)
    uuid = line.get("uuid") or str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, where))
    uuid = check_id(uuid, "uuid", where)
    base = Roi(
        id=str(uuid),
        kind="classification",
        labels=[name],
        field=field_name,
        confidence=_confidence(line.get("confidence"), line.get("answer"), where),
        attributes={"uuid": uuid},
    )
    if "segments" in line:
        # Tracks are numbered per video in the order their objects first appear.
        known = collected.tracks[context_id]
        track = known.get(str(uuid), len(known))
        placed = _object(line, where, video, replace(base, track_index=track))
    elif "answer" in line or "answers" in line:
        placed = _classification(line, where, video, base)
    else:
        raise RecordError(where, "an annotation needs segments (an object) or an answer")
    for _, roi in placed:
        check_roi(roi, where)
    return context_id, placed


def _confidence(value: Any, answer: Any, where: str) -> float:
    # A radio answer may carry the model's confidence itself; none at all means certain.
    if value is None and isinstance(answer, dict):
        value = answer.get("confidence")
    if value is None:
        return 1.0
    if not _number(value) or not 0.0 <= value <= 1.0:
        raise RecordError(where, f"confidence must be a number in [0, 1], got {value!r}")
    return float(value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# -- objects -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Keyframe:
    number: int
    kind: str
    values: list[float]  # bbox: left, top, width, height; point/line: x0, y0, x1, y1...
    classifications: list[Any]


def _object(line: dict[str, Any], where: str, video: Video, base: Roi) -> list[tuple[str, Roi]]:
    segments = line["segments"]
    if not isinstance(segments, list) or not segments:
        raise RecordError(where, "segments must be a non-empty list")
    attributes = dict(base.attributes)
    if line.get("classifications"):
        attributes["track_classifications"] = _normalised(line["classifications"])
    placed: list[tuple[str, Roi]] = []
    kinds: set[str] = set()
    for number, segment in enumerate(segments):
        keyframes = segment.get("keyframes") if isinstance(segment, dict) else None
        if not isinstance(keyframes, list) or not keyframes:
            raise RecordError(where, f"segment {number} needs a non-empty keyframes list")
        parsed = sorted((_keyframe(k, where) for k in keyframes), key=lambda k: k.number)
        for keyframe in (parsed[0], parsed[-1]):  # before interpolating between them
            video.check(keyframe.number, where)
        kinds.update(k.kind for k in parsed)
        if len(kinds) > 1:
            raise RecordError(where, f"an object mixes kinds of geometry: {sorted(kinds)}")
        for previous, current in itertools.pairwise(parsed):
            if previous.number == current.number:
                raise RecordError(where, f"frame {current.number} is a keyframe twice")
        for step, is_keyframe in _interpolated(parsed):
            frame_id = video.numbers.get(step.number)
            if frame_id is None:
                continue  # a frame of the video not imported (frame_step)
            roi = replace(
                base,
                kind=step.kind,
                geometry=_geometry(step.kind, step.values),
                keyframe=is_keyframe,
                attributes=_with_classifications(attributes, step.classifications),
            )
            placed.append((frame_id, roi))
    return placed


def _keyframe(keyframe: Any, where: str) -> _Keyframe:
    if not isinstance(keyframe, dict) or "frame" not in keyframe:
        raise RecordError(where, "a keyframe needs a frame number")
    tools = [tool for tool in TOOLS if tool in keyframe]
    if len(tools) != 1:
        raise RecordError(where, f"keyframe {keyframe['frame']} needs one of bbox, point, line")
    tool, value = tools[0], keyframe[tools[0]]
    problem = f"keyframe {keyframe['frame']} has a malformed {tool}: {value!r}"
    if tool == "bbox":
        keys = ("left", "top", "width", "height")
        if not isinstance(value, dict) or not all(_number(value.get(k)) for k in keys):
            raise RecordError(where, problem)
        values = [float(value[k]) for k in keys]
        if values[2] < 0 or values[3] < 0:
            raise RecordError(where, problem)
    else:
        points = [value] if tool == "point" else value
        if not isinstance(points, list) or not all(_xy(p) for p in points):
            raise RecordError(where, problem)
        values = [float(p[axis]) for p in points for axis in ("x", "y")]
    frame = keyframe["frame"]
    if not _integer(frame):
        raise RecordError(where, f"frame number {frame!r} is not an integer")
    nested = _normalised(keyframe.get("classifications") or [])
    return _Keyframe(frame, TOOLS[tool], values, nested)


def _xy(point: Any) -> bool:
    return isinstance(point, dict) and _number(point.get("x")) and _number(point.get("y"))


def _interpolated(keyframes: Sequence[_Keyframe]) -> Iterator[tuple[_Keyframe, bool]]:
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


def _geometry(kind: str, values: list[float]) -> list[list[float]]:
    return [box_ring(*values)] if kind == "box" else [values]


def _with_classifications(attributes: dict[str, Any], nested: list[Any]) -> dict[str, Any]:
    return {**attributes, "classifications": nested} if nested else attributes


def _normalised(classifications: Any) -> list[Any]:
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
            item["answer"] = {**answer, "classifications": _normalised(answer["classifications"])}
        elif isinstance(answer, list):
            item["answer"] = [
                {**a, "classifications": _normalised(a["classifications"])}
                if isinstance(a, dict) and "classifications" in a
                else a
                for a in answer
            ]
        out.append(item)
    return out


def _normalised_answer(answer: Any) -> Any:
    return _normalised([{"answer": answer}])[0]["answer"]


# -- classifications ---------------------------------------------------------------------------
def _classification(
    line: dict[str, Any], where: str, video: Video, base: Roi
) -> list[tuple[str, Roi]]:
    """One ROI per frame the answer holds on; a whole-video answer sits on every frame, so
    that an export of any of them carries it."""
    answer = line["answer"] if "answer" in line else line["answers"]
    if isinstance(answer, str):
        kind, items = "text", []
    elif isinstance(answer, dict) and (answer.get("name") or answer.get("schemaId")):
        kind, items = "radio", [answer]
    elif isinstance(answer, list) and all(isinstance(a, dict) for a in answer):
        kind, items = "checklist", answer
    else:
        raise RecordError(where, f"answer must be a string, an object or a list, got {answer!r}")
    attributes = {**base.attributes, "type": kind}
    if "frames" not in line and not any("frames" in item for item in items):
        whole = {**attributes, "answer": _normalised_answer(answer), "global": True}
        roi = replace(base, attributes=whole)
        return [(frame_id, roi) for frame_id in video.ids]
    # Per frame, the answers that hold on it: ranges at the top or (newer files) per answer.
    active: dict[int, list[Any]] = defaultdict(list)
    for item in items or [answer]:
        ranges, held = line.get("frames"), item
        if isinstance(item, dict):
            ranges = item.get("frames", ranges)
            held = {k: v for k, v in item.items() if k != "frames"}
        for number in _frame_numbers(ranges, where, video.last):
            if number in video.numbers:
                active[number].append(_normalised_answer(held))
    placed = []
    for number in sorted(active):
        value = active[number] if kind == "checklist" else active[number][0]
        roi = replace(base, attributes={**attributes, "answer": value})
        placed.append((video.numbers[number], roi))
    return placed


def _frame_numbers(ranges: Any, where: str, count: int) -> list[int]:
    if not isinstance(ranges, list):
        raise RecordError(where, f"frames must be a list of {{start, end}}, got {ranges!r}")
    numbers: set[int] = set()
    for block in ranges:
        start, end = (block.get("start"), block.get("end")) if isinstance(block, dict) else (0, 0)
        if not (_integer(start) and _integer(end) and start <= end):
            raise RecordError(where, f"a frames range needs integers start <= end, got {block!r}")
        if start < 1 or end > count:
            # Checked before the range is expanded: [1, 10**12] must not become a list.
            raise RecordError(
                where,
                f"frames range {start}-{end} is out of range: the video's frames are 1 to {count}",
            )
        numbers.update(range(start, end + 1))
    return sorted(numbers)


def _integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
