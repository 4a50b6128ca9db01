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
- `metadata_columns(key, column_name)`: metadata keys most frames have, copied into frame
  columns (`json_extract_string` of the key) so filters and facets read no JSON.

Writers fill none of it. `sync(con)` runs at the end of every transaction
(`Catalog.transaction`) and keys and summarises what the transaction added: frames, sources
and ROIs without a key. Code that deletes or changes ROIs or metadata of stored frames names
those frames first with `touch(con, ...)`, so their summaries are computed again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import duckdb

from workbench.model.records import PROMOTED_KEYS
from workbench.store.sqlsafe import quote_ident

# Columns the store derives; exports, imports and pages leave them out. Promoted metadata
# columns (metadata_columns.column_name) are derived as well.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "frames": ("frame_key",),
    "sources": ("frame_key",),
    "rois": ("frame_key", "label_key"),
}
# A key that names no frame: ROIs or sources stored without their frame.
NO_FRAME = -1
# Metadata keys promoted to columns: present in at least this share of frames, at most this
# many, named `metadata_<key>`, for keys made of these characters.
PROMOTE_SHARE = 0.05
PROMOTE_MAX = 8
PROMOTE_PREFIX = "metadata_"
_PROMOTABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
# Rows rewritten at a time by recluster(), frames summarised at a time by summarise_all().
RECLUSTER_ROWS = 2_000_000
SUMMARY_FRAMES = 1_000_000
# Frames sampled when choosing which keys to promote.
PROMOTE_SAMPLE = 100_000

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
    """CREATE TABLE IF NOT EXISTS metadata_columns (
        key VARCHAR PRIMARY KEY,
        column_name VARCHAR NOT NULL,
        chosen TIMESTAMP DEFAULT current_timestamp)""",
    # Frames whose summaries a transaction must compute again (see touch).
    """CREATE TABLE IF NOT EXISTS _layout_pending (frame_key BIGINT NOT NULL)""",
)


# -- reading the layout ---------------------------------------------------------------------------
def promoted_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Metadata key -> the frame column holding its value (as `json_extract_string` gives it)."""
    rows = con.execute("SELECT key, column_name FROM metadata_columns ORDER BY key").fetchall()
    return {str(k): str(c) for k, c in rows}


def derived_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The columns of a catalog table the store derives (keys, promoted metadata)."""
    derived = set(KEY_COLUMNS.get(table, ()))
    if table == "frames":
        derived |= set(promoted_columns(con).values())
    return derived


def key_bound(con: duckdb.DuckDBPyConnection) -> int:
    """One past the largest frame key in use (the size of a bitmap over frame keys)."""
    return next_frame_key(con)


