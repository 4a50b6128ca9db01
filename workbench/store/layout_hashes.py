"""Stored frames and contexts found by the hash of their id (local catalogs, schema 15).

A write looks up the batch's frame ids among the stored frames (the unchanged check of
ingest/_unchanged.py: is any of them stored, and which?) and its context ids among the
keyed contexts (layout.CONTEXT_KEYS: which already have a key?). Joined on the text ids,
each look-up read every stored id and built or probed a hash table of them: their cost grew
with the catalog (at 3.7M frames, one context per frame as COCO gives, 0.6 s of a write's
1.3 s went to them; 4-5 s of a write at 19M). The ids sort in no order the frames are
stored in, so no zone map narrows such a join.

Beside them, each stored frame's and context's id hashed (DuckDB's `hash`, 64 bits) with its
key, in two narrow tables of integers: `_frame_hashes(h, frame_key)`, `_context_hashes(h,
context_key)`. A batch's ids are hashed and joined on `h` (a scan of 8-byte integers, about
a twentieth of the CPU of the text join), and only the candidates found are checked against
their frames or contexts rows by key (`f.frame_key = c.frame_key AND f.id = c.id`, their
keys' ranges as constants so the engine reads their row groups only): a first import finds
no candidate and reads no frames row. A hash equal by chance, or the row of a frame deleted
since (a write replacing frames removes their rows, `layout_insert.delete_keyed`; other
deletes leave them), is no candidate after that check.

Each table counts the keys below a mark (`meta`, with the engine's version: another version
may hash otherwise, and the table is then filled again). The new frames' and contexts' rows
are added by the write that keys them (layout_insert.insert_keyed); a look-up first hashes
whatever was keyed past the mark by other ways (`layout.sync`, the layout's migrations), a
read of those keys' row groups only. Frame and context keys are given in increasing order
and never reused, so a key below the mark is hashed.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.store import key_ranges, layout
from workbench.store.arrow import registered

Con = duckdb.DuckDBPyConnection

FRAMES = "_frame_hashes"
CONTEXTS = "_context_hashes"
TABLES = (
    f"CREATE TABLE IF NOT EXISTS {FRAMES} (h UBIGINT NOT NULL, frame_key BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {CONTEXTS} (h UBIGINT NOT NULL, context_key INTEGER NOT NULL)",
)
# table -> (its key column, the table and id column it hashes, its mark in `meta`)
_OF = {
    FRAMES: ("frame_key", "frames", "id", "hashed_frames"),
    CONTEXTS: ("context_key", layout.CONTEXT_KEYS, "context_id", "hashed_contexts"),
}


def _mark(con: Con, table: str) -> tuple[int, bool]:
    """The key below which `table` holds every stored row's hash (0: none, or hashed by
    another version of the engine, whose rows are then deleted), and whether this engine's
    mark is noted."""
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [_OF[table][3]]).fetchall()
    if not rows:
        return 0, False
    mark, _, engine = str(rows[0][0]).partition(" ")
    if engine != duckdb.__version__:
        con.execute(f"DELETE FROM {table}")
        return 0, False
    return int(mark), True


def _set_mark(con: Con, table: str, value: int) -> None:
    con.execute(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        [_OF[table][3], f"{value} {duckdb.__version__}"],
    )


def caught_up(con: Con, table: str) -> int:
    """Hash the rows keyed past `table`'s mark (a read of their row groups only); returns
    the new mark: the next frame key (layout.next_frame_key: no frame takes a smaller one
    again), or one past the largest context key (the next context's)."""
    key, source, column, _ = _OF[table]
    mark, noted = _mark(con, table)
    following = layout.next_frame_key(con) if table == FRAMES else None
    if noted and following is not None and mark >= following:
        return mark  # no frame keyed since: nothing to read
    top = con.execute(f"SELECT max({key}) + 1 FROM {source} WHERE {key} >= {int(mark)}")
    last = top.fetchall()[0][0]
    if last is not None:
        con.execute(
            f"INSERT INTO {table} SELECT hash({column}), {key} FROM {source}"
            f" WHERE {key} BETWEEN {int(mark)} AND {int(last) - 1}"
        )
    new = max(mark, int(last or 0), following or 0)
    # A mark of 0 says what no mark says (nothing hashed): an empty catalog's first write
    # notes its mark once, when it adds rows (`added`), not here as well.
    if new != mark or (not noted and new > 0):
        _set_mark(con, table, new)
    return new


def added(con: Con, table: str, first: int, top: int, rows: str) -> None:
    """Note the rows just keyed `first` to `top` - 1 (`rows`: a query of their (id, key)):
    hashed when the table counts every key below `first`, else left to the next look-up's
    catch-up (which would otherwise hash them twice)."""
    if top > first and _mark(con, table)[0] == first:
        _hashed(con, table, top, rows)


def _hashed(con: Con, table: str, top: int, rows: str) -> None:
    """Hash the rows `rows` (a query of their (id, key)) keyed from `table`'s mark on, up
    to `top`, which becomes the mark."""
    con.execute(f"INSERT INTO {table} SELECT hash(i), k FROM ({rows}) t(i, k)")
    _set_mark(con, table, top)


def candidates(con: Con, table: str, ids: pa.Array) -> pa.Table:
    """The rows (`id`, `key`) that may be stored among `ids` (distinct): those whose hash is
    that of a stored row's id. Each is stored only if its row by key has that id (a hash
    equal by chance, or a row deleted since, is not): the caller checks, or `stored`."""
    caught_up(con, table)
    return _candidates(con, table, ids)


def _candidates(con: Con, table: str, ids: pa.Array) -> pa.Table:
    """`candidates`, `table` caught up already."""
    key = _OF[table][0]
    with registered(con, "_wb_hash_ids", pa.table({"id": ids})):
        return con.sql(
            f"SELECT n.id, x.{key} AS key FROM (SELECT id, hash(id) AS h FROM _wb_hash_ids) n"
            f" JOIN {table} x ON x.h = n.h"
        ).to_arrow_table()


def stored(con: Con, table: str, ids: pa.Array) -> pa.Table:
    """The stored rows (`id`, `key`) among `ids` (distinct): the candidates by hash, each
    checked against its row by key (their keys' ranges as constants, store/key_ranges.py:
    only their row groups are read)."""
    caught_up(con, table)
    return _checked(con, table, _candidates(con, table, ids))


def _checked(con: Con, table: str, found: pa.Table) -> pa.Table:
    """The candidates `found` whose row by key has their id."""
    if found.num_rows == 0:
        return found
    key, source, column, _ = _OF[table]
    keys = np.unique(found["key"].to_numpy(zero_copy_only=False).astype(np.int64))
    with registered(con, "_wb_hash_found", found):
        return con.sql(
            f"SELECT DISTINCT c.id, s.{key} AS key FROM _wb_hash_found c JOIN {source} s"
            f" ON s.{key} = c.key AND s.{column} = c.id"
            f" WHERE {key_ranges.within(f's.{key}', keys)}"
        ).to_arrow_table()


def context_keys(con: Con, frames: pa.Table) -> np.ndarray:
    """Each frame's context key (`frames`: `context_id` and `frame_key`, none NULL), the
    contexts without one keyed first, numbered after the last in the order of their first
    frame (as layout.add_context_keys numbers them).

    The context ids are hashed once (a dictionary of the batch's contexts, in the order they
    first appear, and each frame's place in it): a grouping for their first frames and a
    look-up of every frame's context id among them hashed them twice (COCO's 100,000
    contexts of as many frames: 0.013 s of CPU against 0.031 s)."""
    given = pc.dictionary_encode(frames["context_id"].combine_chunks())
    ids = given.dictionary
    at = np.asarray(given.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    top = caught_up(con, CONTEXTS)  # the mark: one past the largest key
    key_of = np.full(len(ids), -1, dtype=np.int64)
    if top:  # else no context is keyed yet (a new catalog's first write): none to look up
        found = _checked(con, CONTEXTS, _candidates(con, CONTEXTS, ids))
        placed = pc.index_in(found["id"], value_set=ids).to_numpy(zero_copy_only=False)
        key_of[placed[::-1]] = found["key"].to_numpy()[::-1]  # the first found, as before
    new = np.flatnonzero(key_of < 0)
    first = _first_frames(np.asarray(frames["frame_key"].to_numpy(), dtype=np.int64), at, ids)
    if first is not None:  # else the dictionary's order is their first frames' already
        new = new[np.argsort(first[new], kind="stable")]
    key_of[new] = np.arange(top, top + len(new))
    if len(new):
        rows = pa.table({"id": ids.take(pa.array(new)), "key": pa.array(key_of[new], pa.int32())})
        with registered(con, "_wb_new_contexts", rows):
            con.execute(
                f"INSERT INTO {layout.CONTEXT_KEYS} (context_id, context_key)"
                " SELECT id, key FROM _wb_new_contexts"
            )
            _hashed(con, CONTEXTS, top + len(new), "SELECT id, key FROM _wb_new_contexts")
    return key_of[at].astype(np.int32)


def _first_frames(keys: np.ndarray, at: np.ndarray, ids: pa.Array) -> np.ndarray | None:
    """Each context's first frame key (`at`: each frame's context), or None when the frames
    come in key order: the contexts, as they first appear, are in that order already."""
    if bool(np.all(keys[1:] >= keys[:-1])):
        return None
    first = np.full(len(ids), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, at, keys)
    return first
