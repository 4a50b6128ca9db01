"""Labelbox export ROI by ROI: the contexts the SQL statement leaves to Python (keypoints, masks,
attributes of another shape, a frame number given twice, a track twice on a frame), read a
group of contexts at a time and sorted into objects and answers by `_ExportPlan`; and what
both paths share to write answer lines (checklists merged, frames as ranges of runs)."""

from __future__ import annotations

import json
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest._labelbox_contexts import KINDS, Contexts
from workbench.ingest._labelbox_export_masks import Masks, MaskSkipped, Pictures, mask_of
from workbench.ingest.views import ViewLike
from workbench.model.keypoints import KeypointLabel
from workbench.store.arrow import registered
from workbench.store.keypoints import keypoint_labels

_OBJECT_KINDS = frozenset(KINDS)
# A line as (context, uuid, the JSON text after its uuid).
Line = tuple[str, str, str]

# The contexts of the view's frames in the order their objects are written, with their sizes.
CONTEXTS = """
SELECT f.context_id, count(*), coalesce(sum(r.n), 0)
FROM frames f JOIN _wb_export_ids w ON w.id = f.id
LEFT JOIN (SELECT frame_id, count(*) AS n FROM rois WHERE field = ? GROUP BY frame_id) r
    ON r.frame_id = f.id
WHERE f.context_id IN (SELECT context_id FROM _wb_lb_odd) GROUP BY f.context_id
ORDER BY f.context_id
"""
# A group of contexts whose ROIs are read at once ends past either size.
_FRAMES_PER_GROUP = 100_000
_ROIS_PER_GROUP = 100_000


@dataclass
class Tally:
    """What the export adds up to: uuids written, ROIs and frames written, ROIs skipped."""

    used: set[str] = field(default_factory=set)
    count: int = 0
    frames: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def groups(contexts: list[tuple[str, int, int]]) -> Iterator[tuple[list[str], int]]:
    group: list[str] = []
    held = rois = 0
    for context, frames, count in contexts:
        group.append(context)
        held += frames
        rois += count
        if held >= _FRAMES_PER_GROUP or rois >= _ROIS_PER_GROUP:
            yield group, held
            group, held, rois = [], 0, 0
    if group:
        yield group, held


def _group_rois(con: Any, view: ViewLike, group: list[str], field: str) -> pa.Table:
    """The view's ROIs of `field` on the group's frames, in the view's ROI order."""
    named = pa.table({"context_id": pa.array(group, pa.string())})
    with registered(con, "_wb_lb_group", named):
        ids = con.execute(
            "SELECT f.id FROM frames f JOIN _wb_export_ids w ON w.id = f.id "
            "WHERE f.context_id IN (SELECT context_id FROM _wb_lb_group) ORDER BY w.o"
        ).fetchall()
    rois = view.rois([i for (i,) in ids])
    return rois.filter(pc.equal(rois["field"], field))


def group_lines(
    con: Any,
    view: ViewLike,
    group: list[str],
    field: str,
    data_row: Callable[[str], Any],
    tally: Tally,
    pictures: Pictures,
) -> tuple[list[Line], list[Line]]:
    """The object lines (video masks among them) and the answer lines of a group of
    contexts, ROI by ROI."""
    rois = _group_rois(con, view, group, field)
    named = pa.table({"context_id": pa.array(group, pa.string())})
    with registered(con, "_wb_lb_group", named):
        plan = _ExportPlan(Contexts(view.catalog, None), _frame_contexts(con), pictures)
    plan.contexts.prefetch(group)
    plan.keypoints = keypoint_labels(view.catalog.cursor())
    for batch in rois.to_batches():
        for row in batch.to_pylist():
            plan.add(row)
    tally.count += plan.count
    tally.frames += len(plan.frames)
    for reason, n in plan.skipped.items():
        tally.skipped[reason] += n
    objects = [as_line(c, line) for c, line in plan.object_lines(data_row)]
    answers = [as_line(c, line) for c, line in plan.answer_lines(data_row)]
    return objects, answers


