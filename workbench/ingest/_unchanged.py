"""Which frames of a batch the catalog already holds exactly as given, found set-based.

Importing a file again (the update path) would otherwise delete and re-insert every frame,
its sources and its ROIs, and the catalog's checkpoints would then rewrite every row group
holding one: a frame stored with the same values, the same sources and the same ROIs in the
same order is left as it is instead (its `ingested` time and layout keys stay).

The frames rows are compared column by column (a join on the id). Sources and ROIs are
compared by a digest per frame: the number of its rows, the sum of their hashes (DuckDB's
`hash` of the row but its frame_id) and the sum of each hash times the row's position in
the frame plus one, all modulo 2^64, so that the same rows in another order differ. The
hashes are made by the engine, one per row, and summed per frame in numpy: the rows of a
batch come frame by frame, and the stored rows of those frames are read by their frame key
(a range the engine skips the other row groups by) in their stored order, their position
being their rank among their frame's rows. Grouping them in SQL instead (a hash aggregate of
one group per frame, on both sides) took four fifths of the check's CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.model.records import ROI_SCHEMA, SOURCE_SCHEMA
from workbench.store import key_ranges
from workbench.store.arrow import registered
from workbench.store.scratch import dropped_after
from workbench.store.sqlsafe import quote_ident

_EMPTY = pa.array([], pa.string())
NO_KEYS = np.array([], dtype=np.int64)  # no stored frame's key (sorted, int64, as keys are)
_SAME = "_wb_same"


def _row(schema: pa.Schema) -> str:
    """The columns of a table of `schema` but its frame_id, as one struct, with each list
    column's length beside it: DuckDB's `hash` gives a NULL list and an empty one the same
    value, so an update changing only that would be taken for unchanged."""
    parts = []
    for f in schema:
        if f.name == "frame_id":
            continue
        name = quote_ident(f.name)
        parts.append(f"{name}: {name}")
        if pa.types.is_list(f.type):
            parts.append(f"{quote_ident('len ' + f.name)}: len({name})")
    return "{" + ", ".join(parts) + "}"


def _sums(groups: np.ndarray, hashes: np.ndarray, count: int) -> np.ndarray:
    """Per group (`groups`: each row's group in [0, count), rows of a group in their order):
    its rows, the sum of their hashes and of each hash times its rank in the group plus one
    (modulo 2^64), as a (count, 3) array of uint64."""
    out = np.zeros((count, 3), dtype=np.uint64)
    if len(groups) == 0:
        return out
    keys = groups
    if np.any(groups[1:] < groups[:-1]):  # the rows of each group together, in order
        order = np.argsort(groups, kind="stable")
        keys, hashes = groups[order], hashes[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    at = np.arange(len(keys))
    rank = at - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    with np.errstate(over="ignore"):
        weighted = hashes * (rank.astype(np.uint64) + np.uint64(1))
    which = keys[starts]
    out[which, 0] = np.diff(np.r_[starts, len(keys)]).astype(np.uint64)
    out[which, 1] = np.add.reduceat(hashes, starts)
    out[which, 2] = np.add.reduceat(weighted, starts)
    return out


def new_sums(con: Any, table: pa.Table, schema: pa.Schema, ids: pa.Array) -> np.ndarray:
    """The digests of the batch's rows `table` for each frame of `ids` (zeros: no rows)."""
    if table.num_rows == 0:
        return np.zeros((len(ids), 3), dtype=np.uint64)
    at = pc.index_in(table["frame_id"], value_set=ids)
    mine = at.is_valid()
    with registered(con, "_wb_new_rows", table.select([f.name for f in schema])):
        hashes = con.sql(f"SELECT hash({_row(schema)}) AS h FROM _wb_new_rows").fetchnumpy()["h"]
    keep = np.asarray(mine.to_numpy(zero_copy_only=False), dtype=bool)
    groups = np.asarray(at.to_numpy(zero_copy_only=False))[keep].astype(np.int64)
    return _sums(groups, np.asarray(hashes, dtype=np.uint64)[keep], len(ids))


def old_sums(
    con: Any, table: str, schema: pa.Schema, keys: np.ndarray, where: str = "TRUE", params: Any = ()
) -> np.ndarray:
    """The digests of the stored rows of `table` (those `where` also selects) of the frames
    with `keys` (sorted, distinct), in the order of `keys`. The ranges of keys as constants:
    the engine reads only the row groups that may hold them (a batch's frames were mostly
    stored together, in a few writes)."""
    with registered(con, "_wb_digest_keys", pa.table({"frame_key": keys})):
        found = con.execute(
            f"SELECT frame_key, rowid AS r, hash({_row(schema)}) AS h FROM {quote_ident(table)}"
            f" WHERE {key_ranges.within('frame_key', keys)} AND ({where})"
            " AND frame_key IN (SELECT frame_key FROM _wb_digest_keys)",
            list(params),
        ).fetchnumpy()
    stored = np.asarray(found["frame_key"], dtype=np.int64)
    rowids = np.asarray(found["r"], dtype=np.int64)
    hashes = np.asarray(found["h"], dtype=np.uint64)
    if len(rowids) > 1 and np.any(rowids[1:] < rowids[:-1]):  # in stored order
        order = np.argsort(rowids, kind="stable")
        stored, hashes = stored[order], hashes[order]
    return _sums(np.searchsorted(keys, stored), hashes, len(keys))


def unchanged_ids(
    con: Any, frames: pa.Table, sources: pa.Table, rois: pa.Table, found: pa.Table | None = None
) -> tuple[pa.Array, bool, np.ndarray, np.ndarray]:
    """The ids of `frames` (ids once each) whose stored frame has the same values, and the
    same sources and ROIs in the same order; whether any frame of `frames` is stored; the
    keys of the stored frames of the others (sorted: those the write replaces); and the
    keys of the frames found unchanged (sorted).

    With `found` (the frames that may be stored among them, `id` and `key`: the candidates
    of store/layout_hashes.py) only those frames rows are read, by their keys, each stored if
    its row there has its id; without it the frames are joined on id."""
    columns = [c for c in frames.column_names if c != "ingested"]
    same = " AND ".join(
        f"f.{quote_ident(c)} IS NOT DISTINCT FROM n.{quote_ident(c)}" for c in columns if c != "id"
    )
    if found is not None and found.num_rows == 0:
        return _EMPTY, False, NO_KEYS, NO_KEYS
    stored_frames = "frames f ON f.id = n.id"
    if found is not None:  # their keys' ranges as constants: only their row groups are read
        keys = np.sort(found["key"].to_numpy().astype(np.int64))
        stored_frames = (
            f"_wb_found c ON c.id = n.id JOIN frames f ON f.frame_key = c.key AND f.id = n.id"
            f" AND {key_ranges.within('f.frame_key', keys)}"
        )
    with (
        registered(con, "_wb_new_frames", frames.select(columns)),
        registered(con, "_wb_found", found if found is not None else pa.table({"id": _EMPTY})),
    ):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_SAME} AS SELECT n.id, f.frame_key,"
            f" coalesce({same or 'true'}, false) AND f.frame_key IS NOT NULL AS same"
            f" FROM _wb_new_frames n JOIN {stored_frames}"
        )
    with dropped_after(con, _SAME):
        found_keys = con.sql(f"SELECT frame_key, same FROM {_SAME}").fetchnumpy()
        stored = len(found_keys["same"]) > 0
        differ = ~np.asarray(found_keys["same"], dtype=bool)
        replaced = np.asarray(found_keys["frame_key"][differ], dtype=np.int64)
        equal = con.sql(
            f"SELECT id, frame_key FROM {_SAME} WHERE same ORDER BY frame_key"
        ).to_arrow_table()
        if equal.num_rows == 0:
            return _EMPTY, stored, _keys(replaced), NO_KEYS
        ids = equal["id"].combine_chunks()
        keys = equal["frame_key"].to_numpy().astype(np.int64)
        kept = np.ones(len(keys), dtype=bool)
        for table, schema, name in (
            (sources, SOURCE_SCHEMA, "sources"),
            (rois, ROI_SCHEMA, "rois"),
        ):
            new = new_sums(con, table, schema, ids)
            old = old_sums(con, name, schema, keys)
            kept &= np.all(new == old, axis=1)
    changed = _keys(np.concatenate([replaced, keys[~kept]]))
    return ids.filter(pa.array(kept)), True, changed, keys[kept]


def _keys(keys: np.ndarray) -> np.ndarray:
    """`keys` sorted and once each, no NULL (a lake-backed catalog's frames may have none)."""
    if isinstance(keys, np.ma.MaskedArray):
        keys = keys.compressed()
    return np.unique(np.asarray(keys, dtype=np.int64))


def without(table: pa.Table, column: str, ids: pa.Array) -> pa.Table:
    """The rows of `table` whose `column` is not one of `ids`."""
    if len(ids) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table[column], value_set=ids)))


def without_ids(ids: pa.Array, leave: pa.Array) -> pa.Array:
    """`ids` but those of `leave`."""
    if len(leave) == 0:
        return ids
    return ids.filter(pc.invert(pc.is_in(ids, value_set=leave)))
