"""A view's ROIs of one field, only the columns an export writes, for the export's own SQL.

A view that knows its plan (workbench.query.View) answers `field_rois` with a read that
selects those columns alone, joined to the view's frames by integer key: its SQL, for the
export to hold in its own statement, or its rows when the view holds SQL a person typed (they
are read through the view's guard and time limit). Any other view is read through `rois()`
and narrowed here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest.views import ViewLike
from workbench.store.arrow import registered


@dataclass(frozen=True)
class Read:
    """A SELECT of the ROIs and its parameters, or the ROIs themselves (`table`)."""

    sql: str = ""
    params: tuple[Any, ...] = ()
    table: pa.Table | None = None


@runtime_checkable
class NarrowView(Protocol):
    """A view that reads its ROIs of one field narrowly itself."""

    def field_rois(self, field: str, columns: Sequence[str]) -> Read: ...


_TABLE = "_wb_narrow_rois"


@contextmanager
def field_rois(
    con: Any, view: ViewLike, field: str, columns: Sequence[str]
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """A SELECT (and its parameters) of the view's ROIs of `field` as its filters leave them,
    valid on `con` while the block runs: `o` (their order in the view: the view's frame
    order, then each frame's stored ROI order) and `columns`, in no particular order."""
    if isinstance(view, NarrowView):
        read = view.field_rois(field, columns)
    else:
        read = Read(table=_through_rois(view, field, columns))
    if read.table is None:
        yield read.sql, read.params
        return
    with registered(con, _TABLE, read.table):
        yield f"SELECT * FROM {_TABLE}", ()


def _through_rois(view: ViewLike, field: str, columns: Sequence[str]) -> pa.Table:
    rois = view.rois()
    rois = rois.filter(pc.equal(rois["field"], field))
    if "frame_key" in columns:
        rois = rois.append_column("frame_key", _frame_keys(view, rois["frame_id"]))
    rois = rois.select(list(columns))
    return rois.add_column(0, "o", pa.array(np.arange(1, rois.num_rows + 1, dtype=np.int64)))


def _frame_keys(view: ViewLike, frame_ids: pa.ChunkedArray) -> pa.Array:
    """The frames' integer keys, one per id of `frame_ids`."""
    named = pa.table({"id": pc.unique(frame_ids)})
    con = view.catalog.cursor()
    try:
        with registered(con, "_wb_narrow_ids", named):
            keys = con.sql(
                "SELECT f.id, f.frame_key FROM frames f JOIN _wb_narrow_ids n ON n.id = f.id"
            ).to_arrow_table()
    finally:
        con.close()
    return keys["frame_key"].take(pc.index_in(frame_ids, value_set=keys["id"])).combine_chunks()
