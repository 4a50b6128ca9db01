"""Embeddings as catalog data: the `embeddings` registry and one `emb_<key>` table per key.

A key's table holds one fixed-size `FLOAT[n]` vector per frame (`frame_id`) or per ROI
(`frame_id`, `roi_id`), and when it was computed. Writing ids already stored replaces their
vectors; the registry row keeps the count and the latest `computed` time, which together are
the key's fingerprint (the similarity indexes beside the catalog are rebuilt when it changes).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from workbench.analysis._store import audit, check_key, check_writable, registered, to_json
from workbench.errors import AnalysisError
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

TARGETS: tuple[str, ...] = ("frames", "rois")
MAX_DIMENSION = 65_536
TABLE_PREFIX = "emb_"


@dataclass(frozen=True)
class EmbeddingInfo:
    """One embedding key, as the `embeddings` table lists it."""

    key: str
    target: str  # frames or rois
    model: str
    dimension: int
    table: str
    count: int
    computed: datetime | None
    created: datetime | None
    options: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        """Changes whenever vectors of the key are written: count and latest write."""
        when = self.computed.isoformat() if self.computed else "-"
        return f"{self.count}:{when}:{self.dimension}"

    @property
    def in_lake(self) -> bool:
        """The vectors are a Delta table of a lake (written by an embedding job), read
        through a view at a pinned snapshot (analysis/embeddings/lake.py)."""
        return bool(self.options.get("lake"))

    @property
    def id_columns(self) -> tuple[str, ...]:
        return ("frame_id", "roi_id") if self.target == "rois" else ("frame_id",)


@dataclass(frozen=True)
class EmbeddingRemoval:
    """What delete_embeddings removes (dryrun=True) or removed."""

    key: str
    vectors: int
    projections: int
    scores: int
    duplicate_rows: int
    dryrun: bool

    def describe(self) -> str:
        return (
            f"embedding key {self.key!r} with {self.vectors} vectors, {self.projections} "
            f"projected points, {self.scores} scores and {self.duplicate_rows} duplicate rows"
        )


def table_name(key: str) -> str:
    return TABLE_PREFIX + check_key(key)


def now() -> datetime:
    """The `computed` time of a write: UTC, without a zone, like the catalog's other times."""
    return datetime.now(UTC).replace(tzinfo=None)


_COLUMNS = "key, target, model, dimension, table_name, count, computed, created, options"


def _info(row: tuple[Any, ...]) -> EmbeddingInfo:
    options = json.loads(row[8]) if row[8] else {}
    return EmbeddingInfo(
        row[0], row[1], row[2], int(row[3]), row[4], int(row[5]), row[6], row[7], options
    )


def get_info(con: duckdb.DuckDBPyConnection, key: str) -> EmbeddingInfo | None:
    rows = con.execute(f"SELECT {_COLUMNS} FROM embeddings WHERE key = ?", [key]).fetchall()
    return _info(rows[0]) if rows else None


def list_embeddings(catalog: Catalog) -> list[EmbeddingInfo]:
    rows = catalog.cursor().execute(f"SELECT {_COLUMNS} FROM embeddings ORDER BY key").fetchall()
    return [_info(r) for r in rows]


def require(catalog: Catalog, key: str | None) -> EmbeddingInfo:
    """The key's registry row; with key=None, the catalog's only key (or `descriptor`, the
    built-in one, when there are several)."""
    known = list_embeddings(catalog)
    if not known:
        raise AnalysisError(
            "no embeddings in the catalog: compute or add them first "
            "(catalog.compute_embeddings, catalog.add_embeddings)"
        )
    if key is None:
        if len(known) == 1:
            return known[0]
        found = [i for i in known if i.key == "descriptor"]
        if found:
            return found[0]
        listed = ", ".join(i.key for i in known) or "none"
        raise AnalysisError(f"name the embedding key to use (keys: {listed})")
    for info in known:
        if info.key == key:
            return info
    listed = ", ".join(repr(i.key) for i in known[:20]) or "none"
    raise AnalysisError(
        f"no embeddings {key!r} (keys: {listed}): compute or add them first "
        "(catalog.compute_embeddings, catalog.add_embeddings)"
    )


