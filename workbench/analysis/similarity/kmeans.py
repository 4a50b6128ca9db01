"""Spherical k-means on unit vectors with NumPy, and nearest-centre assignment in chunks.

Used to cut a large matrix into cells (near-duplicate search and k nearest neighbours of every
row compare rows within a cell and its neighbour cells only), to pick representative frames,
and for representativeness scores. Every product is a BLAS matrix product over a chunk.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 32_768


def nearest_centres(
    vectors: np.ndarray, centres: np.ndarray, top: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """For each row, its `top` most similar centres (indices, similarities), best first."""
    n = len(vectors)
    top = min(top, len(centres))
    index = np.empty((n, top), dtype=np.int64)
    score = np.empty((n, top), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        sims = np.asarray(vectors[start : start + _CHUNK], dtype=np.float32) @ centres.T
        if top == 1:
            best = np.argmax(sims, axis=1)[:, None]
        else:
            part = np.argpartition(-sims, top - 1, axis=1)[:, :top]
            order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1)
            best = np.take_along_axis(part, order, axis=1)
        index[start : start + _CHUNK] = best
        score[start : start + _CHUNK] = np.take_along_axis(sims, best, axis=1)
    return index, score


def kmeans(
    vectors: np.ndarray,
    k: int,
    *,
    iterations: int = 10,
    sample: int = 65_536,
    seed: int = 0,
) -> np.ndarray:
    """`k` unit centres of the rows (trained on at most `sample` of them, chosen at random)."""
    rng = np.random.default_rng(seed)
    n = len(vectors)
    k = max(1, min(k, n))
    rows = np.sort(rng.choice(n, size=min(n, max(sample, k)), replace=False))
    data = np.asarray(vectors[rows], dtype=np.float32)
    centres = data[rng.choice(len(data), size=k, replace=False)].copy()
    for _ in range(iterations):
        labels = nearest_centres(data, centres)[0][:, 0]
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, data)
        counts = np.bincount(labels, minlength=k)
        empty = counts == 0
        if empty.any():  # restart empty cells on the rows their centres fit worst
            worst = np.argsort(np.einsum("ij,ij->i", data, centres[labels]))[: int(empty.sum())]
            sums[empty] = data[worst]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centres = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
    return centres
