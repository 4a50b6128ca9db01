"""The vectors of one embedding key as a unit-length float32 matrix, kept beside the catalog.

Reading a million 512-d vectors out of DuckDB takes ~15 s, so the matrix is written once to
`<catalog>.indexes/<key>.vectors.npy` (with `<key>.ids.parquet` and `<key>.json`, which holds
the key's fingerprint: count and latest write) and memory-mapped afterwards. Any write to the
key changes its fingerprint, and the files are made again on next use. A folder that cannot
be written (a read-only catalog on a read-only disk) only means the matrix stays in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.analysis.embeddings import store
from workbench.analysis.embeddings.store import EmbeddingInfo
from workbench.errors import AnalysisError

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# Separates frame and ROI ids in the one-string key of an ROI (never in an id: a control char).
ROI_SEP = "\x1f"
_CHUNK = 65_536


def index_dir(catalog_path: str | os.PathLike[str]) -> Path:
    """`<catalog file>.indexes` beside the catalog: similarity indexes and vector matrices."""
    path = Path(catalog_path)
    return path.with_name(path.name + ".indexes")


def unit(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), as float32."""
    out = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


@dataclass
class VectorMatrix:
    """Ids (`frame_id`[, `roi_id`]) and unit vectors of a key, row for row."""

    info: EmbeddingInfo
    ids: pa.Table
    vectors: np.ndarray
    extras: dict[str, Any] = field(default_factory=dict)  # indexes built on it, per kind
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self.vectors)

    @cached_property
    def keys(self) -> pa.Array:
        """One string per row: the frame id, or `frame_id<US>roi_id` for ROIs."""
        frames = self.ids.column("frame_id").combine_chunks()
        if self.info.target != "rois":
            return frames
        return pc.binary_join_element_wise(
            frames, self.ids.column("roi_id").combine_chunks(), ROI_SEP
        )

    @cached_property
    def frame_ids(self) -> pa.Array:
        return self.ids.column("frame_id").combine_chunks()

    def rows_of(self, keys: list[str] | pa.Array) -> np.ndarray:
        """Row of each key (frame id, or `frame_id<US>roi_id`), -1 where the key has none."""
        wanted = pa.array(keys, pa.string())
        # A scan of the matrix's keys against the few wanted (hashing a million keys for each
        # query would cost more than the search itself).
        rows = np.flatnonzero(pc.is_in(self.keys, value_set=wanted).to_numpy(zero_copy_only=False))
        where = dict(zip(self.keys.take(pa.array(rows)).to_pylist(), rows.tolist(), strict=True))
        return np.asarray([where.get(k, -1) for k in wanted.to_pylist()], dtype=np.int64)

    def rows_of_frames(self, frame_ids: pa.Array | list[str]) -> np.ndarray:
        """Rows whose frame is one of `frame_ids` (every ROI of those frames for ROI keys)."""
        mask = pc.is_in(self.frame_ids, value_set=pa.array(frame_ids, pa.string()))
        return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


_LOADED: weakref.WeakKeyDictionary[Catalog, dict[str, VectorMatrix]] = weakref.WeakKeyDictionary()
_LOADING = threading.Lock()


def load(catalog: Catalog, key: str | None) -> VectorMatrix:
    """The key's matrix: from this process's memory, the files beside the catalog, or the
    catalog itself (writing the files), whichever is current."""
    info = store.require(catalog, key)
    if info.count == 0:
        raise AnalysisError(f"embeddings {info.key!r} hold no vectors yet")
    with _LOADING:
        known = _LOADED.setdefault(catalog, {})
        matrix = known.get(info.key)
        if matrix is not None and matrix.info.fingerprint == info.fingerprint:
            return matrix
        matrix = _from_files(catalog, info) or _from_catalog(catalog, info)
        known[info.key] = matrix
        return matrix


def _files(catalog: Catalog, key: str) -> tuple[Path, Path, Path]:
    folder = index_dir(catalog.path)
    return folder / f"{key}.vectors.npy", folder / f"{key}.ids.parquet", folder / f"{key}.json"


def _from_files(catalog: Catalog, info: EmbeddingInfo) -> VectorMatrix | None:
    vectors, ids, meta = _files(catalog, info.key)
    try:
        stored = json.loads(meta.read_text())
        if stored.get("fingerprint") != info.fingerprint:
            return None
        matrix = np.load(vectors, mmap_mode="r")
        table = pq.read_table(ids)
    except (OSError, ValueError, pa.ArrowException):
        return None
    if matrix.shape != (info.count, info.dimension) or table.num_rows != info.count:
        return None
    return VectorMatrix(info, table, matrix)


def _from_catalog(catalog: Catalog, info: EmbeddingInfo) -> VectorMatrix:
    ids, raw = store.read_vectors(catalog, info)
    for start in range(0, len(raw), _CHUNK):
        raw[start : start + _CHUNK] = unit(raw[start : start + _CHUNK])
    matrix = VectorMatrix(info, ids, raw)
    _save(catalog, matrix)
    return matrix


def _save(catalog: Catalog, matrix: VectorMatrix) -> None:
    vectors, ids, meta = _files(catalog, matrix.info.key)
    try:
        vectors.parent.mkdir(parents=True, exist_ok=True)
        _atomic(vectors, lambda path: np.save(path, matrix.vectors))
        _atomic(ids, lambda path: pq.write_table(matrix.ids, path))
        body = {"fingerprint": matrix.info.fingerprint, "key": matrix.info.key}
        _atomic(meta, lambda path: Path(path).write_text(json.dumps(body)))
    except OSError:
        return  # a folder we cannot write: the matrix stays in memory


def _atomic(target: Path, write: Any) -> None:
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    os.close(fd)
    try:
        write(temp)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def remove_files(catalog: Catalog, key: str) -> None:
    """Forget a key's matrix and indexes (after delete_embeddings)."""
    _LOADED.get(catalog, {}).pop(key, None)
    folder = index_dir(catalog.path)
    for path in folder.glob(f"{key}.*") if folder.is_dir() else ():
        if path.name.split(".", 1)[0] == key:
            path.unlink(missing_ok=True)