def prepare(
    con: duckdb.DuckDBPyConnection,
    key: str,
    *,
    target: str,
    model: str,
    dimension: int,
    options: dict[str, Any],
    overwrite: bool,
) -> EmbeddingInfo:
    """The key's registry row, made (with its table) if new; an existing key must hold the
    same target, model and dimension unless `overwrite`, which empties it first."""
    check_key(key)
    if target not in TARGETS:
        raise AnalysisError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if not 1 <= dimension <= MAX_DIMENSION:
        raise AnalysisError(f"an embedding has 1 to {MAX_DIMENSION} dimensions, got {dimension}")
    old = get_info(con, key)
    if old is not None and old.in_lake:
        check_local(old, overwrite)
        drop_key(con, old)  # overwrite: the key is stored in the catalog from now on
        old = None
    if old is not None and (old.target, old.model, old.dimension) != (target, model, dimension):
        if not overwrite:
            raise AnalysisError(
                f"embeddings {key!r} hold {old.target} vectors of model {old.model!r} "
                f"({old.dimension} dimensions), not {target} of {model!r} ({dimension}): pass "
                "overwrite=True to replace them, or use another key"
            )
        drop_key(con, old)
        old = None
    if old is not None:
        return old
    table = table_name(key)
    roi = "roi_id VARCHAR NOT NULL, " if target == "rois" else ""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} (frame_id VARCHAR NOT NULL, {roi}"
        f"vector FLOAT[{int(dimension)}] NOT NULL, computed TIMESTAMP NOT NULL)"
    )
    con.execute(
        "INSERT INTO embeddings (key, target, model, dimension, table_name, count, options)"
        " VALUES (?, ?, ?, ?, ?, 0, ?)",
        [key, target, model, dimension, table, to_json(options)],
    )
    info = get_info(con, key)
    assert info is not None
    return info


def vector_array(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """A (n, d) matrix as an Arrow fixed-size list column, without copying float32 data."""
    data = np.ascontiguousarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), data.shape[1])


def write(
    con: duckdb.DuckDBPyConnection, info: EmbeddingInfo, batch: pa.Table, *, replace: bool
) -> int:
    """Store a batch (`frame_id`[, `roi_id`], `vector`): ids already stored are replaced
    when `replace` (else the caller knows they are new). Returns the rows written."""
    if batch.num_rows == 0:
        return 0
    table = quote_ident(info.table)
    ids = ", ".join(info.id_columns)
    with registered(con, "_emb_batch", batch):
        if replace:
            same = " AND ".join(f"t.{c} = b.{c}" for c in info.id_columns)
            con.execute(f"DELETE FROM {table} t USING _emb_batch b WHERE {same}")
        con.execute(
            f"INSERT INTO {table} SELECT {ids}, vector, ? FROM _emb_batch",
            [now()],
        )
    return batch.num_rows


def refresh(con: duckdb.DuckDBPyConnection, key: str) -> EmbeddingInfo:
    """Count the key's vectors again and note its latest write in the registry."""
    info = get_info(con, key)
    if info is None:
        raise AnalysisError(f"no embeddings {key!r}")
    table = quote_ident(info.table)
    count, computed = con.execute(f"SELECT count(*), max(computed) FROM {table}").fetchall()[0]
    con.execute(
        "UPDATE embeddings SET count = ?, computed = ? WHERE key = ?", [count, computed, key]
    )
    refreshed = get_info(con, key)
    assert refreshed is not None
    return refreshed


def read_vectors(catalog: Catalog, info: EmbeddingInfo) -> tuple[pa.Table, np.ndarray]:
    """Every vector of a key in stored order: the id columns, and a (n, d) float32 matrix."""
    ids = ", ".join(info.id_columns)
    table = (
        catalog.cursor()
        .sql(f"SELECT {ids}, vector FROM {quote_ident(info.table)}")
        .to_arrow_table()
    )
    return table.select(list(info.id_columns)), matrix_of(table.column("vector"), info.dimension)


