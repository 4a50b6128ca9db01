"""Checking a record before it is stored: what the catalog cannot hold is refused with a
RecordError naming the record and the part at fault; what it stores but looks wrong is
returned as a warning kind (docs/formats/validation.md lists both, and the limits).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.errors import RecordError
from workbench.model.limits import (
    MAX_COORDINATE,
    MAX_ID_LENGTH,
    MAX_INT32,
    MAX_LABEL_LENGTH,
    MAX_LABELS_PER_ROI,
    MAX_POINTS_PER_ROI,
    MAX_RINGS_PER_ROI,
    MAX_ROIS_PER_FRAME,
    MAX_SOURCES_PER_FRAME,
    MAX_TIMESTAMP,
    MAX_URI_LENGTH,
)
from workbench.model.records import (
    AREA_KINDS,
    MIN_POINTS,
    ROI_KINDS,
    VISIBILITY_VALUES,
    Frame,
    Roi,
    Source,
    bbox_of,
)

# Characters no id or label may hold: C0 and C1 controls (NUL among them), the bidirectional
# embeddings, overrides, isolates and marks that make text read differently from how it is
# stored, and lone surrogates (bytes that were not UTF-8, which the catalog cannot store).
FORBIDDEN_CHARACTERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# URIs name files: controls and lone surrogates are refused, other characters are the file's.
_FORBIDDEN_IN_URI = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")

# Warnings: stored, but counted in the report by these kinds (docs/formats/validation.md).
WARN_NO_SOURCES = "frames without sources"
WARN_ZERO_AREA = "ROIs with zero area"
WARN_OUTSIDE = "ROIs outside their image"
WARN_UNKNOWN_SOURCE = "ROIs naming a source their frame lacks"


def check_text(value: Any, what: str, where: str, limit: int = MAX_ID_LENGTH) -> str:
    """`value` as an id or label: a non-empty string of at most `limit` plain characters."""
    if not isinstance(value, str):
        raise RecordError(where, f"{what} must be a string, got {_kind(value)}")
    if not value:
        raise RecordError(where, f"{what} is empty")
    if len(value) > limit:
        raise RecordError(where, f"{what} is {len(value):,} characters long, more than {limit:,}")
    bad = FORBIDDEN_CHARACTERS.search(value)
    if bad is not None:
        raise RecordError(
            where, f"{what} {_preview(value)} holds the character U+{ord(bad.group()):04X}"
        )
    return value


def check_id(value: Any, what: str, where: str) -> str:
    """An id given as a string or an integer, as text; RecordError for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return check_text(value, what, where)


