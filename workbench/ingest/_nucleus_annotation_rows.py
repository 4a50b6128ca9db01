"""The ROI rows of a chunk of Nucleus annotations (workbench.ingest._nucleus_placing): the
stretches of rows SQL read (`Rows`), and what a chunk's placing makes of them and of the
annotations the per-record path read (`Output`): the catalog's ROI rows, in the order the
frames and their annotations were placed, with their warnings.

A row SQL read is taken as it is, given its frame, id and track; an annotation the per-record
path read is checked as a frame's ROIs are (`validate_frame`) and made a row as before."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest._nucleus_payloads import Annotation, read_payload
from workbench.ingest._rows import PROBE, roi_row
from workbench.ingest.jsonread import loads
from workbench.model.records import AREA_KINDS, ROI_SCHEMA, Frame, Roi
from workbench.model.validation import WARN_ZERO_AREA, validate_frame

__all__ = ["Output", "Rows"]

Warnings = list[tuple[str, str, int]]
_MADE = ROI_SCHEMA.append(pa.field("_made", pa.int64()))  # the rows, and their place


@dataclass
class Rows:
    """A stretch of rows SQL read (_nucleus_annotation_sql.ROWS), in line order, with the
    where of their lines and the folder of their file."""

    table: pa.Table
    where_of: Callable[[int], str]
    folder: Path
    _refs: list[str] | None = field(default=None, repr=False)

    @property
    def refs(self) -> list[str]:
        if self._refs is None:
            self._refs = self.table["ref"].to_pylist()
        return self._refs

    def placing(self) -> Iterator[tuple[str, str, str | None, str | None, int]]:
        """(reference_id, type, annotation_id, track name, segment number) of each row."""
        t = self.table
        columns = (t["type"], t["annotation_id"], t["track"], t["part"])
        return zip(self.refs, *(c.to_pylist() for c in columns), strict=True)

    def parts(self, i: int) -> int:
        """The rows of the annotation row `i` begins (a segmentation's segments)."""
        return int(self.table["parts"][i].as_py())

    def names(self, i: int) -> tuple[str, ...]:
        """A keypoints row's point names, in its order."""
        return tuple(self.table["names"][i].as_py())

    def annotation(self, i: int) -> Annotation:
        """The annotation of row `i`, read by the per-record path (a scene's category)."""
        return read_payload(loads(self.table["j"][i].as_py().encode()), self._record(i),
                            self.folder)  # fmt: skip

    def where(self, i: int) -> str:
        """The record a row came from, and its item: as the per-record path names it."""
        return f"{self._record(i)}, item {self.refs[i]!r}"

    def _record(self, i: int) -> str:
        """The record of row `i`, and its place in an item's row (`, box[0]`)."""
        line = self.table["_line"][i].as_py()
        return self.where_of(line) + (self.table["entry"][i].as_py() or "")


@dataclass
class _Marked:
    rows: int
    rois: int


class Output:
    """The ROI rows a chunk's placing makes, frame after frame. `field_ok`: whether the
    catalog can hold the field (else every frame is checked, and refused)."""

    def __init__(
        self, field_name: str, chunk: Sequence[Rows | Annotation], field_ok: bool = True
    ) -> None:
        self.field = field_name
        self.field_ok = field_ok
        stretches = [part for part in chunk if isinstance(part, Rows)]
        # Each stretch's first row among the chunk's rows SQL read (`Rows`, by place in chunk).
        self.first: dict[int, int] = {}
        count = 0
        for at, part in enumerate(chunk):
            if isinstance(part, Rows):
                self.first[at] = count
                count += part.table.num_rows
        self.stretches = stretches
        # Rows SQL read, as made: their row among the chunk's, frame, id, track, place.
        self.at: list[int] = []
        self.frame_ids: list[str] = []
        self.ids: list[str] = []
        self.tracks: list[int | None] = []
        self.made_rows: list[int] = []
        self.rois: list[tuple[object, ...]] = []  # rows of ROIs, then their place
        self.made = 0
        self._placed: tuple[pa.Array, ...] | None = None

    def placed(self, at: pa.Array, frame_ids: pa.Array, ids: pa.Array, tracks: pa.Array,
               made: pa.Array) -> None:  # fmt: skip
        """Rows SQL read, placed by SQL: each one's row among the chunk's, frame, id, track
        and place among the rows made (beside those `frame` makes)."""
        self._placed = (at, frame_ids, ids, tracks, made)

    def mark(self) -> _Marked:
        return _Marked(len(self.at), len(self.rois))

    def back_to(self, mark: _Marked) -> None:
        """Forget what was made since `mark` (a frame refused whole)."""
        for made in (self.at, self.frame_ids, self.ids, self.tracks, self.made_rows):
            del made[mark.rows :]
        del self.rois[mark.rois :]

    def frame(self, frame_id: str, puts: list[tuple[tuple[int, int] | Roi, str, int | None]],
              where: str, check: bool) -> None:  # fmt: skip
        """A frame's new ROIs: (row SQL read as (stretch, row), or ROI, id, track) each, in
        order. With `check` (the per-record path's ROIs are among them) those are checked as
        a frame's ROIs, and every one when the field is one the catalog cannot hold (SQL
        vouched for the rest): RecordError, and nothing made, for the first at fault."""
        if check or not self.field_ok:
            checked = [
                Roi(roi_id, "classification", field=self.field)
                if isinstance(what, tuple)
                else _placed(what, roi_id, track, self.field)
                for what, roi_id, track in puts
                if not (isinstance(what, tuple) and self.field_ok)
            ]
            validate_frame(Frame(id=frame_id, rois=checked, sources=[PROBE]), where, whole=False)
        if not check:  # rows SQL read only: taken whole
            self._rows(frame_id, cast(list[tuple[tuple[int, int], str, int | None]], puts))
            return
        mark = self.mark()
        try:
            for what, roi_id, track in puts:
                if isinstance(what, tuple):
                    self.at.append(self.first[what[0]] + what[1])
                    self.frame_ids.append(frame_id)
                    self.ids.append(roi_id)
                    self.tracks.append(track)
                    self.made_rows.append(self.made)
                else:
                    row = roi_row(frame_id, _placed(what, roi_id, track, self.field))
                    self.rois.append((*row, self.made))
                self.made += 1
        except Exception:
            self.back_to(mark)
            raise

    def _rows(self, frame_id: str, puts: list[tuple[tuple[int, int], str, int | None]]) -> None:
        """A frame's rows SQL read, as `frame` makes them one by one."""
        first, count = self.first, len(puts)
        self.at += [first[at] + row for (at, row), _, _ in puts]
        self.frame_ids += [frame_id] * count
        self.ids += [roi_id for _, roi_id, _ in puts]
        self.tracks += [track for _, _, track in puts]
        self.made_rows += range(self.made, self.made + count)
        self.made += count

    def table(self) -> tuple[list[str], pa.Table, Warnings]:
        """The frames given ROIs (in order), their rows (ROI_SCHEMA) and their warnings."""
        tables = [t for t in (self._sql_rows(), self._roi_rows()) if t is not None]
        if not tables:
            return [], ROI_SCHEMA.empty_table(), []
        if len(tables) > 1:
            rois = pa.concat_tables(tables)
            rois = rois.take(pc.sort_indices(rois["_made"]))
        else:
            rois = tables[0]
        rois = rois.drop_columns(["_made"])
        frame_ids = pc.unique(rois["frame_id"]).to_pylist()  # (in the order they come)
        return frame_ids, rois, _zero_area(rois)

    def _sql_rows(self) -> pa.Table | None:
        """The rows SQL read that were placed, in the order they were made."""
        listed = (pa.array(self.at, pa.int64()), pa.array(self.frame_ids, pa.string()),
                  pa.array(self.ids, pa.string()), pa.array(self.tracks, pa.int32()),
                  pa.array(self.made_rows, pa.int64()))  # fmt: skip
        if self._placed is not None:
            types = (pa.int64(), pa.string(), pa.string(), pa.int32(), pa.int64())
            at, frame_ids, ids, tracks, made = (
                pa.concat_arrays([*pa.chunked_array(p).cast(t).chunks, a]) if len(a)
                else pa.chunked_array(p).cast(t).combine_chunks()
                for p, a, t in zip(self._placed, listed, types, strict=True)
            )  # fmt: skip
        else:
            at, frame_ids, ids, tracks, made = listed
        if not len(at):
            return None
        tables = [part.table for part in self.stretches]
        whole = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        t = whole.take(at)
        count = t.num_rows
        empty = pa.ListArray.from_arrays(
            pa.array(np.zeros(count + 1, np.int32)), pa.array([], pa.string())
        )
        columns = {
            "frame_id": frame_ids,
            "id": ids,
            "field": pa.repeat(pa.scalar(self.field, pa.string()), count),
            "label": t["label"],
            "labels": t["labels"],
            "confidence": t["confidence"],
            "kind": t["kind"],
            "geometry": t["geometry"],
            **{c: t[c] for c in ("x_min", "y_min", "x_max", "y_max")},
            "area": pc.multiply(
                pc.subtract(t["x_max"], t["x_min"]), pc.subtract(t["y_max"], t["y_min"])
            ),
            "source_ids": empty,
            "mask": t["mask"],
            "attributes": t["attributes"],
            "track_index": tracks.cast(pa.int32()),
            "keyframe": pa.nulls(count, pa.bool_()),
            "visibility": t["visibility"],
            "_made": made,
        }
        return pa.table(columns, schema=_MADE)

    def _roi_rows(self) -> pa.Table | None:
        """The rows of the per-record path's ROIs, as made."""
        if not self.rois:
            return None
        columns = list(zip(*self.rois, strict=True))
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, _MADE, strict=True)]
        return pa.Table.from_arrays(arrays, schema=_MADE)


