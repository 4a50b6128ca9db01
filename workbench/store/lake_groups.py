"""Frame groups of a lake-backed catalog: facets under a WHERE without reading every frame.

Frames that agree on a few low-cardinality frame columns (the promoted keys weather,
time_of_day, camera, location and promoted `metadata_<key>` columns with few values) form a
group; the catalog keeps, in its DuckDB file, one row per group with those columns and its
number of frames, the group's ROI codes counted (code as in `frame_codes`: label and
confidence bin) and its contexts. A view whose only conditions read those columns holds
whole groups: its WHERE, evaluated over the groups' rows (alias `f`, the same SQL), gives its
groups, and its count, label counts, confidence histogram, promoted keys' values and number
of contexts are sums over them, whatever the number of frames (query/groups.py).

The groups describe one snapshot of the lake: they record the versions of the three tables
they were counted at, and are read only while the catalog's pins are those versions. They
are counted by `lake init`, `lake attach` and `lake compact` (and `Catalog.optimize()` on a
lake); a write moves the pins, and facets then read the frames as before until the next
compaction counts the groups again.
"""

from __future__ import annotations

import duckdb
import orjson
from tqdm.auto import tqdm

from workbench.model.records import PROMOTED_KEYS
from workbench.store import layout
from workbench.store.lake import Lake
from workbench.store.sqlsafe import quote_ident

Con = duckdb.DuckDBPyConnection

# The groups' rows are read through a view: a view has no rowid, so a WHERE that reads the
# frames' `rowid` (the stored order) cannot bind to the groups and is not answered by them.
GROUPS = "_lake_frame_groups"
GROUP_ROWS = "_lake_group_rows"
GROUP_CODES = "_lake_group_codes"
GROUP_CONTEXTS = "_lake_group_contexts"
GROUPS_STATE = "_lake_groups"
GROUP = "_wb_group"
FRAMES = "_wb_frames"
# A column joins the groups when it holds at most this many values...
MAX_VALUES = 64
# ...and the groups stay at most this many (the product of their columns' value counts).
MAX_GROUPS = 4_096
# Frames counted per pass (by frame key), so the passes' joins stay within memory.
STRETCH = 2_000_000


def candidates(con: Con) -> list[str]:
    """Frame columns groups may be made of: the promoted keys and promoted metadata."""
    return [*PROMOTED_KEYS, *sorted(layout.promoted_columns(con).values())]


def choose_columns(con: Con) -> list[str]:
    """The candidates with few values, fewest first, while the groups stay few."""
    names = candidates(con)
    if not names:
        return []
    counted = ", ".join(f"approx_count_distinct({quote_ident(n)}) + 1" for n in names)
    found = con.execute(f"SELECT {counted} FROM frames").fetchall()[0]
    chosen, product = [], 1
    for count, name in sorted(zip(found, names, strict=True)):
        if count <= MAX_VALUES and product * count <= MAX_GROUPS:
            chosen.append(name)
            product *= count
    return [n for n in names if n in chosen]


