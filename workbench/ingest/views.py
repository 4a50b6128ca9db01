"""What exporters read of a view: the view itself as a protocol (ingest sits below the query
layer and knows views only by what it calls on them), and its frames, sources and ROIs read
in chunks for the image, video and Nucleus exporters."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from workbench.model.records import labelled_points

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog


class CompiledQuery(Protocol):
    """A view compiled to SQL: its text with `?` placeholders and their values."""

    @property
    def sql(self) -> str: ...

    @property
    def params(self) -> tuple[Any, ...]: ...


class ViewLike(Protocol):
    """What exporters need of a view (workbench.query.View is one): its catalog, its query,
    its frames and ROIs (as its filters leave them)."""

    @property
    def catalog(self) -> Catalog: ...

    def compile(self) -> CompiledQuery: ...

    def run(self, query: Any) -> pa.Table:
        """The rows of a compiled query, with the view's guard and time limit."""
        ...

    def frame_ids(self) -> Sequence[str]: ...

    def frames(
        self, offset: int = 0, limit: int | None = None, columns: Sequence[str] | None = None
    ) -> pa.Table: ...

    def rois(self, frame_ids: Iterable[str] | None = None) -> pa.Table: ...


@dataclass(frozen=True, slots=True)
class ExportSource:
    id: str
    uri: str
    width: int | None
    height: int | None
    content_type: str | None


@dataclass(frozen=True, slots=True)
class ExportFrame:
    id: str
    context_id: str
    timestamp: int | None
    frame_index: int | None
    metadata: dict[str, Any]
    sources: tuple[ExportSource, ...]


@dataclass(frozen=True, slots=True)
class DrawnRoi:
    label: str | None
    kind: str
    geometry: list[list[float]]
    bbox: tuple[float, float, float, float] | None
    source_ids: tuple[str, ...]
    confidence: float | None

    def on_source(self, source_id: str) -> bool:
        """ROIs that name no source belong to every source of their frame."""
        return not self.source_ids or source_id in self.source_ids


_CHUNK = 5000


def view_frames(catalog: Catalog, ids: Sequence[str]) -> Iterator[list[ExportFrame]]:
    """The frames `ids` with their sources, in the order given, a chunk at a time."""
    con = catalog.cursor()
    try:
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            rows = con.execute(
                "SELECT id, context_id, timestamp, frame_index, metadata FROM frames "
                "WHERE id IN (SELECT unnest(?::VARCHAR[]))",
                [chunk],
            ).fetchall()
            sources: dict[str, list[ExportSource]] = {}
            for frame_id, *values in con.execute(
                "SELECT frame_id, id, uri, width, height, content_type FROM sources "
                "WHERE frame_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY frame_id, id",
                [chunk],
            ).fetchall():
                sources.setdefault(frame_id, []).append(ExportSource(*values))
            by_id = {
                row[0]: ExportFrame(
                    id=row[0],
                    context_id=row[1],
                    timestamp=row[2],
                    frame_index=row[3],
                    metadata=json.loads(row[4]) if row[4] else {},
                    sources=tuple(sources.get(row[0], ())),
                )
                for row in rows
            }
            yield [by_id[i] for i in chunk if i in by_id]
    finally:
        con.close()


def frame_rois(
    view: ViewLike, frame_ids: Sequence[str], fields: Sequence[str] | None = None
) -> dict[str, list[DrawnRoi]]:
    """The view's ROIs (as its ROI filters leave them) of `frame_ids`, by frame id.

    `fields`, if given, keeps the ROIs of those label fields only.
    """
    table = view.rois(frame_ids)
    wanted = set(fields) if fields is not None else None
    rois: dict[str, list[DrawnRoi]] = {}
    for row in table.to_pylist():
        if wanted is not None and row["field"] not in wanted:
            continue
        box = (row["x_min"], row["y_min"], row["x_max"], row["y_max"])
        roi = DrawnRoi(
            label=row["label"],
            kind=row["kind"],
            geometry=_drawn_geometry(row),
            bbox=box if box[0] is not None else None,
            source_ids=tuple(row["source_ids"] or ()),
            confidence=row["confidence"],
        )
        rois.setdefault(row["frame_id"], []).append(roi)
    return rois


def _drawn_geometry(row: Mapping[str, Any]) -> list[list[float]]:
    """The rings drawn: a keypoints ROI's labelled points only."""
    rings = row["geometry"] or []
    if row["kind"] == "keypoints" and rings and row.get("visibility") is not None:
        return [labelled_points(rings[0], row["visibility"])]
    return rings