def next_frame_key(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute("SELECT value FROM meta WHERE key = 'next_frame_key'").fetchall()
    return int(rows[0][0]) if rows else 0


def _set_next_frame_key(con: duckdb.DuckDBPyConnection, value: int) -> None:
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


def sync(con: duckdb.DuckDBPyConnection) -> None:
    """Key and summarise what this transaction wrote (cheap when it wrote no frames or ROIs).

    Runs inside the writer's transaction, just before COMMIT.
    """
    new_frames, new_sources, new_rois, pending = con.execute(
        "SELECT (SELECT count(*) FROM frames WHERE frame_key IS NULL),"
        " (SELECT count(*) FROM sources WHERE frame_key IS NULL),"
        " (SELECT count(*) FROM rois WHERE frame_key IS NULL),"
        " (SELECT count(*) FROM _layout_pending)"
    ).fetchall()[0]
    if not (new_frames or new_sources or new_rois or pending):
        return
    first = next_frame_key(con)
    if new_frames:
        _key_new_frames(con, first, int(new_frames))
    promoted = promoted_columns(con)
    if new_frames:
        _fill_promoted(con, promoted, "frame_key >= ?", [first])
    if new_sources:
        _key_rows(con, "sources", first, bool(new_frames))
    if new_rois:
        _add_label_keys(con)
        _key_rows(con, "rois", first, bool(new_frames))
    if pending:
        _fill_promoted(con, promoted, "frame_key IN (SELECT frame_key FROM _layout_pending)", [])
        con.execute(
            "DELETE FROM frame_labels WHERE frame_key IN (SELECT frame_key FROM _layout_pending)"
        )
        _summarise(con, "r.frame_key IN (SELECT frame_key FROM _layout_pending)", [])
        con.execute("DELETE FROM _layout_pending")
    if new_rois and new_frames:
        _summarise(con, "r.frame_key >= ?", [first])


def _key_new_frames(con: duckdb.DuckDBPyConnection, first: int, count: int) -> None:
    """Keys for the frames without one, in insertion (rowid) order from `first` on."""
    con.execute(
        "UPDATE frames SET frame_key = k.key FROM (SELECT rowid AS rid,"
        " ? + row_number() OVER (ORDER BY rowid) - 1 AS key FROM frames"
        " WHERE frame_key IS NULL) k WHERE frames.rowid = k.rid",
        [first],
    )
    _set_next_frame_key(con, first + count)


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


def _label_key_of(alias: str) -> str:
    return (
        f"(SELECT k.label_key FROM label_keys k WHERE k.field = {alias}.field"
        f" AND k.label IS NOT DISTINCT FROM {alias}.label)"
    )


def _add_label_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Keys for the (field, label) pairs of unkeyed ROIs that have none yet."""
    con.execute(
        "INSERT INTO label_keys (label_key, field, label)"
        " SELECT (SELECT coalesce(max(label_key) + 1, 0) FROM label_keys)"
        " + row_number() OVER (ORDER BY field, label NULLS FIRST) - 1, field, label FROM ("
        " SELECT DISTINCT field, label FROM rois WHERE frame_key IS NULL"
        " EXCEPT SELECT field, label FROM label_keys)"
    )


def _summarise(con: duckdb.DuckDBPyConnection, which: str, params: list[Any]) -> None:
    """Append the frame_labels rows of the frames `which` selects (over `rois r`)."""
    con.execute(
        "INSERT INTO frame_labels SELECT r.frame_key, r.label_key, count(*)::INTEGER,"
        " min(r.confidence), max(r.confidence) FROM rois r"
        f" WHERE {which} AND r.frame_key <> {NO_FRAME} GROUP BY r.frame_key, r.label_key"
        " ORDER BY r.label_key, r.frame_key",
        params,
    )


def _fill_promoted(
    con: duckdb.DuckDBPyConnection, promoted: dict[str, str], which: str, params: list[Any]
) -> None:
    if not promoted:
        return
    sets = ", ".join(
        f"{quote_ident(column)} = json_extract_string(metadata, ?)" for column in promoted.values()
    )
    pointers = [_pointer(key) for key in promoted]
    con.execute(f"UPDATE frames SET {sets} WHERE {which}", [*pointers, *params])


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


# -- building it whole ----------------------------------------------------------------------------
def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Give a catalog the layout: keys for every frame, source and ROI (sources and ROIs
    rewritten clustered by frame), label keys, frame summaries, promoted metadata keys."""
    for statement in TABLES:
        con.execute(statement)
    # A sequence fills the new column in insertion order in one pass; it is not kept.
    con.execute("CREATE SEQUENCE _wb_frame_keys START 0 MINVALUE 0")
    con.execute("ALTER TABLE frames ADD COLUMN frame_key BIGINT DEFAULT nextval('_wb_frame_keys')")
    con.execute("ALTER TABLE frames ALTER COLUMN frame_key DROP DEFAULT")
    con.execute("DROP SEQUENCE _wb_frame_keys")
    count = con.execute("SELECT count(*) FROM frames").fetchall()[0][0]
    _set_next_frame_key(con, int(count))
    con.execute("ALTER TABLE sources ADD COLUMN frame_key BIGINT")
    con.execute("ALTER TABLE rois ADD COLUMN frame_key BIGINT")
    con.execute("ALTER TABLE rois ADD COLUMN label_key INTEGER")
    _add_label_keys(con)
    recluster(con)
    choose_promoted(con)


def recluster(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite sources and ROIs in frame-key order with their keys, and every summary.

    Each table is rewritten in stretches of RECLUSTER_ROWS rows, each copied after the table
    sorted by frame key, and the old rows deleted at the end, in the caller's transaction:
    memory stays bounded at any size (the engine's memory limit holds one stretch), and rows
    stored in frame order (as the writer stores them) come out in frame order throughout.
    The file keeps the freed space for later writes.
    """
    for table in ("sources", "rois"):
        name = quote_ident(table)
        last = con.execute(f"SELECT max(rowid) FROM {name}").fetchall()[0][0]
        if last is None:
            continue
        labels, join = "", ""
        if table == "rois":
            labels = ", k.label_key AS label_key"
            join = (
                " LEFT JOIN label_keys k ON k.field = t.field"
                " AND k.label IS NOT DISTINCT FROM t.label"
            )
        for start in range(0, int(last) + 1, RECLUSTER_ROWS):
            stretch = f"rowid BETWEEN {start} AND {min(start + RECLUSTER_ROWS - 1, int(last))}"
            con.execute(
                f"INSERT INTO {name} BY NAME SELECT t.* EXCLUDE (_row) REPLACE"
                f" (coalesce(f.frame_key, {NO_FRAME}) AS frame_key{labels})"
                f" FROM (SELECT *, rowid AS _row FROM {name} WHERE {stretch}) t"
                " LEFT JOIN (SELECT id, frame_key FROM frames WHERE id IN"
                f" (SELECT frame_id FROM {name} WHERE {stretch})) f ON f.id = t.frame_id{join}"
                f" ORDER BY coalesce(f.frame_key, {NO_FRAME}), t._row"
            )
        con.execute(f"DELETE FROM {name} WHERE rowid <= ?", [last])
    summarise_all(con)


def summarise_all(con: duckdb.DuckDBPyConnection) -> None:
    """Every frame's summaries again, in stretches of SUMMARY_FRAMES frames (each sorted by
    label, then frame), so no aggregate holds the whole catalog."""
    con.execute("DELETE FROM frame_labels")
    con.execute("DELETE FROM _layout_pending")
    top = next_frame_key(con)
    for start in range(0, max(top, 1), SUMMARY_FRAMES):
        _summarise(
            con, "r.frame_key BETWEEN ? AND ?", [start, start + SUMMARY_FRAMES - 1]
        )


def choose_promoted(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Promote the metadata keys at least PROMOTE_SHARE of the frames have, with scalar
    values, to columns `metadata_<key>` (filled for every frame); returns the new keys."""
    total = con.execute("SELECT count(*) FROM frames").fetchall()[0][0]
    if not total:
        return []
    sample = "frames" if total <= PROMOTE_SAMPLE else "frames USING SAMPLE 10000 ROWS"
    counted = con.execute(
        "SELECT key, count(*) AS n FROM (SELECT unnest(json_keys(metadata)) AS key"
        f" FROM (SELECT metadata FROM {sample})) GROUP BY key ORDER BY n DESC, key"
    ).fetchall()
    rows = min(int(total), 10_000) if total > PROMOTE_SAMPLE else int(total)
    known = promoted_columns(con)
    columns = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'frames'"
        ).fetchall()
    }
    chosen: dict[str, str] = {}
    for key, n in counted:
        if len(known) + len(chosen) >= PROMOTE_MAX or n < PROMOTE_SHARE * rows:
            break
        column = PROMOTE_PREFIX + str(key).lower()
        if (
            key in known
            or key in PROMOTED_KEYS
            or not _PROMOTABLE.fullmatch(str(key))
            or column in columns
            or column in chosen.values()
            or not _scalar(con, str(key), sample)
        ):
            continue
        chosen[str(key)] = column
    for key, column in chosen.items():
        con.execute(f"ALTER TABLE frames ADD COLUMN {quote_ident(column)} VARCHAR")
        con.execute("INSERT INTO metadata_columns (key, column_name) VALUES (?, ?)", [key, column])
    _fill_promoted(con, chosen, "TRUE", [])
    return sorted(chosen)


def _scalar(con: duckdb.DuckDBPyConnection, key: str, sample: str) -> bool:
    """Whether no sampled frame holds an object or a list under `key`."""
    rows = con.execute(
        f"SELECT count(*) FROM (SELECT metadata FROM {sample})"
        " WHERE json_type(metadata, ?) IN ('OBJECT', 'ARRAY')",
        [_pointer(key)],
    ).fetchall()
    return not rows[0][0]
