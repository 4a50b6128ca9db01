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
A line that makes a whole scene of frames (Nucleus) keeps one row for all of them, checked
by its own look-up (`scenes_unchanged`, `record_scenes`, below), and again inside the write
that counts it (`scenes_changed`: the found frames' rows hashed again, the digests not
joined again).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.model.records import FRAME_SCHEMA
from workbench.store import key_ranges
from workbench.store.arrow import registered
from workbench.store.scratch import dropped_after
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

# The stored frames' keys (id, key) of a write's digested rows not among its new frames.
_KEYS = "_wb_digest_found"
_OLDER = "_wb_digested_older"

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

# Lines looked up in one statement. Its join and DISTINCT hold about 150 bytes a line beside
# some 10 MB of the engine's own: 380,000 lines at once ran the catalog's engine, held to
# 48MB for an import (engine.IMPORT_MEMORY_LIMIT_ENV), out of memory; 131,072 at a time
# cost the same CPU and fit in 32MB.
LOOKUP_LINES = 1 << 17
# A stretch that runs the engine out of memory is looked up in halves, down to this many lines.
LOOKUP_LINES_AT_LEAST = 1 << 12

# A batch's lines as hashed by an importer: line number, digest of its text, its bytes.
LINE_ROWS = pa.schema([("n", pa.int64()), ("digest", pa.uint64()), ("line_bytes", pa.int32())])


def hash_lines(
    engine: duckdb.DuckDBPyConnection, lines: pa.Table, seed: str, where: str = "TRUE"
) -> pa.Table:
    """LINE_ROWS of the lines of `lines` (`n`, `j`, ...) that `where` (a constant condition
    of the caller's code) selects: each line's text hashed with `seed`, what else its frames
    depend on, in the importer's conversion engine `engine`."""
    engine.register("_wb_digest_lines", lines)
    try:
        found = engine.sql(
            "SELECT n, hash(j, ?) AS digest, strlen(j)::INTEGER AS line_bytes "
            f"FROM _wb_digest_lines WHERE {where}",
            params=[seed],
        ).to_arrow_table()
    finally:
        engine.unregister("_wb_digest_lines")
    return found.cast(LINE_ROWS)


