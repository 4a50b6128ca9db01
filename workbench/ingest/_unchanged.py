"""Which frames of a batch the catalog already holds exactly as given, found set-based.

Importing a file again (the update path) would otherwise delete and re-insert every frame,
its sources and its ROIs, and the catalog's checkpoints would then rewrite every row group
holding one: a frame stored with the same values, the same sources and the same ROIs in the
same order is left as it is instead (its `ingested` time and layout keys stay).

Sources and ROIs are compared by their count and the sum of the hashes of (row, position in
the frame): the stored position is the row's distance from the frame's first row, as the rows
of a frame are stored together in the order given. A frame whose rows were not (some ROIs
replaced later) compares as changed, and is replaced as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.model.records import ROI_SCHEMA, SOURCE_SCHEMA
from workbench.store.arrow import registered
from workbench.store.sqlsafe import quote_ident

_EMPTY = pa.array([], pa.string())


def _row(schema: pa.Schema) -> str:
    """The columns of a table of `schema` but its frame_id, as one struct."""
    names = [f.name for f in schema if f.name != "frame_id"]
    return "{" + ", ".join(f"{quote_ident(n)}: {quote_ident(n)}" for n in names) + "}"


def _ranked(table: pa.Table) -> pa.Table:
    """`table` (rows of a frame together, in order) with each row's position in its frame."""
    count = table.num_rows
    at = np.arange(count, dtype=np.int64)
    if count:
        ids = table["frame_id"].combine_chunks()
        starts = np.ones(count, dtype=bool)
        starts[1:] = pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False)
        at = at - np.maximum.accumulate(np.where(starts, at, 0))
    return table.append_column("_rank", pa.array(at, pa.int64()))


def _digests(key: str, table: str, schema: pa.Schema) -> str:
    """The count and hash sum of the rows of each frame in `_wb_same`, new and stored. A stored
    row's position is its distance from its frame's first row id (found by an aggregate and
    joined: a window over every row costs about twice as much)."""
    row = _row(schema)
    return (
        f"new_{key} AS (SELECT frame_id, count(*) AS n, sum(hash({row}, _rank)) AS h "
        f"FROM _wb_new_{table} WHERE frame_id IN (SELECT id FROM _wb_same) GROUP BY frame_id), "
        f"old_{key} AS (SELECT t.frame_id, count(*) AS n, "
        f"sum(hash({row}, t.rowid - f._wb_first)) AS h FROM {table} t JOIN ("
        f"SELECT frame_id, min(rowid) AS _wb_first FROM {table} "
        f"WHERE frame_id IN (SELECT id FROM _wb_same) GROUP BY frame_id) f "
        f"ON f.frame_id = t.frame_id GROUP BY t.frame_id)"
    )


_QUERY = (
    f"WITH {_digests('s', 'sources', SOURCE_SCHEMA)}, {_digests('r', 'rois', ROI_SCHEMA)} "
    "SELECT c.id FROM _wb_same c "
    + " ".join(
        f"LEFT JOIN new_{k} ON new_{k}.frame_id = c.id LEFT JOIN old_{k} ON old_{k}.frame_id = c.id"
        for k in "sr"
    )
    + " WHERE "
    + " AND ".join(
        f"new_{k}.n IS NOT DISTINCT FROM old_{k}.n AND new_{k}.h IS NOT DISTINCT FROM old_{k}.h"
        for k in "sr"
    )
)


def unchanged_ids(
    con: Any, frames: pa.Table, sources: pa.Table, rois: pa.Table
) -> tuple[pa.Array, bool]:
    """The ids of `frames` (ids once each; their sources and ROIs together, frame by frame)
    whose stored frame has the same values, and the same sources and ROIs in the same order;
    and whether any frame of `frames` is stored at all."""
    columns = [c for c in frames.column_names if c != "ingested"]
    same = " AND ".join(
        f"f.{quote_ident(c)} IS NOT DISTINCT FROM n.{quote_ident(c)}" for c in columns if c != "id"
    )
    with registered(con, "_wb_new_frames", frames.select(columns)):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _wb_same AS SELECT n.id, "
            f"coalesce({same or 'true'}, false) AS same "
            "FROM _wb_new_frames n JOIN frames f ON f.id = n.id"
        )
    try:
        stored, equal = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE same) FROM _wb_same"
        ).fetchall()[0]
        if not equal:
            return _EMPTY, bool(stored)
        con.execute("DELETE FROM _wb_same WHERE NOT same")
        with (
            registered(con, "_wb_new_sources", _ranked(sources)),
            registered(con, "_wb_new_rois", _ranked(rois)),
        ):
            found = con.sql(_QUERY).to_arrow_table()
    finally:
        con.execute("DROP TABLE IF EXISTS _wb_same")
    return (found.column("id").combine_chunks() if found.num_rows else _EMPTY), True


def without(table: pa.Table, column: str, ids: pa.Array) -> pa.Table:
    """The rows of `table` whose `column` is not one of `ids`."""
    if len(ids) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table[column], value_set=ids)))
