"""Nucleus annotations put on the frames (or scenes) they name, a chunk of the files at a time
(workbench.ingest.nucleus_annotations): ROI ids, track indexes and keypoints' names checked
against what the catalog and the import hold, and each frame's new ROIs of the field written
in one label write (`CatalogWriter.write_labels`).

A chunk holds, in file order, stretches of ROI rows that SQL read (_nucleus_annotation_sql)
and annotations the per-record path read (_nucleus_payloads); both are placed by the same
rules, on plain values (no ROI object is made for a row SQL read): by SQL
(_nucleus_annotation_place) when the chunk holds rows SQL read, else by a loop, one
annotation after the other. A frame the import gave ROIs in an earlier chunk keeps them, and the new ones are
added, so memory holds one chunk whatever the files' size and order. An annotation given an
annotation_id takes it, and a segmentation its segments' `<id>/<n>` too; the ids made for
annotations without one skip every id the frame holds then (a segmentation's, whose segments
an earlier chunk stored, among them); an annotation_id that an earlier chunk took for another
annotation of the frame is refused as given twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.ingest._columnar import MemoryEngine
from workbench.ingest._nucleus_annotation_place import (
    free_id,
    held,
    no_frame,
    place_rows,
    take,
    twice,
)
from workbench.ingest._nucleus_annotation_rows import Output, Rows
from workbench.ingest._nucleus_payloads import EXTRA, Annotation
from workbench.ingest.report import is_record_failure, record_error
from workbench.ingest.writer import CatalogWriter
from workbench.model.keypoints import KeypointLabel
from workbench.model.limits import MAX_ROIS_PER_FRAME
from workbench.model.records import Roi
from workbench.model.validation import check_text
from workbench.store.arrow import registered
from workbench.store.keypoints import keypoint_labels

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["CHUNK", "Placing", "Rows"]

CHUNK = 100_000  # annotations read before they are placed and written
_CATEGORIES = pa.array(["category", "multicategory"])


class _Put(NamedTuple):
    """An annotation on a frame: its type and annotation_id, its ROIs (an annotation the
    per-record path read) or its row (`Rows` stretch, row), its track, and its id when the
    placing gave it. (A tuple: one is made per annotation, and a frozen dataclass costs
    several times more to make.)"""

    type: str
    annotation_id: str | None
    rois: list[Roi] | None
    row: tuple[int, int] | None = None
    track: int | None = None
    named: str | None = None
    parts: int = 1  # the rows of a segmentation's segments, from `row` on


@dataclass(slots=True)
class _Frame:
    """A frame's new ROIs of the field, and the ids it holds (those of the ROIs this import
    stored on it before and their segmentations', and those taken by the annotation_ids
    given so far)."""

    context: str | None
    stored: int = 0
    rois: list[_Put] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)


class Placing:
    """Places annotations a chunk at a time (`write`) as `field` ROIs through `writer`."""

    def __init__(self, catalog: Catalog, writer: CatalogWriter, field_name: str) -> None:
        self.catalog = catalog
        self.writer = writer
        self.field = field_name
        try:  # a field the catalog cannot hold refuses every frame, naming its first ROI
            self.field_ok = bool(check_text(field_name, "field", ""))
        except RecordError:
            self.field_ok = False
        self.by_frame: dict[str, _Frame] = {}
        self.scenes: dict[str, list[str]] = {}
        self.written: set[str] = set()  # frames given ROIs by an earlier chunk
        self.tracks: dict[tuple[str | None, str], int] = {}
        self.scene_ids: Counter[tuple[str, str]] = Counter()
        con = catalog.cursor()
        try:
            self.kept_keypoints = keypoint_labels(con)
        finally:
            con.close()
        self.new_keypoints: dict[str, KeypointLabel] = {}
        self._sql: MemoryEngine | None = None  # the engine placing chunks of rows SQL read

    def write(self, chunk: list[Rows | Annotation]) -> None:
        """Place the chunk's annotations in order (refusing those that cannot be) and store
        each frame's new ROIs of the field beside those of earlier chunks."""
        if not chunk:
            return
        refs: list[str] = []
        for part in chunk:
            refs += part.refs if isinstance(part, Rows) else [part.reference_id]
        frames, stored = self._look_up(refs)
        output = Output(self.field, chunk, self.field_ok)
        if self._by_sql(chunk, frames):
            out = place_rows(self._engine().con, chunk, frames, _ids(stored), self.tracks,
                             self.writer.reject)  # fmt: skip
            _placed_out(output, chunk, out, frames, self.writer.reject)
        else:
            self._by_frame(frames, stored)
            for at, part in enumerate(chunk):
                if isinstance(part, Rows):
                    self._put_rows(at, part)
                else:
                    self._put_one(part)
            for frame_id, frame in self.by_frame.items():
                if frame.rois:
                    self._output(output, frame_id, frame)
        frame_ids, rois, warnings = output.table()
        if frame_ids:
            cleared = [f for f in frame_ids if f not in self.written]
            self.writer.write_labels(frame_ids, self.field, rois, warnings, cleared=cleared)
            self.written.update(frame_ids)
        self.by_frame, self.scenes = {}, {}

    def close(self) -> None:
        if self._sql is not None:
            self._sql.close()
            self._sql = None

    def _engine(self) -> MemoryEngine:
        if self._sql is None:
            self._sql = MemoryEngine(threads=1)
        return self._sql

    def _by_sql(self, chunk: list[Rows | Annotation], frames: pa.Table) -> bool:
        """Whether the chunk is placed by SQL (`place_rows`): the field one the catalog can
        hold, rows SQL read among its annotations (the per-record path's alone are placed
        by the loop, its every frame checked there), no category on a scene, no keypoints
        whose label's names differ from those this import met. A keypoints row SQL read
        whose label the import meets first is read again by the per-record path for its
        names (as the loop would)."""
        if not self.field_ok or not any(isinstance(part, Rows) for part in chunk):
            return False
        found = set(frames["id"].to_pylist())
        scenes = set(self.scenes) - found if self.scenes else set()
        for part in chunk:
            if isinstance(part, Annotation):
                if part.reference_id in scenes and part.type in ("category", "multicategory"):
                    return False
                if part.keypoints is not None or not isinstance(part.track, str | None):
                    return False
                continue
            kinds = part.table["type"]
            if scenes and pc.any(pc.and_(pc.is_in(kinds, _CATEGORIES),
                                         pc.is_in(part.table["ref"], pa.array(sorted(scenes))))).as_py():  # fmt: skip
                return False
            keypoints = pc.equal(kinds, "keypoints")
            if pc.any(keypoints).as_py():
                for i in np.flatnonzero(keypoints.to_numpy(zero_copy_only=False)):
                    if not self._keypoints_met(part, int(i), found):
                        return False
        return True

    def _keypoints_met(self, rows: Rows, i: int, found: set[str]) -> bool:
        """Whether a keypoints row's label has its names in their order (a label met first
        taken from the row's line, as the loop takes it), or its row is of no frame."""
        if rows.refs[i] not in found or self._names_known(rows, i):
            return True
        label = rows.table["label"][i].as_py()
        if label in self.kept_keypoints or label in self.new_keypoints:
            return False  # names in another order, or others: the loop's
        given = rows.annotation(i).keypoints
        assert given is not None
        self.new_keypoints[label] = given
        return True

    def _look_up(self, refs: list[str]) -> tuple[pa.Table, dict[str, tuple[int, list[str]]]]:
        """The frames named (id, context, pos: their order; stored: the count of ROIs earlier
        chunks stored on them), the scenes named (with their frames, in `scenes`), and for
        each frame earlier chunks gave ROIs, their count and the ids they hold (`held`)."""
        con = self.catalog.cursor()
        try:
            with registered(con, "_wb_nu_refs", pa.table({"r": pa.array(sorted(set(refs)))})):
                frames = con.sql(
                    "SELECT id, context_id AS context FROM frames "
                    "WHERE id IN (SELECT r FROM _wb_nu_refs)"
                ).to_arrow_table()
                for context, ids in con.execute(
                    "SELECT context_id, list(id ORDER BY frame_index, timestamp, id) FROM frames "
                    "WHERE context_id IN (SELECT r FROM _wb_nu_refs) GROUP BY context_id"
                ).fetchall():
                    self.scenes[context] = ids
            named = frames["id"].to_pylist() + [f for ids in self.scenes.values() for f in ids]
            stored = self._stored(con, [f for f in named if f in self.written])
        finally:
            con.close()
        counts = [len(stored.get(f, ())) for f in frames["id"].to_pylist()] if stored else None
        frames = frames.append_column("pos", pa.array(np.arange(frames.num_rows), pa.int64()))
        frames = frames.append_column(
            "stored", pa.array(counts, pa.int64()) if counts else pa.repeat(0, frames.num_rows)
        )
        return frames, {frame_id: (len(rois), held(rois)) for frame_id, rois in stored.items()}

    def _by_frame(self, frames: pa.Table, stored: dict[str, tuple[int, list[str]]]) -> None:
        """The frames named, and the scenes' frames, for the per-annotation loop."""
        ids, contexts = frames["id"].to_pylist(), frames["context"].to_pylist()
        for frame_id, context in zip(ids, contexts, strict=True):
            self.by_frame[frame_id] = _frame(context, stored.get(frame_id))
        for context, scene_ids in self.scenes.items():
            for frame_id in scene_ids:
                if frame_id not in self.by_frame:
                    self.by_frame[frame_id] = _frame(context, stored.get(frame_id))

    def _stored(self, con: Any, frame_ids: list[str]) -> dict[str, list[tuple[str, bool]]]:
        """The (id, whether a segment) of the field's ROIs of `frame_ids`, as this import
        stored them."""
        if not frame_ids:
            return {}
        found: dict[str, list[tuple[str, bool]]] = {}
        with registered(con, "_wb_nu_again", pa.table({"f": pa.array(frame_ids, pa.string())})):
            rows = con.execute(
                "SELECT frame_id, id, kind = 'mask' FROM rois "
                "WHERE field = ? AND frame_id IN (SELECT f FROM _wb_nu_again)",
                [self.field],
            ).fetchall()
        for frame_id, roi_id, segment in rows:
            found.setdefault(frame_id, []).append((roi_id, segment))
        return found

    def _put_rows(self, at: int, rows: Rows) -> None:
        """Place the rows SQL read, one after the other (a keypoints row whose label's names
        this import has not met in its order is read again by the per-record path)."""
        by_frame, tracks, reject = self.by_frame, self.tracks, self.writer.reject
        new = tuple.__new__  # a _Put made without its Python-level __new__ (a row each)
        for i, (ref, kind, given, track_name, part) in enumerate(rows.placing()):
            if part:
                continue  # a segment after the first: placed with it
            frame = by_frame.get(ref)
            if frame is None:
                if kind in ("category", "multicategory") and ref in self.scenes:
                    self._put_on_scene(rows.annotation(i))
                else:
                    reject(RecordError(rows.where(i), no_frame(ref)))
                continue
            if kind == "keypoints" and not self._names_known(rows, i):
                self._put_one(rows.annotation(i))
                continue
            parts = rows.parts(i) if kind == "mask" else 1
            if given is not None and not take(given, kind, parts, frame.taken):
                reject(RecordError(rows.where(i), twice(given)))
                continue
            track = None
            if track_name is not None:
                track = tracks.setdefault((frame.context, track_name), len(tracks))
            frame.rois.append(new(_Put, (kind, given, None, (at, i), track, None, parts)))

    def _names_known(self, rows: Rows, i: int) -> bool:
        """Whether a keypoints row's label has its names, in its order, in the catalog or
        earlier in this import."""
        label = rows.table["label"][i].as_py()
        known = self.kept_keypoints.get(label) or self.new_keypoints.get(label)
        return known is not None and known.names == rows.names(i)

    def _put_one(self, annotation: Annotation) -> None:
        try:
            self._put(annotation)
        except RecordError as exc:
            self.writer.reject(exc)

    def _put(self, annotation: Annotation) -> None:
        ref, where = annotation.reference_id, annotation.where
        frame = self.by_frame.get(ref)
        if frame is None:
            if annotation.type in ("category", "multicategory") and ref in self.scenes:
                self._put_on_scene(annotation)
                return
            raise RecordError(where, no_frame(ref))
        rois = self._keypoints_in_order(annotation)
        given, kind = annotation.annotation_id, annotation.type
        if given is not None and not take(given, kind, len(rois), frame.taken):
            raise RecordError(where, twice(given))
        track = None
        if annotation.track is not None:
            track = self.tracks.setdefault((frame.context, annotation.track), len(self.tracks))
        frame.rois.append(_Put(annotation.type, annotation.annotation_id, rois, None, track))

    def _put_on_scene(self, annotation: Annotation) -> None:
        """A scene's category on each of its frames, with one id (`scene-<type>-<n>`)."""
        ref = annotation.reference_id
        n = self.scene_ids[(ref, annotation.type)]
        self.scene_ids[(ref, annotation.type)] += 1
        marked = []
        for roi in annotation.rois:
            extra = {**roi.attributes.get(EXTRA, {}), "scene": True}
            marked.append(replace(roi, attributes={**roi.attributes, EXTRA: extra}))
        put = _Put(annotation.type, None, marked, named=f"scene-{annotation.type}-{n}")
        for frame_id in self.scenes[ref]:
            self.by_frame[frame_id].rois.append(put)

    def _keypoints_in_order(self, annotation: Annotation) -> list[Roi]:
        """The ROIs, a keypoints one's points put in the order the label's names have in the
        catalog (or earlier in this import); refused when the names differ."""
        given = annotation.keypoints
        if given is None:
            return annotation.rois
        label = given.label
        known = self.kept_keypoints.get(label) or self.new_keypoints.get(label)
        if known is None:
            self.new_keypoints[label] = given
            return annotation.rois
        if known.names == given.names:
            return annotation.rois
        if sorted(known.names) != sorted(given.names):
            raise RecordError(
                annotation.where,
                f"label {label!r} has keypoints named {', '.join(known.names)}; "
                f"these are named {', '.join(given.names)}",
            )
        roi = annotation.rois[0]
        ring, visibility = roi.geometry[0], roi.visibility or ()
        at = [given.names.index(name) for name in known.names]
        ordered = [c for n in at for c in ring[2 * n : 2 * n + 2]]
        return [replace(roi, geometry=[ordered], visibility=[visibility[n] for n in at])]

    def _output(self, output: Output, frame_id: str, frame: _Frame) -> None:
        """The frame's new ROIs with their ids: the annotation_id given, else `<type>-<n>`
        (the n-th without one on the frame, skipping ids taken); a segmentation's
        `<its id>/<n>`. A frame whose ROIs the catalog cannot hold is refused whole."""
        counts: Counter[str] = Counter()
        where = f"item {frame_id!r}"
        puts: list[tuple[tuple[int, int] | Roi, str, int | None]] = []
        check = False
        for put in frame.rois:
            base = put.named or put.annotation_id or free_id(put.type, counts, frame.taken,
                                                             _parts(put))  # fmt: skip
            if put.row is not None and put.type == "mask":
                at, row = put.row
                puts += [((at, row + n), f"{base}/{n}", put.track) for n in range(put.parts)]
                continue
            if put.row is not None:
                puts.append((put.row, base, put.track))
                continue
            assert put.rois is not None
            check = True
            for n, roi in enumerate(put.rois):
                puts.append((roi, f"{base}/{n}" if put.type == "mask" else base, put.track))
        try:
            if frame.stored + len(puts) > MAX_ROIS_PER_FRAME:
                count = frame.stored + len(puts)
                raise RecordError(
                    where, f"the frame has {count:,} ROIs, more than {MAX_ROIS_PER_FRAME:,}"
                )
            output.frame(frame_id, puts, where, check)
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            self.writer.reject(record_error(exc, where))


