"""How a write's checked rows are stored: into a local catalog by key (the stored frames with
the same ids found by their ids' hashes and deleted first), or into a lake-backed one by id.

The writer (workbench.ingest.writer) holds the transaction and the report; these functions
store the rows in it and return the frames of the write this import counted before
(workbench.ingest._counting), as they were stored, for the writer to take back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from workbench.ingest._columnar import ROWS_PER_WRITE, in_row_groups_already
from workbench.ingest._counting import NOTHING, Again, Counted
from workbench.ingest._unchanged import NO_KEYS, unchanged_ids, without
from workbench.store import layout_hashes
from workbench.store.arrow import append_rows, registered
from workbench.store.layout import touch
from workbench.store.layout_insert import delete_keyed, insert_keyed

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog


def store_changed(
    catalog: Catalog,
    counted: Counted,
    con: Any,
    frames: pa.Table,
    sources: pa.Table,
    rois: pa.Table,
) -> Again:
    """Store the frames not already stored exactly as given: the others are left as they
    are rather than deleted and written again (none are on a first import). Returns the
    frames of the batch this import counted before (replaced or found unchanged), as
    they were stored."""
    if frames.num_rows == 0:  # (a batch of frames an importer left unconverted)
        return NOTHING
    lake = catalog.lake is not None
    again = counted.again_ids(con, frames["id"].combine_chunks()) if lake else NOTHING
    if not catalog.has_frames():
        if lake:
            store_lake(con, frames, sources, rois, replace=False)
        else:
            store_keyed(catalog, con, frames, sources, rois, NO_KEYS)
        return again
    found = None  # a local catalog's frames that may be stored, by their ids' hashes
    if not lake:
        ids = frames["id"].combine_chunks()
        found = layout_hashes.candidates(con, layout_hashes.FRAMES, ids)
    same, stored, keys, same_keys = unchanged_ids(con, frames, sources, rois, found)
    if not lake:  # read before the frames replaced are deleted
        counted.replacing(con, keys)
        again = counted.again(con, np.concatenate([keys, same_keys]))
        counted.keep(same_keys)
    if len(same) == frames.num_rows:  # (ids once each) all stored as given: nothing to do
        return again
    frames = without(frames, "id", same)
    sources, rois = without(sources, "frame_id", same), without(rois, "frame_id", same)
    if lake:
        store_lake(con, frames, sources, rois, replace=stored)
    else:
        store_keyed(catalog, con, frames, sources, rois, keys)
    return again


def store_queued(
    catalog: Catalog,
    counted: Counted,
    con: Any,
    frames: pa.Table,
    sources: pa.Table,
    rois: pa.Table,
) -> Again:
    """Store frames queued one by one (the writer's `add`), each replacing any stored frame
    with its id: a local catalog finds those frames' keys by their ids' hashes. Returns the
    frames replaced that this import counted before, as they were stored."""
    if catalog.lake is not None:
        again = counted.again_ids(con, frames["id"].combine_chunks())
        store_lake(con, frames, sources, rois, replace=catalog.has_frames())
        return again
    keys = NO_KEYS
    if frames.num_rows and catalog.has_frames():
        ids = frames["id"].combine_chunks().unique()  # the last queued wins: ids once each
        found = layout_hashes.stored(con, layout_hashes.FRAMES, ids)
        keys = np.unique(found["key"].to_numpy().astype(np.int64))
    counted.replacing(con, keys)
    again = counted.again(con, keys)  # read before they are deleted
    store_keyed(catalog, con, frames, sources, rois, keys)
    return again


def store_keyed(
    catalog: Catalog,
    con: Any,
    frames: pa.Table,
    sources: pa.Table,
    rois: pa.Table,
    keys: np.ndarray,
) -> None:
    """Insert the rows into a local catalog, keyed, first deleting the stored frames with
    `keys` (sorted, once each: the frames with the same ids; none on a first import)."""
    if frames.num_rows == 0:
        return
    frames, sources, rois = whole(frames, sources, rois)
    delete_keyed(con, keys, frames["id"].combine_chunks())
    if insert_keyed(con, frames, sources, rois):  # keyed as they are inserted, not after
        catalog.layout_changes += 1


def store_lake(
    con: Any, frames: pa.Table, sources: pa.Table, rois: pa.Table, *, replace: bool
) -> None:
    """Insert the rows into a lake-backed catalog, first deleting (`replace`: any may be
    stored) the stored frames with the same ids, found by id (its frames may have no key)."""
    if frames.num_rows == 0:
        return
    frames, sources, rois = whole(frames, sources, rois)
    with registered(con, "_wb_frames", frames):
        if replace:
            touch(con, "SELECT id FROM _wb_frames")
            for table in ("rois", "sources"):
                con.execute(f"DELETE FROM {table} WHERE frame_id IN (SELECT id FROM _wb_frames)")
            con.execute("DELETE FROM frames WHERE id IN (SELECT id FROM _wb_frames)")
        con.execute("INSERT INTO frames BY NAME SELECT * FROM _wb_frames")
    append_rows(con, "sources", sources)
    append_rows(con, "rois", rois)


def whole(*tables: pa.Table) -> tuple[pa.Table, ...]:
    """The tables each as one Arrow chunk, unless in chunks of whole row groups already
    (_columnar.in_row_groups) or of one row group's rows at most. The engine stores the rows
    of each chunk an INSERT scans in row groups of their own once a chunk's rows fill one,
    so a larger table of several chunks leaves a part-filled row group per chunk; the next
    checkpoint merges and rewrites such neighbours (it took more CPU than the INSERTs, and
    the most memory of an import, at its close). The rows of a table that fits in one row
    group are gathered into one by the INSERT whatever their chunks (the same row groups as
    from one chunk), so such a table is not copied into one first (a Nucleus write of 100,000
    frames in two chunks: 0.025 s of CPU an import)."""
    return tuple(
        t if t.num_rows <= ROWS_PER_WRITE or in_row_groups_already(t) else t.combine_chunks()
        for t in tables
    )
