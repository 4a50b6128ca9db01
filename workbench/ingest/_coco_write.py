"""One write of a COCO import: the frames of a range of image ordinals, with their ROIs.

The images were staged in `_wb_images` (workbench.ingest._coco_images) and the annotations by
workbench.ingest._coco_staged; a write reads its own range of both, checks what SQL cannot
(a frame's id and source, its count of ROIs) with the per-record path's functions and
errors, and hands the catalog writer one batch of rows (`Writes`: stored in a thread of its
own while the next write's rows are made, or one after the other).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from workbench.errors import RecordError
from workbench.ingest import _coco_sql as sql
from workbench.ingest._coco_digests import Beside
from workbench.ingest._coco_rois import write_rois
from workbench.ingest._coco_staged import Stored
from workbench.ingest._in_thread import InThread
from workbench.ingest._kwcoco_videos import json_value
from workbench.ingest._rows import queued_frame
from workbench.ingest.report import is_record_failure, record_error
from workbench.ingest.writer import CatalogWriter, RowBatch
from workbench.model.limits import MAX_ROIS_PER_FRAME
from workbench.model.records import FRAME_SCHEMA, SOURCE_SCHEMA, Frame, Source
from workbench.model.validation import WARN_OUTSIDE, WARN_ZERO_AREA, validate_frame
from workbench.store.layout import next_frame_key

if TYPE_CHECKING:
    from workbench.ingest.coco import _Instances

_FRAMES = pa.schema([f for f in FRAME_SCHEMA if f.name != "ingested"])


class Writes:
    """The writes of one import. With `overlap`, each write's rows are stored in a thread of
    its own while the next write's rows are made (the engine's statements, pyarrow and the
    catalog's engine release the GIL: the making and the storing each have a core); one write
    is under way at most, so one write's rows are held beside those being made. Without it,
    each write is stored as its rows are made, on the caller's thread (the order of before:
    what tests and benchmarks compare it with).

    Whatever happens, the catalog and the report end as the sequential import leaves them:
    the rejections found making a write are reported as the write begins to store (after the
    write before has ended: the report's errors keep the records' order), and an import
    stopped while a write is under way (an error, Ctrl-C) lets it end first (`abandon`)."""

    def __init__(self, writer: CatalogWriter, overlap: bool) -> None:
        self.writer = writer
        self.overlap = overlap
        # Inside the caller's own write transaction, a write's thread would wait for it.
        inline = writer.catalog.writing_here()
        self._thread = InThread("workbench-coco-write", inline=inline)
        self._held: list[RecordError] = []  # rejections of the write being made

    def reject(self, error: RecordError) -> None:
        """A record of the write being made refused: reported now, or as its write stores."""
        if self.overlap:
            self._held.append(error)
        else:
            self.writer.reject(error)

    def store(
        self, batch: RowBatch, failed: Callable[[BaseException, bool], BaseException]
    ) -> None:
        """Store `batch` (the rows of the write just made) once the write before has ended;
        what the store raises goes through `failed` (the error the import stops with, told
        that the catalog's engine raised it)."""
        store = self.writer.write_rows  # as it is now (a benchmark times it by wrapping it)
        if not self.overlap:
            _storing(store, batch, failed)
            return
        # Should this raise, the rejections stay held for `abandon`.
        self._thread.wait()
        held, self._held = self._held, []
        self._thread.start(partial(self._store, store, batch, held, failed))

    def _store(
        self,
        store: Callable[[RowBatch], None],
        batch: RowBatch,
        held: list[RecordError],
        failed: Callable[[BaseException, bool], BaseException],
    ) -> None:
        for error in held:
            self.writer.reject(error)
        if isinstance(batch.beside, Beside):
            # The digests' frame keys start where the catalog's are as this write begins:
            # the write before was under way when its rows were made.
            with self.writer.catalog.cursor() as cursor:
                beside = replace(batch.beside, since=next_frame_key(cursor))
            batch = replace(batch, beside=beside)
        _storing(store, batch, failed)
        del batch
        pa.default_memory_pool().release_unused()  # what Arrow's allocator kept of them

    def settle(self) -> None:
        """Wait for the write under way to end (raising what it raised)."""
        self._thread.wait()

    def abandon(self) -> None:
        """After an error or Ctrl-C stopped the import: wait for the write under way (its own
        error is raised over the import's: the sequential import would have stopped there
        first), then report the rejections found since, as the sequential import had, unless
        the write before them failed (the sequential import would not have made them)."""
        held, self._held = self._held, []
        self._thread.wait()
        if self._thread.raised is None:
            for error in held:
                self.writer.reject(error)


def _storing(
    store: Callable[[RowBatch], None],
    batch: RowBatch,
    failed: Callable[[BaseException, bool], BaseException],
) -> None:
    try:
        store(batch)
    except Exception as exc:
        raised = failed(exc, True)
        if raised is exc:
            raise
        raise raised from exc


def write_images(
    con: Any,
    path: Path,
    writer: CatalogWriter,
    options: _Instances,
    stored: Stored,
    first: int,
    last: int,
    writes: Writes,
    failed: Callable[[BaseException, bool], BaseException],
) -> None:
    """Write the frames of the images with ordinals first..last, with their ROIs (through
    `writes`; what storing raises goes through `failed`)."""
    stored.staged.load(con, first, last)
    params = {"first": first, "last": last}
    videos = stored.videos is not None
    frames_sql = sql.VIDEO_FRAMES if videos else sql.FRAMES
    con.execute(frames_sql, {**params, "dataset": options.dataset, "version": options.version})
    mine = stored.rois_of(first, last)
    extra: dict[int, int] = {}
    for row in mine:
        extra[row[-2]] = extra.get(row[-2], 0) + 1
    refused = set()
    for o, image_id, count, *made in con.execute(
        "SELECT _line, image_id, rois, id, uri, video, context_id, frame_index, timestamp, "
        "num_frames, metadata FROM _wb_frames WHERE NOT ok "
        "OR _line IN (SELECT unnest(?::BIGINT[])) ORDER BY _line",
        [sorted(extra)],
    ).fetchall():
        where = f"{path}, image {image_id}"
        try:
            frame = _frame(*made)
            validate_frame(frame, where)
            total = count + extra.get(o, 0)
            if total > MAX_ROIS_PER_FRAME:
                problem = f"the frame has {total:,} ROIs, more than {MAX_ROIS_PER_FRAME:,}"
                raise RecordError(where, problem)
            if frame.metadata:  # a video frame's: its record may make it too long
                queued_frame(frame, where, [])
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            writes.reject(record_error(exc, where))
            refused.add(o)
    con.execute(
        "DELETE FROM _wb_frames WHERE _line IN (SELECT unnest(?::BIGINT[]))", [sorted(refused)]
    )
    frames = con.sql(sql.FRAME_ROWS).to_arrow_table().cast(_FRAMES)
    sources = con.sql(sql.SOURCE_ROWS).to_arrow_table().cast(SOURCE_SCHEMA)
    warnings = []
    warned = [o for o in stored.warnings if first <= o <= last]
    found = con.execute(sql.ROI_WARNINGS, {"warned": warned}).fetchall()
    for o, image_id, zero, outside in found:
        kinds = stored.warnings.get(o, [])
        zero, outside = zero + kinds.count(WARN_ZERO_AREA), outside + kinds.count(WARN_OUTSIDE)
        where = f"{path}, image {image_id}"
        warnings += [
            (k, where, n) for k, n in ((WARN_ZERO_AREA, zero), (WARN_OUTSIDE, outside)) if n
        ]
    rois = write_rois(con, mine, options.field, params, refused, videos)
    stored.staged.release(con, first)
    beside = None
    if stored.digests is not None:  # kept only of frames converted without warning
        beside = stored.digests.beside(con, first, last, {r[0] for r in found}, extra)
    writes.store(RowBatch(frames, sources, rois, warnings, beside), failed)


def _frame(frame_id: str, uri: str, video: int | None, context_id: str, *placed: Any) -> Frame:
    """The frame the per-record path checks: its id and source, and for a video frame
    (workbench.ingest._coco_videos) its place in the video and its metadata."""
    source = [Source("image", uri)]
    if video is None:
        return Frame(frame_id, sources=source)
    frame_index, timestamp, num_frames, metadata = placed
    return Frame(frame_id, sources=source, context_id=context_id, frame_index=frame_index,
                 timestamp=timestamp, num_frames=num_frames,
                 metadata=json_value(metadata))  # fmt: skip
