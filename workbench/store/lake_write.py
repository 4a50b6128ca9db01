"""Writing a lake-backed catalog's big tables: creating the lake, moving a catalog's rows into
it, changing the rows of some frames, compacting and vacuuming.

Every change of rows goes through `edit`: the frames a write touches are checked out of the
pinned snapshot into temporary tables of the same names (they shadow the lake views on that
connection only), the library's usual SQL runs on them unchanged, and on the way out each
table whose rows changed gets one commit replacing exactly those frames' rows, every file
left in stored order (store/lake_order.py: Delta or Iceberg). Each table's commit
is atomic; the three tables together are not (neither format has multi-table transactions), so
the catalog moves its pins only after all three are written (docs/scale-out.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.errors import LakeError
from workbench.store import interrupts, layout
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
    table_uri,
)
from workbench.store.lake_format import IsIn, Unkeyed, open_format
from workbench.store.lake_order import write_in_order
from workbench.store.sqlsafe import quote_ident

# Rows per read when moving a catalog's tables into the lake, and per Parquet file written.
_CHUNK = 1_000_000
_TARGET_FILE_BYTES = 128 * 1024 * 1024
# A column of rows written again as they were checked out: their old `_row` (`numbered`).
KEPT = "_wb_kept"
# Frame ids one overwrite's predicate lists at most (deltalake's predicate handling takes
# seconds at 20,000 and crashes the process at 100,000, measured with 1.6.6).
PREDICATE_IDS = 5_000
# Frame keys whose summaries one pass of `summarise_lake` makes (about 8M ROIs).
SUMMARY_STRETCH = 2_000_000


def frame_order(frames: pa.Table) -> pa.Table:
    """Frames as `lake compact` clusters them: by context, timestamp, id."""
    keys = [(k, "ascending") for k in ("context_id", "timestamp", "id") if k in frames.schema.names]
    return frames.sort_by(keys)


def conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` with the lake table's columns, in order and types (missing ones null)."""
    columns = []
    for f in schema:
        if f.name in rows.schema.names:
            columns.append(rows[f.name].cast(f.type))
        else:
            columns.append(pa.nulls(rows.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


_last_row = 0


def next_rows(count: int) -> int:
    """The first of `count` new stored-order numbers: after every number given out before
    (in this process) and, across processes, in order of writing (ns since the epoch)."""
    global _last_row
    start = max(time.time_ns(), _last_row + 1)
    _last_row = start + count
    return start


def numbered(rows: pa.Table, buckets_of: pa.Array, first: int | None = None) -> pa.Table:
    """`rows` grouped by bucket (keeping their order inside each), with the bucket column
    and fresh `_row` numbers from `first` (default: `next_rows`); a row with a number in
    the `KEPT` column keeps that one instead."""
    rows = rows.drop([c for c in ("rowid", ROW, BUCKET) if c in rows.schema.names])
    rows = rows.append_column(BUCKET, buckets_of).sort_by([(BUCKET, "ascending")])
    start = next_rows(rows.num_rows) if first is None else first
    numbers = pa.array(range(start, start + rows.num_rows), pa.int64())
    if KEPT in rows.schema.names:
        numbers = pc.coalesce(rows[KEPT].combine_chunks(), numbers)
        rows = rows.drop([KEPT])
    return rows.append_column(ROW, numbers)


def lake_rows(
    tables: dict[str, pa.Table],
    schemas: dict[str, pa.Schema],
    buckets: int,
    *,
    first: int | None = None,
) -> dict[str, pa.Table]:
    """frames/sources/rois as the lake stores them: bucketed, numbered in the order given
    (bucket by bucket), typed. Sources and ROIs take their frame's bucket; `tables["frames"]`
    must hold every frame they belong to."""
    frames = tables["frames"]
    bucket_list = context_bucket(frames["context_id"].to_pylist(), buckets).to_pylist()
    by_frame = dict(zip(frames["id"].to_pylist(), bucket_list, strict=True))
    out = {}
    for name, rows in tables.items():
        keys = rows[FRAME_KEY[name]].to_pylist()
        of_rows = pa.array([by_frame.get(k, 0) for k in keys], pa.int32())
        out[name] = conform(numbered(rows, of_rows, first), schemas[name])
    return out


# -- making a lake ---------------------------------------------------------------------------
def create_lake(
    con: duckdb.DuckDBPyConnection,
    uri: str,
    *,
    buckets: int = DEFAULT_BUCKETS,
    progress: bool = True,
    fmt: str = "delta",
    catalog: str | None = None,
) -> Lake:
    """Move the catalog's frames, sources and ROIs into new tables at `uri` (Delta, or Iceberg
    in the SQL catalog `catalog`) and make the catalog read them from there. `con` is an
    unsealed connection to the catalog file."""
    root = normalise_uri(uri)
    tables_format = open_format(fmt, root, catalog)
    columns = {name: column_types(con, name) for name in LAKE_TABLES}
    tables = {n: LakeTable(n, table_uri(root, n), buckets, columns[n], None) for n in LAKE_TABLES}
    for table in tables.values():
        if tables_format.exists(table.name):
            raise LakeError(f"{table.uri} is a {fmt} table already: attach it instead")
    schemas = {n: t.arrow_schema(con) for n, t in tables.items()}
    for name in tables:
        tables_format.create(name, schemas[name], buckets)
    total = int(con.execute("SELECT count(*) FROM frames").fetchall()[0][0])
    keys = []
    with tqdm(total=total, unit="frame", desc="to lake", disable=not progress) as bar:
        for start in range(0, total, _CHUNK):
            ids = con.sql(
                "SELECT id FROM frames ORDER BY rowid LIMIT ? OFFSET ?", params=[_CHUNK, start]
            ).to_arrow_table()
            chunk = _read_frames(con, ids)
            stored, renamed = _keyed_in_order(lake_rows(chunk, schemas, buckets), start)
            keys.append(renamed)
            for name, rows in stored.items():
                tables_format.append(name, rows, target_file_size=_TARGET_FILE_BYTES)
            bar.update(ids.num_rows)
    _rename_summaries(con, keys, total)
    record_lake(con, root, buckets, columns, fmt, catalog)
    for name in LAKE_TABLES:
        con.execute(f"DROP TABLE {quote_ident(name)}")
    lake = Lake(root, tables, tables_format)
    lake.prepare(con)
    lake.pin(con)
    return lake


def _keyed_in_order(rows: dict[str, pa.Table], first: int) -> tuple[dict[str, pa.Table], pa.Table]:
    """The frames' keys renumbered from `first` in the order they are written (bucket by
    bucket), so the lake's stored order is frame-key order (store/layout.py); returns the
    rows and the (old, new) keys."""
    old = rows["frames"]["frame_key"].combine_chunks()
    new = pa.array(range(first, first + len(old)), pa.int64())
    out = {}
    for name, table in rows.items():
        at = table.schema.get_field_index("frame_key")
        found = pc.index_in(table["frame_key"], value_set=old)
        mapped = pc.if_else(pc.is_null(found), table["frame_key"], pc.take(new, found))
        out[name] = table.set_column(at, table.schema.field(at), mapped)
    return out, pa.table({"old": old, "new": new})


def _rename_summaries(con: duckdb.DuckDBPyConnection, keys: list[pa.Table], total: int) -> None:
    """The per-frame summaries under the frames' new keys, sorted again by label and frame."""
    renamed = pa.concat_tables(keys) if keys else pa.table({"old": [0], "new": [0]}).slice(0, 0)
    with registered(con, "_wb_lake_keys", renamed):
        con.execute(
            "CREATE TEMP TABLE _wb_lake_labels AS SELECT k.new AS frame_key, l.label_key,"
            " l.rois, l.min_confidence, l.max_confidence FROM frame_labels l"
            " JOIN _wb_lake_keys k ON k.old = l.frame_key ORDER BY l.label_key, k.new"
        )
        con.execute(
            "CREATE TEMP TABLE _wb_lake_codes AS SELECT k.new AS frame_key, c.codes"
            " FROM frame_codes c JOIN _wb_lake_keys k ON k.old = c.frame_key ORDER BY k.new"
        )
    for table, temp in (("frame_labels", "_wb_lake_labels"), ("frame_codes", "_wb_lake_codes")):
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM temp.{temp}")
        con.execute(f"DROP TABLE temp.{temp}")
    con.execute("DELETE FROM _layout_pending")
    layout.set_next_frame_key(con, total)


def attach_lake(
    con: duckdb.DuckDBPyConnection, uri: str, *, fmt: str = "delta", catalog: str | None = None
) -> Lake:
    """Make an empty catalog read the tables at `uri` (written by a job or another catalog;
    Delta, or Iceberg in the SQL catalog `catalog`). Their columns must include the
    catalog's; extra ones are left out of the views."""
    root = normalise_uri(uri)
    tables_format = open_format(fmt, root, catalog)
    columns = {name: column_types(con, name) for name in LAKE_TABLES}
    found = int(con.execute("SELECT count(*) FROM frames").fetchall()[0][0])
    if found:
        raise LakeError(f"the catalog holds {found} frames of its own: `lake init` moves them")
    buckets = DEFAULT_BUCKETS
    for name in LAKE_TABLES:
        try:
            names = tables_format.field_names(name)
        except Exception as exc:
            raise LakeError(f"no {fmt} table at {table_uri(root, name)}: {exc}") from exc
        missing = [c for c, _ in columns[name] if c not in names]
        if missing:
            raise LakeError(f"{table_uri(root, name)} lacks the columns {missing}")
        buckets = tables_format.buckets(name, buckets)
    record_lake(con, root, buckets, columns, fmt, catalog)
    for name in LAKE_TABLES:
        con.execute(f"DROP TABLE {quote_ident(name)}")
    tables = {n: LakeTable(n, table_uri(root, n), buckets, columns[n], None) for n in LAKE_TABLES}
    lake = Lake(root, tables, tables_format)
    lake.prepare(con)
    lake.pin(con)
    summarise_lake(con)
    return lake


def summarise_lake(con: duckdb.DuckDBPyConnection, *, progress: bool = False) -> None:
    """The catalog's side of the layout for the rows an attached lake holds with keys (a
    catalog wrote them); rows without (a job's) are keyed when the catalog opens.

    The summaries and codes are made a stretch of frame keys at a time (the ROIs' files are
    pruned by their `frame_key` statistics), so each pass groups a bounded number of rows
    whatever the size of the lake: one GROUP BY and sort of every ROI spilled and grew
    faster than the rows. `frame_labels` is then sorted by label and frame within each
    stretch, as the rows of separate writes are."""
    con.execute(
        "INSERT INTO label_keys SELECT DISTINCT label_key, field, label FROM rois"
        " WHERE label_key IS NOT NULL"
    )
    found = con.execute(
        f"SELECT DISTINCT frame_key // {SUMMARY_STRETCH} FROM rois"
        f" WHERE frame_key IS NOT NULL AND frame_key <> {layout.NO_FRAME} ORDER BY 1"
    ).fetchall()
    for (stretch,) in tqdm(found, desc="summaries", unit="stretch", disable=not progress):
        first = int(stretch) * SUMMARY_STRETCH
        which = f"frame_key BETWEEN {first} AND {first + SUMMARY_STRETCH - 1}"
        layout.summarise(con, "r." + which, [])
        layout.code(con, which, [], every_frame=False)
    layout.tally(con, "frame_key IS NOT NULL", [], 1)
    top = con.execute("SELECT max(frame_key) FROM frames").fetchall()[0][0]
    layout.set_next_frame_key(con, 0 if top is None else int(top) + 1)


def _read_frames(con: duckdb.DuckDBPyConnection, ids: pa.Table) -> dict[str, pa.Table]:
    with registered(con, "_wb_lake_ids", ids):
        return {
            name: con.sql(
                f"SELECT t.* FROM {quote_ident(name)} t "
                f"WHERE t.{FRAME_KEY[name]} IN (SELECT id FROM _wb_lake_ids) ORDER BY t.rowid"
            ).to_arrow_table()
            for name in LAKE_TABLES
        }


def open_for_lake(
    path: str,
    uri: str,
    *,
    attach: bool,
    buckets: int,
    progress: bool,
    fmt: str = "delta",
    catalog: str | None = None,
) -> Lake:
    """`workbench lake init|attach`: the catalog file at `path` (migrated, not open
    elsewhere) gets its big tables from the lake at `uri`, in one DuckDB transaction. An
    Iceberg lake's SQL catalog is `catalog`, by default a SQLite file beside `path`."""
    from workbench.store import lake_groups
    from workbench.store.catalog import Catalog, engine_config
    from workbench.store.lake_iceberg import default_catalog, recordable

    if fmt == "iceberg":
        catalog = recordable(catalog) if catalog else default_catalog(path)

    Catalog(path).close()  # created or migrated to the current schema
    # the catalog's memory budget: the summaries of a big lake spill rather than grow
    con = duckdb.connect(path, config=engine_config())
    try:
        if Lake.load(con) is not None:
            raise LakeError(f"{path} is lake-backed already")
        con.execute("BEGIN TRANSACTION")
        try:
            lake = (
                attach_lake(con, uri, fmt=fmt, catalog=catalog)
                if attach
                else create_lake(
                    con, uri, buckets=buckets, progress=progress, fmt=fmt, catalog=catalog
                )
            )
            lake_groups.build(con, lake, progress=progress)
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
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    frame_ids: Sequence[str],
    *,
    dry_run: bool = False,
    adopting: bool = False,
) -> Iterator[None]:
    """Check the rows of `frame_ids` out into temporary tables named frames/sources/rois on
    `con` (inside the caller's transaction), let the block change them with plain SQL, bring
    their layout up to date (keys, summaries: store/layout.py), then replace those frames'
    rows in the lake with what the block left, and move the pins."""
    if lake.unrepaired and not dry_run:
        raise LakeError(
            "a write this catalog rolled back is still in its lake (undoing it failed): "
            "refresh_lake() or open the catalog again first"
        )
    ids = pa.table({"id": pa.array(sorted(set(frame_ids)), pa.string())})
    stored: dict[str, pa.Table] | None = None if adopting else {}
    with registered(con, "_wb_lake_ids", ids):
        for name in LAKE_TABLES:
            which = f"WHERE {FRAME_KEY[name]} IN (SELECT id FROM _wb_lake_ids) ORDER BY rowid"
            if stored is None:
                con.execute(
                    f"CREATE TEMP TABLE {quote_ident(name)} AS SELECT * EXCLUDE (rowid) "
                    f"FROM main.{quote_ident(name)} {which}"
                )
            else:
                stored[name] = _check_out(con, name, which)
    # adopting a job's rows, every row checked out changes (it gets its keys)
    before = None if adopting else {n: _snapshot(con, n) for n in LAKE_TABLES}
    yield  # on an error the caller rolls back, which drops the temporary tables
    first = layout.next_frame_key(con)
    _store_again(con, lake.buckets, before["frames"] if before else None)
    layout.sync(con, promote=False, every_frame=False)
    after = {n: _snapshot(con, n) for n in LAKE_TABLES}
    for name in LAKE_TABLES:
        con.execute(f"DROP TABLE temp.{quote_ident(name)}")
    changed = {
        n: _changed_frames(n, before[n], after[n]) if before else _frames_in(n, after[n])
        for n in LAKE_TABLES
    }
    if any(changed.values()) and not dry_run:
        with lake.gate:  # a catalog closing lets no write begin the lake's commits
            if lake.closing:
                raise LakeError("the catalog is closing: the write was not made")
            interrupts.hold(con)  # until the catalog's transaction ends (store/interrupts.py)
        _replace(lake, con, after, changed, first if adopting else None, stored)
        lake.pin(con)


def _frames_in(name: str, rows: pa.Table) -> list[str]:
    return sorted(str(i) for i in pc.unique(rows[FRAME_KEY[name]]).to_pylist())


def _store_again(con: duckdb.DuckDBPyConnection, buckets: int, before: pa.Table | None) -> None:
    """Keep the lake's stored order the frame-key order (store/layout.py) that views page by.

    A frame whose row changed is written again after every other, so it is stored again as
    on a local catalog that deletes and inserts it: it gets a new key (its rows too, and its
    summaries are made again). Frames without a key are then keyed bucket by bucket, the
    order in which a write numbers the rows it stores (`numbered`).
    """
    again = []
    if before is not None:
        kept = set(before["id"].to_pylist())
        now = _snapshot(con, "frames")
        again = [i for i in _changed_frames("frames", before, now) if i in kept]
    if again:
        layout.touch(con, "SELECT unnest(?::VARCHAR[])", [again])
        for name in LAKE_TABLES:
            con.execute(
                f"UPDATE temp.{quote_ident(name)} SET frame_key = NULL "
                f"WHERE {FRAME_KEY[name]} IN (SELECT unnest(?::VARCHAR[]))",
                [again],
            )
    new = con.sql(
        "SELECT rowid AS r, context_id FROM temp.frames WHERE frame_key IS NULL ORDER BY rowid"
    ).to_arrow_table()
    if not new.num_rows:
        return
    buckets_of = context_bucket(new["context_id"].to_pylist(), buckets)
    with registered(con, "_wb_lake_order", pa.table({"r": new["r"], "b": buckets_of})):
        con.execute(
            "CREATE TEMP TABLE _wb_lake_frames AS SELECT f.* FROM temp.frames f "
            "JOIN _wb_lake_order o ON o.r = f.rowid ORDER BY o.b, f.rowid"
        )
    con.execute("DELETE FROM temp.frames WHERE frame_key IS NULL")
    con.execute("INSERT INTO temp.frames SELECT * FROM temp._wb_lake_frames")
    con.execute("DROP TABLE temp._wb_lake_frames")


def adopt(lake: Lake, con: duckdb.DuckDBPyConnection) -> list[str]:
    """The frames whose rows a job appended to the lake without keys (store/layout.py); the
    caller edits them (`edit` keys and summarises them) in a transaction of its own."""
    rows = con.execute(
        "SELECT id FROM frames WHERE frame_key IS NULL"
        " UNION SELECT frame_id FROM sources WHERE frame_key IS NULL"
        " UNION SELECT frame_id FROM rois WHERE frame_key IS NULL"
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


def _snapshot(con: duckdb.DuckDBPyConnection, name: str) -> pa.Table:
    """A checked-out table's rows in their order (survivors first, then what was added;
    frames by key, the order the lake stores them in), with their temporary `rowid`."""
    order = "frame_key NULLS LAST, rowid" if name == "frames" else "rowid"
    return con.sql(
        f"SELECT *, rowid FROM temp.{quote_ident(name)} ORDER BY {order}"
    ).to_arrow_table()


def _check_out(con: duckdb.DuckDBPyConnection, name: str, which: str) -> pa.Table:
    """Check the rows `which` selects out into `temp.name`, in stored order, and return each
    one's number (`_row`), frame key and frame in the lake and its temporary `rowid`."""
    ident = quote_ident(name)
    # the view's rows with its `rowid` column (the lake's `_row`), read once
    con.execute(f"CREATE TEMP TABLE _wb_lake_out AS SELECT * FROM main.{ident} {which}")
    con.execute(
        f"CREATE TEMP TABLE {ident} AS SELECT * EXCLUDE (rowid) FROM temp._wb_lake_out "
        "ORDER BY rowid"
    )
    numbers = con.sql(
        f"SELECT rowid AS stored, frame_key, {FRAME_KEY[name]} AS frame "
        "FROM temp._wb_lake_out ORDER BY rowid"
    ).to_arrow_table()
    con.execute("DROP TABLE temp._wb_lake_out")
    temp = con.sql(f"SELECT rowid FROM temp.{ident} ORDER BY rowid").to_arrow_table()
    return numbers.append_column("rowid", temp["rowid"])


def _kept_numbers(rows: pa.Table, checked_out: pa.Table) -> pa.Table:
    """`rows` with the `KEPT` column: the lake's number of each row the write left where it
    was (the same temporary row, its frame's key unchanged: a local catalog's row kept in
    place), null for the others (new, or of a frame stored again)."""
    at = pc.index_in(rows["rowid"], value_set=checked_out["rowid"].combine_chunks())
    same = pc.equal(rows["frame_key"], pc.take(checked_out["frame_key"], at))
    numbers = pc.take(checked_out["stored"], at)
    kept = pc.if_else(pc.fill_null(same, False), numbers, pa.scalar(None, pa.int64()))
    return rows.append_column(KEPT, kept)


def _changed_frames(name: str, before: pa.Table, after: pa.Table) -> list[str]:
    """The frames whose rows in this table differ (values or order; `rowid` aside)."""

    def grouped(rows: pa.Table) -> dict[str, list[tuple[Any, ...]]]:
        kept = rows.drop([c for c in ("rowid",) if c in rows.schema.names])
        out: dict[str, list[tuple[Any, ...]]] = {}
        for row in kept.to_pylist():
            out.setdefault(row[FRAME_KEY[name]], []).append(tuple(row.values()))
        return out

    a, b = grouped(before), grouped(after)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _replace(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    after: dict[str, pa.Table],
    changed: dict[str, list[str]],
    first: int | None = None,
    stored: dict[str, pa.Table] | None = None,
) -> None:
    """Replace, in each table, the rows of the frames that changed there (one commit a
    table, up to PREDICATE_IDS frames). Rows the block added or replaced are written as new
    rows, after every other (a DELETE and INSERT on a local catalog does the same); rows it
    left in place keep their number, so their place, if the table has not moved on since
    they were checked out (`stored`); a frame removed in the block keeps no rows. `first`:
    this write keys a job's rows, from that key on (`adopt`)."""
    schemas = {n: t.arrow_schema(con) for n, t in lake.tables.items()}
    picked, current = {}, {}
    for name in LAKE_TABLES:
        wanted = pa.array(changed[name] or [], pa.string())
        mask = pc.is_in(after[name][FRAME_KEY[name]], value_set=wanted)
        picked[name] = after[name].filter(mask)
        if stored and changed[name] and lake.format.version(name) == lake.tables[name].version:
            current[name] = stored[name]  # the rows checked out are the lake's rows still
            picked[name] = _kept_numbers(picked[name], stored[name])
    rows = lake_rows({**picked, "frames": after["frames"]}, schemas, lake.buckets)
    rows["frames"] = rows["frames"].filter(
        pc.is_in(rows["frames"]["id"], value_set=pa.array(changed["frames"] or [], pa.string()))
    )
    for name in LAKE_TABLES:
        ids = changed[name]
        if not ids:
            continue
        if len(ids) <= PREDICATE_IDS:
            _overwrite(lake, name, rows[name], _listed(name, ids), current.get(name))
        elif first is not None and _all_new(rows[name], first):
            # the rows of a job the catalog keys (`adopt`): the only rows without keys, and
            # nothing else at or past the first new key
            if lake.format.version(name) != lake.tables[name].version:
                raise LakeError(f"lake table {name} moved on while its rows were keyed")
            _overwrite(lake, name, rows[name], Unkeyed(int(first)))
        else:  # one commit per stretch of frames: each is atomic, the whole is not
            key = rows[name][FRAME_KEY[name]]
            for start in range(0, len(ids), PREDICATE_IDS):
                part = ids[start : start + PREDICATE_IDS]
                mask = pc.is_in(key, value_set=pa.array(part, pa.string()))
                part_rows = rows[name].filter(mask)
                _overwrite(lake, name, part_rows, _listed(name, part), current.get(name))


def _listed(name: str, ids: Sequence[str]) -> IsIn:
    return IsIn(FRAME_KEY[name], tuple(str(i) for i in ids))


def _all_new(rows: pa.Table, first: int) -> bool:
    return bool(pc.all(pc.greater_equal(rows["frame_key"], first)).as_py())


def _overwrite(
    lake: Lake,
    name: str,
    rows: pa.Table,
    where: IsIn | Unkeyed,
    stored: pa.Table | None = None,
) -> None:
    """Replace the rows `where` selects by `rows` (which it must select too), in stored
    order (store/lake_order.py). `stored`: the rows checked out (`_check_out`), when the
    table holds them still: the numbers of those `where` selects are known."""
    replaced = None
    if stored is not None and isinstance(where, IsIn):
        listed = pc.is_in(stored["frame"], value_set=pa.array(where.values, pa.string()))
        replaced = stored["stored"].filter(listed)
    write_in_order(lake.format, name, rows, where, replaced)


# -- upkeep ----------------------------------------------------------------------------------