def check_int(
    value: Any, what: str, where: str, low: int = -MAX_INT32, high: int = MAX_INT32
) -> int | None:
    """None, or an integer in [low, high]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(where, f"{what} must be an integer, got {_kind(value)}")
    if not low <= value <= high:
        raise RecordError(where, f"{what} {_number(value)} is outside [{low:,}, {high:,}]")
    return value


def validate_frame(frame: Frame, where: str, *, whole: bool = True) -> list[str]:
    """Refuse (RecordError naming `where` and the part at fault) what the catalog cannot hold.

    Returns the warnings of what is stored but suspicious, as WARN_* kinds. `whole` says the
    frame holds all its sources (not a label update checked on a stand-in source), so that
    ROIs naming a source it lacks are warned about.
    """
    if frame.id is None or frame.id == "":
        raise RecordError(where, "frame has no id")
    check_text(frame.id, "frame id", where)
    for what, value in (
        ("context_id", frame.context_id),
        ("dataset", frame.dataset),
        ("version", frame.version),
        ("saved_in_version", frame.saved_in_version),
    ):
        if value is not None:
            check_text(value, what, where)
    check_int(frame.timestamp, "timestamp", where, -MAX_TIMESTAMP, MAX_TIMESTAMP)
    check_int(frame.frame_index, "frame_index", where, 0)
    check_int(frame.num_frames, "num_frames", where, 1)
    for what, count, limit in (
        ("sources", len(frame.sources), MAX_SOURCES_PER_FRAME),
        ("ROIs", len(frame.rois), MAX_ROIS_PER_FRAME),
    ):
        if count > limit:
            raise RecordError(where, f"the frame has {count:,} {what}, more than {limit:,}")
    warnings = [] if frame.sources else [WARN_NO_SOURCES]
    sizes: dict[str, tuple[int, int]] = {}
    for source in frame.sources:
        _check_source(source, where, sizes)
    seen_rois: set[str] = set()
    for roi in frame.rois:
        if roi.id in seen_rois:
            raise RecordError(where, f"ROI id {roi.id!r} appears twice")
        seen_rois.add(roi.id)
        warnings.extend(check_roi(roi, f"{where}, ROI {_preview(roi.id)}", sizes))
        if whole and any(source_id not in sizes for source_id in roi.source_ids):
            warnings.append(WARN_UNKNOWN_SOURCE)
    return warnings


def _check_source(source: Source, where: str, sizes: dict[str, tuple[int, int]]) -> None:
    check_text(source.id, "source id", where)
    if source.id in sizes:
        raise RecordError(where, f"source id {source.id!r} appears twice")
    here = f"{where}, source {source.id!r}"
    for what, uri in (("uri", source.uri), ("preview uri", source.preview_uri)):
        if uri is not None:
            check_uri(uri, what, here)
    for dim, value in (("width", source.width), ("height", source.height)):
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise RecordError(where, f"source {source.id!r} has {dim} {value}")
        check_int(value, dim, here, 1)
    check_int(source.timestamp, "timestamp", here, -MAX_TIMESTAMP, MAX_TIMESTAMP)
    sizes[source.id] = (source.width or 0, source.height or 0)


def check_uri(uri: Any, what: str, where: str) -> str:
    if not isinstance(uri, str) or not uri:
        raise RecordError(where, f"{what} must be a non-empty string, got {_kind(uri)}")
    if len(uri) > MAX_URI_LENGTH:
        raise RecordError(where, f"{what} is {len(uri):,} characters, more than {MAX_URI_LENGTH:,}")
    bad = _FORBIDDEN_IN_URI.search(uri)
    if bad is not None:
        raise RecordError(where, f"{what} holds the character U+{ord(bad.group()):04X}")
    return uri


def check_roi(
    roi: Roi, where: str, sizes: Mapping[str, tuple[int, int]] | None = None
) -> list[str]:
    """Refuse an ROI the catalog cannot hold; the warnings of one it stores.

    `sizes` are the (width, height) of the frame's sources, 0 when unknown: an ROI that
    overlaps none of the images it is drawn on is stored with a warning.
    """
    check_text(roi.id, "ROI id", where)
    if roi.kind not in ROI_KINDS:
        raise RecordError(
            where, f"unknown kind {roi.kind!r} (expected one of {', '.join(ROI_KINDS)})"
        )
    check_text(roi.field, "field", where)
    if len(roi.labels) > MAX_LABELS_PER_ROI:
        raise RecordError(where, f"{len(roi.labels):,} labels, more than {MAX_LABELS_PER_ROI:,}")
    for label in roi.labels:
        check_text(label, "label", where, MAX_LABEL_LENGTH)
    for source_id in roi.source_ids:
        check_text(source_id, "source id", where)
    check_int(roi.track_index, "track_index", where)
    if roi.confidence is not None and not (
        isinstance(roi.confidence, int | float)
        and math.isfinite(roi.confidence)
        and 0.0 <= roi.confidence <= 1.0
    ):
        raise RecordError(where, f"confidence {roi.confidence} is outside [0, 1]")
    _check_geometry(roi, where)
    _check_visibility(roi, where)
    if roi.bbox is not None:
        _check_coordinates(list(roi.bbox), "the box", where)
    return _roi_warnings(roi, sizes)


def _check_geometry(roi: Roi, where: str) -> None:
    minimum = MIN_POINTS.get(roi.kind)
    if minimum is not None and not roi.geometry:
        raise RecordError(where, f"a {roi.kind} needs coordinates, got none")
    if len(roi.geometry) > MAX_RINGS_PER_ROI:
        raise RecordError(where, f"{len(roi.geometry):,} rings, more than {MAX_RINGS_PER_ROI:,}")
    points = sum(len(ring) for ring in roi.geometry) // 2
    if points > MAX_POINTS_PER_ROI:
        raise RecordError(where, f"{points:,} points, more than {MAX_POINTS_PER_ROI:,}")
    for number, ring in enumerate(roi.geometry):
        if len(ring) % 2:
            raise RecordError(
                where, f"ring {number} has an odd number of coordinates ({len(ring)})"
            )
        if minimum is not None and len(ring) // 2 < minimum:
            raise RecordError(
                where, f"ring {number} of a {roi.kind} has {len(ring) // 2} points, needs {minimum}"
            )
        _check_coordinates(ring, f"ring {number}", where)


def _check_visibility(roi: Roi, where: str) -> None:
    """Keypoints: one ring, and a visibility of 0, 1 or 2 for each of its points."""
    if roi.kind != "keypoints":
        if roi.visibility is not None:
            raise RecordError(where, f"a {roi.kind} has no keypoint visibility")
        return
    if len(roi.geometry) != 1:
        raise RecordError(where, f"keypoints are one ring of points, got {len(roi.geometry)}")
    count = len(roi.geometry[0]) // 2
    if roi.visibility is None or len(roi.visibility) != count:
        got = "none" if roi.visibility is None else len(roi.visibility)
        raise RecordError(where, f"{count} keypoints need {count} visibility values, got {got}")
    if not set(map(type, roi.visibility)) <= {int} or not set(roi.visibility) <= set(
        VISIBILITY_VALUES
    ):
        bad = next(v for v in roi.visibility if type(v) is not int or v not in VISIBILITY_VALUES)
        raise RecordError(where, f"keypoint visibility must be 0, 1 or 2, got {_preview(bad)}")


def _check_coordinates(values: Sequence[float], what: str, where: str) -> None:
    """Finite numbers within MAX_COORDINATE of the origin; a few C-speed passes per ring."""
    if not values:
        return
    others = set(map(type, values)) - {int, float}
    if any(t is bool or not issubclass(t, numbers.Real) for t in others):
        raise RecordError(where, f"{what} holds a value that is not a number")
    # One sum is far cheaper than a check per value: it is only inf/nan if some value is (or
    # the values are absurdly large, which the range check below refuses anyway).
    if not math.isfinite(sum(values)) and not all(math.isfinite(v) for v in values):
        raise RecordError(where, f"{what} has a coordinate that is not a finite number")
    low, high = min(values), max(values)
    if low < -MAX_COORDINATE or high > MAX_COORDINATE:
        far = low if -low > high else high
        raise RecordError(
            where,
            f"{what} has the coordinate {_number(far)}, farther than {MAX_COORDINATE:,.0f} "
            "pixels from the origin",
        )


def _roi_warnings(roi: Roi, sizes: Mapping[str, tuple[int, int]] | None) -> list[str]:
    if roi.kind not in AREA_KINDS and roi.kind not in ("point", "keypoints", "polyline"):
        return []
    box = bbox_of(roi)
    if box is None:
        return []
    x_min, y_min, x_max, y_max = box
    warnings = []
    if roi.kind in AREA_KINDS and (x_max <= x_min or y_max <= y_min):
        warnings.append(WARN_ZERO_AREA)
    known = [
        size
        for source_id, size in (sizes or {}).items()
        if size[0] and size[1] and (not roi.source_ids or source_id in roi.source_ids)
    ]
    if known and not any(x_min <= w and x_max >= 0 and y_min <= h and y_max >= 0 for w, h in known):
        warnings.append(WARN_OUTSIDE)
    return warnings


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str | int | float | bool):
        return f"{type(value).__name__} {_preview(value)}"
    return {"dict": "an object", "list": "a list"}.get(type(value).__name__, type(value).__name__)


def _preview(value: Any, limit: int = 60) -> str:
    """A value for a message: repr, cut short (a 20 MB label must not become a 20 MB message)."""
    text = repr(value) if not isinstance(value, str) or len(value) <= limit else repr(value[:limit])
    return text if len(text) <= limit + 2 else text[:limit] + "..."


def _number(value: float) -> str:
    text = f"{value:,.0f}" if isinstance(value, int) or abs(value) < 1e15 else f"{value:.3g}"
    return text if len(text) <= 30 else f"{float(value):.3g}"
