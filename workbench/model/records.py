"""The records of the catalog: frames with their sources and ROIs, and their Arrow rows.

Importers produce `Frame`/`Source`/`Roi` records and the writer stores them as rows of
`FRAME_SCHEMA`, `SOURCE_SCHEMA` and `ROI_SCHEMA` (workbench.model.validation checks them
first). Geometry is in source pixel coordinates, y pointing down. `geometry` is a list of
rings, each a flat list [x0, y0, x1, y1, ...]: a box is one ring of four corners, a polygon may
have several rings (parts or holes of one ROI), a polyline's rings are open paths, a point ROI
is one ring of one or more points, a keypoints ROI is one ring holding its label's named
points in order with their visibility beside it (`visibility`, COCO's v: 0 not labelled, 1
labelled but not visible, 2 visible; the names and skeleton belong to the label, not to each
ROI), masks and classifications have no rings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import pyarrow as pa

from workbench.model.geometry import Ring, bounds

RoiKind = Literal["box", "polygon", "polyline", "point", "keypoints", "mask", "classification"]
ROI_KINDS: tuple[RoiKind, ...] = get_args(RoiKind)
# The fewest points (x, y pairs) each ring of a kind has; masks and classifications have none.
MIN_POINTS: dict[str, int] = {"box": 2, "polygon": 3, "polyline": 2, "point": 1, "keypoints": 1}
# Kinds that cover an area (their bounding box is derived and counted).
AREA_KINDS = frozenset({"box", "polygon", "mask"})
# Metadata keys copied into their own columns on ingest, so common filters need no JSON parsing.
PROMOTED_KEYS: tuple[str, ...] = ("weather", "time_of_day", "camera", "location")
# A keypoint's visibility (COCO's v): not labelled, labelled but not visible, visible.
VISIBILITY_VALUES: tuple[int, ...] = (0, 1, 2)


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
    # Keypoints only: the visibility of each point of the ring (VISIBILITY_VALUES).
    visibility: Sequence[int] | None = None

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


def bbox_of(roi: Roi) -> tuple[float, float, float, float] | None:
    """(x_min, y_min, x_max, y_max) over every ring, or the ROI's explicit box; keypoints
    are bounded by their labelled points only (an unlabelled one sits anywhere, often 0, 0)."""
    if roi.bbox is not None:
        return roi.bbox
    if roi.kind == "keypoints" and roi.visibility is not None and roi.geometry:
        return bounds([labelled_points(roi.geometry[0], roi.visibility)])
    return bounds(roi.geometry)


def labelled_points(ring: Sequence[float], visibility: Sequence[int]) -> list[float]:
    """The x, y pairs of a keypoints ring whose visibility is not 0 (not labelled)."""
    return [c for n, v in enumerate(visibility) if v for c in ring[2 * n : 2 * n + 2]]


# -- the catalog's rows as Arrow ------------------------------------------------------------

GEOMETRY = pa.list_(pa.list_(pa.float64()))
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
        ("geometry", GEOMETRY),
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
        ("visibility", pa.list_(pa.int8())),
    ]
)
