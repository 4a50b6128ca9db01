"""Frame groups: facets under a WHERE without reading every frame (local and lake catalogs).

Frames that agree on a few low-cardinality frame columns (the promoted keys weather,
time_of_day, camera, location and promoted `metadata_<key>` columns with few values) form a
group; the catalog keeps, in its DuckDB file, one row per group with those columns and its
number of frames, the group's ROI codes counted (code as in `frame_codes`: label and
confidence bin), its contexts, its histograms of the numeric columns (store/group_ranges.py)
and its value counts of promoted metadata columns (store/group_values.py). A view whose only
conditions read those columns holds whole groups: its WHERE, evaluated over the groups' rows
(alias `f`, the same SQL), gives its groups, and its count, label counts, confidence
histogram, promoted keys' values, range histograms and number of contexts are sums over
them, whatever the number of frames (query/groups.py).

The groups describe the catalog as it was when they were counted, and are read only while it
still is (`current`): their state row records what they were counted at, a *stamp*.

- A lake-backed catalog's stamp is the versions of its three tables (store/lake_groups.py):
  a write moves the pins, and facets read the frames until the next compaction counts the
  groups again (`lake init`, `lake attach`, `lake compact`).
- A local catalog's stamp is its number of frames, next frame key and schema version; and
  every transaction that writes frames or ROIs drops the state row (`layout.sync`, which
  every write passes through, `layout.GROUPS_STATE`), so groups counted before a write are
  never read, whatever it changed; but a write replacing ROIs of stored frames and nothing
  else counts those frames' codes again in place (`place`, `add_codes`, from
  `layout_insert.rois_replaced`). `Catalog.optimize()` counts them, and so does the end of
  an import into a catalog of up to REBUILD_UP_TO frames (store/imports.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson
from tqdm.auto import tqdm

from workbench.model.records import PROMOTED_KEYS
from workbench.store import group_ranges, group_values, layout
from workbench.store.scratch import dropped_after
from workbench.store.sqlsafe import quote_ident

Con = duckdb.DuckDBPyConnection

GROUP = "_wb_group"
FRAMES = "_wb_frames"
# A column joins the groups when it holds at most this many values...
MAX_VALUES = 64
# ...and the groups stay at most this many (the product of their columns' value counts).
MAX_GROUPS = 4_096
# Frames counted per pass (by frame key), so the passes' joins stay within memory.
STRETCH = 2_000_000
# The end of an import counts a local catalog's groups again up to this many frames (about
# a second per million frames); past it, Catalog.optimize() does.
REBUILD_UP_TO = 2_000_000


@dataclass(frozen=True)
class Tables:
    """Where one storage keeps its groups. The groups' rows are read through a view: a view
    has no rowid, so a WHERE that reads the frames' `rowid` (the stored order) cannot bind
    to the groups and is not answered by them."""

    prefix: str

    @property
    def view(self) -> str:
        return f"{self.prefix}_frame_groups"

    @property
    def rows(self) -> str:
        return f"{self.prefix}_group_rows"

    @property
    def codes(self) -> str:
        return f"{self.prefix}_group_codes"

    @property
    def contexts(self) -> str:
        return f"{self.prefix}_group_contexts"

    @property
    def ranges(self) -> str:
        return f"{self.prefix}_group_ranges"

    @property
    def range_keys(self) -> str:
        return f"{self.prefix}_group_range_keys"

    @property
    def values(self) -> str:
        return f"{self.prefix}_group_values"

    @property
    def value_keys(self) -> str:
        return f"{self.prefix}_group_value_keys"

    @property
    def state(self) -> str:
        return f"{self.prefix}_groups"


LAKE = Tables("_lake")
LOCAL = Tables("")
assert LOCAL.state == layout.GROUPS_STATE


def choose_columns(names: list[str], counts: list[int]) -> list[str]:
    """The candidates `names` with few values (`counts`: each one's estimate), fewest first,
    while the groups stay few."""
    chosen, product = [], 1
    for count, name in sorted(zip(counts, names, strict=True)):
        if count <= MAX_VALUES and product * count <= MAX_GROUPS:
            chosen.append(name)
            product *= count
    return [n for n in names if n in chosen]


@dataclass(frozen=True)
class _Survey:
    """What the recount needs to know of the frames before counting them, from one read:
    the candidates' (estimated) numbers of values, the numeric columns' bounds."""

    names: list[str]
    counts: list[int]
    numeric: list[str]
    bounds: list[object]

    @classmethod
    def read(cls, con: Con, names: list[str], numeric: list[str]) -> _Survey:
        counted = [f"approx_count_distinct(f.{quote_ident(n)}) + 1" for n in names]
        asked = [*counted, *group_ranges.bounds_of(numeric)]
        row = con.execute(f"SELECT {', '.join(asked)} FROM frames f").fetchall()[0] if asked else ()
        counts = [int(n) for n in row[: len(names)]]
        return cls(names, counts, numeric, list(row[len(names) :]))

    def counts_of(self, columns: list[str]) -> list[int]:
        at = {n: c for n, c in zip(self.names, self.counts, strict=True)}
        return [at[c] for c in columns]


def local_stamp(con: Con) -> dict[str, Any]:
    """What a local catalog's groups are counted at: frames, next frame key, schema (one
    read)."""
    frames, top, version = con.execute(
        f"SELECT (SELECT count(*) FROM frames), ({layout.NEXT_FRAME_KEY}),"
        " (SELECT value FROM meta WHERE key = 'schema_version')"
    ).fetchall()[0]
    return {
        "frames": int(frames),
        "next_frame_key": layout.key_of(top),
        "schema": None if version is None else str(version),
    }


def build(con: Con, tables: Tables, stamp: dict[str, Any], *, progress: bool = False) -> int:
    """Count the groups of the catalog's frames (in the caller's transaction) and record
    `stamp` with them; returns the number of groups."""
    drop(con, tables)
    promoted = sorted(layout.promoted_columns(con).values())
    names = [*PROMOTED_KEYS, *promoted]  # the candidates
    survey = _Survey.read(con, names, group_ranges.numeric_columns(con, promoted))
    columns = choose_columns(names, survey.counts)
    run = con.execute
    listed = ", ".join(quote_ident(c) for c in columns)
    if columns:
        run(
            f"CREATE TABLE {tables.rows} AS SELECT (row_number() OVER (ORDER BY {listed}) - 1)"
            f"::INTEGER AS {GROUP}, * FROM (SELECT {listed}, count(*) AS {FRAMES}"
            f" FROM frames GROUP BY ALL)"
        )
    else:  # one group: every frame
        run(f"CREATE TABLE {tables.rows} AS SELECT 0 AS {GROUP}, count(*) AS {FRAMES} FROM frames")
    made = int(run(f"SELECT count(*) FROM {tables.rows}").fetchall()[0][0])
    sketches = _Sketches(
        group_ranges.keys_of(survey.numeric, survey.bounds),
        group_values.kept_columns(promoted, survey.counts_of(promoted), made),
    )
    # one group holds every frame: each frame's group is known without joining it to the
    # groups' rows on their columns
    _count(con, tables, columns if made > 1 else [], sketches, progress)
    shown = ", ".join([GROUP, *(quote_ident(c) for c in columns), FRAMES])
    run(f"CREATE VIEW {tables.view} AS SELECT {shown} FROM {tables.rows}")
    run(f"CREATE TABLE {tables.state} (columns JSON NOT NULL, versions JSON NOT NULL)")
    run(
        f"INSERT INTO {tables.state} VALUES (?, ?)",
        [orjson.dumps(columns).decode(), orjson.dumps(stamp).decode()],
    )
    return made


@dataclass(frozen=True)
class _Sketches:
    """What is counted per group besides ROI codes and contexts."""

    ranges: list[group_ranges.RangeKey]
    values: list[group_values.ValueColumn]

    def start(self, con: Con) -> None:
        group_ranges.start(con)
        group_values.start(con)

    def columns(self) -> tuple[str, str]:
        """The stretch's extra columns: as read from the frames, as kept beside the groups."""
        read = group_ranges.stretch_columns(self.ranges) + group_values.stretch_columns(self.values)
        named = [f"{group_ranges.VALUE}{k.no}" for k in self.ranges]
        named += [f"{group_values.VALUE}{c.no}" for c in self.values]
        return read, "".join(f", f.{n}" for n in named)

    def finish(self, con: Con, tables: Tables) -> None:
        group_ranges.finish(con, self.ranges, tables.ranges, tables.range_keys, GROUP)
        group_values.finish(con, self.values, tables.values, tables.value_keys, GROUP)