def as_line(context: str, line: dict[str, Any]) -> Line:
    """A line's dict (its uuid first) as (context, uuid, the JSON text after its uuid)."""
    uuid = line.pop("uuid")
    return context, uuid, ", " + json.dumps(line)[1:]


def _frame_contexts(con: Any) -> dict[str, tuple[str, str | None]]:
    """Frame id -> (context, the source the video shows: the frame's first source), for the
    view's frames of the group's contexts."""
    query = (
        "SELECT f.id, f.context_id, s.source FROM frames f JOIN _wb_export_ids w ON w.id = f.id "
        "LEFT JOIN (SELECT frame_id, arg_min(id, rowid) AS source FROM sources GROUP BY "
        "frame_id) s ON s.frame_id = f.id "
        "WHERE f.context_id IN (SELECT context_id FROM _wb_lb_group)"
    )
    return {
        frame_id: (context, source) for frame_id, context, source in con.execute(query).fetchall()
    }


PARSED_KEPT = 10_000  # distinct attributes texts kept parsed


@dataclass
class _ExportPlan:
    """ROI rows sorted into objects (per track and kind) and answers (per uuid and value)."""

    contexts: Contexts
    frame_context: dict[str, tuple[str, str | None]]
    pictures: Pictures
    masks: Masks = field(default_factory=Masks)
    objects: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    answers: dict[tuple[Any, ...], set[int]] = field(default_factory=lambda: defaultdict(set))
    numbers: dict[str, dict[str, int]] = field(default_factory=dict)
    frames: set[str] = field(default_factory=set)
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    count: int = 0
    keypoints: Mapping[str, KeypointLabel] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)

    def number(self, context: str, frame_id: str) -> int:
        if context not in self.numbers:
            self.numbers[context] = self.contexts.video(context).number_of()
        return self.numbers[context][frame_id]

    def parsed(self, text: str | None) -> dict[str, Any]:
        """An attributes text parsed, once per distinct text (the ROIs of one object or
        answer share theirs); the parsed values are only read, never changed."""
        if not text:
            return {}
        found = self.attributes.get(text)
        if found is None:
            if len(self.attributes) >= PARSED_KEPT:
                self.attributes.clear()
            found = self.attributes[text] = json.loads(text)
        return found

    def add(self, row: dict[str, Any]) -> None:
        context, source = self.frame_context[row["frame_id"]]
        if row["source_ids"] and source not in row["source_ids"]:
            # A data row is one video: the frames' first source. Another camera's ROIs
            # would be drawn on the wrong pictures.
            self.skipped["ROIs drawn on another source than the video's (its first)"] += 1
            return
        number = self.number(context, row["frame_id"])
        attributes = self.parsed(row["attributes"])
        row["attributes"] = attributes
        if row["label"] is None:
            self.skipped["ROIs without a label"] += 1
            return
        if row["kind"] == "classification":
            if "answer" not in attributes:
                self.skipped["classification ROIs without an answer attribute"] += 1
                return
            key = (
                context,
                str(attributes.get("uuid") or row["id"]),
                row["label"],
                json.dumps(attributes.get("answer")),
                row["confidence"],
                bool(attributes.get("global")),
            )
            self.answers[key].add(number)
        elif row["kind"] in _OBJECT_KINDS:
            track = self.objects[(context, _track_uuid(context, row), row["kind"])]
            if number in track:
                self.skipped[f"{row['kind']} ROIs on a frame their track already has"] += 1
                return
            track[number] = row
        elif row["kind"] == "keypoints":
            if not self.add_keypoints(context, number, row):
                return
        elif row["kind"] == "mask":
            if not self.add_mask(context, number, row):
                return
        else:
            self.skipped[f"{row['kind']} ROIs (Labelbox video NDJSON has no {row['kind']})"] += 1
            return
        self.frames.add(row["frame_id"])
        self.count += 1

    def add_keypoints(self, context: str, number: int, row: dict[str, Any]) -> bool:
        """A point object per labelled point (named by the point, its track the ROI's track
        and the point's name); False when the ROI is skipped."""
        names = self.keypoints.get(row["label"])
        if names is None:
            self.skipped["keypoints ROIs whose label has no point names"] += 1
            return False
        ring, visibility = row["geometry"][0] if row["geometry"] else [], row["visibility"] or []
        labelled = [
            n for n, v in enumerate(visibility[: len(names.names)]) if v and 2 * n < len(ring)
        ]
        if not labelled:
            self.skipped["keypoints ROIs without a labelled point"] += 1
            return False
        base = _track_uuid(context, row)
        tracks = []
        for n in labelled:
            uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{base}#{names.names[n]}"))
            tracks.append(self.objects[(context, uuid, "point")])
            if number in tracks[-1]:
                self.skipped["keypoints ROIs on a frame their track already has"] += 1
                return False
        for n, track in zip(labelled, tracks, strict=True):
            point = [ring[2 * n], ring[2 * n + 1]]
            track[number] = {**row, "kind": "point", "label": names.names[n], "geometry": [point]}
        return True

    def add_mask(self, context: str, number: int, row: dict[str, Any]) -> bool:
        """A mask ROI as an instance of a video masks line, its picture copied beside the
        export (an RLE mask's written with its line's); False when it is skipped."""
        try:
            found = mask_of(row["mask"])
            uuid = _track_uuid(context, row)
            if isinstance(found, dict):
                self.masks.add_rle(context, uuid, number, row, found)
            else:
                uri = self.pictures.uri(found[0])
                self.masks.add(context, uuid, number, row, found[1], uri)
        except MaskSkipped as exc:
            self.skipped[exc.reason] += 1
            return False
        return True

    def object_lines(self, data_row: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        # Objects (and masks) in track order, so that importing the file again numbers
        # tracks the same.
        found: list[tuple[tuple[Any, ...], str, dict[str, Any]]] = []
        for (context, uuid, _), track in self.objects.items():
            first = track[min(track)]
            index = first["track_index"]
            key = (context, index is None, index if index is not None else 0, min(track))
            runs = self.runs(context, sorted(track))
            found.append((key, context, _object_line(uuid, data_row(context), track, runs)))
        for key, context, uuid, body in self.masks.lines(self.pictures):
            found.append((key, context, {"uuid": uuid, "dataRow": data_row(context), **body}))
        found.sort(key=lambda item: item[0])
        for _, context, line in found:
            yield context, line

    def answer_lines(self, data_row: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        return answer_lines(self.answers, data_row, self.runs)

    def runs(self, context: str, numbers: Iterable[int]) -> list[list[int]]:
        """Frame numbers split into runs of frames that follow each other in the catalog
        (a video imported with frame_step=5 has frames 1, 6, 11, ...)."""
        order = sorted(self.numbers[context].values())
        return runs_of(numbers, {n: p for p, n in enumerate(order)})


def runs_of(numbers: Iterable[int], position: Mapping[int, int]) -> list[list[int]]:
    """Frame numbers in runs whose `position`s among their context's frames follow each other."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and position[n] == position[runs[-1][-1]] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def answer_lines(
    answers: dict[tuple[Any, ...], set[int]],
    data_row: Callable[[str], Any],
    runs: Callable[[str, Iterable[int]], list[list[int]]],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(context, answer line) in the order they are written (uuids not yet made unique),
    frames given as ranges of runs."""
    for key, frames in _checklists_merged(answers):
        line = _answer_line(key, data_row(key[0]), frames, key[1])
        for part in [line, *(line["answer"] if isinstance(frames, dict) else [])]:
            if "frames" in part:
                part["frames"] = _ranges(runs(key[0], part.pop("frames")))
        yield key[0], line


def _track_uuid(context: str, row: Mapping[str, Any]) -> str:
    uuid = row["attributes"].get("uuid")
    if isinstance(uuid, str) and uuid:
        return uuid
    if row["track_index"] is not None:
        return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{context}#{row['track_index']}"))
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{row['frame_id']}#{row['id']}"))


def _object_line(
    uuid: str, data_row: Any, track: dict[int, dict[str, Any]], runs: list[list[int]]
) -> dict[str, Any]:
    first = track[min(track)]
    line: dict[str, Any] = {"uuid": uuid, "dataRow": data_row, "name": first["label"]}
    if first["confidence"] is not None and first["confidence"] != 1.0:
        line["confidence"] = first["confidence"]
    line["classifications"] = first["attributes"].get("track_classifications", [])
    segments = []
    for run in runs:
        # A segment keeps its keyframes and its ends; Labelbox interpolates in between.
        kept = [n for n in run if track[n]["keyframe"] is not False or n in (run[0], run[-1])]
        segments.append({"keyframes": [_keyframe_json(n, track[n]) for n in kept]})
    line["segments"] = segments
    return line


def _keyframe_json(number: int, row: Mapping[str, Any]) -> dict[str, Any]:
    ring = row["geometry"][0]
    tool = KINDS[row["kind"]]
    value: Any
    if tool == "bbox":
        # _clean rounds monotonically: the least of the cleaned values is the least cleaned.
        xs, ys = ring[0::2], ring[1::2]
        left, top = _clean(min(xs)), _clean(min(ys))
        value = {
            "top": top,
            "left": left,
            "height": _clean(_clean(max(ys)) - top),
            "width": _clean(_clean(max(xs)) - left),
        }
    else:
        values = [_clean(v) for v in ring]
        points = [{"x": x, "y": y} for x, y in zip(values[0::2], values[1::2], strict=True)]
        value = points[0] if tool == "point" else points
    out = {"frame": number, tool: value}
    out["classifications"] = row["attributes"].get("classifications", [])
    return out


def _checklists_merged(
    answers: dict[tuple[Any, ...], set[int]],
) -> list[tuple[tuple[Any, ...], Any]]:
    """(key, frames) per answer line: the answers of one checklist (one uuid) on different
    frames become one line whose every option says its own frames, and so do the texts of one
    text classification held on frames; other answers keep a line each, in the order of their
    first frame."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    lines: list[tuple[tuple[Any, ...], Any]] = []
    for key, numbers in sorted(answers.items(), key=lambda kv: (kv[0][0], min(kv[1]))):
        context, uuid, name, answer, confidence, whole = key
        value = json.loads(answer)
        if whole or not isinstance(value, list | str):
            lines.append((key, sorted(numbers)))
            continue
        if isinstance(value, str):
            # A text on frames is written as Labelbox's SDK writes it (NDVideoText): each text
            # with its frames; its NDText reads a top-level `frames` as no frames at all.
            value = [{"value": value}]
        group = (context, uuid, name, confidence)
        if group not in merged:
            merged[group] = {}
            lines.append(((context, uuid, name, None, confidence, False), merged[group]))
        options = merged[group]
        for option in value:
            text = json.dumps(option, sort_keys=True)
            options.setdefault(text, set()).update(numbers)
    return lines


def _answer_line(key: tuple[Any, ...], data_row: Any, frames: Any, uuid: str) -> dict[str, Any]:
    _, _, name, answer, confidence, whole = key
    line: dict[str, Any] = {"uuid": uuid, "dataRow": data_row, "name": name}
    if isinstance(frames, dict):  # a checklist: each option with its own frames
        line["answer"] = [
            {**json.loads(option), "frames": sorted(numbers)} for option, numbers in frames.items()
        ]
    else:
        line["answer"] = json.loads(answer)
        if not whole:
            line["frames"] = list(frames)
    if confidence is not None and confidence != 1.0:
        line["confidence"] = confidence
    return line


def _ranges(runs: list[list[int]]) -> list[dict[str, int]]:
    return [{"start": run[0], "end": run[-1]} for run in runs]


def _clean(value: float) -> float:
    """Drop the float noise of max - min so importing the file again gives the same numbers."""
    if value.is_integer() and -1e12 < value < 1e12:
        return value  # 12 digits at most: printed and read back as it is
    return float(f"{value:.12g}")
