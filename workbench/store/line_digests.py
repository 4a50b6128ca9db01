"""Digests of the NDJSON lines stored frames were converted from (table `_line_digests`).

Importing a ClearML NDJSON file again (the update path) converts every line into frames,
sources and ROIs before the writer finds most of them stored exactly as given. A line whose
digest (DuckDB's `hash` of its text and of what else its conversion depends on, and its
length in bytes) is kept beside the frame it made is left unconverted on the next import,
and counted as an unchanged frame.

Each row also names where its line was: the file (`file_key`, a hash of its resolved path)
and the line's number in it. Rows are written in the order of their lines, so a batch of
lines looks up only the rows of its own stretch of its file (`file_key` and `line` between
the batch's first and last): DuckDB's zonemaps skip every other row group, and a lookup
costs about the same at 200,000 stored frames as at 10M. A line that moved (lines added
above it) is not found there: it is converted, and digested at its new place.

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
The lookup runs before the write that counts the lines found: `changed_since` reads the
digests kept at their places again inside that write's transaction, their frames rows hashed
again (writers take turns, so none can land in between), and the lines whose frame changed
or whose digest was forgotten meanwhile are converted after all.

A write's digests are recorded in place of those kept at the same lines' places (a DELETE by
the file's key and stretch of lines: the rows of the write's own stretch), its new frames
found among the rows from the frame key the catalog was at before it (the write's own rows
of `frames`, whatever order the ids are in). The digest of a frame the writer left as it was
may then be kept at another place too (a line that moved): it holds as long as its frame
does, each line's digest saying what that line makes.
Lake-backed catalogs keep no digests (their frames are written back by jobs of their own).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from workbench.model.records import FRAME_SCHEMA
from workbench.store.arrow import registered
from workbench.store.sqlsafe import quote_ident

TABLE = "_line_digests"

DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    file_key UBIGINT NOT NULL,
    line BIGINT NOT NULL,
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
# The frames a write converted and stored (id, line, digest, line_bytes, sources, rois).
_DIGESTED = "_wb_digested"
# The frames a write left unconverted (frame_key).
_UNCHANGED = "_wb_unchanged"

# The filter on the file and the stretch of lines is what keeps the cost to the batch's own
# row groups; the join on frames reads only the row groups of the keys found (DuckDB pushes
# the found keys' range into the scan of frames).
_LOOKUP = (
    "SELECT DISTINCT ON (b.n) b.n, f.id, d.frame_key, b.digest, b.line_bytes, d.sources, "
    f"d.rois FROM {_LINES} b JOIN {TABLE} d ON d.digest = b.digest "
    "AND d.line_bytes = b.line_bytes JOIN frames f ON f.frame_key = d.frame_key "
    "WHERE d.file_key = $file::UBIGINT AND d.line BETWEEN $first::BIGINT AND $last::BIGINT "
    f"AND {FRAME_HASH} = d.frame_hash ORDER BY b.n"
)

# The digest rows kept at a stretch of lines of a file whose frame is stored as digested.
_AT_PLACES = (
    f"SELECT d.line, d.frame_key, d.digest FROM {TABLE} d JOIN frames f ON "
    "f.frame_key = d.frame_key WHERE d.file_key = $file::UBIGINT AND d.line BETWEEN "
    f"$first::BIGINT AND $last::BIGINT AND {FRAME_HASH} = d.frame_hash"
)

# The digest rows of a write, its frames found by id (the condition on frame_key follows).
_ROWS = "_wb_digest_rows"
_FOUND = (
    f"SELECT ?::UBIGINT AS file_key, b.line, f.frame_key, b.digest, b.line_bytes, "
    f"{FRAME_HASH} AS frame_hash, b.sources, b.rois FROM {_DIGESTED} b JOIN frames f "
    "ON f.id = b.id WHERE f.frame_key IS NOT NULL"
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

# The lines of a batch found, and the frames they make as stored.
LOOKUP_SCHEMA = pa.schema(
    [
        ("n", pa.int64()),
        ("id", pa.string()),
        ("frame_key", pa.int64()),
        ("digest", pa.uint64()),
        ("line_bytes", pa.int32()),
        ("sources", pa.int32()),
        ("rois", pa.int32()),
    ]
)


def file_key(con: duckdb.DuckDBPyConnection, resolved: str) -> int:
    """The key of the file at path `resolved` (made absolute, links resolved)."""
    return int(con.execute("SELECT hash(?::VARCHAR)", [resolved]).fetchall()[0][0])


def lookup(con: duckdb.DuckDBPyConnection, file: int, lines: pa.Table) -> pa.Table:
    """The lines of `lines` (n, digest, line_bytes) of the file `file` whose digest is kept
    at their place in it, for a frame stored as it was when the digest was written:
    LOOKUP_SCHEMA, in line order."""
    if lines.num_rows == 0:
        return LOOKUP_SCHEMA.empty_table()
    numbers = lines["n"].to_numpy()
    where = {"file": file, "first": int(numbers.min()), "last": int(numbers.max())}
    with registered(con, _LINES, lines.select(["n", "digest", "line_bytes"])):
        return con.sql(_LOOKUP, params=where).to_arrow_table().cast(LOOKUP_SCHEMA)


def changed_since(con: duckdb.DuckDBPyConnection, file: int, found: pa.Table) -> pa.Array:
    """The line numbers of `found` (rows of a `lookup`) whose digest is no longer kept at
    their place for the frame the lookup found, as it was: their frame changed since, or
    its digest was forgotten. The digest rows of the stretch of lines are read with their
    frames' rows hashed again, and matched to `found` by line number: the lookup's join of
    the lines' digests is not made again (about 60% of its cost)."""
    if found.num_rows == 0:
        return pa.array([], pa.int64())
    numbers = int64s(found["n"])
    keys, digests = int64s(found["frame_key"]), _uint64(found["digest"])
    if np.any(numbers[1:] < numbers[:-1]):
        order = np.argsort(numbers, kind="stable")
        numbers, keys, digests = numbers[order], keys[order], digests[order]
    where = {"file": file, "first": int(numbers[0]), "last": int(numbers[-1])}
    now = con.sql(_AT_PLACES, params=where).fetchnumpy()
    lines = np.asarray(now["line"], dtype=np.int64)
    at = np.minimum(np.searchsorted(numbers, lines), len(numbers) - 1)
    held = (
        (numbers[at] == lines)
        & (keys[at] == np.asarray(now["frame_key"], dtype=np.int64))
        & (digests[at] == np.asarray(now["digest"], dtype=np.uint64))
    )
    same = np.zeros(len(numbers), dtype=bool)
    same[at[held]] = True
    return pa.array(numbers[~same], pa.int64())