def _count(
    con: Con, tables: Tables, columns: list[str], sketches: _Sketches, progress: bool
) -> None:
    """The groups' ROI codes, contexts, range histograms (store/group_ranges.py) and value
    counts (store/group_values.py), a stretch of frame keys at a time."""
    run = con.execute
    keys = ", ".join(f"f.{quote_ident(c)}" for c in columns)
    matched = " AND ".join(
        f"g.{quote_ident(c)} IS NOT DISTINCT FROM f.{quote_ident(c)}" for c in columns
    )
    joined = f"JOIN {tables.rows} g ON {matched}" if columns else f"CROSS JOIN {tables.rows} g"
    run("CREATE OR REPLACE TEMP TABLE _wb_group_codes (g INTEGER, code BIGINT, rois BIGINT)")
    # A context is its key where the frames carry one (a local catalog): integers to keep
    # distinct, already a number; else its id, numbered below.
    keyed = layout.has_context_keys(con)
    context = layout.CONTEXT_KEY if keyed else "context_id"
    run(
        "CREATE OR REPLACE TEMP TABLE _wb_group_contexts"
        f" (g INTEGER, context {'INTEGER' if keyed else 'VARCHAR'})"
    )
    sketches.start(con)
    values, kept = sketches.columns()
    top = layout.next_frame_key(con)
    # a frame's codes are its ROIs' (frame_codes): a catalog without ROIs has none to count
    coded = bool(run("SELECT 1 FROM rois LIMIT 1").fetchall())
    stretches = range(0, max(top, 1), STRETCH)
    for start in tqdm(stretches, desc="frame groups", unit="stretch", disable=not progress):
        within = f"frame_key BETWEEN {start} AND {start + STRETCH - 1}"
        frames = (
            f"(SELECT g.{GROUP} AS g, f.frame_key, f.{context}{kept} FROM (SELECT frame_key,"
            f" {context}{values}{', ' + keys if keys else ''} FROM frames f WHERE f.{within})"
            f" f {joined})"
        )
        if coded:  # joined a row per frame, then unnested: half the CPU of joining every ROI's
            run(f"CREATE OR REPLACE TEMP TABLE _wb_group_frames AS SELECT * FROM {frames}")
            run(
                "INSERT INTO _wb_group_codes SELECT g, x, count(*) FROM (SELECT f.g,"
                " unnest(c.codes) AS x FROM _wb_group_frames f JOIN frame_codes c"
                f" ON c.frame_key = f.frame_key WHERE c.{within}) GROUP BY ALL"
            )
            frames = "_wb_group_frames"
        _tally(con, context, sketches, frames)
    run(
        f"CREATE TABLE {tables.codes} AS SELECT g AS {GROUP}, code, sum(rois)::BIGINT AS rois"
        " FROM _wb_group_codes GROUP BY ALL ORDER BY ALL"
    )
    # contexts numbered, so counting those of a view's groups compares integers
    number = "context" if keyed else "dense_rank() OVER (ORDER BY context NULLS FIRST)"
    run(
        f"CREATE TABLE {tables.contexts} AS SELECT DISTINCT g AS {GROUP},"
        f" ({number})::INTEGER AS context_no FROM _wb_group_contexts ORDER BY ALL"
    )
    sketches.finish(con, tables)
    for temp in ("_wb_group_codes", "_wb_group_contexts", "_wb_group_frames"):
        run(f"DROP TABLE IF EXISTS {temp}")


