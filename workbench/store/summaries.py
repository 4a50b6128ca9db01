"""Summaries of the whole catalog kept at every write: its contexts and its promoted values.

The app's first page reads the whole catalog: how many contexts it holds, the first page of
them (frames, time span, first frame of each), the values of the promoted keys. Over the
frames each is a grouping of every frame (at 10M frames 60-180 ms of CPU each, several
times per page); kept here each is a read of a few hundred thousand rows at most.

- `context_summaries(context_key, context_id, frames, first_timestamp, last_timestamp,
  first_frame_id)`: one row per context holding frames, what `View.contexts()` says of it
  over the whole catalog (the first frame by timestamp, then frame_index, then id).
- `value_counts(values_key, frames)`: how many frames hold each values key
  (layout.VALUES_KEY: the promoted keys' values together).

Local catalogs keep them (schema version 12; a lake-backed catalog's frames are its files).
`meta.summarised_frames` says that a catalog keeps them, and up to which frame key: frames
with a smaller key are counted. At every commit, after `layout.sync`, `keep` counts the
frames stored since and the contexts and values of the frames the write named
(`layout.touch`, which calls `remember` to note what they held before the write changed or
deleted them): the contexts it affects are summarised again from their frames, the values'
counts moved by what changed.
"""

from __future__ import annotations

import duckdb
import numpy as np

from workbench.store import key_ranges
from workbench.store.scratch import dropped_after

Con = duckdb.DuckDBPyConnection

CONTEXTS = "context_summaries"
VALUES = "value_counts"
# Frames a write named (layout.touch): their key, context key and values key before it.
PENDING = "_summary_pending"
MARK = "summarised_frames"
# Larger than any stored value: frames without a timestamp (a frame_index) come last.
LAST_BIGINT = "9223372036854775807"
LAST_INT = "2147483647"
# The summaries' mark (`marked`), as a SELECT's column (meta is in every catalog: a catalog
# keeping no summaries, one before schema version 12, may lack PENDING).
MARKED = f"(SELECT value FROM meta WHERE key = '{MARK}')"
_UNREAD = object()  # `keep`'s mark not read by its caller

TABLES = (
    f"""CREATE TABLE IF NOT EXISTS {CONTEXTS} (
        context_key INTEGER NOT NULL,
        context_id VARCHAR NOT NULL,
        frames BIGINT NOT NULL,
        first_timestamp BIGINT,
        last_timestamp BIGINT,
        first_frame_id VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {VALUES} (values_key INTEGER, frames BIGINT NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {PENDING} (
        frame_key BIGINT NOT NULL, context_key INTEGER, values_key INTEGER)""",
)


def first_frame(alias: str) -> str:
    """SQL: the id of a context's first frame among rows `alias` (id, timestamp,
    frame_index): by timestamp, then frame_index, then id."""
    return (
        f"arg_min({alias}.id, (coalesce({alias}.timestamp, {LAST_BIGINT}),"
        f" coalesce({alias}.frame_index, {LAST_INT}), {alias}.id))"
    )


def _summarised(which: str) -> str:
    """The summary rows of the contexts of the frames `which` selects (over `frames f`)."""
    return (
        f"SELECT f.context_key, f.context_id, count(*), min(f.timestamp), max(f.timestamp),"
        f" {first_frame('f')} FROM frames f WHERE {which}"
        " GROUP BY f.context_key, f.context_id"
    )


def marked(con: Con) -> int | None:
    """The frame key up to which the summaries count frames; None if the catalog keeps none."""
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [MARK]).fetchall()
    return int(rows[0][0]) if rows else None


def set_mark(con: Con, value: int) -> None:
    """Frames with keys below `value` are counted."""
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [MARK, str(value)])


def build(con: Con, top: int) -> None:
    """The summaries of every frame, in a transaction of its own on `con` (which holds none):
    the migration to schema version 12, on a catalog whose frames carry context and values
    keys (`top`: its next frame key, layout.next_frame_key); again after an interruption, it
    starts over."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table in (CONTEXTS, VALUES, PENDING):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in TABLES:
            con.execute(statement)
        con.execute(f"INSERT INTO {CONTEXTS} " + _summarised("TRUE") + " ORDER BY 2")
        con.execute(
            f"INSERT INTO {VALUES} SELECT values_key, count(*) FROM frames GROUP BY 1 ORDER BY 1"
        )
        set_mark(con, top)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def forget(con: Con) -> None:
    """Keep no summaries (a catalog whose frames move to a lake): the tables stay, empty, as
    the other tables of the local layout do."""
    if marked(con) is None:
        return
    for table in (CONTEXTS, VALUES, PENDING):
        con.execute(f"DELETE FROM {table}")
    con.execute("DELETE FROM meta WHERE key = ?", [MARK])


def remember(con: Con) -> None:
    """Note the context and values keys of the frames named for a write (layout.touch, in
    `_layout_pending`) before the write changes them, once per frame and transaction."""
    if marked(con) is None:
        return
    # The keys in hand as ranges of constants: the engine reads only the row groups of frames
    # that may hold them (a semi-join alone read the three columns of every frame).
    named = con.execute("SELECT DISTINCT frame_key FROM _layout_pending ORDER BY 1").fetchnumpy()
    keys = np.asarray(named["frame_key"], dtype=np.int64)
    if len(keys) == 0:
        return
    con.execute(
        f"INSERT INTO {PENDING} SELECT frame_key, context_key, values_key FROM frames"
        f" WHERE {key_ranges.within('frame_key', keys)}"
        " AND frame_key IN (SELECT frame_key FROM _layout_pending)"
        f" AND frame_key NOT IN (SELECT frame_key FROM {PENDING})"
    )


def keep(con: Con, top: int, *, mark: object = _UNREAD) -> None:
    """Bring the summaries up to date with what this transaction wrote (after layout.sync,
    inside the writer's transaction; `top`: the next frame key, layout.next_frame_key):
    nothing to do unless it stored frames or named some. `mark`: MARKED's value, read by
    the caller after layout.sync (else read here)."""
    mark = marked(con) if mark is _UNREAD else mark
    if mark is None:
        return
    mark = int(str(mark))
    named = con.execute(f"SELECT count(*) FROM {PENDING}").fetchall()[0][0]
    if top <= mark and not named:
        return
    # What the counted frames hold now: the frames stored since, and those named that remain.
    changed = f"SELECT frame_key, context_key, values_key FROM frames WHERE frame_key >= {mark}"
    if named:  # the named keys' ranges: only their row groups read
        keys = con.execute(f"SELECT frame_key FROM {PENDING} ORDER BY 1").fetchnumpy()
        within = key_ranges.within("frame_key", np.asarray(keys["frame_key"], dtype=np.int64))
        changed += (
            " UNION ALL SELECT frame_key, context_key, values_key FROM frames"
            f" WHERE frame_key < {mark} AND {within}"
            f" AND frame_key IN (SELECT frame_key FROM {PENDING})"
        )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _wb_changed AS {changed}")
    with dropped_after(con, "_wb_changed"):
        _keep_values(con, mark)
        _keep_contexts(con)
    con.execute(f"DELETE FROM {PENDING}")
    set_mark(con, top)


def _keep_values(con: Con, mark: int) -> None:
    """Frames counted by values key: plus what the changed frames hold now, minus what the
    named frames that were counted held before."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wb_values AS SELECT values_key, sum(n) AS n FROM ("
        " SELECT values_key, count(*) AS n FROM _wb_changed GROUP BY 1 UNION ALL"
        f" SELECT values_key, -count(*) FROM {PENDING} WHERE frame_key < {mark} GROUP BY 1)"
        " GROUP BY 1"
    )
    with dropped_after(con, "_wb_values"):
        add_values(con, "_wb_values")


