"""Which frames of a batch the catalog already holds exactly as given, found set-based.

Importing a file again (the update path) would otherwise delete and re-insert every frame,
its sources and its ROIs, and the catalog's checkpoints would then rewrite every row group
holding one: a frame stored with the same values, the same sources and the same ROIs in the
same order is left as it is instead (its `ingested` time and layout keys stay).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from workbench.model.records import ROI_SCHEMA, SOURCE_SCHEMA
from workbench.store.arrow import registered
from workbench.store.sqlsafe import quote_ident


def _row(schema: pa.Schema, alias: str) -> str:
    """The columns of a table of `schema` but its frame_id, as one struct."""
    names = [f.name for f in schema if f.name != "frame_id"]
    return "{" + ", ".join(f"{quote_ident(n)}: {alias}.{quote_ident(n)}" for n in names) + "}"


def _positioned(table: pa.Table) -> pa.Table:
    return table.append_column("_pos", pa.array(range(table.num_rows), pa.int64()))


def _query(frame_columns: list[str]) -> str:
    same = " AND ".join(
        f"f.{quote_ident(c)} IS NOT DISTINCT FROM n.{quote_ident(c)}"
        for c in frame_columns
        if c != "id"
    )
    parts, joins, checks = [], [], []
    for key, table, schema in (("s", "sources", SOURCE_SCHEMA), ("r", "rois", ROI_SCHEMA)):
        row = _row(schema, "t")
        parts.append(
            f"new_{key} AS (SELECT frame_id, list({row} ORDER BY _pos) AS l "
            f"FROM _wb_new_{table} t GROUP BY frame_id), "
            f"old_{key} AS (SELECT frame_id, list({row} ORDER BY t.rowid) AS l "
            f"FROM {table} t WHERE frame_id IN (SELECT id FROM c) GROUP BY frame_id)"
        )
        joins.append(
            f"LEFT JOIN new_{key} ON new_{key}.frame_id = c.id "
            f"LEFT JOIN old_{key} ON old_{key}.frame_id = c.id"
        )
        checks.append(f"new_{key}.l IS NOT DISTINCT FROM old_{key}.l")
    return (
        "WITH c AS (SELECT n.id FROM _wb_new_frames n JOIN frames f ON f.id = n.id "
        f"WHERE {same or 'true'}), {', '.join(parts)} "
        f"SELECT c.id FROM c {' '.join(joins)} WHERE {' AND '.join(checks)}"
    )


def unchanged_ids(con: Any, frames: pa.Table, sources: pa.Table, rois: pa.Table) -> pa.Array:
    """The ids of `frames` (rows without `ingested`, ids once each) whose stored frame has the
    same values, and the same sources and ROIs in the same order."""
    columns = [c for c in frames.column_names if c != "ingested"]
    with (
        registered(con, "_wb_new_frames", frames.select(columns)),
        registered(con, "_wb_new_sources", _positioned(sources)),
        registered(con, "_wb_new_rois", _positioned(rois)),
    ):
        found = con.sql(_query(columns)).to_arrow_table()
    return found.column("id").combine_chunks() if found.num_rows else pa.array([], pa.string())


def without(table: pa.Table, column: str, ids: pa.Array) -> pa.Table:
    """The rows of `table` whose `column` is not one of `ids`."""
    if len(ids) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table[column], value_set=ids)))
