"""Similarity queries: what a query is (ids, ROIs or a vector), and find_similar.

catalog.find_similar("berlin-0001/0030", k=20)             # a frame
catalog.find_similar(["a", "b", "c"], k=20)                # the mean of several frames
catalog.find_similar(RoiRef("berlin-0001/0030", "gt-7"))   # an ROI (ROI embeddings)
catalog.find_similar(vector, k=20, key="clip")             # any vector of the key's width
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from workbench.analysis.similarity.index import Hits, SimilarityIndex
from workbench.analysis.similarity.matrix import ROI_SEP, VectorMatrix, load, unit
from workbench.errors import AnalysisError
from workbench.model.similarity import Query

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

MAX_K = 100_000_000


def query_vector(query: Query, matrix: VectorMatrix) -> np.ndarray:
    """The query as one unit vector of the key: the mean of its items' vectors."""
    if query.vector is not None:
        if len(query.vector) != matrix.info.dimension:
            raise AnalysisError(
                f"a query vector of {len(query.vector)} numbers for embeddings "
                f"{matrix.info.key!r} of {matrix.info.dimension}"
            )
        return unit(np.asarray(query.vector, dtype=np.float32)[None, :])[0]
    rois = matrix.info.target == "rois"
    if rois and not query.rois:
        raise AnalysisError(f"embeddings {matrix.info.key!r} are of ROIs: query with RoiRefs")
    if not rois and query.rois:
        raise AnalysisError(f"embeddings {matrix.info.key!r} are of frames: query with frame ids")
    keys = (
        [f"{r.frame_id}{ROI_SEP}{r.roi_id}" for r in query.rois] if rois else list(query.frame_ids)
    )
    rows = matrix.rows_of(keys)
    missing = [query.rois[i] if rois else query.frame_ids[i] for i in np.flatnonzero(rows < 0)]
    if missing:
        listed = ", ".join(repr(m) for m in missing[:5])
        raise AnalysisError(
            f"no {matrix.info.key!r} embedding for {listed}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        )
    mean = np.asarray(matrix.vectors[np.sort(rows)], dtype=np.float32).mean(axis=0)
    return unit(mean[None, :])[0]


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
    vector = query_vector(parsed, matrix)
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
