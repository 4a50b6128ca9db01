"""The ROIs of one write of the COCO import as an Arrow table, in the catalog's order.

SQL (`sql.ROIS`) gives only the columns that differ between rows, for the annotations of the
write's images, in no order unless the staged table is in image order; the rows made in Python
(`mine`) are added, the frames refused dropped, and the rows sorted by (image ordinal,
annotation number) column by column. What is the same for every row, a box's one ring (from
its bounds) and the frame ids (the images', by ordinal) are added after the sort, so that the
rows fetched and sorted carry none of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest import _coco_sql as sql
from workbench.ingest._columnar import rows_table
from workbench.model.records import ROI_SCHEMA

# The ROIs' columns with the image ordinal and the annotation number they are sorted by.
ROWS = pa.schema([*ROI_SCHEMA, ("_line", pa.int64()), ("_i", pa.int64())])
# The columns of the ROIs SQL makes that differ from row to row (sql.ROIS).
_MADE = pa.schema(
    [ROWS.field(n) for n in ["id", "label", "confidence", "kind", "geometry"]]
    + [ROWS.field(n) for n in ["x_min", "y_min", "x_max", "y_max", "area", "attributes"]]
    + [ROWS.field("_line"), ROWS.field("_i")]
)


def write_rois(
    con: Any,
    mine: list[tuple[Any, ...]],
    field_name: str,
    params: dict[str, int],
    refused: set[int],
) -> pa.Table:
    """The ROIs of a write: those SQL made (in image order) and `mine`, made in Python."""
    made = con.sql(sql.ROIS, params=params).to_arrow_table().cast(_MADE)
    if mine:  # rows of every shape: the columns SQL leaves out are added before sorting
        made = _whole(made, field_name, ROWS)
        made = pa.concat_tables([made, rows_table(mine, ROWS)])
    if refused:
        made = made.filter(
            pc.invert(pc.is_in(made["_line"], value_set=pa.array(sorted(refused), pa.int64())))
        )
    line, at = made["_line"].to_numpy(), made["_i"].to_numpy()
    made = made.drop_columns(["_line", "_i"])
    if not np.all((line[1:] > line[:-1]) | ((line[1:] == line[:-1]) & (at[1:] > at[:-1]))):
        # Column by column, each one chunk: a whole table's take costs half as much again.
        order = np.lexsort((at, line))
        columns = [column.combine_chunks().take(pa.array(order)) for column in made.columns]
        made = pa.Table.from_arrays(columns, schema=made.schema)
        line = line[order]
    made = _with_frame_ids(con, _box_rings(made), line, params)
    return made if mine else _whole(made, field_name, ROI_SCHEMA)


def _with_frame_ids(con: Any, made: pa.Table, line: np.ndarray, params: dict[str, int]) -> pa.Table:
    """`made` with each row's frame id, its image's (`line`: the images' ordinals, in the
    range params first..last, where every ordinal is an image stored or refused)."""
    ids = con.sql(
        "SELECT frame_id FROM _wb_images WHERE o BETWEEN $first AND $last ORDER BY o",
        params=params,
    ).to_arrow_table()["frame_id"]
    column = ids.combine_chunks().take(pa.array(line - params["first"]))
    if "frame_id" in made.column_names:  # the rows made in Python have theirs: the same
        return made.set_column(made.schema.get_field_index("frame_id"), "frame_id", column)
    return made.append_column("frame_id", column)


def _box_rings(made: pa.Table) -> pa.Table:
    """`made` with each box SQL made (a NULL geometry: sql.ANNOTATIONS) given its one ring,
    the corners from its bounds, as SQL wrote them: [x0, y0, x1, y0, x1, y1, x0, y1]."""
    geometry = made["geometry"].combine_chunks()
    boxes = np.asarray(geometry.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    boxes &= np.asarray(pc.equal(made["kind"], "box").to_numpy(zero_copy_only=False), bool)
    if not boxes.any():
        return made
    # Rings a row: 1 for a box, as many as it holds otherwise (0 for a NULL left NULL).
    counts = pc.fill_null(pc.list_value_length(geometry), 0).to_numpy(zero_copy_only=False)
    counts = np.where(boxes, 1, counts).astype(np.int32)
    offsets = np.zeros(len(counts) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    rings = geometry.flatten()  # the other rows' rings, in row order
    at = offsets[:-1][boxes]  # where each box's ring is among all rings
    lengths = np.empty(int(offsets[-1]), np.int32)
    theirs = np.ones(len(lengths), bool)
    theirs[at] = False
    lengths[at] = 8
    lengths[theirs] = pc.list_value_length(rings).to_numpy(zero_copy_only=False)
    starts = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=starts[1:])
    corners = [made[n].combine_chunks().to_numpy(zero_copy_only=False)[boxes]
               for n in ("x_min", "y_min", "x_max", "y_max")]  # fmt: skip
    x0, y0, x1, y1 = corners
    values = np.empty(int(starts[-1]), np.float64)
    slots = (starts[:-1][at][:, None] + np.arange(8, dtype=np.int32)).ravel()
    placed = np.ones(len(values), bool)
    placed[slots] = False
    values[slots] = np.stack([x0, y0, x1, y0, x1, y1, x0, y1], axis=1).ravel()
    values[placed] = rings.flatten().to_numpy(zero_copy_only=False)
    inner = pa.ListArray.from_arrays(pa.array(starts), pa.array(values, pa.float64()))
    kept = geometry.is_null().to_numpy(zero_copy_only=False) & ~boxes
    filled = pa.ListArray.from_arrays(
        pa.array(offsets), inner, type=geometry.type, mask=pa.array(kept) if kept.any() else None
    )
    return made.set_column(made.schema.get_field_index("geometry"), "geometry", filled)


def _whole(made: pa.Table, field_name: str, schema: pa.Schema) -> pa.Table:
    """The rows SQL made (`_MADE`'s columns) with the columns the same for all of them."""
    count = made.num_rows
    label = made["label"].combine_chunks()
    offsets = pa.array(np.arange(count + 1, dtype=np.int32))
    constant = {
        "field": pa.repeat(pa.scalar(field_name, pa.string()), count),
        "labels": pa.ListArray.from_arrays(offsets, label, type=schema.field("labels").type),
        "source_ids": pa.ListArray.from_arrays(
            pa.array(np.zeros(count + 1, dtype=np.int32)),
            pa.array([], pa.string()),
            type=schema.field("source_ids").type,
        ),
    }
    columns = [
        made[f.name]
        if f.name in made.column_names
        else constant.get(f.name, pa.nulls(count, f.type))
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