def _tally(con: Con, context: str, sketches: _Sketches, frames: str) -> None:
    """Add the stretch's (`frames`: g, its frames' `context` and the sketches' values) contexts
    of each group, value counts and range bins to their temporary tables, from one scan of it:
    every count a grouping set of one statement (`grouping` tells the sets apart, a NULL value
    from a column not grouped), the few rows then shared out. Reading the stretch once for all
    of them took half the CPU of its three reads (0.017 s against 0.032 s per 100,000 frames,
    where the stretch was first copied into a table for the three)."""
    bins, params = group_ranges.bins_of(sketches.ranges)
    valued = [f"{group_values.VALUE}{c.no}" for c in sketches.values]
    binned = [f"{group_ranges.BIN}{k.no}" for k in sketches.ranges]
    counted = [context, *valued, *binned]
    within = "".join(f", {b} AS {name}" for b, name in zip(bins, binned, strict=True))
    every = (1 << len(counted)) - 1

    def alone(at: int) -> str:  # the rows of the set grouping `counted[at]` (and g)
        return f"_wb_set = {every & ~(1 << (len(counted) - 1 - at))}"

    listed = ", ".join(counted)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _wb_group_sets AS SELECT grouping({listed}) AS _wb_set,"
        f" g, {listed}, count(*) AS n FROM (SELECT *{within} FROM {frames})"
        f" GROUP BY GROUPING SETS ({', '.join(f'(g, {c})' for c in counted)})",
        params,
    )
    with dropped_after(con, "_wb_group_sets"):
        con.execute(
            f"INSERT INTO _wb_group_contexts SELECT g, {context} FROM _wb_group_sets"
            f" WHERE {alone(0)}"
        )
        shared = [
            f"SELECT g, {c.no}, {name}, n FROM _wb_group_sets WHERE {alone(1 + i)}"
            for i, (c, name) in enumerate(zip(sketches.values, valued, strict=True))
        ]
        if shared:
            con.execute(f"INSERT INTO _wb_group_values {' UNION ALL '.join(shared)}")
        at = 1 + len(valued)
        shared = [
            f"SELECT g, {k.no}, {name}, n FROM _wb_group_sets"
            f" WHERE {alone(at + i)} AND {name} IS NOT NULL"
            for i, (k, name) in enumerate(zip(sketches.ranges, binned, strict=True))
        ]
        if shared:
            con.execute(f"INSERT INTO _wb_group_ranges {' UNION ALL '.join(shared)}")