def add_values(con: Con, moved: str, *, added_only: bool = False) -> None:
    """Add to each values key's count the frames `moved` (a table: values_key, n) says
    (`added_only`: every n is positive, so no count falls to nothing)."""
    same = "v.values_key IS NOT DISTINCT FROM t.values_key"
    con.execute(f"UPDATE {VALUES} v SET frames = v.frames + t.n FROM {moved} t WHERE {same}")
    con.execute(
        f"INSERT INTO {VALUES} SELECT t.values_key, t.n FROM {moved} t"
        f" WHERE NOT EXISTS (SELECT 1 FROM {VALUES} v WHERE {same})"
    )
    if not added_only:
        con.execute(f"DELETE FROM {VALUES} WHERE frames = 0")


def _keep_contexts(con: Con) -> None:
    """The contexts of the changed and named frames summarised again from their frames (a
    context's first frame or time span may be one that left)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wb_contexts AS SELECT DISTINCT context_key FROM ("
        f" SELECT context_key FROM _wb_changed UNION ALL SELECT context_key FROM {PENDING})"
        " WHERE context_key IS NOT NULL"
    )
    _summarise_again(con)


def add_contexts(con: Con, made: str) -> None:
    """Store the rows of `made` (a table shaped as context_summaries: each context's summary
    of new frames only) for the contexts the summaries lack; those they hold already are
    summarised again from all their frames."""
    low, high = con.execute(f"SELECT min(context_key), max(context_key) FROM {made}").fetchall()[0]
    if low is None:
        return
    # The range as constants: only the row groups of the summaries that may hold them are
    # read (a write's contexts are mostly new, keyed after every context summarised).
    held = (
        f"SELECT context_key FROM {made} WHERE context_key IN (SELECT context_key FROM"
        f" {CONTEXTS} WHERE context_key BETWEEN {int(low)} AND {int(high)})"
    )
    if not con.execute(f"SELECT count(*) FROM ({held})").fetchall()[0][0]:
        con.execute(f"INSERT INTO {CONTEXTS} SELECT * FROM {made}")  # every context new
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE _wb_contexts AS {held}")
    con.execute(
        f"INSERT INTO {CONTEXTS} SELECT * FROM {made}"
        " WHERE context_key NOT IN (SELECT context_key FROM _wb_contexts)"
    )
    _summarise_again(con)


def _summarise_again(con: Con) -> None:
    """The contexts in `_wb_contexts` (dropped after) summarised again from their frames."""
    with dropped_after(con, "_wb_contexts"):
        bounds = "SELECT min(context_key), max(context_key) FROM _wb_contexts"
        low, high = con.execute(bounds).fetchall()[0]
        if low is None:
            return
        affected = "context_key IN (SELECT context_key FROM _wb_contexts)"
        con.execute(f"DELETE FROM {CONTEXTS} WHERE {affected}")
        # The range as constants: DuckDB skips the row groups of frames outside it (contexts
        # are keyed in the order they first appear, so a write's are mostly the last ones).
        which = f"f.context_key BETWEEN {int(low)} AND {int(high)} AND f.{affected}"
        con.execute(f"INSERT INTO {CONTEXTS} " + _summarised(which))


def current(con: Con) -> bool:
    """Whether the catalog keeps the summaries and they count every stored frame (a check
    that costs two small reads: the totals agree with the number of frames)."""
    if marked(con) is None:
        return False
    contexts, values, frames = con.execute(
        f"SELECT (SELECT coalesce(sum(frames), 0) FROM {CONTEXTS}),"
        f" (SELECT coalesce(sum(frames), 0) FROM {VALUES}), (SELECT count(*) FROM frames)"
    ).fetchall()[0]
    return int(contexts) == int(values) == int(frames)
