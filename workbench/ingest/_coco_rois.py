"""The ROIs of one write of the COCO import as an Arrow table, in the catalog's order.

SQL (`sql.ROIS`) gives only the columns that differ between rows, for the annotations of the
write's images, in no order unless the staged table is in image order; the rows made in Python
(`mine`) are added, the frames refused dropped, and the rows sorted by (image ordinal,
annotation number) column by column. What is the same for every row and the frame ids (the
images', by ordinal) are added after the sort, so that the rows fetched and sorted carry none
of them.
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
_TRACKED = _MADE.append(ROWS.field("track_index"))


def write_rois(
    con: Any,
    mine: list[tuple[Any, ...]],
    field_name: str,
    params: dict[str, int],
    refused: set[int],
    tracked: bool = False,
) -> pa.Table:
    """The ROIs of a write: those SQL made (in image order) and `mine`, made in Python;
    `tracked`: on kwcoco's tracks (sql.ROIS_TRACKED)."""
    query, schema = (sql.ROIS_TRACKED, _TRACKED) if tracked else (sql.ROIS, _MADE)
    made = con.sql(query, params=params).to_arrow_table().cast(schema)
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
    made = _with_frame_ids(con, made, line, params)
    return made if mine else _whole(made, field_name, ROI_SCHEMA)


def _with_frame_ids(con: Any, made: pa.Table, line: np.ndarray, params: dict[str, int]) -> pa.Table:
    """`made` with each row's frame id, its image's (`line`: the images' ordinals, in the
    range params first..last, each that of an image stored or refused; an update numbers
    them by their places in the file, with gaps: stage_images)."""
    images = con.sql(
        "SELECT o, frame_id FROM _wb_images WHERE o BETWEEN $first AND $last ORDER BY o",
        params=params,
    ).to_arrow_table()
    at = np.searchsorted(images["o"].to_numpy(), line)
    column = images["frame_id"].combine_chunks().take(pa.array(at))
    if "frame_id" in made.column_names:  # the rows made in Python have theirs: the same
        return made.set_column(made.schema.get_field_index("frame_id"), "frame_id", column)
    return made.append_column("frame_id", column)


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
