"""The ROI rows of a chunk of Nucleus annotations (workbench.ingest._nucleus_placing): the
stretches of rows SQL read (`Rows`), and what a chunk's placing makes of them and of the
annotations the per-record path read (`Output`): the catalog's ROI rows, in the order the
frames and their annotations were placed, with their warnings.

A row SQL read is taken as it is, given its frame, id and track; an annotation the per-record
path read is checked as a frame's ROIs are (`validate_frame`) and made a row as before."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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

    def placing(self) -> Iterator[tuple[str, str, str | None, str | None]]:
        """(reference_id, type, annotation_id, track name) of each row."""
        t = self.table
        columns = (t["type"], t["annotation_id"], t["track"])
        return zip(self.refs, *(c.to_pylist() for c in columns), strict=True)

    def annotation(self, i: int) -> Annotation:
        """The annotation of row `i`, read by the per-record path (a scene's category)."""
        line = self.table["_line"][i].as_py()
        return read_payload(loads(self.table["j"][i].as_py().encode()), self.where_of(line),
                            self.folder)  # fmt: skip

    def where(self, i: int) -> str:
        """The record a row came from, and its item: as the per-record path names it."""
        line = self.table["_line"][i].as_py()
        return f"{self.where_of(line)}, item {self.refs[i]!r}"


@dataclass
class _Marked:
    rows: int
    rois: int


class Output:
    """The ROI rows a chunk's placing makes, frame after frame."""

    def __init__(self, field_name: str, chunk: Sequence[Rows | Annotation]) -> None:
        self.field = field_name
        self.chunk = chunk
        # Rows SQL read: (stretch, row), frame, id, track, and place among all rows made.
        self.rows: list[tuple[int, int, str, str, int | None, int]] = []
        self.rois: list[tuple[object, ...]] = []  # rows of ROIs, then their place
        self.made = 0

    def mark(self) -> _Marked:
        return _Marked(len(self.rows), len(self.rois))

    def back_to(self, mark: _Marked) -> None:
        """Forget what was made since `mark` (a frame refused whole)."""
        del self.rows[mark.rows :]
        del self.rois[mark.rois :]

    def frame(self, frame_id: str, puts: list[tuple[tuple[int, int] | Roi, str, int | None]],
              where: str, check: bool) -> None:  # fmt: skip
        """A frame's new ROIs: (row SQL read or ROI, id, track) each, in order. With `check`
        they are checked as a frame's ROIs (the per-record path's ROIs, or a field the
        catalog cannot hold): RecordError, and nothing made, for the first at fault."""
        if check:
            stubs = [
                Roi(roi_id, "classification", field=self.field)
                if isinstance(what, tuple)
                else _placed(what, roi_id, track, self.field)
                for what, roi_id, track in puts
            ]
            validate_frame(Frame(id=frame_id, rois=stubs, sources=[PROBE]), where, whole=False)
        mark = self.mark()
        try:
            for what, roi_id, track in puts:
                if isinstance(what, tuple):
                    self.rows.append((*what, frame_id, roi_id, track, self.made))
                else:
                    row = roi_row(frame_id, _placed(what, roi_id, track, self.field))
                    self.rois.append((*row, self.made))
                self.made += 1
        except Exception:
            self.back_to(mark)
            raise

    def table(self) -> tuple[list[str], pa.Table, Warnings]:
        """The frames given ROIs (in order), their rows (ROI_SCHEMA) and their warnings."""
        tables = [self._sql_rows(), self._roi_rows()]
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return [], ROI_SCHEMA.empty_table(), []
        rois = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        if len(tables) > 1:
            rois = rois.take(pc.sort_indices(rois["_made"]))
        rois = rois.drop_columns(["_made"])
        frame_ids = list(dict.fromkeys(pc.unique(rois["frame_id"]).to_pylist()))
        return frame_ids, rois, _zero_area(rois)

    def _sql_rows(self) -> pa.Table:
        schema = ROI_SCHEMA.append(pa.field("_made", pa.int64()))
        if not self.rows:
            return schema.empty_table()
        parts, frame_ids, ids, tracks, made, at = [], [], [], [], [], []
        for stretch, row, frame_id, roi_id, track, n in sorted(self.rows):
            at.append((stretch, row))
            frame_ids.append(frame_id)
            ids.append(roi_id)
            tracks.append(track)
            made.append(n)
        cuts = [0] + [i for i in range(1, len(at)) if at[i][0] != at[i - 1][0]] + [len(at)]
        for low, high in itertools.pairwise(cuts):
            rows = self.chunk[at[low][0]]
            assert isinstance(rows, Rows)
            taken = pa.array([r for _, r in at[low:high]], pa.int64())
            parts.append(rows.table.take(taken))
        t = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        count = t.num_rows
        empty = pa.ListArray.from_arrays(
            pa.array(np.zeros(count + 1, np.int32)), pa.array([], pa.string())
        )
        columns = {
            "frame_id": pa.array(frame_ids, pa.string()),
            "id": pa.array(ids, pa.string()),
            "field": pa.array([self.field] * count, pa.string()),
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
            "mask": pa.nulls(count, pa.string()),
            "attributes": t["attributes"],
            "track_index": pa.array(tracks, pa.int32()),
            "keyframe": pa.nulls(count, pa.bool_()),
            "visibility": pa.nulls(count, ROI_SCHEMA.field("visibility").type),
            "_made": pa.array(made, pa.int64()),
        }
        return pa.table(columns, schema=schema)

    def _roi_rows(self) -> pa.Table:
        schema = ROI_SCHEMA.append(pa.field("_made", pa.int64()))
        if not self.rois:
            return schema.empty_table()
        columns = list(zip(*self.rois, strict=True))
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)]
        return pa.Table.from_arrays(arrays, schema=schema)


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
