"""New frames inserted with their layout already in the rows (store/layout.py).

`layout.sync` keys what a transaction wrote by UPDATEs after the INSERTs: every new row of
frames, sources and ROIs is written twice, and the commit then writes the updated rows again
(measured: about 1.7 s of CPU for 200,000 frames with 800,000 ROIs, more than the INSERTs).
A writer that stores frames not already in the catalog, with their sources and ROIs in one
batch, can instead give each row its frame key, label key and promoted metadata columns in
the INSERT itself, and summarise the batch from the rows it inserts; `sync` then has nothing
left to do for them. The keys are exactly those `sync` would give: frames numbered in
insertion order from `next_frame_key`, label keys numbered by `layout.add_label_keys`.

The frames' context keys are found by the hashes of their context ids (store/layout_hashes.py,
whose rows for the new frames and contexts are added here: a write's look-ups cost the
batch's size, not the catalog's), the values keys by a join of the keys alone, and both placed
by frame key, so the INSERT takes the rows as they come (no join and sort of the wide rows),
and the summaries are made from the keys in hand (store/layout_arrays.py), not read back;
so are the whole catalog's summaries of the new frames (store/summaries_batch.py).

Rows whose frame is not in the batch are inserted without keys, for `sync` to key as before.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.model.records import PROMOTED_KEYS
from workbench.store import (
    groups,
    key_ranges,
    layout,
    layout_arrays,
    layout_hashes,
    line_digests,
    summaries,
    summaries_batch,
)
from workbench.store.arrow import registered
from workbench.store.scratch import dropped_after
from workbench.store.sqlsafe import quote_ident

Con = duckdb.DuckDBPyConnection


def insert_keyed(con: Con, frames: pa.Table, sources: pa.Table, rois: pa.Table) -> bool:
    """Insert frames none of which is stored, with their sources and ROIs, keyed and
    summarised, inside the caller's transaction; returns whether metadata keys were
    promoted to new columns (as `layout.sync` does when frames are added)."""
    if frames.num_rows == 0:
        return False
    first = layout.next_frame_key(con)
    count = frames.num_rows
    derived = [c for c in (layout.CONTEXT_KEY, layout.VALUES_KEY) if c in frames.column_names]
    frames = frames.drop_columns(derived)  # derived here, never taken from the rows
    keys = pa.array(np.arange(first, first + count, dtype=np.int64))
    keyed, later = _with_keys(con, frames.append_column("frame_key", keys), first)
    with registered(con, "_wb_keyed", keyed):  # in key order already: no ORDER BY
        # keys promoted now are filled by the INSERT (as `layout.sync` promotes after one)
        changed = layout.promote_while_small(con, "_wb_keyed", count)
        promoted = layout.promoted_columns(con)
        columns = "".join(
            f", json_extract_string(metadata, ?) AS {quote_ident(column)}"
            for column in promoted.values()
        )
        con.execute(
            f"INSERT INTO frames BY NAME SELECT *{columns} FROM _wb_keyed",
            [layout.pointer(key) for key in promoted],
        )
    if later:  # a batch without the promoted keys' columns
        layout.key_values(con, "frame_key >= ?", [first])
    layout.set_next_frame_key(con, first + count)
    with registered(con, "_wb_keyed", keyed.select(["id", "frame_key"])):
        rows = "SELECT id, frame_key FROM _wb_keyed"
        layout_hashes.added(con, layout_hashes.FRAMES, first, first + count, rows)
    summaries_batch.count_new(con, first, keyed)  # from the keys in hand, not read back
    ids = frames["id"].combine_chunks()
    if sources.num_rows:
        keyed = sources.append_column("frame_key", _frame_keys(sources, ids, first))
        with registered(con, "_wb_keyed", keyed):
            con.execute("INSERT INTO sources BY NAME SELECT * FROM _wb_keyed")
    frame_keys = _frame_keys(rois, ids, first)
    label_keys = roi_label_keys(con, rois) if rois.num_rows else pa.array([], pa.int32())
    if rois.num_rows:
        keyed = rois.append_column("frame_key", frame_keys).append_column("label_key", label_keys)
        with registered(con, "_wb_keyed", keyed):
            con.execute("INSERT INTO rois BY NAME SELECT * FROM _wb_keyed")
    _summarise(con, keys.to_numpy(), frame_keys, label_keys, rois["confidence"])
    return changed


def _summarise(
    con: Con, frames: np.ndarray, frame_keys: pa.Array, label_keys: pa.Array, confidence: Any
) -> None:
    """The summaries of the batch's frames (`frames`, in key order) from its ROIs' keys (a
    NULL frame key: a ROI of a frame outside the batch, summarised by `layout.sync`)."""
    mine = np.asarray(frame_keys.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    keys = frame_keys.to_numpy(zero_copy_only=False)[mine].astype(np.int64)
    labels = label_keys.to_numpy(zero_copy_only=False)[mine].astype(np.int32)
    kept = confidence.combine_chunks().filter(pa.array(mine))
    layout_arrays.store(con, frames, keys, labels, kept)


def _with_keys(con: Con, frames: pa.Table, first: int) -> tuple[pa.Table, bool]:
    """The batch's frames (with their `frame_key`s from `first` on, in order) with their
    context and values keys (the keys their contexts and values lack added first), and
    whether the values keys are left to set after the INSERT (the batch lacks some promoted
    key's column). The contexts' keys are found by their ids' hashes (store/layout_hashes.py:
    a read of integers, not of every context id); the values' keys by a join of the few
    value_keys rows, put back in the frames' order by frame key (the wide rows never sorted)."""
    later = False
    if frames["context_id"].null_count:  # as the INSERT would refuse it, not left unkeyed
        raise duckdb.ConstraintException("NOT NULL constraint failed: frames.context_id")
    if layout.has_context_keys(con):  # looked up by hash, not joined on every context id
        placed = layout_hashes.context_keys(con, frames.select(["context_id", "frame_key"]))
        frames = frames.append_column(layout.CONTEXT_KEY, pa.array(placed, pa.int32()))
    if layout.has_values_keys(con):
        later = not set(PROMOTED_KEYS) <= set(frames.column_names)
        if not later:
            with registered(con, "_wb_keyed", frames):
                layout.add_values_keys(con, "SELECT * FROM _wb_keyed", [])
                found = con.execute(
                    f"SELECT t.frame_key, k.{layout.VALUES_KEY} FROM _wb_keyed t"
                    f" JOIN {layout.VALUE_KEYS} k ON {layout.same_values('k', 't')}"
                ).fetchnumpy()
            at = np.asarray(found["frame_key"], dtype=np.int64) - first
            if len(at) != frames.num_rows:  # every key was added just above
                raise RuntimeError("a frame of the batch found no values key")
            placed = np.empty(frames.num_rows, dtype=np.int32)
            placed[at] = np.asarray(found[layout.VALUES_KEY], dtype=np.int32)
            frames = frames.append_column(layout.VALUES_KEY, pa.array(placed, pa.int32()))
    return frames, later


