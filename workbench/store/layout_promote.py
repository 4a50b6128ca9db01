"""Metadata keys promoted to frame columns: which keys, their columns, filling them.

Metadata keys most frames have are copied into frame columns (`metadata_<key>`, the value as
`json_extract_string` gives it, recorded in `metadata_columns(key, column_name)`), so
filters and facets read no JSON (docs/scale.md). This module says what promotion is: how
keys are chosen from a sample of frames, how their columns are added and filled. When it
happens is the layout's upkeep (store/layout.py: writes while the catalog is small),
`Catalog.optimize()` (store/layout_build.py) and a lake's compaction (store/lake_compact.py).
"""

from __future__ import annotations

import re
from typing import Any

import duckdb

from workbench.model.records import PROMOTED_KEYS
from workbench.store.scratch import dropped_after
from workbench.store.sqlsafe import quote_ident

# Metadata keys promoted to columns: present in at least this share of the sampled frames,
# scalar there, at most this many, named `metadata_<key>`, for keys made of these characters.
PROMOTE_SHARE = 0.05
PROMOTE_MAX = 8
PROMOTE_PREFIX = "metadata_"
PROMOTE_SAMPLE = 10_000
_PROMOTABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")


def promoted_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Metadata key -> the frame column holding its value (as `json_extract_string` gives it)."""
    rows = con.execute("SELECT key, column_name FROM metadata_columns ORDER BY key").fetchall()
    return {str(k): str(c) for k, c in rows}


def choose_keys(con: duckdb.DuckDBPyConnection, batch: str | None = None) -> dict[str, str]:
    """The metadata keys to promote now (key -> new column): in at least PROMOTE_SHARE of a
    sample of frames (with `batch`: of the stored frames and those of that table), never an
    object or a list there, at most PROMOTE_MAX promoted in all."""
    frames = "frames"
    if batch is not None:  # the text cast to JSON in the sample alone (as the INSERT casts it)
        frames = f"(SELECT metadata::VARCHAR AS metadata FROM frames UNION ALL SELECT metadata FROM {batch})"
    if not con.execute(f"SELECT 1 FROM {frames} LIMIT 1").fetchall():
        return {}
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _wb_sample AS SELECT metadata::JSON AS metadata"
        f" FROM {frames} USING SAMPLE {PROMOTE_SAMPLE} ROWS"
    )
    with dropped_after(con, "_wb_sample"):
        sampled = con.execute("SELECT count(*) FROM _wb_sample").fetchall()[0][0]
        counted = con.execute(
            "SELECT key, count(*) AS n FROM (SELECT unnest(json_keys(metadata)) AS key"
            " FROM _wb_sample) GROUP BY key ORDER BY n DESC, key"
        ).fetchall()
        known = promoted_columns(con)
        taken = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main'"
                " AND table_name = 'frames'"
            ).fetchall()
        }
        chosen: dict[str, str] = {}
        for key, n in counted:
            name, column = str(key), PROMOTE_PREFIX + str(key).lower()
            if len(known) + len(chosen) >= PROMOTE_MAX or n < PROMOTE_SHARE * sampled:
                break
            if (
                name in known
                or name in PROMOTED_KEYS
                or not _PROMOTABLE.fullmatch(name)
                or column in taken
                or column in chosen.values()
                or not _scalar(con, name)
            ):
                continue
            chosen[name] = column
        return chosen


def _scalar(con: duckdb.DuckDBPyConnection, key: str) -> bool:
    """Whether no sampled frame holds an object or a list under `key`."""
    rows = con.execute(
        "SELECT count(*) FROM _wb_sample WHERE json_type(metadata, ?) IN ('OBJECT', 'ARRAY')",
        [pointer(key)],
    ).fetchall()
    return not rows[0][0]


def add_promoted(con: duckdb.DuckDBPyConnection, chosen: dict[str, str]) -> None:
    """Add the columns of newly promoted keys (empty: fill_promoted fills them)."""
    for key, column in chosen.items():
        con.execute(f"ALTER TABLE frames ADD COLUMN {quote_ident(column)} VARCHAR")
        con.execute("INSERT INTO metadata_columns (key, column_name) VALUES (?, ?)", [key, column])


def fill_promoted(
    con: duckdb.DuckDBPyConnection, promoted: dict[str, str], which: str, params: list[Any]
) -> None:
    if not promoted:
        return
    sets = ", ".join(
        f"{quote_ident(column)} = json_extract_string(metadata, ?)" for column in promoted.values()
    )
    pointers = [pointer(key) for key in promoted]
    con.execute(f"UPDATE frames SET {sets} WHERE {which}", [*pointers, *params])


def pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")
