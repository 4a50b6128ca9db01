"""Label updates queued one by one (`CatalogWriter.add_labels`) are counted by the frames'
keys (`_label_writes.count_queued`), or by id on a lake-backed catalog: a frame the write
reads without a key, or no longer finds, costs nothing but itself.

- A frame a caller's block inserted before an import nested in it (same transaction, not yet
  keyed before the nested write began) is keyed as the nested write begins: its label update
  is counted by that key. (Without that, the key read was NULL and the counting failed with a
  TypeError, losing the whole batch.)
- A frame stored earlier in the same batch is counted.
- A frame deleted between the update's queueing and its storing is reported missing, on a
  local and on a lake-backed catalog.

Real DuckDB files in tmp_path; the lake made by `open_for_lake`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import CatalogWriter
from workbench.model.records import Frame, Roi, Source
from workbench.store.lake_write import open_for_lake

_ROI = Roi("r", "box", ["car"], geometry=[[1, 1, 4, 4]], source_ids=["cam"])


def _frame(frame_id: str) -> Frame:
    return Frame(id=frame_id, sources=[Source(id="cam", uri=f"s3://b/{frame_id}.jpg")])


def _catalog(tmp_path: Path, lake: bool) -> Path:
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    if lake:
        open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    return path


def _labels(catalog: Any) -> list[tuple[str, str]]:
    return catalog.sql("SELECT frame_id, label FROM rois ORDER BY frame_id").fetchall()


def test_a_frame_the_outer_block_inserted_is_keyed_for_the_nested_write(tmp_path: Path) -> None:
    with workbench.open(_catalog(tmp_path, lake=False)) as catalog:
        with catalog.transaction() as con:
            con.execute("INSERT INTO frames (id, context_id) VALUES ('outer', 'outer')")
            writer = CatalogWriter(catalog, progress=False)
            writer.add_labels("outer", "ground_truth", [_ROI])
            writer.flush()
            assert writer.report.errors == [] and writer.report.rois == 1
        assert _labels(catalog) == [("outer", "car")]


@pytest.mark.parametrize("lake", [False, True], ids=["local", "lake"])
def test_a_frame_stored_in_the_same_batch_is_counted(tmp_path: Path, lake: bool) -> None:
    with workbench.open(_catalog(tmp_path, lake)) as catalog:
        writer = CatalogWriter(catalog, progress=False)
        writer.add(_frame("a"))
        writer.add_labels("a", "ground_truth", [_ROI])
        writer.flush()
        assert writer.report.errors == []
        assert _labels(catalog) == [("a", "car")]


@pytest.mark.parametrize("lake", [False, True], ids=["local", "lake"])
def test_a_frame_deleted_before_its_labels_are_stored(tmp_path: Path, lake: bool) -> None:
    with workbench.open(_catalog(tmp_path, lake)) as catalog:
        first = CatalogWriter(catalog, progress=False)
        first.add(_frame("a"))
        first.add(_frame("b"))
        first.flush()
        writer = CatalogWriter(catalog, progress=False)
        writer.add_labels("a", "ground_truth", [_ROI])
        writer.add_labels("b", "ground_truth", [_ROI])
        CatalogWriter(catalog, progress=False).remove(["a"])  # between queueing and storing
        writer.flush()
        assert [str(e) for e in writer.report.errors] == [
            "frame 'a': frame 'a' is not in the catalog"
        ]
        assert writer.report.rois == 1
        assert _labels(catalog) == [("b", "car")]
