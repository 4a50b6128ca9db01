"""Similarity queries: what a query is (ids, ROIs or a vector), and find_similar.

catalog.find_similar("berlin-0001/0030", k=20)             # a frame
catalog.find_similar(["a", "b", "c"], k=20)                # the mean of several frames
catalog.find_similar(RoiRef("berlin-0001/0030", "gt-7"))   # an ROI (ROI embeddings)
catalog.find_similar(vector, k=20, key="clip")             # any vector of the key's width
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa

from workbench.analysis.similarity.index import Hits, SimilarityIndex
from workbench.analysis.similarity.matrix import ROI_SEP, VectorMatrix, load, unit
from workbench.errors import AnalysisError

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

MAX_QUERY_IDS = 10_000
MAX_K = 100_000_000


class RoiRef(NamedTuple):
    """An ROI: its frame and its id within the frame."""

    frame_id: str
    roi_id: str


@dataclass(frozen=True)
class Query:
    """Frames, ROIs or a vector to compare with; exactly one of the three is given."""

    frame_ids: tuple[str, ...] = ()
    rois: tuple[RoiRef, ...] = ()
    vector: tuple[float, ...] | None = None

    @classmethod
    def of(cls, value: Any) -> Query:
        """A frame id, a list of frame ids, a RoiRef or {"frame_id", "roi_id"} (or a list of
        them), a vector (list or NumPy array of numbers), or a Query."""
        if isinstance(value, Query):
            return value
        if isinstance(value, dict) and set(value) <= {"frame_ids", "rois", "vector"} and value:
            return cls._from_json(value)
        if isinstance(value, str):
            return cls(frame_ids=(value,))
        if isinstance(value, RoiRef | dict):
            return cls(rois=(_roi(value),))
        if isinstance(value, np.ndarray):
            return cls._vector(value.tolist())
        if isinstance(value, list | tuple) and value:
            if all(isinstance(v, str) for v in value) and not isinstance(value, RoiRef):
                return cls(frame_ids=_bounded(tuple(value)))
            if all(isinstance(v, RoiRef | dict) for v in value):
                return cls(rois=_bounded(tuple(_roi(v) for v in value)))
            return cls._vector(list(value))
        raise AnalysisError(
            "a similarity query is a frame id, a list of frame ids, a RoiRef (or list of "
            f"them) or a vector, not {value!r:.200}"
        )

    @classmethod
    def _vector(cls, values: list[Any]) -> Query:
        if not values or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise AnalysisError("a query vector is a non-empty list of numbers")
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 1 or not np.isfinite(array).all() or not np.any(array):
            raise AnalysisError("a query vector must be one row of finite numbers, not all zero")
        return cls(vector=tuple(float(v) for v in array))

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> Query:
        if len(data) != 1:
            raise AnalysisError(f"a query holds one of frame_ids, rois, vector, got {list(data)}")
        ((name, value),) = data.items()
        if name == "vector":
            return cls._vector(list(value) if isinstance(value, list | tuple) else [value])
        if not isinstance(value, list | tuple) or not value:
            raise AnalysisError(f"query {name} must be a non-empty list")
        if name == "rois":
            return cls(rois=_bounded(tuple(_roi(v) for v in value)))
        if not all(isinstance(v, str) for v in value):
            raise AnalysisError("query frame_ids must be strings")
        return cls(frame_ids=_bounded(tuple(value)))

    def to_json(self) -> dict[str, Any]:
        if self.vector is not None:
            return {"vector": list(self.vector)}
        if self.rois:
            return {"rois": [list(r) for r in self.rois]}
        return {"frame_ids": list(self.frame_ids)}

    def unit_vector(self, matrix: VectorMatrix) -> np.ndarray:
        """The query as one unit vector of the key: the mean of its items' vectors."""
        if self.vector is not None:
            if len(self.vector) != matrix.info.dimension:
                raise AnalysisError(
                    f"a query vector of {len(self.vector)} numbers for embeddings "
                    f"{matrix.info.key!r} of {matrix.info.dimension}"
                )
            return unit(np.asarray(self.vector, dtype=np.float32)[None, :])[0]
        rois = matrix.info.target == "rois"
        if rois and not self.rois:
            raise AnalysisError(f"embeddings {matrix.info.key!r} are of ROIs: query with RoiRefs")
        if not rois and self.rois:
            raise AnalysisError(
                f"embeddings {matrix.info.key!r} are of frames: query with frame ids"
            )
        keys = (
            [f"{r.frame_id}{ROI_SEP}{r.roi_id}" for r in self.rois]
            if rois
            else list(self.frame_ids)
        )
        rows = matrix.rows_of(keys)
        missing = [self.rois[i] if rois else self.frame_ids[i] for i in np.flatnonzero(rows < 0)]
        if missing:
            listed = ", ".join(repr(m) for m in missing[:5])
            raise AnalysisError(
                f"no {matrix.info.key!r} embedding for {listed}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            )
        mean = np.asarray(matrix.vectors[np.sort(rows)], dtype=np.float32).mean(axis=0)
        return unit(mean[None, :])[0]


def _roi(value: Any) -> RoiRef:
    if isinstance(value, dict):
        value = (value.get("frame_id"), value.get("roi_id"))
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, str) for v in value)
    ):
        return RoiRef(value[0], value[1])
    raise AnalysisError(f"an ROI is given as RoiRef(frame_id, roi_id), got {value!r:.200}")


