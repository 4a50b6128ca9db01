"""Bring your own embeddings: NumPy arrays, Arrow tables, Parquet files or a metadata key.

Every input becomes Arrow batches of `frame_id` (and `roi_id` for ROI embeddings) and a
`vector` fixed-size list of float32, checked record by record: a vector of the wrong width,
with NaN or infinity, or naming a frame or ROI the catalog does not have is refused (the
report names it) and the rest is stored. Files are read with pyarrow, never by the catalog's
engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.analysis._store import audit, check_flag, check_writable, registered
from workbench.analysis.embeddings import store
from workbench.analysis.embeddings.report import EmbeddingReport
from workbench.errors import AnalysisError
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

BATCH_ROWS = 100_000


def add_embeddings(
    catalog: Catalog,
    key: str,
    data: Any = None,
    *,
    ids: Sequence[Any] | None = None,
    target: str = "frames",
    model: str = "external",
    id_column: str = "frame_id",
    roi_column: str = "roi_id",
    vector_column: str = "vector",
    from_metadata: str | None = None,
    overwrite: bool = False,
) -> EmbeddingReport:
    """Store vectors computed elsewhere under `key`.

    `data` is a (n, d) NumPy array (with `ids`: frame ids, or (frame_id, roi_id) pairs for
    target="rois"), an Arrow table or record batch, a pandas DataFrame, or the path of a
    Parquet file, with columns `id_column` (and `roi_column`) and `vector_column` (a list of
    numbers per row). `from_metadata="clip"` reads the vectors from each frame's metadata key
    instead. Ids already stored are replaced; overwrite=True empties the key first (needed
    when the model or width changes).
    """
    started = time.perf_counter()
    check_writable(catalog, "embeddings")
    store.check_key(key)
    check_flag(overwrite, "overwrite")
    if target not in store.TARGETS:
        raise AnalysisError(f"target must be one of {', '.join(store.TARGETS)}, got {target!r}")
    if not isinstance(model, str) or not model.strip():
        raise AnalysisError(f"model must be a name, got {model!r}")
    if from_metadata is not None:
        if data is not None or target != "frames":
            raise AnalysisError("from_metadata reads frame metadata: give no data, target frames")
        batches = _from_metadata(catalog, from_metadata)
    else:
        batches = _batches(data, ids, target, id_column, roi_column, vector_column)
    report = EmbeddingReport(key, model)
    first = next(batches, None)
    if first is None:
        raise AnalysisError("no vectors given")
    dimension = first.schema.field("vector").type.list_size
    options = {"source": "metadata." + from_metadata if from_metadata else "external"}
    with catalog.transaction() as con:
        info = store.prepare(
            con,
            key,
            target=target,
            model=model,
            dimension=dimension,
            options=options,
            overwrite=overwrite,
        )
        if overwrite:
            con.execute(f"DELETE FROM {quote_ident(info.table)}")
        replace = info.count > 0
        for batch in _chain(first, batches):
            good = _checked(con, batch, info, report)
            report.written += store.write(con, info, good, replace=replace)
        store.refresh(con, key)
        report.seconds = round(time.perf_counter() - started, 3)
        details = {"model": model, "refused": report.refused, "errors": report.errors[:5]}
        audit(con, "add_embeddings", {"key": key}, report.written, details=details)
    return report


def _chain(first: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield first
    yield from rest


def _batches(
    data: Any,
    ids: Sequence[Any] | None,
    target: str,
    id_column: str,
    roi_column: str,
    vector_column: str,
) -> Iterator[pa.Table]:
    columns = (id_column, roi_column) if target == "rois" else (id_column,)
    if isinstance(data, np.ndarray):
        yield from _from_numpy(data, ids, target)
        return
    if ids is not None:
        raise AnalysisError("ids go with a NumPy array; tables carry their own id column")
    if isinstance(data, str | os.PathLike):
        yield from _from_parquet(Path(data), columns, vector_column)
        return
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if type(data).__name__ == "DataFrame" and hasattr(data, "columns"):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if not isinstance(data, pa.Table):
        raise AnalysisError(
            "embeddings come as a NumPy array with ids, an Arrow table, a pandas DataFrame or "
            f"a Parquet file, not {type(data).__name__}"
        )
    for batch in data.to_batches(max_chunksize=BATCH_ROWS):
        yield _normalised(pa.Table.from_batches([batch]), columns, vector_column, "the table")


def _from_numpy(matrix: np.ndarray, ids: Sequence[Any] | None, target: str) -> Iterator[pa.Table]:
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise AnalysisError(f"a NumPy array of vectors must be (n, d), got shape {matrix.shape}")
    if ids is None or len(ids) != len(matrix):
        got = "no ids" if ids is None else f"{len(ids)} ids"
        raise AnalysisError(f"{len(matrix)} vectors need as many ids, got {got}")
    if not np.issubdtype(matrix.dtype, np.number):
        raise AnalysisError(f"vectors must be numbers, got dtype {matrix.dtype}")
    for start in range(0, len(matrix), BATCH_ROWS):
        part = list(ids[start : start + BATCH_ROWS])
        columns: dict[str, Any] = {}
        if target == "rois":
            pairs = [_pair(p) for p in part]
            columns["frame_id"] = pa.array([p[0] for p in pairs], pa.string())
            columns["roi_id"] = pa.array([p[1] for p in pairs], pa.string())
        else:
            if not all(isinstance(i, str) for i in part):
                raise AnalysisError("frame ids must be strings")
            columns["frame_id"] = pa.array(part, pa.string())
        columns["vector"] = store.vector_array(matrix[start : start + BATCH_ROWS])
        yield pa.table(columns)


def _pair(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        value = (value.get("frame_id"), value.get("roi_id"))
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, str) for v in value)
    ):
        return value[0], value[1]
    raise AnalysisError(f"an ROI is named by (frame_id, roi_id), got {value!r}")


def _from_parquet(path: Path, columns: tuple[str, ...], vector: str) -> Iterator[pa.Table]:
    try:
        reader = pq.ParquetFile(path)
        for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=[*columns, vector]):
            yield _normalised(pa.Table.from_batches([batch]), columns, vector, str(path))
    except (OSError, pa.ArrowException) as exc:
        raise AnalysisError(f"{path}: cannot read the Parquet file ({exc})") from exc


def _normalised(table: pa.Table, columns: tuple[str, ...], vector: str, where: str) -> pa.Table:
    """`frame_id`[, `roi_id`] (strings) and `vector` (fixed-size list of float32)."""
    missing = [c for c in (*columns, vector) if c not in table.column_names]
    if missing:
        raise AnalysisError(
            f"{where} has no column {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(table.column_names)})"
        )
    out: dict[str, Any] = {}
    for name, column in zip(("frame_id", "roi_id"), columns, strict=False):
        out[name] = pc.cast(table.column(column), pa.string())
    out["vector"] = _fixed(table.column(vector), where)
    return pa.table(out)


def _fixed(column: pa.ChunkedArray, where: str) -> pa.Array:
    array = column.combine_chunks()
    kind = array.type
    if pa.types.is_fixed_size_list(kind):
        width = kind.list_size
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
        valid = lengths[~np.isnan(lengths.astype(float))] if len(lengths) else lengths
        widths = set(np.unique(valid).tolist())
        if len(widths) != 1:
            raise AnalysisError(
                f"{where}: vectors must all have one length, got {sorted(widths)[:5]}"
            )
        width = int(widths.pop())
        array = array.cast(pa.list_(kind.value_type, width))
    else:
        raise AnalysisError(f"{where}: the vector column must hold lists of numbers, not {kind}")
    if not (
        pa.types.is_floating(array.type.value_type) or pa.types.is_integer(array.type.value_type)
    ):
        raise AnalysisError(f"{where}: vectors must hold numbers, not {array.type.value_type}")
    return array.cast(pa.list_(pa.float32(), width))


def _from_metadata(catalog: Catalog, key: str) -> Iterator[pa.Table]:
    if not isinstance(key, str) or not key:
        raise AnalysisError(f"from_metadata names a metadata key, got {key!r}")
    path = "$." + '"' + key.replace('"', '\\"') + '"'
    query = (
        "SELECT id AS frame_id, CAST(json_extract(metadata, ?) AS DOUBLE[]) AS vector"
        " FROM frames WHERE json_extract(metadata, ?) IS NOT NULL"
    )
    try:
        reader = catalog.cursor().sql(query, params=[path, path]).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            table = pa.Table.from_batches([batch])
            if table.num_rows:
                yield _normalised(table, ("frame_id",), "vector", f"metadata key {key!r}")
    except duckdb.Error as exc:
        raise AnalysisError(f"metadata key {key!r} does not hold lists of numbers: {exc}") from exc


def _checked(
    con: duckdb.DuckDBPyConnection,
    batch: pa.Table,
    info: store.EmbeddingInfo,
    report: EmbeddingReport,
) -> pa.Table:
    """The batch without the rows it must not store; each refusal noted in the report."""
    if batch.schema.field("vector").type.list_size != info.dimension:
        width = batch.schema.field("vector").type.list_size
        raise AnalysisError(f"vectors of {width} dimensions given for a key of {info.dimension}")
    vectors = batch.column("vector").combine_chunks()
    keep = ~np.asarray(vectors.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    for column in info.id_columns:
        keep &= ~np.asarray(batch.column(column).is_null().to_numpy(zero_copy_only=False))
    batch = _refused(batch, keep, report, "an id or the vector is missing")
    values = batch.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    finite = np.isfinite(values.reshape(batch.num_rows, info.dimension)).all(axis=1)
    batch = _refused(batch, finite, report, "the vector holds NaN or infinity")
    known = np.ones(batch.num_rows, dtype=bool)
    known[_unknown_rows(con, batch, info)] = False
    what = "ROI" if info.target == "rois" else "frame"
    batch = _refused(batch, known, report, f"no such {what} in the catalog")
    return _first_of_each(batch, report)


def _refused(batch: pa.Table, keep: np.ndarray, report: EmbeddingReport, problem: str) -> pa.Table:
    """The rows to keep; the others are refused by name (names are made for those only)."""
    if keep.all():
        return batch
    refused = batch.filter(pa.array(~keep))
    for name in _names(refused):
        report.refuse(name, problem)
    return batch.filter(pa.array(keep))


def _names(batch: pa.Table) -> list[str]:
    frames = [f if f is not None else "(no id)" for f in batch.column("frame_id").to_pylist()]
    if "roi_id" in batch.column_names:
        rois = batch.column("roi_id").to_pylist()
        return [f"roi {r!r} of frame {f!r}" for f, r in zip(frames, rois, strict=True)]
    return [f"frame {f!r}" for f in frames]


def _unknown_rows(
    con: duckdb.DuckDBPyConnection, batch: pa.Table, info: store.EmbeddingInfo
) -> np.ndarray:
    numbered = batch.select(list(info.id_columns)).append_column(
        "_row", pa.array(np.arange(batch.num_rows))
    )
    if info.target == "rois":
        query = (
            "SELECT b._row FROM _emb_ids b ANTI JOIN rois r"
            " ON r.frame_id = b.frame_id AND r.id = b.roi_id ORDER BY b._row"
        )
    else:
        query = (
            "SELECT b._row FROM _emb_ids b ANTI JOIN frames f ON f.id = b.frame_id ORDER BY b._row"
        )
    with registered(con, "_emb_ids", numbered):
        rows = con.execute(query).fetchnumpy()["_row"]
    return np.asarray(rows, dtype=np.int64)


def _first_of_each(batch: pa.Table, report: EmbeddingReport) -> pa.Table:
    """One vector per id within a batch: repeats are refused."""
    keys = batch.column("frame_id")
    if "roi_id" in batch.column_names:
        keys = pc.binary_join_element_wise(keys, batch.column("roi_id"), "\x1f")
    unique = pc.unique(keys)
    if len(unique) == batch.num_rows:
        return batch
    first = pc.index_in(unique, keys).to_numpy()
    mask = np.zeros(batch.num_rows, dtype=bool)
    mask[first] = True
    names = _names(batch)
    for row in np.flatnonzero(~mask):
        report.refuse(names[row], "given more than once")
    return batch.filter(pa.array(mask))