def _placed(roi: Roi, roi_id: str, track: int | None, field_name: str) -> Roi:
    """The ROI with its id, track and field (built whole: `replace` costs several times more)."""
    return Roi(id=roi_id, kind=roi.kind, labels=roi.labels, field=field_name,
               geometry=roi.geometry, confidence=roi.confidence, source_ids=roi.source_ids,
               mask=roi.mask, attributes=roi.attributes, track_index=track,
               keyframe=roi.keyframe, bbox=roi.bbox, visibility=roi.visibility)  # fmt: skip


def _zero_area(rois: pa.Table) -> Warnings:
    """The ROIs of area kinds whose box has no area, counted per frame (`item '<id>'`, as a
    frame's label write names them), frames in order."""
    area_kind = pc.is_in(rois["kind"], value_set=pa.array(sorted(AREA_KINDS)))
    flat = pc.or_(
        pc.less_equal(rois["x_max"], rois["x_min"]), pc.less_equal(rois["y_max"], rois["y_min"])
    )
    hit = pc.fill_null(pc.and_(area_kind, flat), False)
    if not pc.any(hit).as_py():
        return []
    counts: dict[str, int] = {}
    for frame_id in rois["frame_id"].filter(hit).to_pylist():
        counts[frame_id] = counts.get(frame_id, 0) + 1
    return [(WARN_ZERO_AREA, f"item {f!r}", c) for f, c in counts.items()]
