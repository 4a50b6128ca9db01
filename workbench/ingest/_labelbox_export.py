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
    to interpolate again); classification ROIs become answers over frame ranges. The data row
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


def _frame_contexts(view: ViewLike) -> dict[str, str]:
    compiled = view.compile()
    query = f"SELECT id, context_id FROM frames WHERE id IN (SELECT id FROM ({compiled.sql}))"
    rows = view.catalog.cursor().execute(query, list(compiled.params)).fetchall()
    return dict(rows)


@dataclass
class _ExportPlan:
    """ROI rows sorted into objects (per track and kind) and answers (per uuid and value)."""

    contexts: Contexts
    frame_context: dict[str, str]
    objects: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    answers: dict[tuple[Any, ...], set[int]] = field(default_factory=lambda: defaultdict(set))
    numbers: dict[str, dict[str, int]] = field(default_factory=dict)
    frames: set[str] = field(default_factory=set)
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    count: int = 0

    def number(self, context: str, frame_id: str) -> int:
        if context not in self.numbers:
            ids = self.contexts.frames(context)
            self.numbers[context] = {fid: n for n, fid in enumerate(ids, start=1)}
        return self.numbers[context][frame_id]

    def add(self, row: dict[str, Any]) -> None:
        context = self.frame_context[row["frame_id"]]
        number = self.number(context, row["frame_id"])
        attributes = json.loads(row["attributes"]) if row["attributes"] else {}
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
        else:
            self.skipped[f"{row['kind']} ROIs (Labelbox video NDJSON has no {row['kind']})"] += 1
            return
        self.frames.add(row["frame_id"])
        self.count += 1

    def lines(self, data_row: Any) -> Iterator[dict[str, Any]]:
        # Objects in track order, so that importing the file again numbers tracks the same.
        def order(item: tuple[tuple[Any, ...], dict[int, dict[str, Any]]]) -> tuple[Any, ...]:
            (context, _, _), track = item
            first = track[min(track)]
            index = first["track_index"]
            return (context, index is None, index if index is not None else 0, min(track))

        for (context, uuid, _), track in sorted(self.objects.items(), key=order):
            yield _object_line(uuid, data_row(context), track)
        for key, numbers in sorted(self.answers.items(), key=lambda kv: (kv[0][0], min(kv[1]))):
            yield _answer_line(key, data_row(key[0]), sorted(numbers))


def _track_uuid(context: str, row: Mapping[str, Any]) -> str:
    uuid = row["attributes"].get("uuid")
    if isinstance(uuid, str) and uuid:
        return uuid
    if row["track_index"] is not None:
        return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{context}#{row['track_index']}"))
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{row['frame_id']}#{row['id']}"))


def _object_line(uuid: str, data_row: Any, track: dict[int, dict[str, Any]]) -> dict[str, Any]:
    numbers = sorted(track)
    first = track[numbers[0]]
    line: dict[str, Any] = {"uuid": uuid, "dataRow": data_row, "name": first["label"]}
    if first["confidence"] is not None and first["confidence"] != 1.0:
        line["confidence"] = first["confidence"]
    line["classifications"] = first["attributes"].get("track_classifications", [])
    segments = []
    for run in _runs(numbers):
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


def _answer_line(key: tuple[Any, ...], data_row: Any, numbers: list[int]) -> dict[str, Any]:
    _, uuid, name, answer, confidence, whole = key
    line: dict[str, Any] = {"uuid": uuid, "dataRow": data_row, "name": name}
    line["answer"] = json.loads(answer)
    if confidence is not None and confidence != 1.0:
        line["confidence"] = confidence
    if not whole:
        line["frames"] = [{"start": run[0], "end": run[-1]} for run in _runs(numbers)]
    return line


def _runs(numbers: Sequence[int]) -> list[list[int]]:
    """Sorted frame numbers split into runs of consecutive ones."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def _clean(value: float) -> float:
    """Drop the float noise of max - min so importing the file again gives the same numbers."""
    return float(f"{value:.12g}")
