"""Embedding keys kept in a lake: one Delta table per key, read through a pinned view.

An embedding job (workbench/jobs/embeddings.py) writes a key's vectors as a Delta table at
`<lake>/embeddings/<key>`, partitioned by the frames' `context_bucket`, with the columns
`frame_id`, `roi_id` (empty for frame vectors), `vector` (a plain list of float32, which
every reader takes) and `computed`. The catalog reads it as it reads `frames` on a lake: the
key's registry row names `emb_<key>`, and `emb_<key>` is a view over the Parquet files of one
snapshot (`DeltaTable.file_uris()`), with the vector cast to the key's `FLOAT[d]`. So
similarity, duplicates, projections and the embeddings panel read a job's vectors unchanged.
The view moves to a new snapshot when a job commits to the key; the registry's options record
the table and the version read (`lake`, `version`).
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from workbench.analysis._store import check_key, to_json
from workbench.analysis.embeddings import store
from workbench.errors import AnalysisError, LakeError
from workbench.store.lake import BUCKET, storage_options, table_uri
from workbench.store.sqlsafe import quote_ident

FOLDER = "embeddings"
SCHEMA = pa.schema(
    [
        pa.field("frame_id", pa.string()),
        pa.field("roi_id", pa.string()),
        pa.field("vector", pa.list_(pa.float32())),
        pa.field("computed", pa.timestamp("us")),
        pa.field(BUCKET, pa.int32()),
    ]
)


def key_uri(root: str, key: str) -> str:
    """Where a key's Delta table lives in the lake at `root`."""
    return table_uri(table_uri(root, FOLDER), check_key(key))


def open_table(uri: str, *, create: bool = False) -> Any:
    """The key's DeltaTable (made, empty, if `create` and missing)."""
    from deltalake import DeltaTable

    options = storage_options(uri)
    try:
        if create:
            return DeltaTable.create(
                uri, SCHEMA, mode="ignore", partition_by=[BUCKET], storage_options=options
            )
        return DeltaTable(uri, storage_options=options)
    except Exception as exc:  # deltalake's own errors: unreachable, not a Delta table
        raise LakeError(f"cannot open the embedding table {uri}: {exc}") from exc


def view_sql(uri: str, version: int, target: str, dimension: int) -> str:
    """The SELECT of a key's view: its vectors at `version`, the catalog's columns."""
    from deltalake import DeltaTable

    dt = DeltaTable(uri, version=version, storage_options=storage_options(uri))
    files = [str(f) for f in dt.file_uris()]
    ids = "frame_id, roi_id" if target == "rois" else "frame_id"
    cols = f"{ids}, vector::FLOAT[{int(dimension)}] AS vector, computed"
    if not files:
        nulls = ", ".join(f"NULL::VARCHAR AS {c.strip()}" for c in ids.split(","))
        return (
            f"SELECT {nulls}, NULL::FLOAT[{int(dimension)}] AS vector, "
            "NULL::TIMESTAMP AS computed WHERE false"
        )
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"SELECT {cols} FROM read_parquet([{listed}])"


def pin(
    con: duckdb.DuckDBPyConnection,
    key: str,
    *,
    uri: str,
    version: int,
    target: str,
    model: str,
    dimension: int,
    options: dict[str, Any],
) -> store.EmbeddingInfo:
    """Point the key at `version` of its lake table: the view `emb_<key>` and the registry
    row (made if new; an older key of another kind or kept in the catalog is replaced, which
    the caller has been allowed to do). Runs inside the caller's catalog transaction."""
    if not 1 <= dimension <= store.MAX_DIMENSION:
        raise AnalysisError(
            f"an embedding has 1 to {store.MAX_DIMENSION} dimensions, got {dimension}"
        )
    name = store.table_name(key)
    old = store.get_info(con, key)
    settings = {**options, "lake": uri, "version": int(version)}
    if old is not None and (not old.in_lake or (old.target, old.model) != (target, model)):
        store.drop_key(con, old)  # the catalog's table, projections, scores of the old
        old = None
    store.drop_object(con, name)
    con.execute(f"CREATE VIEW {quote_ident(name)} AS " + view_sql(uri, version, target, dimension))
    if old is None:
        con.execute(
            "INSERT INTO embeddings (key, target, model, dimension, table_name, count, options)"
            " VALUES (?, ?, ?, ?, ?, 0, ?)",
            [key, target, model, dimension, name, to_json(settings)],
        )
    else:
        con.execute(
            "UPDATE embeddings SET dimension = ?, options = ? WHERE key = ?",
            [dimension, to_json(settings), key],
        )
    return store.refresh(con, key)
