"""Labelbox export: a view's ROIs of one field as NDJSON, one line per object or answer."""

from __future__ import annotations

import json
import os
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.errors import IngestError
from workbench.ingest._labelbox_contexts import KINDS, Contexts
from workbench.ingest.export import ExportReport, written_atomically
from workbench.ingest.views import ViewLike
from workbench.model.keypoints import KeypointLabel
from workbench.store.keypoints import keypoint_labels

_OBJECT_KINDS = frozenset(KINDS)


def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    field: str = "predictions",
    data_rows: Mapping[str, str] | None = None,
    data_row_key: str = "globalKey",
) -> ExportReport:
    """Write the view's ROIs of `field` as Labelbox NDJSON, one line per object or answer.

    Boxes, points and polylines of one track become one object whose segments are runs of
    consecutive frames, written as their keyframes (interpolated ROIs are left for Labelbox
    to interpolate again); classification ROIs become answers over frame ranges; keypoints
    ROIs become one point object per labelled point, named by the point. The data row
    of a context is `{data_row_key: key}`, the key being the context id, or the dataRow key
    that `data_rows` maps to it.
    """
    if data_row_key not in ("globalKey", "id"):
        raise IngestError(f"data_row_key must be 'globalKey' or 'id', got {data_row_key!r}")
    target = Path(dest)
    if target.is_dir():
        target = target / f"{field}.ndjson"
    keys = {context: key for key, context in (data_rows or {}).items()}
    rois = view.rois()
    rois = rois.filter(pc.equal(rois["field"], field))
    plan = _ExportPlan(Contexts(view.catalog, None), _frame_contexts(view))
    plan.contexts.prefetch(context for context, _ in plan.frame_context.values())
    plan.keypoints = keypoint_labels(view.catalog.cursor())
    report = ExportReport(dest=target, files=[target])
    for batch in rois.to_batches():
        for row in batch.to_pylist():
            plan.add(row)
    with written_atomically(target) as out:
        lines = plan.lines(lambda context: {data_row_key: keys.get(context, context)})
        for line in tqdm(lines, desc="labelbox export", disable=not progress, leave=False):
            out.write(json.dumps(line) + "\n")
    report.frames, report.rois = len(plan.frames), plan.count
    report.skipped = [f"{n} {reason}" for reason, n in sorted(plan.skipped.items())]
    return report


def _frame_contexts(view: ViewLike) -> dict[str, tuple[str, str | None]]:
    """Frame id -> (context, the source the video shows: the frame's first source)."""
    compiled = view.compile()
    query = (
        "SELECT f.id, f.context_id, s.source FROM frames f LEFT JOIN (SELECT frame_id, "
        "arg_min(id, rowid) AS source FROM sources GROUP BY frame_id) s ON s.frame_id = f.id "
        f"WHERE f.id IN (SELECT id FROM ({compiled.sql}))"
    )
    rows = view.catalog.cursor().execute(query, list(compiled.params)).fetchall()
    return {frame_id: (context, source) for frame_id, context, source in rows}


_PARSED_KEPT = 10_000  # distinct attributes texts kept parsed


@dataclass
class _ExportPlan:
    """ROI rows sorted into objects (per track and kind) and answers (per uuid and value)."""

    contexts: Contexts
    frame_context: dict[str, tuple[str, str | None]]
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
            if len(self.attributes) >= _PARSED_KEPT:
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

    def lines(self, data_row: Any) -> Iterator[dict[str, Any]]:
        # Objects in track order, so that importing the file again numbers tracks the same.
        def order(item: tuple[tuple[Any, ...], dict[int, dict[str, Any]]]) -> tuple[Any, ...]:
            (context, _, _), track = item
            first = track[min(track)]
            index = first["track_index"]
            return (context, index is None, index if index is not None else 0, min(track))

        used: set[str] = set()
        for (context, uuid, _), track in sorted(self.objects.items(), key=order):
            runs = self.runs(context, sorted(track))
            yield _object_line(_unique(uuid, used), data_row(context), track, runs)
        for key, frames in _checklists_merged(self.answers):
            line = _answer_line(key, data_row(key[0]), frames, _unique(key[1], used))
            for part in [line, *(line["answer"] if isinstance(frames, dict) else [])]:
                if "frames" in part:
                    part["frames"] = _ranges(self.runs(key[0], part.pop("frames")))
            yield line

    def runs(self, context: str, numbers: Sequence[int]) -> list[list[int]]:
        """Frame numbers split into runs of frames that follow each other in the catalog
        (a video imported with frame_step=5 has frames 1, 6, 11, ...)."""
        order = sorted(self.numbers[context].values())
        position = {n: p for p, n in enumerate(order)}
        runs: list[list[int]] = []
        for n in sorted(numbers):
            if runs and position[n] == position[runs[-1][-1]] + 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        return runs


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
    values = [_clean(v) for v in row["geometry"][0]]
    tool = KINDS[row["kind"]]
    value: Any
    if tool == "bbox":
        xs, ys = values[0::2], values[1::2]
        left, top = min(xs), min(ys)
        value = {
            "top": top,
            "left": left,
            "height": _clean(max(ys) - top),
            "width": _clean(max(xs) - left),
        }
    else:
        points = [{"x": x, "y": y} for x, y in zip(values[0::2], values[1::2], strict=True)]
        value = points[0] if tool == "point" else points
    out = {"frame": number, tool: value}
    out["classifications"] = row["attributes"].get("classifications", [])
    return out


def _unique(uuid: str, used: set[str]) -> str:
    """`uuid`, or one derived from it when a line of the file has it already (Labelbox
    refuses a file whose uuids repeat)."""
    found, n = uuid, 0
    while found in used:
        n += 1
        found = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{uuid}#{n}"))
    used.add(found)
    return found


def _checklists_merged(
    answers: dict[tuple[Any, ...], set[int]],
) -> list[tuple[tuple[Any, ...], Any]]:
    """(key, frames) per answer line: the answers of one checklist (one uuid) on different
    frames become one line whose every option says its own frames; other answers keep a line
    each, in the order of their first frame."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    lines: list[tuple[tuple[Any, ...], Any]] = []
    for key, numbers in sorted(answers.items(), key=lambda kv: (kv[0][0], min(kv[1]))):
        context, uuid, name, answer, confidence, whole = key
        value = json.loads(answer)
        if whole or not isinstance(value, list):
            lines.append((key, sorted(numbers)))
            continue
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
    return float(f"{value:.12g}")
