"""Frames turned into the catalog's rows (FRAME_SCHEMA, SOURCE_SCHEMA, ROI_SCHEMA) as tuples,
checked on the way: a value the catalog cannot hold raises before anything is queued. The
CatalogWriter (workbench.ingest.writer) queues them; the SQL importers take `frame_rows`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson

from workbench.errors import RecordError
from workbench.model.limits import MAX_JSON_FIELD_BYTES
from workbench.model.records import PROMOTED_KEYS, Frame, Roi, Source, bbox_of
from workbench.model.validation import validate_frame


def json_text(value: Any) -> str | None:
    """Serialise metadata/attributes for a JSON column; None and {} stay NULL."""
    if value is None or value == {}:
        return None
    text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    if len(text) > MAX_JSON_FIELD_BYTES:
        raise ValueError(f"{len(text):,} bytes of JSON, more than {MAX_JSON_FIELD_BYTES:,}")
    return text


def roi_row(frame_id: str, roi: Roi) -> tuple[Any, ...]:
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
        list(roi.labels),
        roi.confidence,
        roi.kind,
        roi.geometry,
        x_min,
        y_min,
        x_max,
        y_max,
        area,
        list(roi.source_ids),
        _json_column(roi.mask, "mask"),
        _json_column(roi.attributes, "attributes") if roi.attributes else None,
        roi.track_index,
        roi.keyframe,
        list(roi.visibility) if roi.visibility is not None else None,
    )


def _json_column(value: Any, what: str) -> str | None:
    try:
        return json_text(value)
    except (TypeError, ValueError) as exc:  # orjson's JSONEncodeError is a TypeError
        raise ValueError(f"{what}: {exc}") from exc


@dataclass(slots=True)
class Queued:
    """A frame checked and turned into rows, waiting for its batch to be written."""

    where: str
    frame: Frame
    row: tuple[Any, ...]  # frames row without `ingested`, set when the batch is written
    sources: list[tuple[Any, ...]]
    rois: list[tuple[Any, ...]]
    warnings: list[str]


def frame_rows(
    frame: Frame, where: str
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    """A frame checked and turned into its frames row (without `ingested`), sources rows and
    rois rows as the SQL importers make them (no `visibility`: write_rows fills it in), with
    its warnings; RecordError (or the value's error) when it cannot be stored."""
    queued = queued_frame(frame, where, validate_frame(frame, where))
    if any(roi.kind == "keypoints" for roi in frame.rois):
        raise RecordError(where, "keypoints ROIs cannot be stored by this importer")
    rois = [row[:-1] for row in queued.rois]
    return queued.row, queued.sources, rois, queued.warnings


def queued_frame(frame: Frame, where: str, warnings: list[str]) -> Queued:
    """The frame's rows; raises (on values the catalog cannot hold) before anything is queued."""
    meta = frame.metadata
    row = (
        frame.id,
        frame.dataset,
        frame.version,
        frame.resolved_context_id,
        frame.timestamp,
        frame.frame_index,
        frame.num_frames,
        _json_column(meta, "metadata"),
        *[promoted_text(meta.get(key)) for key in PROMOTED_KEYS],
        frame.saved,
        frame.saved_in_version,
    )
    sources = [
        (
            frame.id,
            s.id,
            s.uri,
            s.width,
            s.height,
            s.content_type,
            s.timestamp,
            s.preview_uri,
            _json_column(list(s.masks), "masks") if s.masks else None,
        )
        for s in frame.sources
    ]
    rois = [roi_row(frame.id, roi) for roi in frame.rois]
    return Queued(where, frame, row, sources, rois, warnings)


# add_labels checks ROIs as on a frame with one source of unknown size.
PROBE = Source("-", "-")


def with_field(roi: Roi, field_name: str) -> Roi:
    return roi if roi.field == field_name else replace(roi, field=field_name)


def promoted_text(value: Any) -> str | None:
    """A metadata value as its promoted column holds it: a scalar's text, else NULL."""
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)