# The digests a write records (`record`): each line's (or image's) frame, where it is in its
# file, its digest and length, and its frame's counts of sources and ROIs.
DIGESTED_ROWS = pa.schema(
    [
        ("id", pa.string()),
        ("line", pa.int64()),
        ("digest", pa.uint64()),
        ("line_bytes", pa.int32()),
        ("sources", pa.int32()),
        ("rois", pa.int32()),
    ]
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
    """The lines of `lines` (n, digest, line_bytes, in line order) of the file `file` whose
    digest is kept at their place in it, for a frame stored as it was when the digest was
    written: LOOKUP_SCHEMA, in line order. Looked up LOOKUP_LINES at a time; a stretch
    that runs the engine out of memory is looked up again in halves, down to
    LOOKUP_LINES_AT_LEAST lines, below which the engine's OutOfMemoryException is raised
    (`con` holds no transaction: a failed statement aborts only itself)."""
    if lines.num_rows == 0:
        return LOOKUP_SCHEMA.empty_table()
    lines = lines.select(["n", "digest", "line_bytes"])
    starts = range(0, lines.num_rows, LOOKUP_LINES)
    found = [_look_up(con, file, lines.slice(start, LOOKUP_LINES)) for start in starts]
    return pa.concat_tables(found) if len(found) > 1 else found[0]


def _look_up(con: duckdb.DuckDBPyConnection, file: int, lines: pa.Table) -> pa.Table:
    """`lookup` of one stretch of lines, in halves when the engine runs out of memory."""
    numbers = lines["n"].to_numpy()
    where = {"file": file, "first": int(numbers.min()), "last": int(numbers.max())}
    try:
        with registered(con, _LINES, lines):
            return con.sql(_LOOKUP, params=where).to_arrow_table().cast(LOOKUP_SCHEMA)
    except duckdb.OutOfMemoryException:
        if lines.num_rows <= LOOKUP_LINES_AT_LEAST:
            raise
    half = -(-lines.num_rows // 2)
    return pa.concat_tables(
        [_look_up(con, file, lines.slice(0, half)), _look_up(con, file, lines.slice(half))]
    )


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


def record(
    con: duckdb.DuckDBPyConnection,
    file: int,
    digested: pa.Table,
    since: int = 0,
    stored: Callable[[pa.Array], pa.Table] | None = None,
) -> None:
    """Keep the digests of frames stored from lines of the file `file` (`digested`: id,
    line, digest, line_bytes, sources, rois, in line order), in the transaction that stored
    them, in place of the digests kept at those lines' places; written in line order.

    `since`: a frame key no greater than any the write gave (`next_frame_key` read before
    it): the frames it inserted are found by id among the rows from that key on, which the
    engine reads alone (ids in no order of their keys, such as UUIDs, would otherwise have
    every id of the catalog read once per write). Frames stored before (left as they were by
    the writer) are then found among the others, only when there are any: by `stored` (the
    keys of the frames that may be stored among ids, `id` and `key`: the candidates of
    store/layout_hashes.py, whose look-up costs the ids' number, not the catalog's), their
    rows then read by key and taken only when they have that id; without it, by a join on
    id over every frame."""
    if digested.num_rows == 0:
        return
    lines = int64s(digested["line"])
    with registered(con, _DIGESTED, digested):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_ROWS} AS {_FOUND} AND f.frame_key >= ?", [file, since]
        )
        with dropped_after(con, _ROWS):
            found = np.asarray(con.sql(f"SELECT line FROM {_ROWS}").fetchnumpy()["line"], np.int64)
            if len(found) < len(lines):
                _record_older(con, file, digested, lines, found, since, stored)
            # the places recorded now, read by the file's key and stretch of lines
            con.execute(
                f"DELETE FROM {TABLE} WHERE file_key = ?::UBIGINT AND line BETWEEN ? AND ? "
                f"AND line IN (SELECT line FROM {_ROWS})",
                [file, int(lines.min()), int(lines.max())],
            )
            con.execute(f"INSERT INTO {TABLE} SELECT * FROM {_ROWS} ORDER BY line")


def _record_older(
    con: duckdb.DuckDBPyConnection,
    file: int,
    digested: pa.Table,
    lines: np.ndarray,
    found: np.ndarray,
    since: int,
    stored: Callable[[pa.Array], pa.Table] | None,
) -> None:
    """Add to `record`'s rows those of the lines of `digested` not `found` among the write's
    new frames: their frames stored with keys below `since`."""
    if stored is None:
        con.execute(f"INSERT INTO {_ROWS} {_FOUND} AND f.frame_key < ?", [file, since])
        return
    missing = digested.filter(pa.array(~np.isin(lines, found)))
    keys = stored(missing["id"].combine_chunks())
    if keys.num_rows == 0:
        return
    within = key_ranges.within("f.frame_key", np.unique(int64s(keys["key"])))
    with registered(con, _OLDER, missing), registered(con, _KEYS, keys.select(["id", "key"])):
        con.execute(
            f"INSERT INTO {_ROWS} SELECT ?::UBIGINT, b.line, f.frame_key, b.digest, "
            f"b.line_bytes, {FRAME_HASH}, b.sources, b.rois FROM {_OLDER} b JOIN {_KEYS} k "
            "ON k.id = b.id JOIN frames f ON f.frame_key = k.key AND f.id = b.id "
            f"WHERE f.frame_key < ? AND {within}",
            [file, since],
        )


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


# -- lines that make many frames (a Nucleus scene) ----------------------------------------------
# A line that makes a scene of frames keeps one row: `frame_key` the lowest key of its frames,
# `sources` how many frames it makes (each with one source), `rois` 0, and `frame_hash` the
# sum modulo 2^64 of its frames rows' hashes. It is recorded only when its frames' keys are
# consecutive (a scene's rows are inserted together, in order), and it holds while the keys
# from `frame_key` on hold that many frames rows of one scene with that sum, no ROI, and the
# scene no other frame. A ROI written on any of them (which `forget` catches for the first
# frame only) is found by the ROIs' own frame keys: the line makes none.
_SPAN_HASH = f"(sum({FRAME_HASH}) % 18446744073709551616::HUGEINT)::UBIGINT"
_SCENE_LINES = "_wb_scene_lines"
_SCENE_ROWS = "_wb_scene_rows"


