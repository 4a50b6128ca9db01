"""Digests of the NDJSON lines stored frames were converted from (table `_line_digests`).

Importing a ClearML NDJSON file again (the update path) converts every line into frames,
sources and ROIs before the writer finds most of them stored exactly as given. A line whose
digest (DuckDB's `hash` of its text and of what else its conversion depends on, and its
length in bytes) is kept beside the frame it made is left unconverted on the next import,
and counted as an unchanged frame.

A digest must never outlive a change to its frame. Each row is tied to its frame by
`frame_key` and `frame_hash`, and trusted only while the frame with that key has a frames
row of that hash:
- a frame written again (any importer, the lake) is deleted and inserted: it gets a new key;
- a frames row changed in place (metadata merged, `num_frames` counted again) changes the
  hash (every column of FRAME_SCHEMA, `ingested` included, is in it);
- the ROIs of a stored frame change only by writes that name the frame for its summaries
  (`layout.touch`, whose frames `layout.sync` summarises again, and
  `layout_insert.replacing_rois`): both forget the frames' digests (`forget`);
- a frame deleted leaves no frame with its key (keys are never reused but by a rebuild of
  the layout, which keeps each frame's rows as they are).
Lake-backed catalogs keep no digests (their frames are written back by jobs of their own).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from workbench.model.records import FRAME_SCHEMA
from workbench.store.arrow import registered
from workbench.store.sqlsafe import quote_ident

TABLE = "_line_digests"

DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    frame_key BIGINT NOT NULL,
    digest UBIGINT NOT NULL,
    line_bytes INTEGER NOT NULL,
    frame_hash UBIGINT NOT NULL,
    sources INTEGER NOT NULL,
    rois INTEGER NOT NULL)"""

# The hash of a frames row (alias f): every column an importer writes.
FRAME_HASH = "hash(" + ", ".join(f"f.{quote_ident(f.name)}" for f in FRAME_SCHEMA) + ")"

# The digests of a batch of lines (n, digest, line_bytes), registered under this name.
_LINES = "_wb_line_digests"
# The frames a write converted and stored (id, digest, line_bytes, sources, rois).
_DIGESTED = "_wb_digested"
# The frames a write left unconverted (frame_key).
_UNCHANGED = "_wb_unchanged"

_LOOKUP = (
    f"SELECT DISTINCT ON (b.n) b.n, f.id, d.frame_key, d.sources, d.rois FROM {_LINES} b "
    f"JOIN {TABLE} d ON d.digest = b.digest AND d.line_bytes = b.line_bytes "
    f"JOIN frames f ON f.frame_key = d.frame_key WHERE {FRAME_HASH} = d.frame_hash "
    "ORDER BY b.n"
)

_OF_UNCHANGED = f"frame_key IN (SELECT frame_key FROM {_UNCHANGED})"
# Every URI the writer checks against the media roots (writer._uris_of), of the frames left
# unconverted: sources, previews, the sources' mask files and the ROIs' mask files.
_URIS = (
    f"SELECT uri AS u FROM sources WHERE {_OF_UNCHANGED} "
    f"UNION ALL SELECT preview_uri FROM sources WHERE {_OF_UNCHANGED} "
    "UNION ALL SELECT CASE WHEN json_type(m, '$.uri') = 'VARCHAR' THEN m->>'$.uri' END FROM "
    f"(SELECT unnest(masks->'$[*]') AS m FROM sources WHERE masks IS NOT NULL "
    f"AND {_OF_UNCHANGED}) "
    "UNION ALL SELECT CASE WHEN json_type(mask, '$.uri') = 'VARCHAR' THEN mask->>'$.uri' END "
    f"FROM rois WHERE mask IS NOT NULL AND {_OF_UNCHANGED}"
)

LOOKUP_SCHEMA = pa.schema(
    [
        ("n", pa.int64()),
        ("id", pa.string()),
        ("frame_key", pa.int64()),
        ("sources", pa.int32()),
        ("rois", pa.int32()),
    ]
)


def lookup(con: duckdb.DuckDBPyConnection, lines: pa.Table) -> pa.Table:
    """The lines of `lines` (n, digest, line_bytes) whose digest is kept for a frame stored
    as it was when the digest was written: (n, id, frame_key, sources, rois) in line order."""
    if lines.num_rows == 0:
        return LOOKUP_SCHEMA.empty_table()
    with registered(con, _LINES, lines):
        return con.sql(_LOOKUP).to_arrow_table().cast(LOOKUP_SCHEMA)


def record(con: duckdb.DuckDBPyConnection, digested: pa.Table) -> None:
    """Keep the digests of frames stored (`digested`: id, digest, line_bytes, sources, rois),
    in the transaction that stored them, in place of any digest they had."""
    if digested.num_rows == 0:
        return
    with registered(con, _DIGESTED, digested):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _wb_digest_rows AS SELECT f.frame_key, b.digest, "
            f"b.line_bytes, {FRAME_HASH} AS frame_hash, b.sources, b.rois "
            f"FROM {_DIGESTED} b JOIN frames f ON f.id = b.id WHERE f.frame_key IS NOT NULL"
        )
    try:
        forget(con, "frame_key IN (SELECT frame_key FROM _wb_digest_rows)")
        con.execute(f"INSERT INTO {TABLE} SELECT * FROM _wb_digest_rows")
    finally:
        con.execute("DROP TABLE IF EXISTS _wb_digest_rows")


def unchanged_uris(con: duckdb.DuckDBPyConnection, frame_keys: pa.Array) -> pa.Array:
    """The URIs the frames `frame_keys` name, to be checked against the media roots."""
    if len(frame_keys) == 0:
        return pa.array([], pa.string())
    with registered(con, _UNCHANGED, pa.table({"frame_key": frame_keys})):
        found = con.sql(_URIS).to_arrow_table()
    return found.column(0).combine_chunks().cast(pa.string())


def forget(con: duckdb.DuckDBPyConnection, which: str) -> None:
    """Drop the digests of the frames `which` selects (a condition on `frame_key`): their
    ROIs or rows change in this transaction."""
    con.execute(f"DELETE FROM {TABLE} WHERE {which}")