def _frame_keys(rows: pa.Table, ids: pa.Array, first: int) -> pa.Array:
    """The key of each row's frame among the batch's `ids` (NULL: not in the batch): the
    frames' own keys when the rows are one per frame in the frames' order (one source per
    frame, as most formats give), checked in a fifth of the CPU of a look-up by id. No rows
    (a write without ROIs): none, without the look-up's hash set of the batch's ids (0.017 s
    per 100,000 frames)."""
    if rows.num_rows == 0:
        return pa.array([], pa.int64())
    given = rows["frame_id"]
    if rows.num_rows == len(ids) and given.null_count == 0 and pc.all(pc.equal(given, ids)).as_py():
        return pa.array(np.arange(first, first + len(ids), dtype=np.int64))
    runs = _runs_of(given.combine_chunks(), ids) if rows.num_rows > len(ids) > 0 else None
    if runs is not None:
        return pa.array(np.repeat(np.arange(first, first + len(ids), dtype=np.int64), runs))
    at = pc.index_in(given, value_set=ids)
    return pc.add(at.cast(pa.int64()), pa.scalar(first, pa.int64()))


def _runs_of(given: pa.Array, ids: pa.Array) -> np.ndarray | None:
    """How many rows each frame has when the rows come as one run per frame, the frames in
    the batch's order (a write's ROIs, several a frame, as converted), else None: adjacent
    ids compared, then the runs' first ids against the frames', where a look-up of every
    row's id builds a hash set of the batch's ids first (491,520 ROIs of 122,880 frames:
    0.006 s of CPU against 0.021 s)."""
    if given.null_count:
        return None
    changed = pc.not_equal(given.slice(1), given.slice(0, len(given) - 1))
    starts = np.flatnonzero(np.asarray(changed.to_numpy(zero_copy_only=False), dtype=bool)) + 1
    if len(starts) + 1 != len(ids):
        return None
    starts = np.concatenate([[0], starts])
    if not pc.all(pc.equal(given.take(pa.array(starts)), ids)).as_py():
        return None
    return np.diff(np.append(starts, len(given)))


