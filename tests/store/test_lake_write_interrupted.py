"""A write to a lake-backed catalog interrupted by Ctrl-C once its rows reached the lake's
tables is a write that happened, whole: Ctrl-C is held until the catalog's transaction has
committed too, then raised (store/interrupts.py). The catalog, the catalog after it looks at
the lake's tables again (a refresh, or the file opened again) and the import's report agree.
Before, the catalog rolled back while the lake kept the rows, which came back at the next
refresh, uncounted.

The Ctrl-C is a real SIGINT, raised by the process to itself at one step of the write: once
its rows are in the lake's tables, before the catalog's transaction commits (the steps a
person pressing Ctrl-C during a long write of Parquet files most likely lands near)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import workbench
from workbench.ingest import CatalogWriter
from workbench.model.records import Frame, Source
from workbench.store.lake import Lake
from workbench.store.lake_write import open_for_lake


@pytest.fixture(autouse=True)
def _python_ctrl_c() -> Iterator[None]:
    """Python's own Ctrl-C handler for the test (another library's, left by a test before in
    this process, may not raise KeyboardInterrupt), the one before put back after."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _frame(frame_id: str) -> Frame:
    return Frame(id=frame_id, sources=[Source(id="cam", uri=f"s3://b/{frame_id}.jpg")])


def _ids(catalog: Any) -> list[str]:
    return [row[0] for row in catalog.sql("SELECT id FROM frames ORDER BY id").fetchall()]


def _ctrl_c_at(code: Any) -> Any:
    """A tracer that sends this process SIGINT when `code` is called (once)."""

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is code:
            sys.settrace(None)
            signal.raise_signal(signal.SIGINT)

    return tracer


@pytest.mark.parametrize("step", ["pin", "settled"])
def test_a_lake_write_interrupted_as_it_commits_stands_whole(tmp_path: Path, step: str) -> None:
    """Ctrl-C as the catalog's views are about to be moved to the lake's new snapshots
    (`pin`), or once they were, as the transaction is about to commit (`settled`)."""
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    with workbench.open(path) as catalog:
        writer = CatalogWriter(catalog, progress=False)
        writer.add(_frame("kept"))
        writer.flush()
        writer.add(_frame("a"))
        writer.add(_frame("b"))
        sys.settrace(_ctrl_c_at(getattr(Lake, step).__code__))
        try:
            with pytest.raises(KeyboardInterrupt):
                writer.flush()
        finally:
            sys.settrace(None)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert writer.report.frames == 3
        assert _ids(catalog) == ["a", "b", "kept"]
        catalog.refresh_lake(force=True)
        assert _ids(catalog) == ["a", "b", "kept"]
        writer.add(_frame("c"))  # Ctrl-C is raised again at once, not held any more
        sys.settrace(_ctrl_c_at(CatalogWriter._write.__code__))
        try:
            with pytest.raises(KeyboardInterrupt) as raised:
                writer.flush()
        finally:
            sys.settrace(None)
        assert type(raised.value) is KeyboardInterrupt
    with workbench.open(path) as catalog:
        assert _ids(catalog) == ["a", "b", "kept"]


def test_a_failed_write_releases_ctrl_c(tmp_path: Path) -> None:
    """A write that fails after the lake's commits rolls the catalog back and holds Ctrl-C no
    longer: the next Ctrl-C is raised where it comes."""
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    with workbench.open(path) as catalog:
        with (
            pytest.raises(RuntimeError, match="after the lake's commits"),
            catalog.transaction() as con,
        ):
            with catalog.editing(con, ["x"]):
                con.execute("INSERT INTO frames (id, context_id) VALUES ('x', 'x')")
            raise RuntimeError("after the lake's commits")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
