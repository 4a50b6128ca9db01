"""Shapes: annotations on a platform, as the service and every backend exchange them, and the
Arrow tables they travel in (`SHAPE_SCHEMA` out of a platform, `LABEL_SCHEMA` and
`UPLOAD_FRAME_SCHEMA` into one)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from workbench.model.geometry import Ring, corner_ring
from workbench.model.jsontext import json_or_none, parse_json
from workbench.model.records import GEOMETRY
from workbench.model.serialise import Serialisable


@dataclass(frozen=True)
class Shape(Serialisable):
    """One annotation on a platform: a box, polygon, polyline, points, mask, class or value.

    Geometry follows the catalog: rings of flat `x0, y0, x1, y1, ...` in source pixels, y down;
    a box is one ring of four corners (`Shape.box`). `id` is the platform's shape id; leave it
    None for a new shape and the platform assigns one. `value` is the value of a scalar field.
    """

    frame_id: str
    field: str
    kind: str
    label: str | None = None
    geometry: tuple[Ring, ...] = ()
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: str | None = None
    task_id: str | None = None
    confidence: float | None = None
    mask: dict[str, Any] | None = None
    value: Any = None
    track_index: int | None = None
    keyframe: bool | None = None
    source_ids: tuple[str, ...] = ()

    @classmethod
    def box(
        cls,
        frame_id: str,
        field: str,
        label: str,
        x: float,
        y: float,
        w: float,
        h: float,
        **more: Any,
    ) -> Shape:
        """A box from its top-left corner and size, as four corners clockwise."""
        ring = corner_ring(x, y, x + w, y + h)
        return cls(
            frame_id=frame_id, field=field, kind="box", label=label, geometry=(ring,), **more
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Shape:
        """A shape from a row of `SHAPE_SCHEMA` (JSON columns as text)."""
        return cls(
            frame_id=row["frame_id"],
            field=row["field"],
            kind=row["kind"],
            label=row["label"],
            geometry=tuple(tuple(ring) for ring in row["geometry"] or ()),
            attributes=parse_json(row["attributes"]) or {},
            id=row["id"],
            task_id=row["task_id"],
            confidence=row["confidence"],
            mask=parse_json(row["mask"]),
            value=parse_json(row["value"]),
            track_index=row["track_index"],
            keyframe=row["keyframe"],
            source_ids=tuple(row["source_ids"] or ()),
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "id": self.id,
            "frame_id": self.frame_id,
            "field": self.field,
            "kind": self.kind,
            "label": self.label,
            "confidence": self.confidence,
            "geometry": [list(map(float, ring)) for ring in self.geometry],
            "mask": json_or_none(self.mask),
            "attributes": json_or_none(self.attributes or None),
            "value": json_or_none(self.value),
            "track_index": self.track_index,
            "keyframe": self.keyframe,
            "source_ids": list(self.source_ids),
        }


SHAPE_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("id", pa.string()),
        ("frame_id", pa.string()),
        ("field", pa.string()),
        ("kind", pa.string()),
        ("label", pa.string()),
        ("confidence", pa.float64()),
        ("geometry", GEOMETRY),
        ("mask", pa.string()),
        ("attributes", pa.string()),
        ("value", pa.string()),
        ("track_index", pa.int32()),
        ("keyframe", pa.bool_()),
        ("source_ids", pa.list_(pa.string())),
    ]
)

# Existing labels handed to `upload`: SHAPE_SCHEMA without platform ids, plus the ROI id
# (NULL for scalar values, which live in frame metadata).
LABEL_SCHEMA = pa.schema(
    [("roi_id", pa.string())] + [f for f in SHAPE_SCHEMA if f.name not in ("task_id", "id")]
)

# Frames handed to `upload`, in run order; scenes are never split across tasks.
UPLOAD_FRAME_SCHEMA = pa.schema(
    [
        ("frame_id", pa.string()),
        ("input_uuid", pa.string()),
        ("scene_index", pa.int32()),
        ("position", pa.int32()),
    ]
)