def keyed_rois(con: Con, rois: pa.Table, frames: str) -> pa.Table:
    """ROI rows of stored frames (among the ids the SELECT `frames` gives) with their frame
    and label keys, as `layout.sync` would give them after the INSERT (which then has only
    their frames' summaries to compute, not an UPDATE of every new row). A row whose frame is
    not stored is left without keys, for `sync` to mark as it always has."""
    if rois.num_rows == 0:
        return rois
    stored = con.sql(
        f"SELECT id, frame_key FROM frames WHERE frame_key IS NOT NULL AND id IN ({frames})"
    ).to_arrow_table()
    at = pc.index_in(rois["frame_id"], value_set=stored["id"].combine_chunks())
    frame_keys = pc.take(stored["frame_key"].combine_chunks().cast(pa.int64()), at)
    keyed = rois.append_column("frame_key", frame_keys)
    return keyed.append_column("label_key", roi_label_keys(con, rois))


# The stored frames a write replaces ROIs of (`replacing_rois`), until `rois_replaced`.
_REPLACED = "_wb_rois_replaced"
_PLACED = "_wb_rois_replaced_groups"  # and their frame groups


def replacing_rois(con: Con, frame_ids: str) -> None:
    """Name, inside the caller's transaction, the stored frames (`frame_ids`: a query of
    ids) of which the write replaces ROIs and nothing else, by rows keyed as inserted
    (`keyed_rois`); `rois_replaced` then summarises them again after the INSERT. Unlike
    `layout.touch`, their frames rows stay as they are, so nothing of theirs is keyed again
    at the commit (contexts, values, promoted columns, the other ROIs' label keys) and the
    catalog's summaries of them (store/summaries.py) hold."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_REPLACED} AS SELECT frame_key FROM frames"
        f" WHERE id IN ({frame_ids}) AND frame_key IS NOT NULL"
    )
    line_digests.forget(con, f"frame_key IN (SELECT frame_key FROM {_REPLACED})")


def rois_replaced(con: Con) -> None:
    """The frames named by `replacing_rois` summarised again from their ROIs as stored now.
    Frame groups counted for the catalog as it is (store/groups.py) have their ROI codes
    counted again for those frames, the rest of them unchanged (nothing of the frames rows
    changed); groups out of date are dropped, as `layout.sync` drops them."""
    which = f"frame_key IN (SELECT frame_key FROM {_REPLACED})"
    columns = groups.current(con, groups.LOCAL, lambda: groups.local_stamp(con))
    with dropped_after(con, _REPLACED, _PLACED):
        if columns is None:
            con.execute(f"DROP TABLE IF EXISTS {layout.GROUPS_STATE}")
        else:
            groups.place(con, columns, which, _PLACED)
            groups.add_codes(con, _PLACED, -1)
        layout.resummarise(con, which)
        if columns is not None:
            groups.add_codes(con, _PLACED, 1)


def roi_label_keys(con: Con, rois: pa.Table) -> pa.Array:
    """Each ROI's label key, adding the (field, label) pairs the catalog has no key for."""
    fields = pc.dictionary_encode(rois["field"].combine_chunks())
    labels = pc.dictionary_encode(rois["label"].combine_chunks())
    width = len(labels.dictionary) + 1  # the last: no label
    at = fields.indices.to_numpy(zero_copy_only=False).astype(np.int64) * width
    at += labels.indices.fill_null(width - 1).to_numpy(zero_copy_only=False).astype(np.int64)
    pairs, inverse = _distinct(at, len(fields.dictionary) * width)
    named = {
        "field": fields.dictionary.take(pa.array(pairs // width)),
        "label": pa.concat_arrays(
            [labels.dictionary.cast(pa.string()), pa.nulls(1, pa.string())]
        ).take(pa.array(pairs % width)),
        "at": pa.array(np.arange(len(pairs), dtype=np.int64)),
    }
    with registered(con, "_wb_pairs", pa.table(named)):
        layout.add_label_keys(con, "SELECT field, label FROM _wb_pairs")
        found = con.execute(
            "SELECT p.at, k.label_key FROM _wb_pairs p JOIN label_keys k"
            " ON k.field = p.field AND k.label IS NOT DISTINCT FROM p.label"
        ).fetchnumpy()
    key_of = np.zeros(len(pairs), dtype=np.int32)
    key_of[np.asarray(found["at"], dtype=np.int64)] = np.asarray(found["label_key"])
    return pa.array(key_of[inverse], pa.int32())


def _distinct(at: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of `at` (each in [0, span)), sorted, and the place of each value
    among them: by counting when the span is small (a twentieth of the CPU of a sort)."""
    if span > max(len(at), 1 << 16):
        pairs, inverse = np.unique(at, return_inverse=True)
        return pairs, inverse.reshape(-1)
    present = np.bincount(at, minlength=span) > 0
    return np.flatnonzero(present), (np.cumsum(present) - 1)[at]


def delete_keyed(con: Con, keys: np.ndarray, ids: pa.Array) -> None:
    """Delete the stored frames with `keys` (sorted, once each), their sources and ROIs, in a
    write that replaces them by frames with the ids `ids`: named for the summaries first, as
    `layout.touch` names frames. Sources and ROIs of those ids stored without a frame
    (NO_FRAME) go too, as a DELETE by id would take them.

    By key, not by id: the keys' range as constants lets the engine read only the row groups
    that may hold them, and a frame key is 8 bytes where the ids are text; found by their ids,
    every stored id was read each time (0.1 s a write of 122,880 frames per million stored).
    Every row of a local catalog has its frame's key once its transaction commits (`sync`)."""
    if len(keys) == 0:
        return
    within = key_ranges.within("frame_key", keys)  # a cluster's range each, as constants
    gone = pa.table({"frame_key": pa.array(keys, pa.int64())})
    with registered(con, "_wb_gone", gone), registered(con, "_wb_gone_ids", pa.table({"id": ids})):
        con.execute("INSERT INTO _layout_pending SELECT frame_key FROM _wb_gone")
        summaries.remember(con)  # what they hold before the write, for the catalog's summaries
        # their ids' hashes too: left, each would stay a candidate of every later update
        for table in ("rois", "sources", "frames", layout_hashes.FRAMES):
            con.execute(
                f"DELETE FROM {table} WHERE {within}"
                " AND frame_key IN (SELECT frame_key FROM _wb_gone)"
            )
        for table in ("rois", "sources"):
            con.execute(
                f"DELETE FROM {table} WHERE frame_key = {layout.NO_FRAME}"
                " AND frame_id IN (SELECT id FROM _wb_gone_ids)"
            )