def place(con: Con, columns: list[str], which: str, into: str) -> None:
    """Make the temporary table `into` (frame_key, g): the local group of each stored frame
    `which` selects (a condition on frame_key; `columns`: the groups' own, as `current`
    gives them), for `add_codes`."""
    keys = "".join(f", {quote_ident(c)}" for c in columns)
    matched = " AND ".join(
        f"g.{quote_ident(c)} IS NOT DISTINCT FROM f.{quote_ident(c)}" for c in columns
    )
    joined = f"JOIN {LOCAL.rows} g ON {matched}" if columns else f"CROSS JOIN {LOCAL.rows} g"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT f.frame_key, g.{GROUP} AS g"
        f" FROM (SELECT frame_key{keys} FROM frames WHERE {which}) f {joined}"
    )


def add_codes(con: Con, placed: str, sign: int) -> None:
    """Add (sign 1) or take away (-1) the ROI codes of the frames `placed` (a table made by
    `place`), as frame_codes holds them now, to or from their local groups' counts: a write
    that replaces ROIs of stored frames and nothing of their frames rows keeps its groups
    exact by taking away its frames' codes before and adding them after."""
    run = con.execute
    run(
        f"CREATE OR REPLACE TEMP TABLE _wb_group_tally AS SELECT g, x AS code, {int(sign)}"
        " * count(*) AS rois FROM (SELECT p.g, unnest(c.codes) AS x FROM"
        f" {placed} p JOIN frame_codes c ON c.frame_key = p.frame_key) GROUP BY ALL"
    )
    same = f"c.{GROUP} = t.g AND c.code = t.code"
    with dropped_after(con, "_wb_group_tally"):
        run(
            f"UPDATE {LOCAL.codes} c SET rois = c.rois + t.rois FROM _wb_group_tally t WHERE {same}"
        )
        run(
            f"INSERT INTO {LOCAL.codes} SELECT g, code, rois FROM _wb_group_tally t"
            f" WHERE NOT EXISTS (SELECT 1 FROM {LOCAL.codes} c WHERE {same})"
        )
        run(f"DELETE FROM {LOCAL.codes} WHERE rois = 0")


def drop(con: Con, tables: Tables) -> None:
    """Forget the groups (before counting them again)."""
    run = con.execute
    run(f"DROP VIEW IF EXISTS {tables.view}")
    kept = [tables.rows, tables.codes, tables.contexts, tables.ranges, tables.range_keys]
    for table in (*kept, tables.values, tables.value_keys, tables.state):
        run(f"DROP TABLE IF EXISTS {table}")


def current(con: Con, tables: Tables, stamp: Callable[[], dict[str, Any]]) -> list[str] | None:
    """The groups' columns if they were counted at `stamp()` (and not dropped since), else
    None."""
    run = con.execute
    exists = run(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
        [tables.state],
    ).fetchall()[0][0]
    if not exists:
        return None
    row = run(f"SELECT columns, versions FROM {tables.state}").fetchall()
    if len(row) != 1 or orjson.loads(row[0][1]) != stamp():
        return None
    return [str(c) for c in orjson.loads(row[0][0])]
