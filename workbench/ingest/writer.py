"""Streams records into the catalog in Arrow batches.

Every importer feeds a CatalogWriter. Each batch is written in one transaction: frames that
already exist are replaced whole (their sources and ROIs with them), so importing the same data
twice updates instead of duplicating; tags survive. Label-only imports replace the ROIs of one
field on existing frames and leave everything else alone.

The report counts each frame the import leaves stored once, with the sources and ROIs of its
last version, whichever of its writes stored it or found it stored as given (the frames an
importer's digests leave unconverted included); a frame the import removes is not counted.
A frame another import (another writer on the catalog, in another thread) replaces or removes
between two of this import's writes is still counted once, as this import stored it, and
its count is taken back when this import gives it again. The ROIs of label-only writes
(`add_labels`, `write_labels`: ingest/_writer_labels.py) are counted by frame and field: a
field given again is counted with its last ROIs. What this import takes back of a frame or
a field is what it counted there, whatever another import's label writes, or annotations
merged back by the services, did to it since, and its label writes' ROIs on a frame another
import replaced whole are taken back once, as it counted them. The rule, and how a write
knows what was counted, is in workbench/ingest/_counting.py (_counted_labels.py,
_counted_elsewhere.py); the import's record keeps the same figures at every commit. The
URIs counted outside the media roots follow it too: a write that counts a frame again takes
back the files its earlier version named with its sources and ROIs (`_take_back`), so each
stored URI outside the roots is counted once, as its frame is; of a field another import's
label write or a merge changed since, the mask files this import stored there, not theirs.
A label write (either way) counts the mask files its ROIs name, and takes back those of the
ROIs counted before that it replaces (ingest/_counted_relabel.py).
A writer set back to a checkpoint (`restore`) counts from what it had counted then, what
its own writes took of it since set aside as another import's would be.

Warnings do not follow it, on purpose: they are counted per record read, as refusals are.
A warning says what a record of the file holds (an ROI of zero area, one naming a source
its frame lacks, one outside its image) and names that record (file and line, scene, item);
a frame given by two records that both hold the problem warns twice, because both records
are to be mended in the file, and the later one replacing the earlier in the catalog does not
mend the earlier one. Taking a warning back would also need to know which warnings each
stored version drew, which neither the catalog nor the counting keeps.

A frame a person's DELETE (SQL in `catalog.transaction()`, outside any writer or service)
takes away while the import runs stays counted as the import stored it, as one another
import removes does, and is taken back once if the import gives it again: before that
transaction's COMMIT the imports under way note the frames they counted that it deletes, as
last committed (ingest/_counted_deletes.py). Not under the rule: what such SQL does to a
stored frame's sources or ROIs without deleting it (no service deletes frames; the
annotations merged back change their ROIs, and tell).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.errors import IngestError, RecordError
from workbench.ingest import _counted_elsewhere as elsewhere
from workbench.ingest._columnar import rows_table
from workbench.ingest._counted_rows import mask_files
from workbench.ingest._counting import (
    NOTHING,
    Again,
    Counted,
    Tally,
    summed,
    take_back,
    uris_of_rows,
)
from workbench.ingest._rows import (
    PROBE,
    Queued,
    frame_rows,
    json_text,
    queued_frame,
    with_field,
)
from workbench.ingest._rows import promoted_text as _promoted  # noqa: F401  (the COCO importer's)
from workbench.ingest._rows import roi_row as _roi_row
from workbench.ingest._storing import store_changed, store_queued
from workbench.ingest._uris import count_outside
from workbench.ingest._writer_labels import QueuedLabels, store_labels, store_queued_labels
from workbench.ingest.imports import current_run
from workbench.ingest.report import (
    IngestReport,
    is_record_failure,
    record_error,
)
from workbench.media.files import MediaRootCheck
from workbench.model.keypoints import KeypointLabel
from workbench.model.records import (
    FRAME_SCHEMA,
    ROI_SCHEMA,
    SOURCE_SCHEMA,
    Frame,
    Roi,
)
from workbench.model.validation import validate_frame
from workbench.store.interrupts import after_commit, ctrl_c
from workbench.store.keypoints import save_keypoint_labels
from workbench.store.layout import touch

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["CatalogWriter", "IngestReport", "RowBatch", "frame_rows", "json_text"]

# Errors a batch can raise that come from the values of some record in it (the checks before
# queueing should leave none): the batch is then split until the record at fault is alone.
_DATA_ERRORS: tuple[type[Exception], ...] = (
    pa.ArrowException,
    duckdb.ConversionException,
    duckdb.ConstraintException,
    duckdb.InvalidInputException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    OverflowError,
    TypeError,
    ValueError,
)


RowWarnings = list[tuple[str, str, int]]  # (kind, the record it is about, count)


@dataclass
class RowBatch:
    """Frames with their sources and ROIs as the catalog's rows (FRAME_SCHEMA without
    `ingested`, SOURCE_SCHEMA, ROI_SCHEMA), already checked, and the warnings about them
    as (kind, the record it is about, count)."""

    frames: pa.Table
    sources: pa.Table
    rois: pa.Table
    warnings: list[tuple[str, str, int]] = field(default_factory=list)
    # Kept or counted beside the rows in their transaction once they are stored (the frames
    # an importer left unconverted as stored, counted by `Tally.unchanged`): given the
    # connection and the write's tally, it returns the URIs to check against the media
    # roots with the rows' own.
    beside: Callable[[Any, Tally], pa.Array] | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A writer's report at some point and what it counted then (`CatalogWriter.restore`)."""

    report: IngestReport
    counted: Counted


