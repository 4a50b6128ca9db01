"""Ctrl-C as a local catalog's write transaction commits (DuckDB's COMMIT, and the
checkpoint that may follow it, take their time on a big write) or has just committed: the
write stands, so it is raised once the transaction has ended as the interruption of a write
that committed (store/interrupts.py, `after_commit`), and the writer keeps the write in its
report, as the import's record does. Before, a plain KeyboardInterrupt came, and the writer
took the write back out of its report though the catalog held its frames. (DuckDB itself
turns a Ctrl-C landing in the checkpoint after a COMMIT into a RuntimeError, "Query
interrupted", although the COMMIT stands: held, DuckDB never sees it.)

A commit that fails lets Ctrl-C go: before, a lake write whose COMMIT failed left Ctrl-C held
(noted, never raised) for the rest of the process.

Every Ctrl-C is a real SIGINT the process raises to itself at one step."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from PIL import Image

import workbench
from workbench.ingest import CatalogWriter, images
from workbench.model.records import Frame, Source
from workbench.store import interrupts
from workbench.store.interrupts import after_commit
from workbench.store.lake_write import open_for_lake


def _ctrl_c_after_a_write_commits() -> Any:
    """A tracer that sends this process SIGINT as a write's transaction (CatalogWriter's)
    lets go of what it held, its COMMIT returned (once)."""
    writes = CatalogWriter._transaction.__wrapped__.__code__  # type: ignore[attr-defined]

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or frame.f_code is not interrupts.release.__code__:
            return
        outer = frame.f_back
        while outer is not None and outer.f_code is not writes:
            outer = outer.f_back
        if outer is not None:
            sys.settrace(None)
            signal.raise_signal(signal.SIGINT)

    return tracer


@pytest.fixture(autouse=True)
def _python_ctrl_c() -> Iterator[None]:
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _images(folder: Path, count: int) -> Path:
    """A folder of images (an importer whose writes run on the caller's thread)."""
    folder.mkdir()
    for n in range(count):
        Image.new("RGB", (4, 3), (n, 0, 0)).save(folder / f"{n:03d}.png")
    return folder


def test_ctrl_c_right_after_a_local_commit_keeps_the_write_counted(tmp_path: Path) -> None:
    """Ctrl-C once the first write's COMMIT returned (as the transaction lets go of what it
    held): its frames are stored, and the record and the report say so."""
    source = _images(tmp_path / "images", 30)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        sys.settrace(_ctrl_c_after_a_write_commits())
        try:
            with pytest.raises(KeyboardInterrupt) as raised:
                images.import_files(catalog, source, progress=False)
        finally:
            sys.settrace(None)
        assert after_commit(raised.value), "the write committed, but the import took it back"
        stored = catalog.sql("SELECT count(*) FROM frames").fetchall()[0][0]
        record = catalog.sql("SELECT status, frames FROM imports").fetchall()
        assert stored == 30
        assert record == [("interrupted", stored)]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_writer_keeps_a_local_write_that_committed_in_its_report(tmp_path: Path) -> None:
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        writer = CatalogWriter(catalog, progress=False)
        writer.add(Frame(id="a", sources=[Source(id="cam", uri="s3://b/a.jpg")]))
        sys.settrace(_ctrl_c_after_a_write_commits())
        try:
            with pytest.raises(KeyboardInterrupt) as raised:
                writer.flush()
        finally:
            sys.settrace(None)
        assert after_commit(raised.value)
        assert writer.report.frames == 1
        assert catalog.sql("SELECT id FROM frames").fetchall() == [("a",)]


def test_a_failed_commit_lets_ctrl_c_go(tmp_path: Path) -> None:
    """A lake write whose catalog COMMIT fails (another connection committed the same key
    first): the error is raised, and the next Ctrl-C is raised where it comes."""
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    with workbench.open(path) as catalog:
        with pytest.raises(Exception, match="Failed to commit"), catalog.transaction() as con:
            with catalog.editing(con, ["x"]):
                con.execute("INSERT INTO frames (id, context_id) VALUES ('x', 'x')")
            con.execute("INSERT INTO meta VALUES ('probe', 'mine')")
            # another thread's connection commits first (on this thread, `cursor()` is the
            # transaction's own)
            theirs = threading.Thread(
                target=lambda: catalog.cursor().execute("INSERT INTO meta VALUES ('probe', 'x')")
            )
            theirs.start()
            theirs.join()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
