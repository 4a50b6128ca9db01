"""Streams records into the catalog in Arrow batches.

Every importer feeds a CatalogWriter. Each batch is written in one transaction: frames that
already exist are replaced whole (their sources and ROIs with them), so importing the same data
twice updates instead of duplicating; tags survive. Label-only imports replace the ROIs of one
field on existing frames and leave everything else alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import orjson
import pyarrow as pa
from tqdm.auto import tqdm

from workbench.errors import RecordError
from workbench.ingest.imports import current_run
from workbench.ingest.records import Frame, Roi, bbox_of, validate_frame
from workbench.media.files import MediaRootCheck
from workbench.store.schema import PROMOTED_KEYS

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

_GEOMETRY = pa.list_(pa.list_(pa.float64()))
_STRINGS = pa.list_(pa.string())

FRAME_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("dataset", pa.string()),
        ("version", pa.string()),
        ("context_id", pa.string()),
        ("timestamp", pa.int64()),
        ("frame_index", pa.int32()),
        ("num_frames", pa.int32()),
        ("metadata", pa.string()),
        *[(key, pa.string()) for key in PROMOTED_KEYS],
        ("saved", pa.timestamp("us")),
        ("saved_in_version", pa.string()),
        ("ingested", pa.timestamp("us")),
    ]
)
SOURCE_SCHEMA = pa.schema(
    [
        ("frame_id", pa.string()),
        ("id", pa.string()),
        ("uri", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("content_type", pa.string()),
        ("timestamp", pa.int64()),
        ("preview_uri", pa.string()),
        ("masks", pa.string()),
    ]
)
ROI_SCHEMA = pa.schema(
    [
        ("frame_id", pa.string()),
        ("id", pa.string()),
        ("field", pa.string()),
        ("label", pa.string()),
        ("labels", _STRINGS),
        ("confidence", pa.float64()),
        ("kind", pa.string()),
        ("geometry", _GEOMETRY),
        ("x_min", pa.float64()),
        ("y_min", pa.float64()),
        ("x_max", pa.float64()),
        ("y_max", pa.float64()),
        ("area", pa.float64()),
        ("source_ids", _STRINGS),
        ("mask", pa.string()),
        ("attributes", pa.string()),
        ("track_index", pa.int32()),
        ("keyframe", pa.bool_()),
    ]
)

MAX_KEPT_ERRORS = 1000
MAX_OUTSIDE_EXAMPLES = 3


@dataclass
class IngestReport:
    """What an import did: counts of what was stored and the records it had to refuse.

    `outside_media_roots` counts the stored local URIs (sources, previews, masks) whose files
    lie outside every media root: they are kept as given but never served; `outside_examples`
    holds the first few. `warnings` are notes about stored data; `import_id` names the
    import's record in the catalog's `imports` table.
    """

    frames: int = 0
    rois: int = 0
    rejected: int = 0
    errors: list[RecordError] = field(default_factory=list)
    sources: int = 0
    outside_media_roots: int = 0
    outside_examples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    import_id: str | None = None

    def __str__(self) -> str:
        text = f"{self.frames} frames, {self.rois} ROIs stored; {self.rejected} records rejected"
        shown = "".join(f"\n  {err}" for err in self.errors[:20])
        more = self.rejected - min(len(self.errors), 20)
        text += shown + (f"\n  ... and {more} more" if more > 0 else "")
        text += "".join(f"\n  warning: {note}" for note in self.warnings)
        if self.outside_media_roots:
            first = ", ".join(repr(uri) for uri in self.outside_examples)
            text += (
                f"\n  {self.outside_media_roots} URIs lie outside the media roots and will "
                f"not be served (first: {first}); declare their folder with --media-root DIR "
                "(media_roots=[...] in Python) or `workbench media-roots add DIR`"
            )
        return text

    def note_outside(self, uri: str, times: int = 1) -> None:
        """Count a stored URI (`times` times) whose file lies outside every media root."""
        self.outside_media_roots += times
        if len(self.outside_examples) < MAX_OUTSIDE_EXAMPLES:
            self.outside_examples.append(uri)

    @property
    def ok(self) -> bool:
        return self.rejected == 0


def json_text(value: Any) -> str | None:
    """Serialise metadata/attributes for a JSON column; None and {} stay NULL."""
    if value is None or value == {}:
        return None
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _roi_row(frame_id: str, roi: Roi) -> tuple[Any, ...]:
    """One rois row, in ROI_SCHEMA's column order."""
    box = bbox_of(roi)
    if box is None:
        x_min = y_min = x_max = y_max = area = None
    else:
        x_min, y_min, x_max, y_max = box
        area = (x_max - x_min) * (y_max - y_min)
    return (
        frame_id,
        roi.id,
        roi.field,
        roi.labels[0] if roi.labels else None,
        roi.labels,
        roi.confidence,
        roi.kind,
        roi.geometry,
        x_min,
        y_min,
        x_max,
        y_max,
        area,
        roi.source_ids,
        json_text(roi.mask),
        json_text(roi.attributes) if roi.attributes else None,
        roi.track_index,
        roi.keyframe,
    )


