"""Building the layout whole (store/layout.py): the layout migration and Catalog.optimize().

Sources and ROIs are copied into new tables clustered by frame key, with their keys, and
every frame summarised, in stretches each committed on its own: a transaction holding the
whole rewrite would keep ~200 MB of the engine's memory per million frames until its commit
(measured), more than the memory limit at ten million. Only then, in one short transaction,
the new tables replace the old (`swap`). An interrupted build leaves its `_layout_*` tables,
which the next build drops first; the catalog keeps working on the old ones meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb

from workbench.model.records import PROMOTED_KEYS
from workbench.store import layout, summaries
from workbench.store.sqlsafe import quote_ident

# The tables a build writes, and those they replace.
BUILT = {"sources": "_layout_sources", "rois": "_layout_rois", "frame_labels": "_layout_labels"}
# The per-frame ROI codes (schema version 8), built after the tables above.
CODES = {"frame_codes": "_layout_codes", "code_counts": "_layout_code_counts"}
# Rows copied per committed stretch; frames summarised (and promoted columns filled) per one.
COPY_ROWS = 2_000_000
SUMMARY_FRAMES = 1_000_000
# Frames coded per committed stretch by a build of the codes: whole row groups of DuckDB's
# (122,880 rows), as the frames' row groups are when the frames were written in key order.
CODE_FRAMES = 8 * 122_880
# The type of frame_codes.codes (layout.roi_code), whatever the table built from had.
CODE_LIST = "INTEGER[]"

Con = duckdb.DuckDBPyConnection


def committed(con: Con, work: Callable[..., object], *args: Any) -> None:
    """Run `work(con, *args)` in a transaction of its own on `con` (which holds none)."""
    con.execute("BEGIN TRANSACTION")
    try:
        work(con, *args)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def build(con: Con) -> list[str]:
    """Everything but the swap, outside any transaction (each stretch commits); returns the
    metadata keys promoted now (Catalog.optimize)."""
    promoted = build_keyed(con)
    build_codes(con, BUILT["rois"])
    return promoted


def build_keyed(con: Con) -> list[str]:
    """The keyed tables and the label summaries (the migration to schema version 7)."""
    for table in (*BUILT.values(), *CODES.values()):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    committed(con, _frame_keys)
    committed(con, _tables)
    committed(con, _label_keys)
    for table in ("sources", "rois"):
        _copy(con, table)
    _summarise(con)
    return choose_promoted(con)


def build_codes(con: Con, rois: str = "rois") -> None:
    """Every frame's ROI codes (layout.code) from `rois`, SUMMARY_FRAMES frames per
    transaction, into the table that swap() puts in place (the migration to version 8)."""
    built, counts = CODES["frame_codes"], CODES["code_counts"]
    for table in (built, counts):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    committed(con, _tables)
    committed(con, _like, "frame_codes", built, {})
    committed(con, _execute, f"ALTER TABLE {built} ALTER COLUMN codes TYPE {CODE_LIST}")
    committed(con, _like, "code_counts", counts, {})
    for stretch in _row_group_stretches(con):
        committed(con, layout.code, "frame_key BETWEEN ? AND ?", stretch, built, rois)
        committed(con, layout.tally, "frame_key BETWEEN ? AND ?", stretch, 1, built, counts)


def _row_group_stretches(con: Con) -> list[list[int]]:
    """Ranges of frame keys (first, last) holding CODE_FRAMES frames each (the last fewer):
    the codes written stretch by stretch then fill whole row groups, so their row groups
    start and end where the frames' do. A positional scan of the two tables whose row
    groups did not line up (stretches of 1M frames) took 30-40% more CPU at 10M frames."""
    starts = con.execute(
        "SELECT frame_key FROM (SELECT frame_key, row_number() OVER (ORDER BY frame_key) - 1"
        f" AS i FROM frames) WHERE i % {CODE_FRAMES} = 0 ORDER BY frame_key"
    ).fetchall()
    firsts = [int(r[0]) for r in starts] or [0]
    ends = [f - 1 for f in firsts[1:]] + [max(layout.next_frame_key(con), firsts[-1] + 1) - 1]
    return [[first, last] for first, last in zip(firsts, ends, strict=True)]


def narrow_codes(con: Con) -> None:
    """The codes built again as INTEGERs unless they are (the migration to schema version
    11; one migrated through version 8 or 10 just now is)."""
    rows = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE schema_name = 'main'"
        " AND table_name = 'frame_codes' AND column_name = 'codes'"
    ).fetchall()
    if rows and rows[0][0] != CODE_LIST:
        build_codes(con)


def align_codes(con: Con) -> None:
    """The codes built again with a row for every frame, unless they have one (the migration
    to schema version 10; a catalog migrated through version 8 just now has)."""
    if not layout.codes_aligned(con):
        build_codes(con)


def key_all_contexts(con: Con) -> None:
    """A context key on every frame (layout.CONTEXT_KEY; the migration to schema version
    10), SUMMARY_FRAMES frames per transaction; again after an interruption, it keys the
    frames left without one."""
    if not layout.has_context_keys(con):
        committed(con, _add_context_keys)
    every = "SELECT context_id, min(frame_key) AS first FROM frames GROUP BY context_id"
    committed(con, layout.add_context_keys, every, [])
    top = layout.next_frame_key(con)
    for start in range(0, max(top, 1), SUMMARY_FRAMES):
        stretch = [start, start + SUMMARY_FRAMES - 1]
        committed(con, layout.key_contexts, "frame_key BETWEEN ? AND ?", stretch)


def key_all_values(con: Con) -> None:
    """A values key on every frame (layout.VALUES_KEY; the migration to schema version 11),
    SUMMARY_FRAMES frames per transaction; again after an interruption, it keys the frames
    left without one."""
    if not layout.has_values_keys(con):
        committed(con, _add_values_keys)
    committed(con, layout.add_values_keys, "SELECT * FROM frames", [])
    top = layout.next_frame_key(con)
    for start in range(0, max(top, 1), SUMMARY_FRAMES):
        stretch = [start, start + SUMMARY_FRAMES - 1]
        committed(con, layout.key_values, "frame_key BETWEEN ? AND ?", stretch)


def summarise_catalog(con: Con) -> None:
    """The whole catalog's summaries of contexts and values (store/summaries.py; the
    migration to schema version 12), on a catalog whose frames carry context and values
    keys."""
    if layout.has_context_keys(con) and layout.has_values_keys(con):
        summaries.build(con, layout.next_frame_key(con))


def _add_values_keys(con: Con) -> None:
    con.execute(f"ALTER TABLE frames ADD COLUMN {layout.VALUES_KEY} INTEGER")
    keys = ", ".join(f"{quote_ident(k)} VARCHAR" for k in PROMOTED_KEYS)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {layout.VALUE_KEYS} ({layout.VALUES_KEY} INTEGER NOT NULL,"
        f" {keys})"
    )


def _add_context_keys(con: Con) -> None:
    con.execute(f"ALTER TABLE frames ADD COLUMN {layout.CONTEXT_KEY} INTEGER")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {layout.CONTEXT_KEYS} ("
        "context_id VARCHAR NOT NULL, context_key INTEGER NOT NULL)"
    )


def swap(con: Con) -> None:
    """The built tables replace the old ones (in the caller's transaction); those not built
    (the ROI codes, by the migration to version 7) stay."""
    built_now = set(_tables_named(con, (*BUILT.values(), *CODES.values())))
    for table, built in (*BUILT.items(), *CODES.items()):
        if built in built_now:
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"ALTER TABLE {built} RENAME TO {table}")
    if CODES["frame_codes"] in built_now:  # a row per frame, in key order as frames are
        layout.mark_aligned(con)
    con.execute("DELETE FROM _layout_pending")


def _tables_named(con: Con, names: tuple[str, ...]) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
        " AND list_contains(?, table_name)",
        [list(names)],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _frame_keys(con: Con) -> None:
    """Keys for every frame, in insertion order, unless the frames have them already."""
    if "frame_key" not in _columns(con, "frames"):
        # A sequence fills the new column in insertion order in one pass; it is not kept.
        con.execute("CREATE SEQUENCE _wb_frame_keys START 0 MINVALUE 0")
        con.execute(
            "ALTER TABLE frames ADD COLUMN frame_key BIGINT DEFAULT nextval('_wb_frame_keys')"
        )
        con.execute("ALTER TABLE frames ALTER COLUMN frame_key DROP DEFAULT")
        con.execute("DROP SEQUENCE _wb_frame_keys")
    top = con.execute("SELECT max(frame_key) FROM frames").fetchall()[0][0]
    layout.set_next_frame_key(con, max(layout.next_frame_key(con), -1 if top is None else top + 1))


def _tables(con: Con) -> None:
    for statement in layout.TABLES:
        con.execute(statement)


def _label_keys(con: Con) -> None:
    """Keys for the (field, label) pairs of the ROIs that have none yet."""
    con.execute(
        "INSERT INTO label_keys (label_key, field, label)"
        " SELECT (SELECT coalesce(max(label_key) + 1, 0) FROM label_keys)"
        " + row_number() OVER (ORDER BY field, label NULLS FIRST) - 1, field, label FROM ("
        " SELECT DISTINCT field, label FROM rois EXCEPT SELECT field, label FROM label_keys)"
    )


def _columns(con: Con, table: str) -> dict[str, bool]:
    """Column name -> whether it may hold NULL, in order."""
    rows = con.execute(
        "SELECT column_name, is_nullable FROM duckdb_columns() WHERE schema_name = 'main'"
        " AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()
    return {str(name): bool(nullable) for name, nullable in rows}


def _copy(con: Con, table: str) -> None:
    """Copy `table` into its built table with frame (and label) keys, a stretch of COPY_ROWS
    rows per transaction, each stretch sorted by frame key (rows the writer stored come in
    frame order, so the whole copy is)."""
    built = BUILT[table]
    keys = layout.KEY_COLUMNS[table]
    columns = {c: n for c, n in _columns(con, table).items() if c not in keys}
    listed = ", ".join(f"t.{quote_ident(c)}" for c in columns)

    extra = {"frame_key": "BIGINT", "label_key": "INTEGER"}
    committed(con, _like, table, built, {k: extra[k] for k in keys})
    last = con.execute(f"SELECT max(rowid) FROM {table}").fetchall()[0][0]
    if last is None:
        return
    labels, join = "", ""
    if table == "rois":
        labels = ", k.label_key"
        join = (
            " LEFT JOIN label_keys k ON k.field = t.field AND k.label IS NOT DISTINCT FROM t.label"
        )
    key = f"coalesce(f.frame_key, {layout.NO_FRAME})"
    for start in range(0, int(last) + 1, COPY_ROWS):
        stretch = f"rowid BETWEEN {start} AND {start + COPY_ROWS - 1}"
        query = (
            f"INSERT INTO {built} SELECT {listed}, {key}{labels}"
            f" FROM (SELECT *, rowid AS _row FROM {table} WHERE {stretch}) t"
            " LEFT JOIN (SELECT id, frame_key FROM frames WHERE id IN"
            f" (SELECT frame_id FROM {table} WHERE {stretch})) f ON f.id = t.frame_id{join}"
            f" ORDER BY {key}, t._row"
        )
        committed(con, _execute, query)


def _execute(con: Con, query: str) -> None:
    con.execute(query)


def _like(con: Con, table: str, built: str, added: dict[str, str]) -> None:
    """An empty table `built` with the columns of `table` (their types and NOT NULLs, without
    its key columns) and then the `added` ones."""
    columns = {c: n for c, n in _columns(con, table).items() if c not in added}
    listed = ", ".join(quote_ident(c) for c in columns)
    con.execute(f"CREATE TABLE {built} AS SELECT {listed} FROM {table} LIMIT 0")
    for column, kind in added.items():
        con.execute(f"ALTER TABLE {built} ADD COLUMN {column} {kind}")
    for column, nullable in columns.items():
        if not nullable:
            con.execute(f"ALTER TABLE {built} ALTER COLUMN {quote_ident(column)} SET NOT NULL")


def _summarise(con: Con) -> None:
    """Every frame's summaries, SUMMARY_FRAMES frames per transaction."""
    committed(con, _like, "frame_labels", BUILT["frame_labels"], {})
    top = layout.next_frame_key(con)
    for start in range(0, max(top, 1), SUMMARY_FRAMES):
        stretch = [start, start + SUMMARY_FRAMES - 1]
        committed(
            con,
            layout.summarise,
            "r.frame_key BETWEEN ? AND ?",
            stretch,
            BUILT["frame_labels"],
            BUILT["rois"],
        )


def choose_promoted(con: Con) -> list[str]:
    """Promote the metadata keys most frames hold (layout.choose_keys) to columns, filled for
    every frame, SUMMARY_FRAMES frames per transaction; returns the keys promoted now. Runs
    outside any transaction."""
    chosen: dict[str, str] = {}

    def add(con: Con) -> None:
        chosen.update(layout.choose_keys(con))
        layout.add_promoted(con, chosen)

    committed(con, add)
    top = layout.next_frame_key(con)
    for start in range(0, top if chosen else 0, SUMMARY_FRAMES):
        stretch = [start, start + SUMMARY_FRAMES - 1]
        committed(con, layout.fill_promoted, chosen, "frame_key BETWEEN ? AND ?", stretch)
    return sorted(chosen)
