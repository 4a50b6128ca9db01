"""The records importers produce: frames with their sources and ROIs.

Geometry is in source pixel coordinates, y pointing down. `geometry` is a list of rings, each a
flat list [x0, y0, x1, y1, ...]: a box is one ring of four corners, a polygon may have several
rings (parts or holes of one ROI), a polyline's rings are open paths, a point ROI is one ring
of one or more points (keypoints), masks and classifications have no rings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workbench.errors import RecordError
from workbench.store.schema import ROI_KINDS

Ring = list[float]


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    uri: str
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    timestamp: int | None = None
    preview_uri: str | None = None
    masks: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class Roi:
    id: str
    kind: str
    labels: Sequence[str] = ()
    field: str = "ground_truth"
    geometry: Sequence[Ring] = ()
    confidence: float | None = None
    source_ids: Sequence[str] = ()
    mask: Mapping[str, Any] | None = None
    attributes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    track_index: int | None = None
    keyframe: bool | None = None
    # For masks and RLE regions the box cannot be derived from rings.
    bbox: tuple[float, float, float, float] | None = None

    @property
    def label(self) -> str | None:
        return self.labels[0] if self.labels else None


@dataclass(frozen=True, slots=True)
class Frame:
    id: str
    sources: Sequence[Source] = ()
    rois: Sequence[Roi] = ()
    context_id: str | None = None
    timestamp: int | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    dataset: str | None = None
    version: str | None = None
    frame_index: int | None = None
    num_frames: int | None = None
    saved: datetime | None = None
    saved_in_version: str | None = None

    @property
    def resolved_context_id(self) -> str:
        """The context a frame belongs to: its own, else its first source's URI, else its id."""
        if self.context_id:
            return self.context_id
        return self.sources[0].uri if self.sources else self.id


def box_ring(x: float, y: float, w: float, h: float) -> Ring:
    """The four corners of an axis-aligned box, clockwise from the top-left."""
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def bbox_of(roi: Roi) -> tuple[float, float, float, float] | None:
    """(x_min, y_min, x_max, y_max) over every ring, or the ROI's explicit box."""
    if roi.bbox is not None:
        return roi.bbox
    xs = [v for ring in roi.geometry for v in ring[0::2]]
    ys = [v for ring in roi.geometry for v in ring[1::2]]
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


_MIN_POINTS = {"box": 2, "polygon": 3, "polyline": 2, "point": 1}


def validate_frame(frame: Frame, where: str) -> None:
    """Raise RecordError naming `where` and the ROI at fault for anything the catalog can't hold."""
    if not frame.id:
        raise RecordError(where, "frame has no id")
    seen_sources: set[str] = set()
    for source in frame.sources:
        if source.id in seen_sources:
            raise RecordError(where, f"source id {source.id!r} appears twice")
        seen_sources.add(source.id)
        for dim, value in (("width", source.width), ("height", source.height)):
            if value is not None and value <= 0:
                raise RecordError(where, f"source {source.id!r} has {dim} {value}")
    seen_rois: set[str] = set()
    for roi in frame.rois:
        if roi.id in seen_rois:
            raise RecordError(where, f"ROI id {roi.id!r} appears twice")
        seen_rois.add(roi.id)
        _validate_roi(roi, f"{where}, ROI {roi.id!r}")


def _validate_roi(roi: Roi, where: str) -> None:
    if roi.kind not in ROI_KINDS:
        raise RecordError(
            where, f"unknown kind {roi.kind!r} (expected one of {', '.join(ROI_KINDS)})"
        )
    if roi.confidence is not None and not (
        math.isfinite(roi.confidence) and 0.0 <= roi.confidence <= 1.0
    ):
        raise RecordError(where, f"confidence {roi.confidence} is outside [0, 1]")
    minimum = _MIN_POINTS.get(roi.kind)
    if minimum is not None and not roi.geometry:
        raise RecordError(where, f"a {roi.kind} needs coordinates, got none")
    for number, ring in enumerate(roi.geometry):
        if len(ring) % 2:
            raise RecordError(
                where, f"ring {number} has an odd number of coordinates ({len(ring)})"
            )
        if minimum is not None and len(ring) // 2 < minimum:
            raise RecordError(
                where, f"ring {number} of a {roi.kind} has {len(ring) // 2} points, needs {minimum}"
            )
        # One sum is far cheaper than a check per value; it is only inf/nan if some value is
        # (or the ring is absurdly large), and then each value is looked at.
        if not math.isfinite(sum(ring)) and not all(math.isfinite(v) for v in ring):
            raise RecordError(where, f"ring {number} has a coordinate that is not a finite number")
