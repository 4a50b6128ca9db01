"""A write transaction opened on the thread that holds one (`catalog.transaction()` inside
`catalog.transaction()`: an import, or a service's write, in a caller's block) joins it: its
writes commit with the outer block or roll back with it. Before, it was a second transaction
of its own, committed at its end: an import inside a block that then failed stayed stored.

An error that leaves a nested block rolls the whole back: the outer block cannot commit half
of the nested write, even if it caught the error (it ends with CatalogError). On a
lake-backed catalog a nested write that would change the lake's rows is refused (its lake
commits could not roll back with the outer block: docs/scale-out.md), and so is any lake write
once a nested block failed.

Real DuckDB files in tmp_path; lake-backed catalogs made by `open_for_lake`."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.errors import CatalogError, LakeError
from workbench.ingest import CatalogWriter
from workbench.model.records import Frame, Roi, Source
from workbench.store.lake_write import open_for_lake


def _frame(frame_id: str) -> Frame:
    return Frame(id=frame_id, sources=[Source(id="cam", uri=f"s3://b/{frame_id}.jpg")])


def _ids(catalog: Any) -> list[str]:
    return [row[0] for row in catalog.sql("SELECT id FROM frames ORDER BY id").fetchall()]


def _insert(con: Any, frame_id: str) -> None:
    con.execute("INSERT INTO frames (id, context_id) VALUES (?, ?)", [frame_id, frame_id])


def _lake_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "lake.duckdb"
    workbench.open(path).close()
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    return path


def test_an_import_inside_a_block_that_fails_is_rolled_back_with_it(tmp_path: Path) -> None:
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with pytest.raises(ValueError, match="the block failed"), catalog.transaction() as con:
            _insert(con, "outer")
            writer = CatalogWriter(catalog, progress=False)
            writer.add(_frame("inner"))
            writer.flush()
            raise ValueError("the block failed")
        assert _ids(catalog) == []


def test_writes_inside_commit_with_the_outer_block(tmp_path: Path) -> None:
    """A nested writer sees what the block wrote before it, keyed (its later batches read
    its earlier ones: labels of a frame it stored), and everything commits together."""
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with catalog.transaction() as con:
            _insert(con, "outer")
            writer = CatalogWriter(catalog, progress=False)
            writer.add(_frame("inner"))
            writer.flush()
            roi = Roi("r", "box", ["car"], geometry=[[1, 1, 4, 4]], source_ids=["cam"])
            writer.add_labels("inner", "ground_truth", [roi])
            writer.add_labels("outer", "ground_truth", [roi])
            writer.flush()
            assert not writer.report.errors, writer.report.errors
        assert _ids(catalog) == ["inner", "outer"]
        keys = catalog.cursor().execute("SELECT count(frame_key) FROM frames").fetchall()
        assert keys == [(2,)]
        labels = catalog.sql("SELECT frame_id, label FROM rois ORDER BY frame_id").fetchall()
        assert labels == [("inner", "car"), ("outer", "car")]
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert _ids(catalog) == ["inner", "outer"]


def test_a_nested_failure_rolls_the_whole_back_even_if_caught(tmp_path: Path) -> None:
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with pytest.raises(CatalogError, match="nested") as raised, catalog.transaction() as con:
            _insert(con, "outer")
            with suppress(ValueError), catalog.transaction() as inner:
                _insert(inner, "half")
                raise ValueError("a nested write failed half way")
            _insert(con, "after")
        assert isinstance(raised.value.__cause__, ValueError)
        assert _ids(catalog) == []
        with catalog.transaction() as con:  # the next transaction is a fresh one
            _insert(con, "next")
        assert _ids(catalog) == ["next"]


def test_a_nested_lake_write_is_refused(tmp_path: Path) -> None:
    path = _lake_catalog(tmp_path)
    with workbench.open(path) as catalog:
        before = catalog.lake.latest_versions() if catalog.lake else None
        with pytest.raises(LakeError, match="nested"), catalog.transaction():
            writer = CatalogWriter(catalog, progress=False)
            writer.add(_frame("inner"))
            writer.flush()
        assert catalog.lake is not None and catalog.lake.latest_versions() == before
        assert _ids(catalog) == []
        catalog.refresh_lake(force=True)
        assert _ids(catalog) == []


def test_no_lake_write_once_a_nested_block_failed(tmp_path: Path) -> None:
    path = _lake_catalog(tmp_path)
    with workbench.open(path) as catalog:
        before = catalog.lake.latest_versions() if catalog.lake else None
        with pytest.raises(CatalogError, match="nested"), catalog.transaction() as con:
            with suppress(ValueError), catalog.transaction():
                raise ValueError("a nested write failed")
            with catalog.editing(con, ["x"]):
                _insert(con, "x")
        assert catalog.lake is not None and catalog.lake.latest_versions() == before
        catalog.refresh_lake(force=True)
        assert _ids(catalog) == []
