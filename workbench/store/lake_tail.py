"""A write's new rows and each bucket's small last file made one file (store/lake_write.py).

A write numbers the rows it adds after every other row, bucket after bucket, so on a lake of
several buckets a bucket's last file and its new rows have other buckets' files between
them: written together, the file's range would overlap theirs (the views would sort), and
written apart, each update adds a small file to every bucket it adds rows to, until `lake
compact`. store/lake_order.py takes a small file in only when nothing lies between.

So a write that adds frames to a bucket whose last frames file is small (`FOLD_BYTES`) also
stores that file's frames again, as `lake compact` stores a bucket again: they are checked
out after the write's own block, before its frames, and numbered and keyed with its new
frames (store/lake_write.py `_store_again`), so the bucket's old and new frames make one run
of stored order and one file, their sources and ROIs with them, in the write's commits. Those
frames move to the end of the stored order, the bucket's before its new ones, and get new
keys (their summaries follow, as for any frame stored again). At most `TAIL_FRAMES` frames a
write are stored again this way (the buckets past it get a file of their own, taken in by a
later write); the bucket of the table's last file is left to store/lake_order.py, which
takes it in without storing its frames again.
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.store.arrow import registered
from workbench.store.lake import FRAME_KEY, LAKE_TABLES, Lake, arrow_filesystem, fs_path
from workbench.store.lake_format import Span
from workbench.store.lake_order import FOLD_BYTES
from workbench.store.sqlsafe import quote_ident

# Frames a write stores again at most to take the small last files of the buckets it adds to
# (docs/benchmarks.md, "Twenty-ninth pass").
TAIL_FRAMES = 4096


def small_last_files(spans: list[Span], buckets: Collection[int]) -> list[Span]:
    """The last frames file of each of `buckets` when it holds at most `FOLD_BYTES`, the
    newest first, but the table's last file when its bucket is the first the write numbers
    (store/lake_order.py takes that one in as it is)."""
    if not spans or not buckets:
        return []
    last: dict[int, Span] = {}
    for span in sorted(spans, key=lambda s: s.low):
        last[span.bucket] = span
    table_last = max(spans, key=lambda s: s.low)
    out = [
        s
        for b, s in last.items()
        if b in buckets and 0 < s.size <= FOLD_BYTES and not (s == table_last and b == min(buckets))
    ]
    return sorted(out, key=lambda s: s.low, reverse=True)


def frames_to_store_again(lake: Lake, buckets: Collection[int], room: int) -> list[str]:
    """The frames of the small last files of `buckets` (`small_last_files`), up to `room`
    frames (whole files, the newest first)."""
    fmt = lake.format
    if room <= 0 or fmt.version("frames") != lake.tables["frames"].version:
        return []  # the table moved on since the pin: its files are not the views'
    spans = fmt.spans("frames")
    if not spans:
        return []
    fs = arrow_filesystem(fmt.root)
    out: list[str] = []
    for span in small_last_files(spans, buckets):
        ids = pq.read_table(fs_path(fmt.file_path("frames", span)), columns=["id"], filesystem=fs)
        found = ids["id"].to_pylist()
        if len(out) + len(found) > room:
            break
        out += found
    return out


def check_out_first(
    con: duckdb.DuckDBPyConnection, ids: list[str], stored: dict[str, pa.Table]
) -> None:
    """Check the rows of frames `ids` out into the write's temporary tables, before the rows
    there (so they come first in their bucket when stored again), and add their numbers to
    `stored` (store/lake_write.py `_check_out`), whose temporary `rowid`s move past them."""
    with registered(con, "_wb_lake_tail", pa.table({"id": pa.array(ids, pa.string())})):
        for name in LAKE_TABLES:
            stored[name] = _first(con, name, stored[name])


def _first(con: duckdb.DuckDBPyConnection, name: str, stored: pa.Table) -> pa.Table:
    ident = quote_ident(name)
    columns = ", ".join(quote_ident(r[0]) for r in con.execute(f"DESCRIBE temp.{ident}").fetchall())
    # the lake's view: `main.` alone names the temporary table now (temp.main)
    view = f"{quote_ident(con.sql('SELECT current_database()').fetchall()[0][0])}.main.{ident}"
    con.execute(
        f"CREATE TEMP TABLE _wb_lake_out AS SELECT * FROM {view} "
        f"WHERE {FRAME_KEY[name]} IN (SELECT id FROM _wb_lake_tail) ORDER BY rowid"
    )
    numbers = con.sql(
        f"SELECT rowid AS stored, frame_key, {FRAME_KEY[name]} AS frame "
        "FROM temp._wb_lake_out ORDER BY rowid"
    ).to_arrow_table()
    there = con.sql(f"SELECT rowid FROM temp.{ident} ORDER BY rowid").to_arrow_table()
    # the rows there set aside and put back after these (a table renamed in a transaction
    # loses rows in DuckDB 1.4, so the table stays)
    con.execute(f"CREATE TEMP TABLE _wb_lake_there AS SELECT * FROM temp.{ident} ORDER BY rowid")
    con.execute(f"DELETE FROM temp.{ident}")
    con.execute(f"INSERT INTO temp.{ident} SELECT {columns} FROM temp._wb_lake_out ORDER BY rowid")
    con.execute(f"INSERT INTO temp.{ident} SELECT * FROM temp._wb_lake_there")
    con.execute("DROP TABLE temp._wb_lake_out")
    con.execute("DROP TABLE temp._wb_lake_there")
    now = con.sql(f"SELECT rowid FROM temp.{ident} ORDER BY rowid").to_arrow_table()["rowid"]
    moved = len(numbers)
    numbers = numbers.append_column("rowid", now.slice(0, moved))
    # a row's new temporary rowid: the one at its place among the rows there, after these
    at = pc.index_in(stored["rowid"], value_set=there["rowid"].combine_chunks())
    rowid = pc.take(now.combine_chunks(), pc.add(at.cast(pa.int64()), moved))
    rowid = pc.fill_null(rowid, -1)
    stored = stored.set_column(stored.schema.get_field_index("rowid"), "rowid", rowid)
    return pa.concat_tables([numbers, stored.cast(numbers.schema)])
