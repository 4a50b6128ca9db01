"""Every row against its neighbourhood: near pairs within a distance, and k nearest neighbours.

Comparing all pairs of a million vectors is 5e14 multiply-adds; instead the rows are cut into
cells by spherical k-means (~1000 rows a cell) and each row is compared with the rows of its
nearest cell and of its second nearest, as one BLAS product per cell. Two vectors close
enough to be near duplicates are in the same cell or in each other's second one unless they
straddle three cells at once, which the tests (and the benchmark's planted pairs) show to be
rare; below `EXACT_UP_TO` rows everything is compared with everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from workbench.analysis.similarity.kmeans import kmeans, nearest_centres

EXACT_UP_TO = 20_000
ROWS_PER_CELL = 1_000
_BLOCK = 2_048


@dataclass(frozen=True)
class Cell:
    """Rows compared with each other: the first `primary` are the cell's own rows (their
    nearest centre), the rest have it as their second nearest."""

    rows: np.ndarray
    primary: int


def cells(vectors: np.ndarray, rows: np.ndarray | None = None, *, seed: int = 0) -> Iterator[Cell]:
    """The cells of `rows` (every row by default) of a unit-vector matrix."""
    rows = np.arange(len(vectors)) if rows is None else np.asarray(rows, dtype=np.int64)
    n = len(rows)
    if n <= EXACT_UP_TO:
        for start in range(0, n, _BLOCK):  # blocks of queries against every row
            yield Cell(np.concatenate([rows[start : start + _BLOCK], _others(rows, start)]), -1)
        return
    count = min(4096, max(2, n // ROWS_PER_CELL))
    subset = vectors[rows] if n < len(vectors) else vectors
    centres = kmeans(subset, count, seed=seed, sample=min(n, count * 40))
    nearest, _ = nearest_centres(subset, centres, top=2)
    first = np.argsort(nearest[:, 0], kind="stable")
    second = np.argsort(nearest[:, 1], kind="stable")
    first_at = np.searchsorted(nearest[first, 0], np.arange(count + 1))
    second_at = np.searchsorted(nearest[second, 1], np.arange(count + 1))
    for c in range(count):
        own = rows[first[first_at[c] : first_at[c + 1]]]
        guests = rows[second[second_at[c] : second_at[c + 1]]]
        if len(own):
            yield Cell(np.concatenate([own, guests]), len(own))


def _others(rows: np.ndarray, start: int) -> np.ndarray:
    return np.concatenate([rows[:start], rows[start + _BLOCK :]])


def near_pairs(
    vectors: np.ndarray, max_distance: float, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of rows (a < b) whose cosine distance (1 - similarity) is at most
    `max_distance`, with that distance; each pair once."""
    min_score = np.float32(1.0 - max_distance)
    found_a, found_b, found_s = [], [], []
    for cell in cells(vectors, rows):
        block = np.asarray(vectors[cell.rows], dtype=np.float32)
        if cell.primary < 0:  # an exact block: its first rows against all
            queries = min(_BLOCK, len(block))
            sims = block[:queries] @ block.T
            i, j = np.nonzero(sims >= min_score)
        else:
            own = block[: cell.primary]
            sims = block @ own.T  # every row of the cell against its own rows
            i, j = np.nonzero(sims >= min_score)
        a, b = cell.rows[i], cell.rows[j]
        keep = a != b
        found_a.append(a[keep])
        found_b.append(b[keep])
        found_s.append(sims[i[keep], j[keep]])
    if not found_a:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float64)
    a, b, s = np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_s)
    low, high = np.minimum(a, b), np.maximum(a, b)
    _, unique = np.unique(np.stack([low, high], axis=1), axis=0, return_index=True)
    distance = np.clip(1.0 - s[unique].astype(np.float64), 0.0, 2.0)
    return low[unique], high[unique], distance


def nearest_neighbours(
    vectors: np.ndarray, k: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each of `rows` (all by default), in that order: its k most similar other rows
    (as positions in `rows`) and their similarities, best first; -1 / -inf pad."""
    rows = np.arange(len(vectors)) if rows is None else np.asarray(rows, dtype=np.int64)
    position = np.full(len(vectors), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    best = np.full((len(rows), k), -1, dtype=np.int64)
    score = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for cell in cells(vectors, rows):
        block = np.asarray(vectors[cell.rows], dtype=np.float32)
        queries = min(_BLOCK, len(block)) if cell.primary < 0 else len(block)
        sims = block[:queries] @ block.T
        same = cell.rows[:queries, None] == cell.rows[None, :]
        sims[same] = -np.inf
        take = min(k, sims.shape[1])
        top = (
            np.argpartition(-sims, take - 1, axis=1)[:, :take]
            if take < sims.shape[1]
            else (np.broadcast_to(np.arange(sims.shape[1]), sims.shape))
        )
        cand = position[cell.rows[top]]
        cand_score = np.take_along_axis(sims, top, axis=1)
        at = position[cell.rows[:queries]]
        merged = np.concatenate([best[at], cand], axis=1)
        merged_score = np.concatenate([score[at], cand_score], axis=1)
        merged_score = _drop_repeats(merged, merged_score)
        order = np.argsort(-merged_score, axis=1, kind="stable")[:, :k]
        best[at] = np.take_along_axis(merged, order, axis=1)
        score[at] = np.take_along_axis(merged_score, order, axis=1)
    best[~np.isfinite(score)] = -1
    return best, score


def _drop_repeats(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Scores with a row's repeated candidates (found in two cells) set to -inf but once."""
    order = np.argsort(rows, axis=1, kind="stable")
    ordered = np.take_along_axis(rows, order, axis=1)
    repeat = np.zeros_like(ordered, dtype=bool)
    repeat[:, 1:] = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    out = scores.copy()
    flat = np.take_along_axis(out, order, axis=1)
    flat[repeat] = -np.inf
    np.put_along_axis(out, order, flat, axis=1)
    return out
