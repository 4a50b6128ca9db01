"""The rows of a batch of ClearML lines that are stored, picked in line order: those the SQL
made (workbench.ingest._clearml_sql's FRAMES, SOURCES and ROIS) of the lines kept, and those
the per-record path made, as the catalog writer takes them (workbench.ingest._columnar's
FRAME_ROWS, SOURCE_ROWS, ROI_ROWS)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest._columnar import FRAME_ROWS, ROI_ROWS, SOURCE_ROWS


def fetch_items(
    con: duckdb.DuckDBPyConnection, query: str, table: str, schema: pa.Schema
) -> pa.Table:
    """The sources or ROIs (`table`) of the lines in `_wb_keep`, in the order of their lines
    and, within a line, of the line's list. When every line of the table is kept they are
    read as stored (in that order, as the conversion made them: checked, sorted if not)
    rather than filtered and sorted by the engine."""
    dropped = con.execute(
        f"SELECT count(*) FROM {table} WHERE n NOT IN (SELECT n FROM _wb_keep)"
    ).fetchall()[0][0]
    keep = "WHERE n IN (SELECT n FROM _wb_keep)" if dropped else ""
    rows = con.sql(query.format(keep=keep)).to_arrow_table()
    return _in_line_order(rows).cast(schema)


def kept_frames(frames: pa.Table | None, keep: pa.Array) -> pa.Table:
    """The frame rows the SQL made (`frames`, from sql.FRAMES) of the lines `keep`,
    in FRAME_ROWS' form and in line order."""
    if frames is None:
        return FRAME_ROWS.empty_table()
    names = [name for name in FRAME_ROWS.names if name != "_line"]
    rows = _of_kept(frames, keep).select([*names, "n"]).rename_columns([*names, "_line"])
    line = rows["_line"].to_numpy()
    if not np.all(line[1:] > line[:-1]):
        rows = rows.take(pc.sort_indices(rows, [("_line", "ascending")]))
    return rows.cast(FRAME_ROWS)


# The source row FRAMES makes of a frame of one source: its columns there, in SOURCE_ROWS' order.
_ONE_SOURCE = ("id", "id1", "uri1", "width1", "height1", "content_type1", "timestamp1", "preview1")


def kept_sources(frames: pa.Table | None, keep: pa.Array) -> pa.Table:
    """The sources of the frames of one source (`id1` given) the SQL made (sql.FRAMES) of
    the lines `keep`, in SOURCE_ROWS' form and in line order."""
    if frames is None or frames.num_rows == 0:
        return SOURCE_ROWS.empty_table()
    rows = _of_kept(frames, keep)
    if rows["id1"].null_count:
        rows = rows.filter(pc.is_valid(rows["id1"]))
    names = [name for name in SOURCE_ROWS.names if name not in ("masks", "_line")]
    table = rows.select([*_ONE_SOURCE, "n"]).rename_columns([*names, "_line"])
    masks = pa.nulls(table.num_rows, pa.string())
    table = table.add_column(len(names), "masks", masks).cast(SOURCE_ROWS)
    line = table["_line"].to_numpy()
    if not np.all(line[1:] > line[:-1]):
        table = table.take(pc.sort_indices(table, [("_line", "ascending")]))
    return table


def kept_rois(rois: pa.Table | None, keep: pa.Array) -> pa.Table:
    """The ROI rows the SQL made (`rois`, from sql.ROIS) of the lines `keep`, in
    ROI_ROWS' form and in the order of their lines and, within a line, of its list."""
    if rois is None:
        return ROI_ROWS.empty_table()
    names = [name for name in ROI_ROWS.names if name != "_line"]
    rows = _of_kept(rois, keep)
    at = rows.schema.get_field_index("ring")
    rows = rows.set_column(at, "geometry", geometry_of(rows["ring"]))
    rows = rows.select([*names, "n", "k"])
    return _in_line_order(rows.rename_columns([*names, "_line", "_k"])).cast(ROI_ROWS)


def geometry_of(rings: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each ROI's geometry from its one ring (its values; none for a classification): a list
    of that ring, or an empty list. The rings' values are not copied unless some ROI has
    none."""
    chunks = []
    for chunk in rings.chunks:
        filled = pc.fill_null(pc.greater(pc.list_value_length(chunk), 0), False)
        some = filled.to_numpy(zero_copy_only=False)
        values = chunk if some.all() else chunk.filter(filled)
        offsets = np.concatenate(([0], np.cumsum(some, dtype=np.int32)))
        chunks.append(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values))
    return pa.chunked_array(chunks, pa.list_(rings.type))


def _of_kept(rows: pa.Table, keep: pa.Array) -> pa.Table:
    """The rows of `rows` whose line `n` is one of `keep` (all of them, usually)."""
    if rows.num_rows == 0:
        return rows
    kept = pc.is_in(rows["n"], value_set=keep)
    return rows if pc.all(kept).as_py() else rows.filter(kept)


def _in_line_order(rows: pa.Table) -> pa.Table:
    """`rows` sorted by line and position in it (`_line`, `_k`) unless they are already (as
    the engine made them, usually), without `_k`."""
    line = rows["_line"].to_numpy()
    at = rows["_k"].to_numpy()
    same = line[1:] == line[:-1]
    if not np.all((line[1:] > line[:-1]) | (same & (at[1:] > at[:-1]))):
        rows = rows.take(pc.sort_indices(rows, [("_line", "ascending"), ("_k", "ascending")]))
    return rows.drop_columns(["_k"])


def kept(table: pa.Table, lines: set[int]) -> pa.Table:
    if table.num_rows == 0 or not lines:
        return table.slice(0, 0)
    wanted = pa.array(sorted(lines), pa.int64())
    return table.filter(pc.is_in(table["_line"], value_set=wanted))
