"""The catalog's rows (frames, sources, no ROIs) of Nucleus scenes converted by SQL
(workbench.ingest._nucleus_columnar), as the writer stores them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest.images import SOURCE_ID
from workbench.ingest.writer import RowBatch
from workbench.model.records import FRAME_SCHEMA, PROMOTED_KEYS, ROI_SCHEMA, SOURCE_SCHEMA

_FRAME_ROWS = pa.schema([f for f in FRAME_SCHEMA if f.name != "ingested"])
_ROI_ROWS = pa.schema([f for f in ROI_SCHEMA if f.name != "visibility"])


def rows_batch(rows: pa.Table | None, dataset: str | None) -> RowBatch:
    """The catalog's rows of the converted rows `rows` (_nucleus_sql.ROWS' columns), of
    the frames' `dataset`; None: an empty batch."""
    if rows is None:
        return RowBatch(
            _FRAME_ROWS.empty_table(), SOURCE_SCHEMA.empty_table(), _ROI_ROWS.empty_table()
        )
    count = rows.num_rows
    none = pa.nulls(count, pa.string())
    frames = {
        "id": rows["id"],
        "dataset": pa.repeat(pa.scalar(dataset, pa.string()), count),
        "version": none,
        "context_id": rows["context_id"],
        "timestamp": rows["timestamp"],
        "frame_index": rows["frame_index"],
        "num_frames": rows["num_frames"],
        "metadata": rows["metadata"],
        **{key: rows[key] for key in PROMOTED_KEYS},
        "saved": pa.nulls(count, pa.timestamp("us")),
        "saved_in_version": none,
    }
    sources = {
        "frame_id": rows["id"],
        "id": pa.repeat(pa.scalar(SOURCE_ID, pa.string()), count),
        "uri": rows["uri"],
        "width": pa.nulls(count, pa.int32()),
        "height": pa.nulls(count, pa.int32()),
        "content_type": rows["content_type"],
        "timestamp": rows["timestamp"],
        "preview_uri": none,
        "masks": none,
    }
    return RowBatch(
        _table(frames, _FRAME_ROWS),
        _table(sources, SOURCE_SCHEMA),
        _ROI_ROWS.empty_table(),
    )


def _table(columns: dict[str, Any], schema: pa.Schema) -> pa.Table:
    arrays = [pc.cast(columns[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
