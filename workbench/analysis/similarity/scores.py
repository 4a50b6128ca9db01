"""Scores to sort by, and diverse samples to annotate under a budget.

- uniqueness: the mean cosine distance of a frame (or ROI) to its k nearest neighbours,
  divided by the largest such mean, so 1 is the most isolated and near 0 a frame among copies;
- representativeness: the cosine similarity to the centre of its k-means cluster, weighted by
  the square root of the cluster's size relative to the largest, scaled to 0..1 over the set:
  1 is the most typical frame of a large cluster, and an outlier alone in its cluster is near 0.

Both are stored in `embedding_scores` (one row per frame or ROI and key) for `sort_by_score`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from workbench.analysis._store import audit, check_writable, positive_int, registered
from workbench.analysis.embeddings.store import now
from workbench.analysis.similarity.kmeans import kmeans, nearest_centres
from workbench.analysis.similarity.matrix import VectorMatrix, load
from workbench.analysis.similarity.neighbours import nearest_neighbours
from workbench.errors import AnalysisError
from workbench.query._sql import Compiled

if TYPE_CHECKING:
    from workbench.query.view import View

SCORES: tuple[str, ...] = ("uniqueness", "representativeness")
SAMPLE_METHODS: tuple[str, ...] = ("kmeans", "fps")


@dataclass(frozen=True)
class ScoreReport:
    key: str
    rows: int
    seconds: float


def view_rows(view: View, matrix: VectorMatrix) -> np.ndarray:
    """Rows of the matrix whose frame is in the view (all rows when the view holds all)."""
    if view.plan.everything:
        return np.arange(len(matrix))
    frames = view.run(Compiled.join(["SELECT id FROM (", view.compile(), ")"], ""))
    return matrix.rows_of_frames(frames.column(0))


def compute_scores(view: View, key: str | None = None, *, k: int = 10) -> ScoreReport:
    """Uniqueness and representativeness of the view's frames (or ROIs) among themselves,
    stored for `key` (replacing the key's earlier scores of those rows)."""
    started = time.perf_counter()
    check_writable(view.catalog, "scores")
    positive_int(k, "k", maximum=1000)
    matrix = load(view.catalog, key)
    rows = view_rows(view, matrix)
    if len(rows) < 2:
        raise AnalysisError("scores need at least two embedded frames in the view")
    _, sims = nearest_neighbours(matrix.vectors, min(k, len(rows) - 1), rows)
    valid = np.isfinite(sims)
    distance = np.where(valid, 1.0 - sims, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    uniqueness = distance / max(float(distance.max()), 1e-12)
    representativeness = _representativeness(matrix.vectors, rows)
    ids = matrix.ids.take(pa.array(rows, pa.int64()))
    table = pa.table(
        {
            "frame_id": ids.column("frame_id"),
            "roi_id": ids.column("roi_id")
            if "roi_id" in ids.column_names
            else pa.nulls(len(rows), pa.string()),
            "uniqueness": pa.array(uniqueness, pa.float64()),
            "representativeness": pa.array(representativeness, pa.float64()),
        }
    )
    key_name = matrix.info.key
    with view.catalog.transaction() as con, registered(con, "_scores", table):
        con.execute(
            "DELETE FROM embedding_scores s USING _scores n WHERE s.key = ?"
            " AND s.frame_id = n.frame_id AND s.roi_id IS NOT DISTINCT FROM n.roi_id",
            [key_name],
        )
        con.execute(
            "INSERT INTO embedding_scores SELECT ?, frame_id, roi_id, uniqueness,"
            " representativeness, ? FROM _scores",
            [key_name, now()],
        )
        audit(con, "compute_scores", {"key": key_name}, len(rows), details={"k": k})
    return ScoreReport(key_name, len(rows), round(time.perf_counter() - started, 3))


def _representativeness(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    subset = np.asarray(vectors[rows], dtype=np.float32)
    clusters = max(1, min(1024, int(math.sqrt(len(rows) / 2))))
    centres = kmeans(subset, clusters, sample=min(len(rows), clusters * 40 + 1000))
    labels, sims = nearest_centres(subset, centres)
    closeness = sims[:, 0].astype(np.float64)
    sizes = np.bincount(labels[:, 0], minlength=len(centres)).astype(np.float64)
    value = np.clip(closeness, 0.0, 1.0) * np.sqrt(sizes[labels[:, 0]] / sizes.max())
    low, high = float(value.min()), float(value.max())
    return (value - low) / (high - low) if high > low else np.ones(len(value))


def diverse_sample(
    view: View, n: int, key: str | None = None, *, method: str = "kmeans", seed: int = 0
) -> list[str]:
    """`n` frames of the view that cover it: the frame nearest each of n k-means centres
    (most populous cluster first), or farthest-point sampling (method="fps": each next frame
    the one farthest from those picked, starting nearest the mean). For ROI embeddings, the
    frames of the picked ROIs (fewer when two are of one frame)."""
    positive_int(n, "n", maximum=1_000_000)
    if method not in SAMPLE_METHODS:
        raise AnalysisError(f"method must be one of {', '.join(SAMPLE_METHODS)}, got {method!r}")
    matrix = load(view.catalog, key)
    rows = view_rows(view, matrix)
    if not len(rows):
        return []
    subset = np.asarray(matrix.vectors[rows], dtype=np.float32)
    if n >= len(rows):
        picked = np.arange(len(rows))
    elif method == "fps":
        picked = _farthest_points(subset, n)
    else:
        picked = _kmeans_points(subset, n, seed)
    frames = matrix.frame_ids.take(pa.array(rows[picked], pa.int64())).to_pylist()
    return list(dict.fromkeys(frames))


def _farthest_points(vectors: np.ndarray, n: int) -> np.ndarray:
    mean = vectors.mean(axis=0)
    first = int(np.argmax(vectors @ mean))
    picked = [first]
    nearest = 1.0 - vectors @ vectors[first]
    for _ in range(n - 1):
        nearest[picked[-1]] = -np.inf
        nxt = int(np.argmax(nearest))
        picked.append(nxt)
        nearest = np.minimum(nearest, 1.0 - vectors @ vectors[nxt])
    return np.asarray(picked, dtype=np.int64)


def _kmeans_points(vectors: np.ndarray, n: int, seed: int) -> np.ndarray:
    centres = kmeans(vectors, n, seed=seed, sample=min(len(vectors), max(n * 20, 10_000)))
    labels = nearest_centres(vectors, centres)[0][:, 0]
    sizes = np.bincount(labels, minlength=len(centres))
    picked: list[int] = []
    taken = np.zeros(len(vectors), dtype=bool)
    for centre in np.argsort(-sizes, kind="stable"):
        scores = vectors @ centres[centre]
        scores[taken] = -np.inf
        best = int(np.argmax(scores))
        taken[best] = True
        picked.append(best)
    return np.asarray(picked, dtype=np.int64)
