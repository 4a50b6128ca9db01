"""A `write_rows` batch whose ROIs name stored frames outside the batch leaves those frames'
summaries (frame_labels, frame_codes, code_counts) exact when its own transaction commits,
not at the next transaction's layout step: checked between two writes of one writer, before
anything else runs on the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import workbench
from tests.store.test_layout import _fill, _frame, check_layout
from workbench.ingest.writer import CatalogWriter, RowBatch
from workbench.model.records import SOURCE_SCHEMA


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "outside.duckdb") as cat:
        yield cat


def _rows(catalog: Any, query: str) -> list[tuple[Any, ...]]:
    return catalog.cursor().execute(query).fetchall()


def _batch(catalog: Any, new_id: str, roi_ids: list[str], of: str = "f0") -> RowBatch:
    """A frame `new_id` (a copy of f8's row) and ROIs copied from frame `of` with new ids:
    ROIs of a stored frame outside the batch."""
    stored = catalog.cursor().sql(f"SELECT * FROM rois WHERE frame_id = '{of}'").to_arrow_table()
    rois = stored.drop_columns(["frame_key", "label_key"]).slice(0, len(roi_ids))
    rois = rois.set_column(1, "id", pa.array(roi_ids))
    frames = catalog.cursor().sql("SELECT * FROM frames WHERE id = 'f8'").to_arrow_table()
    keep = [c for c in frames.column_names if c in _frame_columns(catalog)]
    frames = frames.select(keep).set_column(0, "id", pa.array([new_id]))
    return RowBatch(frames, SOURCE_SCHEMA.empty_table(), rois)


def _frame_columns(catalog: Any) -> set[str]:
    """The frames' public columns a batch gives (not the layout's, not `ingested`)."""
    derived = {"frame_key", "context_key", "values_key", "ingested"}
    columns = _rows(catalog, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'frames'")
    return {c for (c,) in columns if c not in derived and not c.startswith("metadata_")}


def test_rois_added_to_stored_frames_are_summarised_in_their_own_transaction(catalog):
    _fill(catalog, 9)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_rows(_batch(catalog, "f30", ["x", "y"]))
        # before the writer's close (whose own transaction would summarise what was left)
        check_layout(catalog)
        assert _rows(catalog, "SELECT count(*) FROM _layout_pending") == [(0,)]
        counted = "SELECT sum(rois) FROM frame_labels l JOIN frames f USING (frame_key)"
        assert _rows(catalog, counted + " WHERE f.id = 'f0'") == [(4,)]
        writer.write_rows(_batch(catalog, "f31", ["z"], of="f1"))
        check_layout(catalog)
    check_layout(catalog)
    assert _rows(catalog, "SELECT count(*) FROM rois WHERE frame_id IN ('f0', 'f1')") == [(7,)]


def test_rois_of_the_batch_own_frames_leave_nothing_pending(catalog):
    """A batch whose ROIs are all its own frames' is keyed as inserted: the layout's step at
    its commit finds nothing to do (no frame marked, no summary computed again)."""
    _fill(catalog, 3)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(_frame(5, [("ground_truth", "bus", 0.5), ("ground_truth", "car", None)]))
    before = _rows(catalog, "SELECT frame_key, label_key, rois FROM frame_labels ORDER BY ALL")
    check_layout(catalog)
    assert _rows(catalog, "SELECT count(*) FROM _layout_pending") == [(0,)]
    assert len(before) == 3 * 2 + 2