def matrix_of(column: pa.ChunkedArray | pa.Array, dimension: int) -> np.ndarray:
    """The float32 (n, d) matrix of an Arrow fixed-size list (or list) column."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(array) == 0:
        return np.zeros((0, dimension), dtype=np.float32)
    values = array.flatten().to_numpy(zero_copy_only=False)
    return np.array(values, dtype=np.float32).reshape(len(array), dimension)


def delete(
    catalog: Catalog, key: str, *, confirm: bool = False, dryrun: bool = False
) -> EmbeddingRemoval:
    """Remove a key: its vectors, projections, scores and embedding duplicate groups."""
    check_writable(catalog, "embeddings")
    if not isinstance(dryrun, bool):
        raise AnalysisError(f"dryrun must be True or False, got {dryrun!r}")
    with catalog.transaction() as con:
        info = get_info(con, check_key(key))
        if info is None:
            raise AnalysisError(f"no embeddings {key!r}")
        plan = EmbeddingRemoval(key, info.count, *_dependants(con, key), dryrun=dryrun)
        details = dataclasses.asdict(plan)
        if dryrun:
            audit(con, "delete_embeddings", {"key": key}, info.count, dryrun=True, details=details)
            return plan
        if confirm is not True:
            raise AnalysisError(
                f"deleting would remove {plan.describe()}: pass confirm=True to do it, or "
                "dryrun=True to see this without an error"
            )
        drop_key(con, info)
        audit(con, "delete_embeddings", {"key": key}, info.count, details=details)
    return plan


def _dependants(con: duckdb.DuckDBPyConnection, key: str) -> tuple[int, int, int]:
    row = con.execute(
        "SELECT (SELECT count(*) FROM projections WHERE key = ?),"
        " (SELECT count(*) FROM embedding_scores WHERE key = ?),"
        " (SELECT count(*) FROM duplicate_groups WHERE key = ?)",
        [key, key, key],
    ).fetchall()[0]
    return int(row[0]), int(row[1]), int(row[2])


def check_local(info: EmbeddingInfo | None, overwrite: bool) -> None:
    """Refuse writing vectors into a key held in a lake, unless replacing it (`overwrite`)."""
    if info is not None and info.in_lake and not overwrite:
        raise AnalysisError(
            f"embeddings {info.key!r} are kept in the lake ({info.options['lake']}): compute "
            "them with the embedding job (workbench lake embed), or pass overwrite=True to "
            "replace them by vectors stored in the catalog"
        )


def drop_object(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the table or view `name` (a key's vectors are a view when held in a lake)."""
    kinds = con.execute(
        "SELECT table_type FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = ?",
        [name],
    ).fetchall()
    if kinds:
        kind = "VIEW" if kinds[0][0] == "VIEW" else "TABLE"
        con.execute(f"DROP {kind} {quote_ident(name)}")


def drop_key(con: duckdb.DuckDBPyConnection, info: EmbeddingInfo) -> None:
    """Remove a key from the catalog: its vectors (table or view), projections, scores,
    duplicate groups and registry row (a lake table of its vectors is left as it is)."""
    drop_object(con, info.table)
    for table in ("projections", "projection_runs", "embedding_scores", "duplicate_groups"):
        con.execute(f"DELETE FROM {table} WHERE key = ?", [info.key])
    con.execute("DELETE FROM embeddings WHERE key = ?", [info.key])


def write_table(
    catalog: Catalog,
    key: str,
    batches: pa.Table,
    *,
    target: str,
    model: str,
    options: dict[str, Any],
    overwrite: bool,
    action: str,
) -> EmbeddingInfo:
    """Store a whole table of vectors in one transaction (bring-your-own embeddings)."""
    dimension = batches.schema.field("vector").type.list_size
    with catalog.transaction() as con:
        info = prepare(
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
        write(con, info, batches, replace=info.count > 0 and not overwrite)
        info = refresh(con, key)
        audit(con, action, {"key": key}, batches.num_rows, details={"model": model})
    return info