def _still_held(found: str, context: str = "") -> str:
    """The lines of `found` (n, first_key, frames, frame_hash; with `context`, a condition
    on its `s.context_id` too) whose span of keys still holds that many frames of one scene
    with that sum, no ROI, and the scene no other frame: the CTEs up to `spans` (n,
    first_key, frames, context_id, frame_hash) and the query of the lines that pass."""
    return f"""keys AS (SELECT n, unnest(range(first_key, first_key + frames)) AS frame_key FROM {found}),
held AS (
    SELECT k.n, count(*) AS frames, min(f.context_id) AS context_id,
        max(f.context_id) AS last_context, {_SPAN_HASH} AS frame_hash
    FROM keys k JOIN frames f ON f.frame_key = k.frame_key GROUP BY k.n),
spans AS (
    SELECT s.n, s.first_key, s.frames, h.context_id, s.frame_hash FROM {found} s JOIN held h
        ON h.n = s.n AND h.frames = s.frames AND h.context_id = h.last_context
        AND h.frame_hash = s.frame_hash{context}),
crowded AS (SELECT DISTINCT k.n FROM keys k JOIN rois r ON r.frame_key = k.frame_key),
scenes AS (
    SELECT context_id, count(*) AS held FROM frames
    WHERE context_id IN (SELECT context_id FROM spans) GROUP BY context_id)
SELECT s.n, s.first_key, s.frames, s.context_id, s.frame_hash FROM spans s
JOIN scenes c ON c.context_id = s.context_id AND c.held = s.frames
WHERE s.n NOT IN (SELECT n FROM crowded)
"""


_SCENES_FOUND = f"""
WITH found AS (
    SELECT DISTINCT ON (b.n) b.n, d.frame_key AS first_key, d.sources AS frames, d.frame_hash
    FROM {_LINES} b JOIN {TABLE} d ON d.digest = b.digest AND d.line_bytes = b.line_bytes
    WHERE d.file_key = $file::UBIGINT AND d.line BETWEEN $first::BIGINT AND $last::BIGINT
        AND d.rois = 0 AND d.sources > 0
    ORDER BY b.n),
{_still_held("found")}ORDER BY s.n
"""


SCENES_SCHEMA = pa.schema(
    [
        ("n", pa.int64()),
        ("first_key", pa.int64()),
        ("frames", pa.int32()),
        ("context_id", pa.string()),
        ("frame_hash", pa.uint64()),
    ]
)

# The lines of SCENES_SCHEMA (registered as _SCENE_LINES) whose scene is still held as it
# was found: the same test as _SCENES_FOUND's, from the frame keys found, without the digests.
_SCENES_HELD = f"WITH {_still_held(_SCENE_LINES, ' AND h.context_id = s.context_id')}"

_SCENE_SPANS = (
    f"SELECT b.line, min(f.frame_key) AS first_key, max(f.frame_key) AS last_key, "
    f"count(*) AS frames, {_SPAN_HASH} AS frame_hash FROM {_SCENE_ROWS} b "
    "JOIN frames f ON f.id = b.id WHERE f.frame_key IS NOT NULL"
)


def scenes_unchanged(con: duckdb.DuckDBPyConnection, file: int, lines: pa.Table) -> pa.Table:
    """The lines of `lines` (n, digest, line_bytes) of the file `file` whose digest is kept
    within their stretch of it for a scene whose frames are stored as they were when it was
    kept, alone in their scene and without ROIs: SCENES_SCHEMA (the first frame key, the
    number of frames and the scene), in line order."""
    if lines.num_rows == 0:
        return SCENES_SCHEMA.empty_table()
    numbers = lines["n"].to_numpy()
    where = {"file": file, "first": int(numbers.min()), "last": int(numbers.max())}
    with registered(con, _LINES, lines.select(["n", "digest", "line_bytes"])):
        return con.sql(_SCENES_FOUND, params=where).to_arrow_table().cast(SCENES_SCHEMA)