def _table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Rows of tuples in schema order -> an Arrow table (cheaper than from_pylist of dicts)."""
    if not rows:
        return schema.empty_table()
    columns = zip(*rows, strict=True)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


class CatalogWriter:
    """Buffer frames (or label updates) and write them in transactions of `batch_size` frames.

    Use as a context manager; `report` holds the outcome. A record that fails validation is
    rejected with a RecordError naming it, and the rest of the batch is still written.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        batch_size: int = 20_000,
        progress: bool = True,
        total: int | None = None,
        desc: str = "ingest",
    ) -> None:
        self.catalog = catalog
        self.batch_size = batch_size
        # Inside a recorded import (workbench/ingest/imports.py) each committed batch updates
        # its record, and URIs are checked against the roots the import declared.
        self._run = current_run()
        self.report = IngestReport(import_id=self._run.record.id if self._run else None)
        self._roots = self._run.roots if self._run else MediaRootCheck(catalog.media_roots())
        self._frames: dict[str, Frame] = {}
        self._labels: dict[tuple[str, str], tuple[str, Sequence[Roi]]] = {}
        self._datasets: set[tuple[str, str | None]] = set()
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
            if exc_type is None or issubclass(exc_type, Exception):
                # Good records read before a failure are still stored.
                self.flush()
                self._finish()
        finally:
            self._bar.close()

    def add(self, frame: Frame, where: str | None = None) -> None:
        """Queue a whole frame; it replaces any stored frame with the same id."""
        try:
            validate_frame(frame, where or f"frame {frame.id!r}")
        except RecordError as err:
            self.reject(err)
            return
        self._frames[frame.id] = frame
        self._bar.update(1)
        if len(self._frames) + len(self._labels) >= self.batch_size:
            self.flush()

    def add_labels(
        self, frame_id: str, field_name: str, rois: Sequence[Roi], where: str | None = None
    ) -> None:
        """Queue the ROIs of one label field of a stored frame, replacing that field's ROIs."""
        probe = Frame(id=frame_id, rois=rois)
        try:
            validate_frame(probe, where or f"frame {frame_id!r}")
        except RecordError as err:
            self.reject(err)
            return
        self._labels[(frame_id, field_name)] = (where or f"frame {frame_id!r}", rois)
        self._bar.update(1)
        if len(self._frames) + len(self._labels) >= self.batch_size:
            self.flush()

    def reject(self, error: RecordError) -> None:
        self.report.rejected += 1
        if len(self.report.errors) < MAX_KEPT_ERRORS:
            self.report.errors.append(error)

    def flush(self) -> None:
        if not self._frames and not self._labels:
            return
        frames, labels = list(self._frames.values()), dict(self._labels)
        self._frames.clear()
        self._labels.clear()
        with self.catalog.transaction() as con:
            if frames:
                self._write_frames(con, frames)
            if labels:
                self._write_labels(con, labels)
            if self._run is not None:
                self._run.committed(con, self.report)

    def _write_frames(self, con: Any, frames: list[Frame]) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        frame_rows: list[tuple[Any, ...]] = []
        source_rows: list[tuple[Any, ...]] = []
        roi_rows: list[tuple[Any, ...]] = []
        for frame in frames:
            meta = frame.metadata
            frame_rows.append(
                (
                    frame.id,
                    frame.dataset,
                    frame.version,
                    frame.resolved_context_id,
                    frame.timestamp,
                    frame.frame_index,
                    frame.num_frames,
                    json_text(meta),
                    *[_promoted(meta.get(key)) for key in PROMOTED_KEYS],
                    frame.saved,
                    frame.saved_in_version,
                    now,
                )
            )
            if frame.dataset:
                self._datasets.add((frame.dataset, frame.version))
            for s in frame.sources:
                source_rows.append(
                    (
                        frame.id,
                        s.id,
                        s.uri,
                        s.width,
                        s.height,
                        s.content_type,
                        s.timestamp,
                        s.preview_uri,
                        json_text(list(s.masks)) if s.masks else None,
                    )
                )
                self._check_uris(s.uri, s.preview_uri, *(m.get("uri") for m in s.masks))
            roi_rows.extend(_roi_row(frame.id, roi) for roi in frame.rois)
            self._check_mask_uris(frame.rois)
        batch_frames = _table(frame_rows, FRAME_SCHEMA)
        con.register("_wb_frames", batch_frames)
        try:
            if self.catalog.has_frames():
                for table in ("rois", "sources"):
                    con.execute(
                        f"DELETE FROM {table} WHERE frame_id IN (SELECT id FROM _wb_frames)"
                    )
                con.execute("DELETE FROM frames WHERE id IN (SELECT id FROM _wb_frames)")
            con.execute("INSERT INTO frames BY NAME SELECT * FROM _wb_frames")
            _insert(con, "sources", _table(source_rows, SOURCE_SCHEMA))
            _insert(con, "rois", _table(roi_rows, ROI_SCHEMA))
        finally:
            con.unregister("_wb_frames")
        self.report.frames += len(frame_rows)
        self.report.sources += len(source_rows)
        self.report.rois += len(roi_rows)

    def _write_labels(
        self, con: Any, labels: dict[tuple[str, str], tuple[str, Sequence[Roi]]]
    ) -> None:
        wanted = sorted({frame_id for frame_id, _ in labels})
        known = {
            row[0]
            for row in con.execute(
                "SELECT id FROM frames WHERE id IN (SELECT unnest(?::VARCHAR[]))", [wanted]
            ).fetchall()
        }
        keys = pa.table({"frame_id": [k[0] for k in labels], "field": [k[1] for k in labels]})
        rows: list[tuple[Any, ...]] = []
        for (frame_id, field_name), (where, rois) in labels.items():
            if frame_id not in known:
                self.reject(RecordError(where, f"frame {frame_id!r} is not in the catalog"))
                continue
            rows.extend(_roi_row(frame_id, _with_field(roi, field_name)) for roi in rois)
            self._check_mask_uris(rois)
        con.register("_wb_label_keys", keys)
        try:
            con.execute(
                "DELETE FROM rois WHERE (frame_id, field) IN "
                "(SELECT (frame_id, field) FROM _wb_label_keys)"
            )
        finally:
            con.unregister("_wb_label_keys")
        _insert(con, "rois", _table(rows, ROI_SCHEMA))
        self.report.rois += len(rows)

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
        with self.catalog.transaction() as con:
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


def _with_field(roi: Roi, field_name: str) -> Roi:
    return roi if roi.field == field_name else replace(roi, field=field_name)


def _promoted(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _insert(con: Any, table: str, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    con.register("_wb_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _wb_rows")
    finally:
        con.unregister("_wb_rows")