def _placed_out(output: Output, chunk: list[Rows | Annotation], out: pa.Table,
                frames: pa.Table, reject: Callable[[RecordError], None]) -> None:  # fmt: skip
    """The rows `place_rows` placed into `output`: a frame of rows SQL read alone taken
    whole, one with annotations the per-record path read checked as the loop checks it;
    frames past the limit or refused refused whole, in frame order."""
    refused: list[tuple[int, RecordError]] = []
    if out["r"].null_count:  # frames with annotations the per-record path read
        each_ids = out.filter(pc.is_null(out["r"]))["ref"]
        each = pc.is_in(out["ref"], pc.unique(each_ids)).to_numpy(zero_copy_only=False)
        _each_frames(output, chunk, out.filter(each), frames, refused)
        out = out.filter(~each)
    if "count" in out.column_names:
        over = pc.greater(out["count"], MAX_ROIS_PER_FRAME).to_numpy(zero_copy_only=False)
        if over.any():
            for frame_id, count, pos in zip(*(out.filter(over)[c].to_pylist()
                                              for c in ("ref", "count", "pos")), strict=True):  # fmt: skip
                text = f"the frame has {count:,} ROIs, more than {MAX_ROIS_PER_FRAME:,}"
                if not refused or refused[-1][0] != pos:
                    refused.append((pos, RecordError(f"item {frame_id!r}", text)))
            out = out.filter(~over)
    made = pc.add(pc.multiply(out["pos"], 1 << 32), pa.array(np.arange(out.num_rows)))
    output.placed(out["r"], out["ref"], out["id"], out["track"], made)
    for _, error in sorted(refused, key=lambda e: e[0]):
        reject(error)


