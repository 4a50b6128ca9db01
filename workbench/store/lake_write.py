"""Writing a lake-backed catalog's big tables: creating the lake, moving a catalog's rows into
it, changing the rows of some frames, compacting and vacuuming.

Every change of rows goes through `edit`: the frames a write touches are checked out of the
pinned snapshot into temporary tables of the same names (they shadow the lake views on that
connection only), the library's usual SQL runs on them unchanged, and on the way out each
table whose rows changed gets one Delta commit replacing exactly those frames' rows
(`write_deltalake(mode="overwrite", predicate=...)`). Each table's commit is atomic; the three
tables together are not (Delta has no multi-table transactions), so the catalog moves its pins
only after all three are written (docs/scale-out.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.errors import LakeError
from workbench.store.arrow import registered
from workbench.store.lake import (
    BUCKET,
    DEFAULT_BUCKETS,
    FRAME_KEY,
    LAKE_TABLES,
    ROW,
    Lake,
    LakeTable,
    column_types,
    context_bucket,
    normalise_uri,
    record_lake,
    storage_options,
    table_uri,
)
from workbench.store.sqlsafe import quote_ident

# Rows per read when moving a catalog's tables into the lake, and per Parquet file written.
_CHUNK = 1_000_000
_TARGET_FILE_BYTES = 128 * 1024 * 1024


def frame_order(frames: pa.Table) -> pa.Table:
    """Frames sorted as the lake keeps them: by context, timestamp, id."""
    keys = [(k, "ascending") for k in ("context_id", "timestamp", "id") if k in frames.schema.names]
    return frames.sort_by(keys)


def clustered(rows: pa.Table, frame_ids: pa.Array) -> pa.Table:
    """Rows of sources or ROIs in the order of `frame_ids` (their frames' lake order)."""
    rank = pc.index_in(rows["frame_id"], value_set=frame_ids)
    return rows.append_column("_rank", rank).sort_by([("_rank", "ascending")]).drop(["_rank"])


def conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` with the lake table's columns, in order and types (missing ones null)."""
    columns = []
    for f in schema:
        if f.name in rows.schema.names:
            columns.append(rows[f.name].cast(f.type))
        else:
            columns.append(pa.nulls(rows.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def with_buckets(rows: pa.Table, buckets: pa.Array) -> pa.Table:
    if BUCKET in rows.schema.names:
        rows = rows.drop([BUCKET])
    return rows.append_column(BUCKET, buckets)


_last_row = 0


def next_rows(count: int) -> pa.Array:
    """Stored-order numbers for `count` new rows: after every number given out before (in
    this process) and, across processes, in order of writing (nanoseconds since the epoch)."""
    global _last_row
    start = max(time.time_ns(), _last_row + 1)
    _last_row = start + count
    return pa.array(range(start, start + count), pa.int64())


def with_rows(rows: pa.Table) -> pa.Table:
    """`_row` from the catalog's `rowid` where the row has one, new numbers where not."""
    if ROW in rows.schema.names:
        return rows
    if "rowid" not in rows.schema.names:
        return rows.append_column(ROW, next_rows(rows.num_rows))
    given = rows["rowid"].combine_chunks().cast(pa.int64())
    missing = given.null_count
    if missing:
        fresh = next_rows(missing)
        mask = given.is_null()
        given = pc.replace_with_mask(given, mask, fresh)
    return rows.drop(["rowid"]).append_column(ROW, given)


def lake_rows(
    tables: dict[str, pa.Table], schemas: dict[str, pa.Schema], buckets: int
) -> dict[str, pa.Table]:
    """frames/sources/rois as the lake stores them: sorted, clustered, bucketed, typed."""
    frames = frame_order(with_rows(tables["frames"]))
    order = frames["id"].combine_chunks()
    bucket_list = context_bucket(frames["context_id"].to_pylist(), buckets).to_pylist()
    by_frame = dict(zip(order.to_pylist(), bucket_list, strict=True))
    buckets_of = pa.array([by_frame[i] for i in order.to_pylist()], pa.int32())
    out = {"frames": conform(with_buckets(with_rows(frames), buckets_of), schemas["frames"])}
    for name in ("sources", "rois"):
        rows = clustered(with_rows(tables[name]), order)
        ids = rows["frame_id"].to_pylist()
        of_rows = pa.array([by_frame[i] for i in ids], pa.int32())
        out[name] = conform(with_buckets(rows, of_rows), schemas[name])
    return out


# -- making a lake ---------------------------------------------------------------------------
def create_lake(
    con: duckdb.DuckDBPyConnection,
    uri: str,
    *,
    buckets: int = DEFAULT_BUCKETS,
    progress: bool = True,
) -> Lake:
    """Move the catalog's frames, sources and ROIs into new Delta tables at `uri` and make the
    catalog read them from there. `con` is an unsealed connection to the catalog file."""
    from deltalake import DeltaTable, write_deltalake

    root = normalise_uri(uri)
    options = storage_options(root)
    columns = {name: column_types(con, name) for name in LAKE_TABLES}
    tables = {n: LakeTable(n, table_uri(root, n), buckets, columns[n], None) for n in LAKE_TABLES}
    for table in tables.values():
        if DeltaTable.is_deltatable(table.uri, storage_options=options):
            raise LakeError(f"{table.uri} is a Delta table already: attach it instead")
    schemas = {n: t.arrow_schema(con) for n, t in tables.items()}
    for name, table in tables.items():
        DeltaTable.create(
            table.uri,
            schemas[name],
            partition_by=[BUCKET],
            storage_options=options,
            description=orjson.dumps({"workbench": {"buckets": buckets}}).decode(),
        )
    total = int(con.execute("SELECT count(*) FROM frames").fetchall()[0][0])
    with tqdm(total=total, unit="frame", desc="to lake", disable=not progress) as bar:
        for start in range(0, total, _CHUNK):
            ids = con.sql(
                "SELECT id FROM frames ORDER BY context_id, timestamp, id LIMIT ? OFFSET ?",
                params=[_CHUNK, start],
            ).to_arrow_table()
            chunk = _read_frames(con, ids)
            for name, rows in lake_rows(chunk, schemas, buckets).items():
                write_deltalake(
                    table_uri(root, name),
                    rows,
                    mode="append",
                    storage_options=options,
                    target_file_size=_TARGET_FILE_BYTES,
                )
            bar.update(ids.num_rows)
    record_lake(con, root, buckets, columns)
    for name in LAKE_TABLES:
        con.execute(f"DROP TABLE {quote_ident(name)}")
    lake = Lake(root, tables)
    lake.prepare(con)
    lake.pin(con)
    return lake


def attach_lake(con: duckdb.DuckDBPyConnection, uri: str) -> Lake:
    """Make an empty catalog read the Delta tables at `uri` (written by a job or another
    catalog). Their columns must include the catalog's; extra ones are left out of the views."""
    from deltalake import DeltaTable

    root = normalise_uri(uri)
    options = storage_options(root)
    columns = {name: column_types(con, name) for name in LAKE_TABLES}
    found = int(con.execute("SELECT count(*) FROM frames").fetchall()[0][0])
    if found:
        raise LakeError(f"the catalog holds {found} frames of its own: `lake init` moves them")
    buckets = DEFAULT_BUCKETS
    for name in LAKE_TABLES:
        try:
            dt = DeltaTable(table_uri(root, name), storage_options=options)
        except Exception as exc:
            raise LakeError(f"no Delta table at {table_uri(root, name)}: {exc}") from exc
        names = {f.name for f in dt.schema().fields}
        missing = [c for c, _ in columns[name] if c not in names]
        if missing:
            raise LakeError(f"{table_uri(root, name)} lacks the columns {missing}")
        buckets = _buckets_of(dt, buckets)
    record_lake(con, root, buckets, columns)
    for name in LAKE_TABLES:
        con.execute(f"DROP TABLE {quote_ident(name)}")
    tables = {n: LakeTable(n, table_uri(root, n), buckets, columns[n], None) for n in LAKE_TABLES}
    lake = Lake(root, tables)
    lake.prepare(con)
    lake.pin(con)
    return lake


def _buckets_of(dt: Any, default: int) -> int:
    """The bucket count a table's description records (`lake init`, the jobs)."""
    try:
        return int(orjson.loads(dt.metadata().description or "{}")["workbench"]["buckets"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return default


def _read_frames(con: duckdb.DuckDBPyConnection, ids: pa.Table) -> dict[str, pa.Table]:
    with registered(con, "_wb_lake_ids", ids):
        return {
            name: con.sql(
                f"SELECT t.*, t.rowid AS rowid FROM {quote_ident(name)} t "
                f"WHERE t.{FRAME_KEY[name]} IN (SELECT id FROM _wb_lake_ids)"
            ).to_arrow_table()
            for name in LAKE_TABLES
        }


def open_for_lake(path: str, uri: str, *, attach: bool, buckets: int, progress: bool) -> Lake:
    """`workbench lake init|attach`: the catalog file at `path` (migrated, not open
    elsewhere) gets its big tables from the lake at `uri`, in one DuckDB transaction."""
    from workbench.store.catalog import Catalog

    Catalog(path).close()  # created or migrated to the current schema
    con = duckdb.connect(path)
    try:
        if Lake.load(con) is not None:
            raise LakeError(f"{path} is lake-backed already")
        con.execute("BEGIN TRANSACTION")
        try:
            lake = (
                attach_lake(con, uri)
                if attach
                else create_lake(con, uri, buckets=buckets, progress=progress)
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        return lake
    finally:
        con.close()


# -- changing rows ---------------------------------------------------------------------------
@contextmanager
def edit(
    lake: Lake, con: duckdb.DuckDBPyConnection, frame_ids: Sequence[str], *, dry_run: bool = False
) -> Iterator[None]:
    """Check the rows of `frame_ids` out into temporary tables named frames/sources/rois on
    `con` (inside the caller's transaction), let the block change them with plain SQL, then
    replace those frames' rows in the lake with what the block left, and move the pins."""
    ids = pa.table({"id": pa.array(sorted(set(frame_ids)), pa.string())})
    with registered(con, "_wb_lake_ids", ids):
        for name in LAKE_TABLES:
            con.execute(
                f"CREATE TEMP TABLE {quote_ident(name)} AS SELECT * FROM main.{quote_ident(name)} "
                f"WHERE {FRAME_KEY[name]} IN (SELECT id FROM _wb_lake_ids)"
            )
    before = {n: _snapshot(con, n) for n in LAKE_TABLES}
    yield
    after = {n: _snapshot(con, n) for n in LAKE_TABLES}
    for name in LAKE_TABLES:
        con.execute(f"DROP TABLE temp.{quote_ident(name)}")
    changed = [n for n in LAKE_TABLES if not _same(before[n], after[n])]
    if changed and not dry_run:
        _replace(lake, con, ids["id"], after, changed)
        lake.pin(con)


def _snapshot(con: duckdb.DuckDBPyConnection, name: str) -> pa.Table:
    return con.sql(f"SELECT * FROM temp.{quote_ident(name)}").to_arrow_table()


def _same(a: pa.Table, b: pa.Table) -> bool:
    if a.num_rows != b.num_rows:
        return False
    return a.equals(b) or _sorted(a).equals(_sorted(b))


def _sorted(t: pa.Table) -> pa.Table:
    keys = [(c, "ascending") for c in ("frame_id", "id", "field") if c in t.schema.names]
    return t.sort_by(keys) if keys else t


def _replace(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    ids: Any,
    after: dict[str, pa.Table],
    changed: Sequence[str],
) -> None:
    """Replace the rows of the checked-out frames in each changed table (one commit each).

    Frames removed in the block keep no rows; the predicate names every checked-out frame,
    and its bucket where known so that only those partitions' files are rewritten."""
    from deltalake import write_deltalake

    schemas = {n: t.arrow_schema(con) for n, t in lake.tables.items()}
    # A removed frame's rows are found by id in every bucket; kept ones also by bucket.
    if after["frames"].num_rows:
        rows = lake_rows(after, schemas, lake.buckets)
    else:
        rows = {n: schemas[n].empty_table() for n in LAKE_TABLES}
    wanted = ", ".join(_sql_literal(i) for i in ids.to_pylist())
    for name in changed:
        predicate = f"{FRAME_KEY[name]} IN ({wanted})"
        try:
            write_deltalake(
                lake.tables[name].uri,
                rows[name],
                mode="overwrite",
                predicate=predicate,
                storage_options=lake.options,
                partition_by=[BUCKET],
            )
        except Exception as exc:
            raise LakeError(f"cannot write lake table {lake.tables[name].uri}: {exc}") from exc


def _sql_literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


# -- upkeep ----------------------------------------------------------------------------------
def compact(lake: Lake, *, progress: bool = True) -> dict[str, int]:
    """Rewrite each bucket of each table as few files sorted in the lake's order (the small
    files of many writes become one per bucket). Returns files removed per table."""
    from deltalake import write_deltalake

    removed: dict[str, int] = {}
    work = [(n, b) for n in LAKE_TABLES for b in range(lake.buckets)]
    for name, bucket in tqdm(work, desc="compact", unit="bucket", disable=not progress):
        dt = lake.delta(name)
        files = [a for a in _bucket_files(dt, bucket)]
        if len(files) <= 1:
            continue
        rows = dt.to_pyarrow_table(filters=[(BUCKET, "=", bucket)])
        if name == "frames":
            rows = frame_order(rows)
        else:
            rows = rows.sort_by([("frame_id", "ascending"), ("id", "ascending")])
        write_deltalake(
            lake.tables[name].uri,
            rows,
            mode="overwrite",
            predicate=f"{BUCKET} = {bucket}",
            storage_options=lake.options,
            partition_by=[BUCKET],
            target_file_size=_TARGET_FILE_BYTES,
        )
        removed[name] = removed.get(name, 0) + len(files)
    return removed


def _bucket_files(dt: Any, bucket: int) -> list[str]:
    actions = pa.table(dt.get_add_actions(flatten=True))
    column = f"partition.{BUCKET}"
    paths = actions["path"].to_pylist()
    values = actions[column].to_pylist() if column in actions.schema.names else [None] * len(paths)
    return [p for p, v in zip(paths, values, strict=True) if v is not None and int(v) == bucket]


def vacuum(lake: Lake, *, retention_hours: int = 168, dry_run: bool = True) -> dict[str, list[str]]:
    """The files no snapshot within `retention_hours` reads; removed unless `dry_run`.
    A catalog still pinned to an older snapshot must be refreshed first."""
    return {
        name: list(
            lake.delta(name).vacuum(
                retention_hours=retention_hours,
                dry_run=dry_run,
                enforce_retention_duration=retention_hours >= 168,
            )
        )
        for name in LAKE_TABLES
    }
