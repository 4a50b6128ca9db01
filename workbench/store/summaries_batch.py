"""The whole catalog's summaries (store/summaries.py) of new frames, from the batch in hand.

`summaries.keep`, at the commit, finds the frames stored since the last one by their keys,
copies them to a temporary table and groups them by context and by values key: a read of
rows the write inserted moments before (COCO's 100,000 frames in as many contexts: 0.07 s).
A write that stores new frames with their context and values keys already placed
(layout_insert.insert_keyed) has those columns in Arrow; `count_new` counts them there
(numpy: a sort of integer keys, no read of the frames) and moves the summaries' mark past
them, so that `keep` has nothing to read for them.

Exactly what `keep` would store: a context's frames, its time span, its first frame (by
timestamp, then frame_index, then id, missing values last; ids compared as DuckDB compares
them, byte by byte, as Arrow does). A context that already held frames is summarised again
from all of its frames, in SQL, as `keep` does; a batch counted while frames stored before
it are not (the mark below its first key) is left to `keep` whole.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.store import summaries
from workbench.store.arrow import registered

Con = duckdb.DuckDBPyConnection

# As summaries.first_frame orders frames: missing values after every other.
_LAST = int(summaries.LAST_BIGINT)
_LAST_INT = int(summaries.LAST_INT)


def count_new(con: Con, first: int, frames: pa.Table) -> bool:
    """Count the frames just inserted with keys `first` on (`frames`, in key order, with
    their `context_key` and `values_key`) in the catalog's summaries, inside the caller's
    transaction; returns whether it did (else `keep` counts them at the commit)."""
    mark = summaries.marked(con)
    needed = {"context_key", "values_key", "context_id", "id"}
    if mark != first or frames.num_rows == 0 or not needed <= set(frames.column_names):
        return False
    context_keys = _ints(frames["context_key"], 0)
    _add_values(con, _ints(frames["values_key"], -1), frames["values_key"].null_count > 0)
    _add_contexts(con, frames, context_keys)
    summaries.set_mark(con, first + frames.num_rows)
    return True


def _ints(column: pa.ChunkedArray, missing: int) -> np.ndarray:
    return np.asarray(column.fill_null(missing).to_numpy(), dtype=np.int64)


def _add_values(con: Con, keys: np.ndarray, missing: bool) -> None:
    """The frames of each values key, added to its count (NULL: the key `missing` marks)."""
    found, counts = np.unique(keys, return_counts=True)
    column = pa.array(found, pa.int32(), mask=(found == -1) if missing else None)
    with registered(con, "_wb_values", pa.table({"values_key": column, "n": counts})):
        summaries.add_values(con, "_wb_values", added_only=True)


def _add_contexts(con: Con, frames: pa.Table, keys: np.ndarray) -> None:
    """A row per new context, made from the batch; contexts that held frames before it
    summarised again from their frames."""
    stamps = frames["timestamp"] if "timestamp" in frames.column_names else None
    indexes = frames["frame_index"] if "frame_index" in frames.column_names else None
    ts = _ints(stamps, _LAST) if stamps is not None else np.full(len(keys), _LAST)
    fi = _ints(indexes, _LAST_INT) if indexes is not None else np.full(len(keys), _LAST_INT)
    order = np.lexsort((fi, ts, keys))
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    group = np.repeat(np.arange(len(starts)), sizes)
    has = _valid(stamps)[order] if stamps is not None else np.zeros(len(keys), dtype=bool)
    low = np.minimum.reduceat(np.where(has, ts[order], _LAST), starts)
    high = np.maximum.reduceat(np.where(has, ts[order], np.iinfo(np.int64).min), starts)
    timed = np.add.reduceat(has.astype(np.int64), starts) > 0
    ids = frames["id"].combine_chunks()
    first_ids = _first_ids(ids, order, starts, group, ts[order], fi[order])
    rows = pa.table(
        {
            "context_key": pa.array(ordered[starts], pa.int32()),
            "context_id": frames["context_id"].combine_chunks().take(pa.array(order[starts])),
            "frames": pa.array(sizes, pa.int64()),
            "first_timestamp": pa.array(low, pa.int64(), mask=~timed),
            "last_timestamp": pa.array(high, pa.int64(), mask=~timed),
            "first_frame_id": first_ids,
        }
    )
    with registered(con, "_wb_contexts_new", rows):
        summaries.add_contexts(con, "_wb_contexts_new")


def _valid(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _first_ids(
    ids: pa.Array,
    order: np.ndarray,
    starts: np.ndarray,
    group: np.ndarray,
    ts: np.ndarray,
    fi: np.ndarray,
) -> pa.Array:
    """Each context's first frame's id: the first of its rows by (timestamp, frame_index)
    (`order`), or the smallest id among the rows that tie with it there."""
    first = ids.take(pa.array(order[starts]))
    tied = (ts == ts[starts][group]) & (fi == fi[starts][group])
    tied[starts] = False
    if not tied.any():
        return first
    groups = np.unique(group[tied])
    tied[starts[groups]] = True  # with each tied group's first row
    among = pa.table({"g": group[tied], "id": ids.take(pa.array(order[tied]))})
    smallest = among.group_by("g").aggregate([("id", "min")])
    at = np.asarray(smallest["g"].to_numpy(), dtype=np.int64)
    placed = np.argsort(at)  # replacements in the order of the places they go
    mask = np.zeros(len(first), dtype=bool)
    mask[at] = True
    values = smallest["id_min"].combine_chunks().take(pa.array(placed))
    return pc.replace_with_mask(first, pa.array(mask), values.cast(first.type))