def record(con: duckdb.DuckDBPyConnection, file: int, digested: pa.Table, since: int = 0) -> None:
    """Keep the digests of frames stored from lines of the file `file` (`digested`: id,
    line, digest, line_bytes, sources, rois, in line order), in the transaction that stored
    them, in place of the digests kept at those lines' places; written in line order.

    `since`: a frame key no greater than any the write gave (`next_frame_key` read before
    it): the frames it inserted are found by id among the rows from that key on, which the
    engine reads alone (ids in no order of their keys, such as UUIDs, would otherwise have
    every id of the catalog read once per write). Frames stored before (left as they were by
    the writer) are then found among the others, only when there are any."""
    if digested.num_rows == 0:
        return
    lines = int64s(digested["line"])
    with registered(con, _DIGESTED, digested):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_ROWS} AS {_FOUND} AND f.frame_key >= ?", [file, since]
        )
        try:
            if con.execute(f"SELECT count(*) FROM {_ROWS}").fetchall()[0][0] < len(lines):
                con.execute(f"INSERT INTO {_ROWS} {_FOUND} AND f.frame_key < ?", [file, since])
            # the places recorded now, read by the file's key and stretch of lines
            con.execute(
                f"DELETE FROM {TABLE} WHERE file_key = ?::UBIGINT AND line BETWEEN ? AND ? "
                f"AND line IN (SELECT line FROM {_ROWS})",
                [file, int(lines.min()), int(lines.max())],
            )
            con.execute(f"INSERT INTO {TABLE} SELECT * FROM {_ROWS} ORDER BY line")
        finally:
            con.execute(f"DROP TABLE IF EXISTS {_ROWS}")


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


def int64s(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The values of an integer column as int64 (numpy)."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)


def _uint64(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.uint64)
