"""A view's ROIs of one field, only the columns an export writes, for the export's own SQL.

The query layer knows a view's plan and registers a read that selects those columns alone,
joined to the view's frames by integer key (workbench.query.export_read): its SQL, for the
export to hold in its own statement, or its rows when the view holds SQL a person typed (they
are read through the view's guard and time limit). A view no read knows is read through
`rois()` and narrowed here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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


# (view, field, columns) -> the read, or None for a view it does not know.
FieldRead = Callable[[ViewLike, str, Sequence[str]], Read | None]
_READS: list[FieldRead] = []
_TABLE = "_wb_narrow_rois"


def register(read: FieldRead) -> None:
    if read not in _READS:
        _READS.append(read)


@contextmanager
def field_rois(
    con: Any, view: ViewLike, field: str, columns: Sequence[str]
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """A SELECT (and its parameters) of the view's ROIs of `field` as its filters leave them,
    valid on `con` while the block runs: `o` (their order in the view: the view's frame
    order, then each frame's stored ROI order) and `columns`, in no particular order."""
    read = next((r for r in (f(view, field, columns) for f in _READS) if r is not None), None)
    if read is None:
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
