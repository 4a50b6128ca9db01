"""Labelbox export: a view's ROIs of one field as NDJSON, one line per object or answer."""

from __future__ import annotations

import heapq
import json
import os
import re
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from workbench.errors import IngestError
from workbench.ingest import _labelbox_export_sql as sql
from workbench.ingest import narrow
from workbench.ingest._budget import held_to_budget
from workbench.ingest._labelbox_export_masks import Pictures, checked_url
from workbench.ingest._labelbox_export_rois import (
    CONTEXTS,
    PARSED_KEPT,
    Line,
    Tally,
    answer_lines,
    as_line,
    group_lines,
    groups,
)
from workbench.ingest.export import ExportReport, written_atomically
from workbench.ingest.views import ViewLike
from workbench.store.arrow import registered


@held_to_budget
def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    field: str = "predictions",
    data_rows: Mapping[str, str] | None = None,
    data_row_key: str = "globalKey",
    masks_url: str | None = None,
) -> ExportReport:
    """Write the view's ROIs of `field` as Labelbox NDJSON, one line per object or answer.

    Boxes, points and polylines of one track become one object whose segments are runs of
    consecutive frames, written as their keyframes (interpolated ROIs are left for Labelbox
    to interpolate again); classification ROIs become answers over frame ranges; keypoints
    ROIs become one point object per labelled point, named by the point. The data row
    of a context is `{data_row_key: key}`, the key being the context id, or the dataRow key
    that `data_rows` maps to it. Objects come first (by context, then track), answers after
    them. One statement writes a view of up to `_ROIS_PER_STATEMENT` ROIs of the field;
    larger views are written a group of contexts of about that many ROIs at a time.

    Mask ROIs become video masks lines whose pictures are beside the file, in
    `<file stem>-masks/` (copied; RLE masks painted): named by `file://localhost/...` URIs of
    the copies, or with `masks_url` (the URL the file's folder is uploaded to) by
    `<masks_url>/<file stem>-masks/<name>`.
    """
    base_url = checked_url(masks_url)
    if data_row_key not in ("globalKey", "id"):
        raise IngestError(f"data_row_key must be 'globalKey' or 'id', got {data_row_key!r}")
    target = Path(dest)
    if target.is_dir():
        target = target / f"{field}.ndjson"
    keys = {context: key for key, context in (data_rows or {}).items()}

    def data_row(context: str) -> dict[str, str]:
        return {data_row_key: keys.get(context, context)}

    tally = Tally()
    con = view.catalog.cursor()
    named = pa.table({"context_id": pa.array(list(keys), pa.string()),
                      "key": pa.array(list(keys.values()), pa.string())})  # fmt: skip
    try:
        with (
            narrow.field_rois(con, view, field, sql.ROI_COLUMNS) as (rois, params),
            registered(con, "_wb_lb_keys", named) if keys else nullcontext(),
            written_atomically(target) as out,
            _bar(progress) as bar,
        ):
            pictures = Pictures(target, view.catalog.media_roots, base_url)
            lines = _Lines(view, field, data_row, tally, pictures)
            for part, part_params in _statements(con, rois, params, field):
                query = sql.lines_query(part, data_row_key, keyed=bool(keys))
                result = con.execute(query, [*part_params, not _BY_SQL])
                lines.start([d[0] for d in result.description])
                for line in lines.objects(lines.ordered(result.fetchall())):
                    line_out(out, line, tally)
                    bar.update()
                for line in lines.odd_before(None):
                    line_out(out, line, tally)
                    bar.update()
            for line in lines.rest():
                line_out(out, line, tally)
                bar.update()
    finally:
        con.close()
    report = ExportReport(dest=target, files=[target])
    report.frames, report.rois = tally.frames, tally.count
    report.skipped = [f"{n} {reason}" for reason, n in sorted(tally.skipped.items())]
    return report


def _bar(progress: bool) -> Any:
    """A progress bar of the lines written (none, not even tqdm's lock, without progress)."""
    if progress:
        return tqdm(desc="labelbox export", unit=" lines", leave=False)
    return nullcontext(SimpleNamespace(update=lambda: None))


# Contexts are written by SQL (`_labelbox_export_sql`) unless they hold what only the
# ROI-by-ROI path writes exactly; False leaves them all to it (tests compare the two).
_BY_SQL = True
# The ROIs one statement holds at most, unless one context has more: memory stays bounded.
_ROIS_PER_STATEMENT = 250_000


