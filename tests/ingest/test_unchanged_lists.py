"""An update whose only change is in a ROI's list column (NULL, empty, a NULL item, where
its items break) stores it: the unchanged check's row hashes tell those lists apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import workbench
from tests.store.test_layout_hashes import _FRAMES, _ROIS, _frame
from workbench.ingest import CatalogWriter
from workbench.ingest._columnar import rows_table
from workbench.ingest._rows import frame_rows
from workbench.ingest.writer import RowBatch
from workbench.model.records import SOURCE_SCHEMA


def _batch(column: str, value: Any) -> RowBatch:
    frame = _frame(0, "c0")
    made = frame_rows(frame, frame.id)
    rois = rows_table(made[2], _ROIS)
    at = rois.schema.get_field_index(column)
    rois = rois.set_column(at, column, pa.array([value], rois.schema.field(at).type))
    return RowBatch(rows_table([made[0]], _FRAMES), rows_table(made[1], SOURCE_SCHEMA), rois)


@pytest.mark.parametrize(
    ("column", "before", "after"),
    [
        ("source_ids", None, []),
        ("source_ids", [], None),
        ("source_ids", [], [None]),
        ("source_ids", None, [None]),
        ("geometry", [[0.0, 0.0], [2.0, 3.0]], [[0.0, 0.0, 2.0, 3.0]]),
        ("geometry", [[0.0, 0.0, 2.0, 3.0]], [[0.0, 0.0, 2.0, 3.0], []]),
    ],
)
def test_an_update_changing_only_a_list_is_stored(
    tmp_path: Path, column: str, before: Any, after: Any
) -> None:
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        for value in (before, after):
            with CatalogWriter(catalog, progress=False) as writer:
                writer.write_rows(_batch(column, value))
        stored = catalog.cursor().execute(f"SELECT {column} FROM rois").fetchall()
    assert stored == [(after,)]
