"""The catalog's layout for browsing at scale: integer keys, summaries, promoted metadata.

People keep using the public ids (`frames.id`, `rois.frame_id`, `rois.id`); the query layer
joins and filters on what this module keeps beside them (docs/scale.md):

- `frame_key` on frames, sources and rois: the frame's integer key, unique and increasing in
  insertion order (a frame stored again gets a new one). Sources and ROIs are stored
  clustered by it, so a page's ROIs are a few row groups.
- `rois.label_key` -> `label_keys(label_key, field, label)`: the ROI's field and label as
  one integer.
- `frame_labels(frame_key, label_key, rois, min_confidence, max_confidence)`: one row per
  frame and label, stored sorted by label then frame: the frames holding a label are one
  contiguous stretch, and label counts read a tenth of what the ROIs hold.
- `frame_codes(frame_key, codes)`: one row per frame (an empty list for a frame without
  ROIs; a lake-backed catalog's writes code its frames with ROIs only, and every reader
  takes a missing row for an empty list), its ROIs as a list of codes `label_key * 2000 +
  confidence bin` (the confidence in thousandths, 1000 when it has none): the label counts
  and the confidence histogram of a filtered view are one read of a row per frame
  (`roi_code` says how a code is made), beside the frames themselves while both are in the
  same order (CODES_ALIGNED, local catalogs).
- `code_counts(code, rois)`: how many ROIs of all frames hold each code (the sum of
  frame_codes): label counts and the confidence histogram of the whole catalog.
- `frames.context_key` -> `context_keys(context_id, context_key)` (local catalogs): the
  frame's context as a small integer, so facets count contexts over integers.
- `frames.values_key` -> `value_keys(values_key, weather, time_of_day, camera, location)`
  (local catalogs): the frame's values of the promoted keys together as a small integer, so
  facets count the four keys by one integer grouping.
- `metadata_columns(key, column_name)`: metadata keys most frames have, copied into frame
  columns (`json_extract_string` of the key) so filters and facets read no JSON.

Beside them, summaries of the whole catalog's contexts and promoted values
(store/summaries.py), kept at the same commits. The ROI codes are made and counted in
store/layout_codes.py, the promoted keys chosen and filled in store/layout_promote.py; this
module keys frames, sources and ROIs, summarises their labels and keeps all of it up to date.

Writers fill none of it. `sync(con)` runs at the end of every transaction
(`Catalog.transaction`) and keys and summarises what the transaction added: frames, sources
and ROIs without a key. Code that deletes or changes ROIs or metadata of stored frames names
those frames first with `touch(con, ...)`, so their summaries are computed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from workbench.model.records import PROMOTED_KEYS
from workbench.store import line_digests, summaries
from workbench.store.layout_codes import (
    CODE_LABEL,
    CODE_NONE,
    CODES_ALIGNED,
    CONFIDENCE_BINS,
    MAX_CODED_LABEL,
    add_counts,
    code,
    codes_aligned,
    confidence_bin,
    mark_aligned,
    roi_code,
    tally,
)
from workbench.store.layout_promote import (
    PROMOTE_MAX,
    PROMOTE_PREFIX,
    PROMOTE_SAMPLE,
    PROMOTE_SHARE,
    add_promoted,
    choose_keys,
    fill_promoted,
    pointer,
    promoted_columns,
)
from workbench.store.sqlsafe import quote_ident

# Every public name, those of the layout's codes and promoted keys (store/layout_codes.py,
# store/layout_promote.py) included: the store reads them as `layout.<name>`.
__all__ = [
    "CODES_ALIGNED", "CODE_LABEL", "CODE_NONE", "CONFIDENCE_BINS", "CONTEXT_KEY",
    "CONTEXT_KEYS", "GROUPS_STATE", "KEY_COLUMNS", "MAX_CODED_LABEL", "NEXT_FRAME_KEY",
    "NO_FRAME", "PROMOTE_FROM", "PROMOTE_MAX", "PROMOTE_PREFIX", "PROMOTE_SAMPLE",
    "PROMOTE_SHARE", "PROMOTE_UP_TO", "TABLES", "VALUES_KEY", "VALUE_KEYS", "WRITTEN",
    "add_context_keys", "add_counts", "add_label_keys", "add_promoted", "add_values_keys",
    "choose_keys", "code",
    "codes_aligned", "confidence_bin", "derived_columns", "fill_promoted", "has_context_keys",
    "has_values_keys", "key_bound", "key_contexts", "key_of", "key_values", "mark_aligned",
    "next_frame_key", "pointer", "promote_while_small", "promoted_columns", "resummarise",
    "roi_code", "same_values", "set_next_frame_key", "summarise", "sync", "tally", "touch",
]  # fmt: skip

# A frame's context as a small integer (schema version 10, local catalogs): numbered in the
# order contexts first appear, one per context_id (table CONTEXT_KEYS), so the facets count
# a view's contexts over integers, not text.
CONTEXT_KEY = "context_key"
CONTEXT_KEYS = "context_keys"
# A frame's values of the promoted keys (weather, time_of_day, camera, location) together as
# one small integer (schema version 11, local catalogs), numbered in the order they first
# appear in table VALUE_KEYS: a filtered view's counts of the four keys are one integer
# grouping of its frames (a fifth of the CPU of four histograms over text at 10M frames).
VALUES_KEY = "values_key"
VALUE_KEYS = "value_keys"
# Columns the store derives; exports, imports and pages leave them out. Promoted metadata
# columns (metadata_columns.column_name) are derived as well.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "frames": ("frame_key", CONTEXT_KEY, VALUES_KEY),
    "sources": ("frame_key",),
    "rois": ("frame_key", "label_key"),
}
# A key that names no frame: ROIs or sources stored without their frame.
NO_FRAME = -1
# Writes promote keys by themselves from this many frames on, each time the catalog has
# doubled since they last looked, as long as it holds at most PROMOTE_UP_TO frames (past
# that, filling a new column is work for Catalog.optimize(), not for a writer's commit).
PROMOTE_FROM = 1_000
PROMOTE_UP_TO = 2_000_000
# The state row of a local catalog's frame groups (store/groups.py): every transaction that
# writes frames or ROIs drops it (`sync`; a label write counts its frames' codes again in
# place: layout_insert.rois_replaced), so groups counted before the write are not read.
GROUPS_STATE = "_groups"
# What a transaction left for `sync` to do, as one SELECT's columns: its new frames, sources
# and ROIs without keys, and the stored frames it named (`touch`).
WRITTEN = (
    "(SELECT count(*) FROM frames WHERE frame_key IS NULL),"
    " (SELECT count(*) FROM sources WHERE frame_key IS NULL),"
    " (SELECT count(*) FROM rois WHERE frame_key IS NULL),"
    " (SELECT count(*) FROM _layout_pending)"
)
NEXT_FRAME_KEY = "SELECT value FROM meta WHERE key = 'next_frame_key'"

TABLES: Sequence[str] = (
    """CREATE TABLE IF NOT EXISTS label_keys (
        label_key INTEGER NOT NULL,
        field VARCHAR NOT NULL,
        label VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS frame_labels (
        frame_key BIGINT NOT NULL,
        label_key INTEGER NOT NULL,
        rois INTEGER NOT NULL,
        min_confidence DOUBLE,
        max_confidence DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS frame_codes (
        frame_key BIGINT NOT NULL,
        codes INTEGER[] NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS code_counts (
        code BIGINT NOT NULL,
        rois BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS metadata_columns (
        key VARCHAR PRIMARY KEY,
        column_name VARCHAR NOT NULL,
        chosen TIMESTAMP DEFAULT current_timestamp)""",
    # Frames whose summaries a transaction must compute again (see touch).
    """CREATE TABLE IF NOT EXISTS _layout_pending (frame_key BIGINT NOT NULL)""",
)


# -- reading the layout ---------------------------------------------------------------------------
def derived_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The columns of a catalog table the store derives (keys, promoted metadata)."""
    derived = set(KEY_COLUMNS.get(table, ()))
    shown = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'main'"
        " AND table_name = ? AND column_name = 'rowid'",
        [table],
    ).fetchall()[0][0]
    if shown:  # the stored order, a column of a lake-backed catalog's views (store/lake.py)
        derived.add("rowid")
    if table == "frames":
        derived |= set(promoted_columns(con).values())
    return derived


def key_bound(con: duckdb.DuckDBPyConnection) -> int:
    """One past the largest frame key in use (the size of a bitmap over frame keys)."""
    return next_frame_key(con)


def next_frame_key(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute(NEXT_FRAME_KEY).fetchall()
    return key_of(rows[0][0] if rows else None)


def key_of(value: object) -> int:
    """The next frame key as NEXT_FRAME_KEY reads it (NULL, no row: 0)."""
    return 0 if value is None else int(str(value))


def set_next_frame_key(con: duckdb.DuckDBPyConnection, value: int) -> None:
    con.execute("INSERT OR REPLACE INTO meta VALUES ('next_frame_key', ?)", [str(value)])


# -- keeping it up to date -----------------------------------------------------------------------
def touch(con: duckdb.DuckDBPyConnection, frame_ids: str, params: Sequence[Any] = ()) -> None:
    """Say that the ROIs or metadata of these stored frames change (or that they are about to
    be deleted) in this transaction: their summaries are computed again when it commits.

    `frame_ids` is a query of frame ids (one column), e.g. `SELECT id FROM _wb_frames`.
    """
    con.execute(
        f"INSERT INTO _layout_pending SELECT frame_key FROM frames WHERE id IN ({frame_ids})"
        " AND frame_key IS NOT NULL",
        list(params),
    )
    summaries.remember(con)  # what they hold before the write, for the catalog's summaries


def sync(
    con: duckdb.DuckDBPyConnection,
    *,
    promote: bool = True,
    every_frame: bool = True,
    written: Sequence[int] | None = None,
) -> bool:
    """Key and summarise what this transaction wrote (cheap when it wrote no frames or ROIs);
    returns whether it promoted metadata keys to new columns (never without `promote`: a
    lake-backed catalog's write sees only the frames it changes, store/lake_write.py, and
    codes only its frames with ROIs, without `every_frame`: see `code`). `written`: the
    columns of WRITTEN, read by the caller in this transaction (else read here).

    Runs inside the writer's transaction, just before COMMIT.
    """
    if written is None:
        written = con.execute(f"SELECT {WRITTEN}").fetchall()[0]
    new_frames, new_sources, new_rois, pending = written
    if not (new_frames or new_sources or new_rois or pending):
        return False
    con.execute(f"DROP TABLE IF EXISTS {GROUPS_STATE}")
    first = next_frame_key(con)
    if new_frames:
        _key_new_frames(con, first, int(new_frames))
    contexts, values = has_context_keys(con), has_values_keys(con)
    if new_frames and contexts:
        key_contexts(con, "frame_key >= ?", [first])
    if new_frames and values:
        key_values(con, "frame_key >= ?", [first])
    promoted = promoted_columns(con)
    if new_frames:
        fill_promoted(con, promoted, "frame_key >= ?", [first])
    if new_sources:
        _key_rows(con, "sources", first, bool(new_frames))
    if new_rois:
        add_label_keys(con)
        _key_rows(con, "rois", first, bool(new_frames))
        # ROIs added to stored frames outside the write mark those frames: summarised now,
        # not left to the next transaction (imports adding ROIs to their own frames only
        # key them as inserted, store/layout_insert.py, and never come here)
        pending = pending or _pending_left(con)
    if pending:
        pending_frames = "frame_key IN (SELECT frame_key FROM _layout_pending)"
        _rekey_labels(con)
        if contexts:  # their context_id may have been changed in place
            key_contexts(con, pending_frames, [])
        if values:  # and their promoted keys
            key_values(con, pending_frames, [])
        fill_promoted(con, promoted, pending_frames, [])
        resummarise(con, pending_frames, every_frame=every_frame)
        line_digests.forget(con, pending_frames)  # their rows no longer as imported
        con.execute("DELETE FROM _layout_pending")
    if new_rois and new_frames:
        summarise(con, "r.frame_key >= ?", [first])
    if new_frames:
        code(con, "frame_key >= ?", [first], every_frame=every_frame)
    if new_rois and new_frames:
        tally(con, "frame_key >= ?", [first], 1)
    return bool(new_frames) and promote and promote_while_small(con)


def resummarise(con: duckdb.DuckDBPyConnection, which: str, *, every_frame: bool = True) -> None:
    """Summarise again the stored frames `which` selects (`frame_key IN (...)`) from their
    ROIs as they are now (every one keyed), replacing what their summaries held."""
    con.execute(f"DROP TABLE IF EXISTS {CODES_ALIGNED}")  # their codes' rows move to the end
    tally(con, which, [], -1)
    for table in ("frame_labels", "frame_codes"):
        con.execute(f"DELETE FROM {table} WHERE {which}")
    from workbench.store import layout_arrays  # which uses this module's constants

    if not layout_arrays.summarise_stored(con, which, every_frame=every_frame):
        summarise(con, "r." + which, [])
        code(con, which, [], every_frame=every_frame)
        tally(con, which, [], 1)


def _pending_left(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM _layout_pending").fetchall()[0][0])


def promote_while_small(
    con: duckdb.DuckDBPyConnection, batch: str | None = None, added: int = 0
) -> bool:
    """Promote keys from the data in this transaction while the catalog is small enough.

    With `batch` (a table of `added` frames about to be inserted, with their `metadata`), the
    batch counts as stored: its frames are sampled with the stored ones and only the stored
    frames are filled, the INSERT filling the batch's (each column written once, not
    inserted empty and then updated)."""
    stored = con.execute("SELECT count(*) FROM frames").fetchall()[0][0]
    count = stored + added
    rows = con.execute("SELECT value FROM meta WHERE key = 'promotion_checked'").fetchall()
    checked = int(rows[0][0]) if rows else 0
    if count < PROMOTE_FROM or count > PROMOTE_UP_TO or count < 2 * checked:
        return False
    con.execute("INSERT OR REPLACE INTO meta VALUES ('promotion_checked', ?)", [str(count)])
    chosen = choose_keys(con, batch)
    add_promoted(con, chosen)
    if stored:
        fill_promoted(con, chosen, "TRUE", [])
    return bool(chosen)


def _key_new_frames(con: duckdb.DuckDBPyConnection, first: int, count: int) -> None:
    """Keys for the frames without one, in insertion (rowid) order from `first` on."""
    con.execute(
        "UPDATE frames SET frame_key = k.key FROM (SELECT rowid AS rid,"
        " ? + row_number() OVER (ORDER BY rowid) - 1 AS key FROM frames"
        " WHERE frame_key IS NULL) k WHERE frames.rowid = k.rid",
        [first],
    )
    set_next_frame_key(con, first + count)


def _key_rows(con: duckdb.DuckDBPyConnection, table: str, first: int, new_frames: bool) -> None:
    """Frame keys (and, for ROIs, label keys) for the rows of `table` without one.

    Rows of frames stored in this transaction are keyed against those frames only; rows added
    to older frames (new labels) mark their frames pending, and rows whose frame does not
    exist get NO_FRAME.
    """
    labels = ", label_key = k.label_key" if table == "rois" else ""
    join = (
        " AND k.field = t.field AND k.label IS NOT DISTINCT FROM t.label" if table == "rois" else ""
    )
    source = "frames f, label_keys k" if table == "rois" else "frames f"
    name = quote_ident(table)
    update = (
        f"UPDATE {name} AS t SET frame_key = f.frame_key{labels} FROM {source}"
        f" WHERE t.frame_key IS NULL AND f.id = t.frame_id{join}"
    )
    if new_frames:
        con.execute(update + " AND f.frame_key >= ?", [first])
        left = con.execute(f"SELECT count(*) FROM {name} WHERE frame_key IS NULL").fetchall()
        if not left[0][0]:
            return
    if table == "rois":
        con.execute(
            "INSERT INTO _layout_pending SELECT DISTINCT f.frame_key FROM rois r"
            " JOIN frames f ON f.id = r.frame_id WHERE r.frame_key IS NULL"
        )
    con.execute(update)
    orphans = f", label_key = {_label_key_of('t')}" if table == "rois" else ""
    con.execute(f"UPDATE {name} AS t SET frame_key = {NO_FRAME}{orphans} WHERE frame_key IS NULL")


def _rekey_labels(con: duckdb.DuckDBPyConnection) -> None:
    """Label keys again for the ROIs of pending frames (their labels may have been changed
    in place)."""
    pending = "frame_key IN (SELECT frame_key FROM _layout_pending)"
    con.execute(
        "INSERT INTO label_keys (label_key, field, label)"
        " SELECT (SELECT coalesce(max(label_key) + 1, 0) FROM label_keys)"
        " + row_number() OVER (ORDER BY field, label NULLS FIRST) - 1, field, label FROM ("
        f" SELECT DISTINCT field, label FROM rois WHERE {pending}"
        " EXCEPT SELECT field, label FROM label_keys)"
    )
    con.execute(
        "UPDATE rois AS t SET label_key = k.label_key FROM label_keys k"
        f" WHERE t.{pending} AND k.field = t.field AND k.label IS NOT DISTINCT FROM t.label"
        " AND t.label_key IS DISTINCT FROM k.label_key"
    )


def _label_key_of(alias: str) -> str:
    return (
        f"(SELECT k.label_key FROM label_keys k WHERE k.field = {alias}.field"
        f" AND k.label IS NOT DISTINCT FROM {alias}.label)"
    )


def add_label_keys(
    con: duckdb.DuckDBPyConnection,
    pairs: str = "SELECT DISTINCT field, label FROM rois WHERE frame_key IS NULL",
) -> None:
    """Keys for the (field, label) pairs `pairs` selects (by default those of unkeyed ROIs)
    that have none yet, numbered after the last in (field, label) order."""
    con.execute(
        "INSERT INTO label_keys (label_key, field, label)"
        " SELECT (SELECT coalesce(max(label_key) + 1, 0) FROM label_keys)"
        " + row_number() OVER (ORDER BY field, label NULLS FIRST) - 1, field, label FROM ("
        f" {pairs} EXCEPT SELECT field, label FROM label_keys)"
    )


def summarise(
    con: duckdb.DuckDBPyConnection,
    which: str,
    params: Sequence[Any],
    into: str = "frame_labels",
    rois: str = "rois",
) -> None:
    """Append the summaries of the frames `which` selects (over `rois r`), sorted by label
    and frame."""
    con.execute(
        f"INSERT INTO {into} SELECT r.frame_key, r.label_key, count(*)::INTEGER,"
        f" min(r.confidence), max(r.confidence) FROM {rois} r"
        f" WHERE {which} AND r.frame_key <> {NO_FRAME} GROUP BY r.frame_key, r.label_key"
        " ORDER BY r.label_key, r.frame_key",
        list(params),
    )


def has_context_keys(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the frames (of a local catalog) carry context keys."""
    return _frames_have(con, CONTEXT_KEY)


def has_values_keys(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the frames (of a local catalog) carry the keys of their promoted values."""
    return _frames_have(con, VALUES_KEY)


def _frames_have(con: duckdb.DuckDBPyConnection, column: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'frames'"
        " AND column_name = ? AND NOT internal AND schema_name = current_schema()",
        [column],
    ).fetchall()
    return bool(rows[0][0])


def same_values(left: str, right: str) -> str:
    """SQL: rows `left` and `right` hold the same values of the promoted keys (NULLs alike)."""
    return " AND ".join(
        f"{left}.{quote_ident(k)} IS NOT DISTINCT FROM {right}.{quote_ident(k)}"
        for k in PROMOTED_KEYS
    )


def add_values_keys(con: duckdb.DuckDBPyConnection, rows: str, params: Sequence[Any]) -> None:
    """Keys for the combinations of promoted values among `rows` (a table or query with the
    PROMOTED_KEYS columns and `frame_key`) that have none, in the order of their first frame."""
    keys = ", ".join(quote_ident(k) for k in PROMOTED_KEYS)
    con.execute(
        f"INSERT INTO {VALUE_KEYS} ({VALUES_KEY}, {keys}) SELECT (SELECT coalesce("
        f"max({VALUES_KEY}) + 1, 0) FROM {VALUE_KEYS}) + row_number() OVER (ORDER BY n.first)"
        f" - 1, {keys} FROM (SELECT {keys}, min(v.frame_key) AS first FROM ({rows}) v"
        f" WHERE NOT EXISTS (SELECT 1 FROM {VALUE_KEYS} k WHERE {same_values('k', 'v')})"
        f" GROUP BY {keys}) n",
        list(params),
    )


def key_values(con: duckdb.DuckDBPyConnection, which: str, params: Sequence[Any]) -> None:
    """The values keys of the frames `which` selects (a condition on frames' own columns),
    adding keys for their combinations that have none."""
    add_values_keys(con, f"SELECT * FROM frames WHERE {which}", params)
    con.execute(
        f"UPDATE frames SET {VALUES_KEY} = k.{VALUES_KEY} FROM {VALUE_KEYS} k WHERE"
        f" {same_values('frames', 'k')} AND frames.{VALUES_KEY} IS DISTINCT FROM"
        f" k.{VALUES_KEY} AND ({which})",
        list(params),
    )


def key_contexts(con: duckdb.DuckDBPyConnection, which: str, params: Sequence[Any]) -> None:
    """Context keys for the frames `which` selects (a condition on frames' own columns):
    their contexts without a key get the next ones, in the order of their first frame.
    Nothing when it selects no frame (the frames a write replaced, deleted since): the look-up
    of keyed contexts reads every context id."""
    if not con.execute(f"SELECT count(*) FROM frames WHERE {which}", list(params)).fetchall()[0][0]:
        return
    add_context_keys(
        con,
        f"SELECT context_id, min(frame_key) AS first FROM frames WHERE {which} GROUP BY context_id",
        params,
    )
    con.execute(
        f"UPDATE frames SET {CONTEXT_KEY} = k.context_key FROM {CONTEXT_KEYS} k"
        f" WHERE frames.context_id = k.context_id AND frames.{CONTEXT_KEY} IS DISTINCT FROM"
        f" k.context_key AND ({which})",
        list(params),
    )


def add_context_keys(con: duckdb.DuckDBPyConnection, contexts: str, params: Sequence[Any]) -> None:
    """Keys for the contexts of `contexts` (context_id, first: an order) that have none."""
    con.execute(
        f"INSERT INTO {CONTEXT_KEYS} SELECT c.context_id, (SELECT coalesce(max(context_key)"
        f" + 1, 0) FROM {CONTEXT_KEYS}) + row_number() OVER (ORDER BY c.first, c.context_id)"
        f" - 1 FROM ({contexts}) c WHERE c.context_id NOT IN (SELECT context_id FROM"
        f" {CONTEXT_KEYS})",
        list(params),
    )
