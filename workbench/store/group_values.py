"""Value counts of the frame groups (store/groups.py): each group's frames counted by the value
of every promoted metadata column with few values, when the groups are counted.

A promoted metadata column (`metadata_<key>`, the key's value as `json_extract_string`
gives it) that is not one of the groups' columns varies inside a group; counting each
group's frames by its value lets `metadata_values` of a view made of whole groups sum its
groups' rows instead of reading its frames. Exact: the same values of the same frames,
counted per group. A column is kept while its values (estimated) times the groups stay at
most MAX_ROWS, so reading a view's counts reads at most that many rows; a key with more
values, and a key that is not promoted (read from each frame's JSON, which no summary
holds), read the frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from workbench.store.sqlsafe import quote_ident

Con = duckdb.DuckDBPyConnection

# A promoted column is counted per group when its values times the groups are at most this.
MAX_ROWS = 262_144
# Where the stretch's values are kept, beside the groups' stretch of frames.
VALUE = "_wb_v"


@dataclass(frozen=True)
class ValueColumn:
    no: int
    column: str


def kept_columns(promoted: list[str], counts: list[int], groups: int) -> list[ValueColumn]:
    """The promoted columns whose values (`counts`: each one's estimate, read with the
    groups' candidates) times `groups` are at most MAX_ROWS."""
    kept = [c for c, n in zip(promoted, counts, strict=True) if int(n) * groups <= MAX_ROWS]
    return [ValueColumn(i, c) for i, c in enumerate(kept)]


def stretch_columns(columns: list[ValueColumn]) -> str:
    """The columns' values as text, as columns of a stretch's frames (`_wb_v<no>`)."""
    return "".join(
        f", CAST(f.{quote_ident(c.column)} AS VARCHAR) AS {VALUE}{c.no}" for c in columns
    )


def start(con: Con) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wb_group_values"
        " (g INTEGER, column_no INTEGER, value VARCHAR, count BIGINT)"
    )


def finish(con: Con, columns: list[ValueColumn], values: str, value_keys: str, group: str) -> None:
    """Store the counts (`values`: group, column, value, count) and the columns."""
    con.execute(
        f"CREATE TABLE {values} AS SELECT g AS {group}, column_no, value,"
        " sum(count)::BIGINT AS count FROM _wb_group_values GROUP BY ALL ORDER BY ALL"
    )
    con.execute("DROP TABLE IF EXISTS _wb_group_values")
    con.execute(f"CREATE TABLE {value_keys} (column_no INTEGER, column_name VARCHAR)")
    if columns:
        con.execute(
            f"INSERT INTO {value_keys} VALUES {', '.join(['(?, ?)'] * len(columns))}",
            [v for c in columns for v in (c.no, c.column)],
        )


def stored_column(con: Con, value_keys: str, column: str) -> int | None:
    """The number a kept column's counts are stored under, or None (not kept, or groups
    counted before value counts were kept)."""
    try:
        rows = con.execute(
            f"SELECT column_no FROM {value_keys} WHERE column_name = ?", [column]
        ).fetchall()
    except duckdb.CatalogException:
        return None
    return int(rows[0][0]) if len(rows) == 1 else None