def build(con: Con, lake: Lake, *, progress: bool = False) -> int:
    """Count the groups of the lake's pinned snapshot (in the caller's transaction); returns
    the number of groups."""
    drop(con)
    columns = choose_columns(con)
    run = con.execute
    listed = ", ".join(quote_ident(c) for c in columns)
    keys = ", ".join(f"f.{quote_ident(c)}" for c in columns)
    if columns:
        run(
            f"CREATE TABLE {GROUP_ROWS} AS SELECT (row_number() OVER (ORDER BY {listed}) - 1)"
            f"::INTEGER AS {GROUP}, * FROM (SELECT {listed}, count(*) AS {FRAMES}"
            f" FROM frames GROUP BY ALL)"
        )
    else:  # one group: every frame
        run(f"CREATE TABLE {GROUP_ROWS} AS SELECT 0 AS {GROUP}, count(*) AS {FRAMES} FROM frames")
    matched = " AND ".join(
        f"g.{quote_ident(c)} IS NOT DISTINCT FROM f.{quote_ident(c)}" for c in columns
    )
    joined = f"JOIN {GROUP_ROWS} g ON {matched}" if columns else f"CROSS JOIN {GROUP_ROWS} g"
    run("CREATE TEMP TABLE _wb_group_codes (g INTEGER, code BIGINT, rois BIGINT)")
    run("CREATE TEMP TABLE _wb_group_contexts (g INTEGER, context_id VARCHAR)")
    top = layout.next_frame_key(con)
    stretches = range(0, max(top, 1), STRETCH)
    for start in tqdm(stretches, desc="frame groups", unit="stretch", disable=not progress):
        within = f"frame_key BETWEEN {start} AND {start + STRETCH - 1}"
        frames = (
            f"(SELECT g.{GROUP} AS g, f.frame_key, f.context_id FROM (SELECT frame_key,"
            f" context_id{', ' + keys if keys else ''} FROM frames f WHERE f.{within}) f {joined})"
        )
        run(f"CREATE OR REPLACE TEMP TABLE _wb_group_frames AS SELECT * FROM {frames}")
        run(
            "INSERT INTO _wb_group_codes SELECT f.g, c.x, count(*) FROM _wb_group_frames f"
            f" JOIN (SELECT frame_key, unnest(codes) AS x FROM frame_codes WHERE {within}) c"
            " ON c.frame_key = f.frame_key GROUP BY ALL"
        )
        run("INSERT INTO _wb_group_contexts SELECT DISTINCT g, context_id FROM _wb_group_frames")
    run(
        f"CREATE TABLE {GROUP_CODES} AS SELECT g AS {GROUP}, code, sum(rois)::BIGINT AS rois"
        " FROM _wb_group_codes GROUP BY ALL ORDER BY ALL"
    )
    # contexts numbered, so counting those of a view's groups compares integers
    run(
        f"CREATE TABLE {GROUP_CONTEXTS} AS SELECT DISTINCT g AS {GROUP},"
        " dense_rank() OVER (ORDER BY context_id NULLS FIRST)::INTEGER AS context_no"
        " FROM _wb_group_contexts ORDER BY ALL"
    )
    for temp in ("_wb_group_codes", "_wb_group_contexts", "_wb_group_frames"):
        run(f"DROP TABLE IF EXISTS {temp}")
    shown = ", ".join([GROUP, *(quote_ident(c) for c in columns), FRAMES])
    run(f"CREATE VIEW {GROUPS} AS SELECT {shown} FROM {GROUP_ROWS}")
    versions = {n: t.version for n, t in lake.tables.items()}
    run(f"CREATE TABLE {GROUPS_STATE} (columns JSON NOT NULL, versions JSON NOT NULL)")
    run(
        f"INSERT INTO {GROUPS_STATE} VALUES (?, ?)",
        [orjson.dumps(columns).decode(), orjson.dumps(versions).decode()],
    )
    return int(run(f"SELECT count(*) FROM {GROUP_ROWS}").fetchall()[0][0])


def drop(con: Con) -> None:
    """Forget the groups (before counting them again)."""
    run = con.execute
    run(f"DROP VIEW IF EXISTS {GROUPS}")
    for table in (GROUP_ROWS, GROUP_CODES, GROUP_CONTEXTS, GROUPS_STATE):
        run(f"DROP TABLE IF EXISTS {table}")


def current(con: Con, lake: Lake) -> list[str] | None:
    """The groups' columns if the groups describe the catalog's pinned snapshot, else None."""
    run = con.execute
    exists = run(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
        [GROUPS_STATE],
    ).fetchall()[0][0]
    if not exists:
        return None
    row = run(f"SELECT columns, versions FROM {GROUPS_STATE}").fetchall()
    if len(row) != 1:
        return None
    versions = {n: t.version for n, t in lake.tables.items()}
    if orjson.loads(row[0][1]) != versions:
        return None
    return [str(c) for c in orjson.loads(row[0][0])]