def _bounded(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(values) > MAX_QUERY_IDS:
        raise AnalysisError(f"a query names at most {MAX_QUERY_IDS} items, got {len(values)}")
    return values


@dataclass(frozen=True)
class Neighbours:
    """The result of a similarity search: most similar first."""

    key: str
    target: str
    frame_ids: tuple[str, ...]
    roi_ids: tuple[str, ...] | None  # for ROI embeddings
    scores: tuple[float, ...]  # cosine similarity, 1 = same direction
    exact: bool

    def __len__(self) -> int:
        return len(self.frame_ids)

    def to_arrow(self) -> pa.Table:
        """frame_id[, roi_id], score, distance (1 - score), rank (0 = most similar)."""
        columns: dict[str, Any] = {"frame_id": pa.array(self.frame_ids, pa.string())}
        if self.roi_ids is not None:
            columns["roi_id"] = pa.array(self.roi_ids, pa.string())
        scores = np.asarray(self.scores, dtype=np.float64)
        columns["score"] = pa.array(scores)
        columns["distance"] = pa.array(1.0 - scores)
        columns["rank"] = pa.array(np.arange(len(scores), dtype=np.int32))
        return pa.table(columns)


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise AnalysisError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return k


def search(
    catalog: Catalog,
    query: Any,
    k: int,
    key: str | None = None,
    *,
    frame_ids: Sequence[str] | None = None,
    approximate: bool | None = None,
) -> Neighbours:
    """The k frames (or ROIs) most similar to `query`, among `frame_ids` if given."""
    check_k(k)
    parsed = Query.of(query)
    matrix = load(catalog, key)
    vector = parsed.unit_vector(matrix)
    rows = matrix.rows_of_frames(list(frame_ids)) if frame_ids is not None else None
    index = SimilarityIndex(catalog, matrix, approximate=approximate)
    hits = index.search(vector, k, rows) if rows is None or len(rows) else _none()
    return _neighbours(matrix, hits)


def _none() -> Hits:
    return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32), True)


def _neighbours(matrix: VectorMatrix, hits: Hits) -> Neighbours:
    ids = matrix.ids.take(pa.array(hits.rows, pa.int64()))
    rois = matrix.info.target == "rois"
    return Neighbours(
        key=matrix.info.key,
        target=matrix.info.target,
        frame_ids=tuple(ids.column("frame_id").to_pylist()),
        roi_ids=tuple(ids.column("roi_id").to_pylist()) if rois else None,
        scores=tuple(float(s) for s in hits.scores),
        exact=hits.exact,
    )