def _statements(
    con: Any, rois: str, params: tuple[Any, ...], field: str
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The SELECT of the ROIs each statement reads: all of them when the catalog holds no
    more ROIs of the field than a statement does, else a group of contexts at a time (in
    context order, so that the object lines stay in it)."""
    (total,) = con.execute("SELECT count(*) FROM rois WHERE field = ?", [field]).fetchone()
    if total <= _ROIS_PER_STATEMENT:
        yield rois, params
        return
    sizes = con.execute(
        f"SELECT f.context_id, count(*) FROM ({rois}) r JOIN frames f "
        "ON f.frame_key = r.frame_key GROUP BY f.context_id ORDER BY f.context_id",
        list(params),
    ).fetchall()
    group: list[str] = []
    held = 0
    for n, (context, count) in enumerate(sizes):
        group.append(context)
        held += count
        if held >= _ROIS_PER_STATEMENT or n == len(sizes) - 1:
            named = pa.table({"context_id": pa.array(group, pa.string())})
            with registered(con, "_wb_lb_part", named):
                yield (
                    f"SELECT * FROM ({rois}) WHERE frame_key IN (SELECT frame_key FROM frames "
                    "WHERE context_id IN (SELECT context_id FROM _wb_lb_part))",
                    params,
                )
            group, held = [], 0


def line_out(out: Any, line: tuple[str, str, str], tally: Tally) -> None:
    """Write one line (its uuid, its JSON text after the uuid) with its uuid made unique."""
    uuid, rest = line[1], line[2]
    out.write('{"uuid": ' + json.dumps(_unique(uuid, tally.used)) + rest + "\n")


class _Lines:
    """The lines of the SQL statement's rows, in the order they are written, with those of
    the contexts left to the ROI-by-ROI path merged in by context."""

    def __init__(
        self,
        view: ViewLike,
        field: str,
        data_row: Callable[[str], Any],
        tally: Tally,
        pictures: Pictures,
    ) -> None:
        self.view, self.field, self.data_row, self.tally = view, field, data_row, tally
        self.pictures = pictures
        self.at: dict[str, int] = {}
        self.odd: list[str] = []
        self.left: Iterator[tuple[list[Line], list[Line]]] | None = None
        self.pending: list[Line] = []  # the ROI-by-ROI path's object lines not yet written
        self.odd_answers: list[Line] = []
        self.answers: dict[tuple[Any, ...], set[int]] = defaultdict(set)
        # Per context the (numbers, positions) of its answer rows, a list per answer.
        self.positions: dict[str, list[tuple[list[int], list[int]]]] = defaultdict(list)
        self.parsed = _Parsed()
        # The answer lines SQL wrote: (context, first frame number, order, line).
        self.written: list[tuple[str, int, int, Line]] = []

    def start(self, names: list[str]) -> None:
        """Read the rows of a statement whose columns are `names` (the lines of the one
        before have all been written)."""
        self.at = {name: n for n, name in enumerate(names)}
        self.odd, self.left, self.pending = [], None, []

    def ordered(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The statement's rows in the order they are written: sorted here, a few per line,
        rather than by the engine with every line's text beside its keys."""
        at = self.at
        part, context, index = at["part"], at["context_id"], at["track_index"]
        first, o = at["first"], at["o"]

        def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
            track = row[index]
            return (row[part], row[context] or "", track is None, track or 0, row[first] or 0,
                    row[o] or 0)  # fmt: skip

        return sorted(rows, key=key)

    def objects(self, rows: list[tuple[Any, ...]]) -> Iterator[Line]:
        at = self.at
        part, context = at["part"], at["context_id"]
        text_at, uuid, start, o = at["text"], at["uuid"], at["start"], at["o"]
        for row in rows:
            if row[part] == 0:
                self.odd.append(row[context])
            elif row[part] == 1:
                self.count(row[at["what"]], row[at["kind"]], row[at["n"]])
            elif row[part] == 2:
                yield from self.odd_before(row[context])
                text = row[text_at]
                yield self.object_line(row) if text is None else (row[context], row[uuid], text)
            elif row[text_at] is not None:
                self.written.append(
                    (row[context], row[start], row[o], (row[context], row[uuid], row[text_at]))
                )
            else:
                self.answer(row)

    def count(self, what: str, kind: str | None, n: int) -> None:
        if what == "kept" or what == "answer":
            self.tally.count += n
        elif what == "frames":
            self.tally.frames += n
        else:
            self.tally.skipped[_SKIPPED[what].format(kind, kind)] += n

    def object_line(self, row: tuple[Any, ...]) -> Line:
        at = self.at
        context, confidence = row[at["context_id"]], row[at["confidence"]]
        head: dict[str, Any] = {"dataRow": self.data_row(context), "name": row[at["label"]]}
        if confidence is not None and confidence != 1.0:
            head["confidence"] = confidence
        attrs = row[at["attrs"]]
        # Most objects have none: their attributes are not parsed for them.
        held = attrs is not None and ('"track_classifications"' in attrs or "\\" in attrs)
        head["classifications"] = (
            self.parsed(attrs).get("track_classifications", []) if held else []
        )
        segments = row[at["segments"]]
        if "\0" in segments:
            segments = _MARKED.sub(self.classifications, segments)
        return (
            context,
            row[at["uuid"]],
            ", " + json.dumps(head)[1:-1] + ', "segments": ' + (segments + "}"),
        )

    def classifications(self, marked: re.Match[str]) -> str:
        return json.dumps(self.parsed(marked.group(1)).get("classifications", []))

    def answer(self, row: tuple[Any, ...]) -> None:
        at = self.at
        context, answer = row[at["context_id"]], row[at["answer"]]
        value = json.dumps(json.loads(answer) if answer is not None else None)
        key = (context, row[at["uuid"]], row[at["label"]], value, row[at["confidence"]],
               row[at["whole"]])  # fmt: skip
        numbers = row[at["numbers"]]
        self.answers[key].update(numbers)
        self.positions[context].append((numbers, row[at["positions"]]))

    def odd_before(self, context: str | None) -> Iterator[Line]:
        """The ROI-by-ROI path's object lines of contexts before `context` (None: all)."""
        if self.left is None:
            self.left = self.odd_groups()
        while True:
            while self.pending and (context is None or self.pending[0][0] < context):
                yield self.pending.pop(0)
            if self.pending:
                return
            group = next(self.left, None)
            if group is None:
                return
            self.pending, self.odd_answers = group[0], self.odd_answers + group[1]

    def rest(self) -> Iterator[Line]:
        """The object lines left, then every answer line (by context, then first frame)."""
        yield from self.odd_before(None)
        places = {c: _Places.of(pairs) for c, pairs in self.positions.items()}
        found = answer_lines(self.answers, self.data_row, lambda c, ns: places[c].runs(ns))
        mine = (as_line(context, line) for context, line in found)
        written = (line for *_, line in sorted(self.written))
        yield from heapq.merge(mine, written, self.odd_answers, key=lambda line: line[0])

    def odd_groups(self) -> Iterator[tuple[list[Line], list[Line]]]:
        """Object and answer lines of the contexts left to the ROI-by-ROI path, a group of
        contexts at a time."""
        if not self.odd:
            return
        view = self.view
        ids = view.frames(columns=["id"]).column("id")
        table = pa.table({"id": ids, "o": pa.array(np.arange(len(ids), dtype=np.int64))})
        odd = pa.table({"context_id": pa.array(self.odd, pa.string())})
        con = view.catalog.cursor()
        try:
            with registered(con, "_wb_export_ids", table), registered(con, "_wb_lb_odd", odd):
                sizes = con.execute(CONTEXTS, [self.field]).fetchall()
                for group, _ in groups(sizes):
                    yield group_lines(
                        con, view, group, self.field, self.data_row, self.tally, self.pictures
                    )
        finally:
            con.close()


_MARKED = re.compile("\0([^\0]*)\0")


@dataclass(frozen=True)
class _Places:
    """A context's frame numbers (sorted) and their positions among its frames."""

    numbers: np.ndarray
    positions: np.ndarray

    @classmethod
    def of(cls, pairs: list[tuple[list[int], list[int]]]) -> _Places:
        numbers = np.concatenate([np.asarray(n, dtype=np.int64) for n, _ in pairs])
        positions = np.concatenate([np.asarray(p, dtype=np.int64) for _, p in pairs])
        numbers, first = np.unique(numbers, return_index=True)
        return cls(numbers, positions[first])

    def runs(self, numbers: Iterable[int]) -> list[list[int]]:
        """`runs_of` for numbers of this context, each run given by its first and last."""
        found = np.fromiter(numbers, dtype=np.int64)
        if len(found) > 1 and not (found[1:] > found[:-1]).all():
            found = np.unique(found)
        position = self.positions[np.searchsorted(self.numbers, found)]
        cut = np.flatnonzero(np.diff(position) != 1) + 1
        firsts = found[np.concatenate([[0], cut])].tolist()
        lasts = found[np.concatenate([cut - 1, [len(found) - 1]])].tolist()
        return [[a, b] for a, b in zip(firsts, lasts, strict=True)]


def _unique(uuid: str, used: set[str]) -> str:
    """`uuid`, or one derived from it when a line of the file has it already (Labelbox
    refuses a file whose uuids repeat)."""
    found, n = uuid, 0
    while found in used:
        n += 1
        found = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{uuid}#{n}"))
    used.add(found)
    return found


# Why ROIs are left out, by the reasons the SQL gives.
_SKIPPED = {
    "source": "ROIs drawn on another source than the video's (its first)",
    "label": "ROIs without a label",
    "no answer": "classification ROIs without an answer attribute",
    "again": "{} ROIs on a frame their track already has",
    "other": "{} ROIs (Labelbox video NDJSON has no {})",
}


class _Parsed:
    """Attributes texts parsed once per distinct text."""

    def __init__(self) -> None:
        self.found: dict[str, dict[str, Any]] = {}

    def __call__(self, text: str | None) -> dict[str, Any]:
        if not text:
            return {}
        if text not in self.found:
            if len(self.found) >= PARSED_KEPT:
                self.found.clear()
            self.found[text] = json.loads(text)
        return self.found[text]
