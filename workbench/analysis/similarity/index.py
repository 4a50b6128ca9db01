"""k nearest neighbours by cosine similarity: exact with NumPy, approximate with faiss.

Exact search is one matrix product over the (memory-mapped) unit vectors: ~30 ms a query at
100k 512-d vectors, ~300 ms at a million. Past `APPROXIMATE_FROM` vectors an inverted-file
index (faiss `IndexIVFFlat`, inner product) is built once and stored beside the catalog as
`<catalog>.indexes/<key>.ivf.faiss` with the key's fingerprint; a query then scans only the
`nprobe` cells nearest to it (a few ms at a million). Why faiss and this index: see
docs/embeddings.md#the-approximate-index.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.analysis.similarity.matrix import VectorMatrix, index_dir
from workbench.errors import AnalysisError

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

APPROXIMATE_FROM = 100_000
_CHUNK = 65_536
# Below this many candidates a search restricted to some rows is exact over those rows.
_EXACT_SUBSET = 200_000


@dataclass(frozen=True)
class Hits:
    """Rows of the matrix, most similar first, and their cosine similarities."""

    rows: np.ndarray
    scores: np.ndarray
    exact: bool


def exact_search(
    vectors: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray | None = None
) -> Hits:
    """The k rows (of `rows`, or all) most similar to one unit `query` vector."""
    n = len(vectors) if rows is None else len(rows)
    k = min(k, n)
    if k <= 0:
        return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32), True)
    best_rows: list[np.ndarray] = []
    best_scores: list[np.ndarray] = []
    for start in range(0, n, _CHUNK):
        part = rows[start : start + _CHUNK] if rows is not None else None
        block = vectors[part] if part is not None else vectors[start : start + _CHUNK]
        scores = np.asarray(block, dtype=np.float32) @ query
        top = _top(scores, k)
        best_scores.append(scores[top])
        best_rows.append(part[top] if part is not None else top + start)
    scores = np.concatenate(best_scores)
    found = np.concatenate(best_rows)
    order = _top(scores, k)
    return Hits(found[order], scores[order], True)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores, largest first (ties: earlier position first)."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


class SimilarityIndex:
    """k-NN over one key's matrix; approximate past `approximate_from` vectors."""

    def __init__(
        self,
        catalog: Catalog,
        matrix: VectorMatrix,
        *,
        approximate: bool | None = None,
        approximate_from: int = APPROXIMATE_FROM,
        nprobe: int | None = None,
    ) -> None:
        self.catalog = catalog
        self.matrix = matrix
        self.approximate = len(matrix) >= approximate_from if approximate is None else approximate
        self.nprobe = nprobe

    def search(self, query: np.ndarray, k: int, rows: np.ndarray | None = None) -> Hits:
        """The k rows (of `rows`, if given) most similar to the unit vector `query`."""
        vectors = self.matrix.vectors
        if not self.approximate or (rows is not None and len(rows) <= _EXACT_SUBSET):
            return exact_search(vectors, query, k, rows)
        ivf = self._ivf()
        wanted = k if rows is None else min(len(vectors), k * max(2, len(vectors) // len(rows)) * 2)
        found, scores = ivf.search(query, wanted, self.nprobe)
        if rows is not None:
            keep = np.isin(found, rows)
            found, scores = found[keep], scores[keep]
        if len(found) < min(k, len(vectors) if rows is None else len(rows)):
            return exact_search(vectors, query, k, rows)  # too few: the cells held too little
        return Hits(found[:k], scores[:k], False)

    def _ivf(self) -> IvfIndex:
        with self.matrix.lock:
            ivf = self.matrix.extras.get("ivf")
            if ivf is None:
                ivf = IvfIndex.open(self.catalog, self.matrix)
                self.matrix.extras["ivf"] = ivf
            return ivf


class IvfIndex:
    """faiss IndexIVFFlat over unit vectors (inner product = cosine similarity)."""

    def __init__(self, index: Any, cells: int) -> None:
        self.index = index
        self.cells = cells

    @classmethod
    def open(cls, catalog: Catalog, matrix: VectorMatrix) -> IvfIndex:
        faiss = _faiss()
        path = index_dir(catalog.path) / f"{matrix.info.key}.ivf.faiss"
        meta = path.with_suffix(".json")
        try:
            stored = json.loads(meta.read_text())
            if stored.get("fingerprint") == matrix.info.fingerprint:
                index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
                return cls(index, int(stored["cells"]))
        except (OSError, ValueError, KeyError, RuntimeError):
            pass
        built = cls.build(matrix.vectors)
        built.save(path, meta, matrix.info.fingerprint)
        return built

    @classmethod
    def build(cls, vectors: np.ndarray, *, seed: int = 0) -> IvfIndex:
        faiss = _faiss()
        n, d = vectors.shape
        cells = max(1, min(4096, int(math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, cells, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        index.cp.seed = seed
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, max(cells * 40, 50_000)), replace=False))
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
        for start in range(0, n, _CHUNK * 4):
            index.add(np.ascontiguousarray(vectors[start : start + _CHUNK * 4], dtype=np.float32))
        return cls(index, cells)

    def save(self, path: Path, meta: Path, fingerprint: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(".tmp-" + path.name)
            _faiss().write_index(self.index, str(temp))
            temp.replace(path)
            meta.write_text(json.dumps({"fingerprint": fingerprint, "cells": self.cells}))
        except (OSError, RuntimeError):
            return  # kept in memory only

    def search(
        self, query: np.ndarray, k: int, nprobe: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        self.index.nprobe = nprobe or max(8, self.cells // 64)
        scores, rows = self.index.search(query.reshape(1, -1).astype(np.float32), int(k))
        keep = rows[0] >= 0
        return rows[0][keep].astype(np.int64), scores[0][keep]


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise AnalysisError(
            "the approximate similarity index needs faiss: pip install faiss-cpu "
            "(or search exactly with approximate=False)"
        ) from exc
    return faiss