def scenes_changed(con: duckdb.DuckDBPyConnection, found: pa.Table) -> pa.Array:
    """The lines of `found` (rows of `scenes_unchanged`) whose scene is no longer held as
    it was found: its frames rows' hashes changed, a frame left or joined the scene, or one
    of them has a ROI. Run inside the write that counts the others (writers take turns: the
    answer holds until it commits); the digests are not joined again."""
    if found.num_rows == 0:
        return pa.array([], pa.int64())
    with registered(con, _SCENE_LINES, found):
        held = con.sql(_SCENES_HELD).fetchnumpy()["n"]
    numbers = int64s(found["n"])
    return pa.array(numbers[~np.isin(numbers, np.asarray(held, dtype=np.int64))], pa.int64())


def record_scenes(
    con: duckdb.DuckDBPyConnection, file: int, rows: pa.Table, lines: pa.Table, since: int = 0
) -> int:
    """Keep the digests of scene lines of the file `file` whose frames are all stored (in
    the transaction that stored the last of them): `rows` (id, line) their frames, `lines`
    (line, digest, line_bytes, frames) each line once. The frames are found by id among the
    keys from `since` on, then (for lines not all found there: frames the writer left as
    they were) among all. A line whose frames' keys are not consecutive keeps no digest.
    Returns how many lines were recorded."""
    if lines.num_rows == 0:
        return 0
    with registered(con, _SCENE_ROWS, rows.select(["id", "line"])):
        spans = con.sql(f"{_SCENE_SPANS} AND f.frame_key >= ? GROUP BY b.line", params=[since])
        found = spans.to_arrow_table()
        short = _short(found, lines)
        if len(short) and since > 0:
            with registered(con, _SCENE_LINES, pa.table({"line": short})):
                again = con.sql(
                    f"{_SCENE_SPANS} AND b.line IN (SELECT line FROM {_SCENE_LINES}) "
                    "GROUP BY b.line"
                ).to_arrow_table()
            found = pa.concat_tables(
                [found.filter(pc.invert(pc.is_in(found["line"], value_set=short))), again]
            )
    with registered(con, _SCENE_LINES, lines), registered(con, _SCENE_ROWS, found):
        kept = con.sql(
            f"SELECT ?::UBIGINT AS file_key, s.line, s.first_key AS frame_key, l.digest, "
            "l.line_bytes, s.frame_hash, l.frames AS sources, 0 AS rois "
            f"FROM {_SCENE_ROWS} s JOIN {_SCENE_LINES} l ON l.line = s.line "
            "WHERE s.frames = l.frames AND s.last_key - s.first_key + 1 = s.frames",
            params=[file],
        ).to_arrow_table()
    if kept.num_rows == 0:
        return 0
    numbers = int64s(kept["line"])
    with registered(con, _SCENE_ROWS, kept):
        con.execute(
            f"DELETE FROM {TABLE} WHERE file_key = ?::UBIGINT AND line BETWEEN ? AND ? "
            f"AND line IN (SELECT line FROM {_SCENE_ROWS})",
            [file, int(numbers.min()), int(numbers.max())],
        )
        con.execute(f"INSERT INTO {TABLE} SELECT * FROM {_SCENE_ROWS} ORDER BY line")
    return kept.num_rows


def _short(found: pa.Table, lines: pa.Table) -> pa.Array:
    """The lines of `lines` of which `found` holds fewer frames than they make."""
    have = dict(zip(int64s(found["line"]).tolist(), int64s(found["frames"]).tolist(), strict=True))
    wanted = zip(int64s(lines["line"]).tolist(), int64s(lines["frames"]).tolist(), strict=True)
    return pa.array([n for n, count in wanted if have.get(n, 0) < count], pa.int64())