def _each_frames(output: Output, chunk: list[Rows | Annotation], out: pa.Table,
                 frames: pa.Table, refused: list[tuple[int, RecordError]]) -> None:  # fmt: skip
    """Frames holding annotations the per-record path read, checked as a frame's ROIs."""
    stored = frames["stored"].to_pylist()
    by_o: dict[int, Annotation] = {}
    o = 0
    for part in chunk:
        if isinstance(part, Rows):
            o += part.table.num_rows
        else:
            by_o[o] = part
            o += 1
    # a row SQL read as (the chunk's stretch, its row there)
    stretches = sorted(output.first.items(), key=lambda e: e[1])
    firsts = np.array([first for _, first in stretches], np.int64)
    rs = pc.fill_null(out["r"], -1).to_numpy()
    stretch = np.maximum(firsts.searchsorted(rs, side="right") - 1, 0)
    ats = [stretches[k][0] for k in stretch.tolist()]
    rows_at = (rs - firsts[stretch]).tolist()
    columns = [out[c].to_pylist() for c in ("r", "o", "ref", "id", "track", "pos")]
    refs = columns[2] + [None]
    puts: list[tuple[tuple[int, int] | Roi, str, int | None]] = []
    for n, (r, o, ref, roi_id, track, pos) in enumerate(zip(*columns, strict=True)):
        if r is None:
            annotation = by_o[o]
            mask = annotation.type == "mask"
            for k, roi in enumerate(annotation.rois):
                puts.append((roi, f"{roi_id}/{k}" if mask else roi_id, track))
        else:
            puts.append(((ats[n], rows_at[n]), roi_id, track))
        if refs[n + 1] != ref:
            where = f"item {ref!r}"
            try:
                if stored[pos] + len(puts) > MAX_ROIS_PER_FRAME:
                    count = stored[pos] + len(puts)
                    raise RecordError(
                        where, f"the frame has {count:,} ROIs, more than {MAX_ROIS_PER_FRAME:,}"
                    )
                output.made = pos << 32
                output.frame(ref, puts, where, True)
            except Exception as exc:
                if not is_record_failure(exc):
                    raise
                refused.append((pos, record_error(exc, where)))
            puts = []


def _ids(stored: dict[str, tuple[int, list[str]]]) -> pa.Table:
    """(frame_id, id) of the ids earlier chunks stored (`held`)."""
    pairs = [(f, i) for f, (_, ids) in stored.items() for i in ids]
    return pa.table({"frame_id": pa.array([f for f, _ in pairs], pa.string()),
                     "id": pa.array([i for _, i in pairs], pa.string())})  # fmt: skip


def _frame(context: str | None, stored: tuple[int, list[str]] | None) -> _Frame:
    """A frame with the count of its ROIs earlier chunks stored and the ids they hold."""
    if stored is None:
        return _Frame(context)
    return _Frame(context, stored[0], taken=set(stored[1]))


def _parts(put: _Put) -> int:
    """The ROIs of an annotation placed (a segmentation's segments)."""
    return put.parts if put.rois is None else len(put.rois)