class CatalogWriter:
    """Buffer frames (or label updates) and write them in transactions of `batch_size` frames.

    Use as a context manager; `report` holds the outcome. Each record is checked and turned
    into rows when it is added: a record that fails is rejected with a RecordError naming it,
    and nothing else is lost. `record(where)` wraps the reading and converting of one record
    so that any exception raised there becomes that record's error. With `unique_ids` a frame
    id may come once per writer: a later frame with the same id is rejected (without it the
    last one queued wins, as the API has always done).
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        batch_size: int = 20_000,
        progress: bool = True,
        total: int | None = None,
        desc: str = "ingest",
        unique_ids: bool = False,
    ) -> None:
        self.catalog = catalog
        self.batch_size = batch_size
        # Inside a recorded import (workbench/ingest/imports.py) each committed batch updates
        # its record, and URIs are checked against the roots the import declared.
        self._run = current_run()
        self.report = IngestReport(import_id=self._run.record.id if self._run else None)
        self._roots = self._run.roots if self._run else MediaRootCheck(catalog.media_roots())
        self._frames: dict[str, Queued] = {}
        self._labels: dict[tuple[str, str], QueuedLabels] = {}
        self._seen: set[str] | None = set() if unique_ids else None
        self._datasets: set[tuple[str, str | None]] = set()
        self._keypoints: dict[str, KeypointLabel] = {}
        self._counted = Counted(lake=catalog.lake is not None, catalog=catalog)  # what it counts
        self._bar = tqdm(total=total, desc=desc, unit="frame", disable=not progress, leave=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # Good records read before a failure are still stored; not after a Ctrl-C, which
            # DuckDB gives as an error of its own when it stops a statement.
            if exc is None or (isinstance(exc, Exception) and not ctrl_c(exc)):
                self.flush()
                self._finish()
        finally:
            self._counted.close()
            self._bar.close()

    @contextmanager
    def record(self, where: str) -> Iterator[None]:
        """The boundary of one record: an exception raised inside rejects that record only.

        Errors that stop the whole import (IngestError, CatalogError) and interruptions pass.
        """
        try:
            yield
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            self.reject(record_error(exc, where))

    def add(self, frame: Frame, where: str | None = None) -> None:
        """Queue a whole frame; it replaces any stored frame with the same id."""
        where = where or f"frame {frame.id!r}"
        try:
            warnings = validate_frame(frame, where)
            if self._seen is not None and frame.id in self._seen:
                raise RecordError(where, f"frame id {frame.id!r} came earlier in this import")
            queued = queued_frame(frame, where, warnings)
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            self.reject(record_error(exc, where))
            return
        if self._seen is not None:
            self._seen.add(frame.id)
        self._frames[frame.id] = queued
        self._bar.update(1)
        if len(self._frames) + len(self._labels) >= self.batch_size:
            self.flush()

    def add_labels(
        self, frame_id: str, field_name: str, rois: Sequence[Roi], where: str | None = None
    ) -> None:
        """Queue the ROIs of one label field of a stored frame, replacing that field's ROIs."""
        where = where or f"frame {frame_id!r}"
        try:
            warnings = validate_frame(
                Frame(id=frame_id, rois=rois, sources=[PROBE]), where, whole=False
            )
            rows = [_roi_row(frame_id, with_field(roi, field_name)) for roi in rois]
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            self.reject(record_error(exc, where))
            return
        self._labels[(frame_id, field_name)] = QueuedLabels(
            where, frame_id, field_name, rows, warnings, rois
        )
        self._bar.update(1)
        if len(self._frames) + len(self._labels) >= self.batch_size:
            self.flush()

    def reject(self, error: RecordError) -> None:
        self.report.reject(error)

    def checkpoint(self) -> Checkpoint:
        """The report so far (a copy) and what it counted, for `restore`."""
        return Checkpoint(self.report.copy(), self._counted.state())

    def restore(self, point: Checkpoint) -> None:
        """Set the report back to `point` (an importer reading a file again after a failure
        of its own): the frames its writes counted since, though stored, are counted again
        when they are next written or found unchanged, once."""
        self.report = point.report.copy()
        self._counted.restore(point.counted)

    def add_keypoint_labels(self, labels: Iterable[KeypointLabel]) -> None:
        """The names and skeleton of labels' keypoints, saved (replacing what a label had)
        when the import finishes."""
        self._keypoints.update((k.label, k) for k in labels)

    def stored_ids(self) -> set[str]:
        """With `unique_ids`: the ids of the frames added so far."""
        return set(self._seen or ())

    def is_outside_media_roots(self, uri: str) -> bool:
        """Whether `uri` names a local file outside every media root of this import."""
        return self._roots.is_outside(uri)

    def flush(self) -> None:
        if not self._frames and not self._labels:
            return
        frames, labels = list(self._frames.values()), list(self._labels.values())
        self._frames.clear()
        self._labels.clear()
        self._write(frames, labels)

    @contextmanager
    def _transaction(self, ids: Sequence[str]) -> Iterator[Any]:
        """A write's transaction, the frames `ids` checked out of a lake-backed catalog (none
        when local); when it fails, the report and what it counted are set back with it."""
        before = self.report.copy()
        self._counted.start()
        try:
            with (
                elsewhere.writing(self.catalog),  # (it tells what it deletes)
                self.catalog.transaction() as con,
                self.catalog.editing(con, ids),
            ):
                self._counted.begin(con)
                try:
                    yield con
                    self._counted.end(con)
                except BaseException:
                    self._counted.unsay()  # (while the write holds the catalog)
                    raise
        except BaseException as exc:
            if after_commit(exc):  # Ctrl-C came as it committed: the write stands
                self._counted.committed()
                raise
            self.report = before
            self._counted.rollback()
            raise
        self._counted.committed()

    def write_rows(self, batch: RowBatch) -> None:
        """Store checked rows in one transaction, replacing stored frames with the same ids
        (the columnar importers' way in; frames queued with `add` are written first)."""
        self.flush()
        if batch.frames.num_rows == 0 and batch.beside is None:
            return
        frames_before = self.report.frames
        now = datetime.now(UTC).replace(tzinfo=None)
        batch = replace(batch, rois=_full_rois(batch.rois))
        # one value repeated by Arrow: a list of as many datetimes took ~20 ms per 100,000
        ingested = pa.repeat(pa.scalar(now, pa.timestamp("us")), batch.frames.num_rows)
        frames = batch.frames.append_column("ingested", ingested)
        # A lake-backed catalog's frames are checked out for the write (no-op when local).
        ids = frames["id"].to_pylist() if self.catalog.lake is not None else []
        with self._transaction(ids) as con:
            again = store_changed(
                self.catalog, self._counted, con, frames, batch.sources, batch.rois
            )
            again = summed([again, self._counted.returned(frames["id"])])
            self.report.frames += frames.num_rows
            self.report.sources += batch.sources.num_rows
            self.report.rois += batch.rois.num_rows
            self._take_back(con, again)
            for kind, where, count in batch.warnings:
                self.report.warn(kind, where, count)
            uris = uris_of_rows(batch.sources, batch.rois)
            if batch.beside is not None:
                tally = Tally(self.report, self._counted, con)
                uris = pa.concat_arrays([uris, batch.beside(con, tally)])
                for taken in tally.taken:
                    self._take_back(con, Again(uris=taken))
            count_outside(con, uris, self._roots, self.report)
            if self._run is not None:
                self._run.committed(con, self.report)
        named = frames.filter(pc.is_valid(frames["dataset"])).select(["dataset", "version"])
        self._datasets.update(zip(*named.to_pydict().values(), strict=True))
        self._bar.update(max(0, self.report.frames - frames_before))  # those beside included

    def write_labels(
        self,
        frame_ids: Sequence[str],
        field_name: str,
        rois: pa.Table,
        warnings: RowWarnings,
        *,
        cleared: Sequence[str] | None = None,
    ) -> None:
        """Replace the `field_name` ROIs of stored frames `frame_ids` by checked rows
        (ROI_SCHEMA, every frame_id among `frame_ids`) in one transaction: the columnar way
        of `add_labels` for many frames at once (queued updates are written first). With
        `cleared`, only those frames lose their `field_name` ROIs first; the rows of the
        others are added to what they hold. A text column may be an Arrow dictionary of its
        values. A field's first ROIs on frames all cleared are summarised from the rows
        (ingest/_label_writes.py)."""
        self.flush()
        with self._transaction(frame_ids) as con:
            replaced = store_labels(
                self.catalog, self._counted, con, field_name, frame_ids, rois, cleared
            )
            self.report.rois += rois.num_rows
            self._take_back(con, replaced)
            count_outside(con, mask_files(rois), self._roots, self.report)
            for kind, where, count in warnings:
                self.report.warn(kind, where, count)
            if self._run is not None:
                self._run.committed(con, self.report)
        self._bar.update(len(frame_ids))

    def _write(self, frames: list[Queued], labels: list[QueuedLabels]) -> None:
        """Write one batch in one transaction; when a record's values make it fail, split it
        until that record is alone, and reject it: the rest of the batch is stored.

        The report is counted inside the transaction, so that the import's record (updated in
        the same transaction) matches what is stored even if the process dies next."""
        touched = [q.frame.id for q in frames] + [q.frame_id for q in labels]
        try:
            with self._transaction(touched) as con:
                again = self._write_frames(con, frames) if frames else NOTHING
                if frames:
                    again = summed([again, self._counted.returned([q.frame.id for q in frames])])
                missing, replaced = (
                    store_queued_labels(self.catalog, self._counted, con, labels)
                    if labels
                    else ([], NOTHING)
                )
                self._count(frames, labels, missing)
                self._take_back(con, summed([again, replaced]))
                if self._run is not None:
                    self._run.committed(con, self.report)
        except _DATA_ERRORS as exc:  # the report and the counting are set back already
            items: list[Any] = [*frames, *labels]
            if self.catalog.writing_here():  # inside a caller's transaction: it is lost whole
                raise IngestError(_not_set_aside(items, exc)) from exc
            if len(items) == 1:
                self.reject(record_error(exc, items[0].where))
                return
            if frames and labels:
                self._write(frames, [])
                self._write([], labels)
                return
            half = len(items) // 2
            for part in (items[:half], items[half:]):
                if frames:
                    self._write(part, [])
                else:
                    self._write([], part)

    def _count(
        self, frames: list[Queued], labels: list[QueuedLabels], missing: list[QueuedLabels]
    ) -> None:
        self.report.frames += len(frames)
        self.report.sources += sum(len(q.sources) for q in frames)
        self.report.rois += sum(len(q.rois) for q in frames)
        absent = {id(item) for item in missing}  # identity: equal updates may both be missing
        stored: list[Queued | QueuedLabels] = [*frames]
        stored += [item for item in labels if id(item) not in absent]
        for done in stored:
            for kind in done.warnings:
                self.report.warn(kind, done.where)
        for item in missing:
            self.reject(RecordError(item.where, f"frame {item.frame_id!r} is not in the catalog"))
        for item in labels:
            if id(item) not in absent:
                self.report.rois += len(item.rois)
                self._check_mask_uris(item.source_rois)

    def _write_frames(self, con: Any, frames: list[Queued]) -> Again:
        now = datetime.now(UTC).replace(tzinfo=None)
        frame_rows = [(*queued.row, now) for queued in frames]
        source_rows = [row for queued in frames for row in queued.sources]
        roi_rows = [row for queued in frames for row in queued.rois]
        for queued in frames:
            frame = queued.frame
            if frame.dataset:
                self._datasets.add((frame.dataset, frame.version))
            for s in frame.sources:
                self._check_uris(s.uri, s.preview_uri, *(m.get("uri") for m in s.masks))
            self._check_mask_uris(frame.rois)
        tables = (rows_table(frame_rows, FRAME_SCHEMA), rows_table(source_rows, SOURCE_SCHEMA))
        rois = rows_table(roi_rows, ROI_SCHEMA)
        return store_queued(self.catalog, self._counted, con, *tables, rois)

    def remove(self, frame_ids: Sequence[str]) -> None:
        """Delete the stored frames `frame_ids` (their sources, ROIs and tags) in one
        transaction, after the frames queued: those this import counted are counted no more
        (a frame the import removes is not among those it leaves stored)."""
        self.flush()  # queued frames first, so the deletion sees the catalog as it is
        ids = sorted(frame_ids)
        with self._transaction(ids) as con:
            again = self._counted.removed(con, ids)
            touch(con, "SELECT unnest(?::VARCHAR[])", [ids])
            for table in ("rois", "sources", "tags"):
                con.execute(
                    f"DELETE FROM {table} WHERE frame_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
                )
            con.execute("DELETE FROM frames WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids])
            if again:
                self._take_back(con, again)
                if self._run is not None:
                    self._run.committed(con, self.report)

    def _take_back(self, con: Any, again: Again) -> None:
        """Take the frames counted before off the report, the URIs of theirs that lie outside
        the media roots with them (counted when they were counted): a stored URI counts
        once, as its frame does."""
        take_back(self.report, again)
        if len(again.uris):
            before = IngestReport()
            count_outside(con, again.uris, self._roots, before)
            self.report.outside_media_roots -= before.outside_media_roots

    def _check_uris(self, *uris: Any) -> None:
        """Count the URIs whose files lie outside every media root (stored all the same)."""
        for uri in uris:
            if isinstance(uri, str) and uri and self._roots.is_outside(uri):
                self.report.note_outside(uri)

    def _check_mask_uris(self, rois: Sequence[Roi]) -> None:
        for roi in rois:
            if roi.mask is not None:
                self._check_uris(roi.mask.get("uri"))

    def _finish(self) -> None:
        """Save the keypoints and datasets the import named, in one transaction; none when
        it named neither (a transaction costs its COMMIT and the layout's upkeep)."""
        if not self._keypoints and not self._datasets:
            return
        with elsewhere.writing(self.catalog), self.catalog.transaction() as con:
            save_keypoint_labels(con, self._keypoints.values())
            for dataset, version in sorted(self._datasets, key=str):
                con.execute(
                    "INSERT INTO datasets (id, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [dataset, dataset],
                )
                if version is not None:
                    con.execute(
                        "INSERT INTO dataset_versions (dataset, version) VALUES (?, ?) "
                        "ON CONFLICT DO NOTHING",
                        [dataset, version],
                    )


def _not_set_aside(items: list[Any], exc: Exception) -> str:
    """What to do when a record fails to store inside a caller's transaction."""
    where = items[0].where if len(items) == 1 else f"{items[0].where} to {items[-1].where}"
    return (
        f"a record of {where} ({len(items)} queued) failed to store: {exc}. Inside a caller's"
        " transaction (`catalog.transaction()`) the import cannot set it aside and store the"
        " rest (DuckDB has no savepoints): the whole transaction rolls back. Run the import"
        " on its own, outside the transaction, to have that record rejected with its error"
        " and the others stored"
    )


def _full_rois(rois: pa.Table) -> pa.Table:
    """ROI rows with every column of ROI_SCHEMA (the SQL importers make no `visibility`)."""
    if "visibility" in rois.column_names:
        return rois
    column = pa.nulls(rois.num_rows, ROI_SCHEMA.field("visibility").type)
    return rois.append_column(ROI_SCHEMA.field("visibility"), column)
