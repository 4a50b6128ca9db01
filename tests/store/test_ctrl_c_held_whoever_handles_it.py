"""Ctrl-C held while a lake-backed catalog's write commits (store/interrupts.py), whatever
else runs meanwhile and whatever the process does with Ctrl-C otherwise.

- A transaction opened and ended inside the one whose lake commits are held (a write nested
  in a caller's transaction, on the same thread) ends nothing: the Ctrl-C stays held until
  the outer transaction has committed, and is raised then. Before, the inner transaction's
  end let it go and raised it inside the outer block, which rolled back while the lake kept
  its rows: the write the hold is there to keep whole came back at the next refresh.
- A process that ignores Ctrl-C (SIG_IGN: a job started in the background by a shell, a
  service) still ignores it during a lake write; before, a Ctrl-C there was raised as a
  KeyboardInterrupt once the write committed.
- A process with a Ctrl-C handler of its own (a notebook's or a training loop's "stop
  after this step") has it called once the write committed, not replaced by a
  KeyboardInterrupt it never raises.

Every Ctrl-C here is a real SIGINT the process raises to itself, or sends through
`_thread.interrupt_main` from another thread.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.errors import CatalogError
from workbench.ingest import CatalogWriter
from workbench.store import lake_write
from workbench.store.interrupts import after_commit
from workbench.store.lake import Lake
from workbench.store.lake_write import open_for_lake

from .test_lake_write_interrupted import _ctrl_c_at, _frame


@pytest.fixture(autouse=True)
def _python_ctrl_c() -> Iterator[None]:
    """Python's own Ctrl-C handler for the test, the one before put back after."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _lake_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    return path


def _ids(catalog: Any) -> list[str]:
    return [row[0] for row in catalog.sql("SELECT id FROM frames ORDER BY id").fetchall()]


def _insert(con: Any, frame_id: str) -> None:
    con.execute("INSERT INTO frames (id, context_id) VALUES (?, ?)", [frame_id, frame_id])


def _ctrl_c_from_another_thread() -> None:
    """Ctrl-C as another thread delivers it (`_thread.interrupt_main`), seen by the main
    thread's handler before this returns."""
    sent = threading.Thread(target=_thread.interrupt_main)
    sent.start()
    sent.join()


def test_ctrl_c_held_until_the_outer_transaction_commits(tmp_path: Path) -> None:
    """The lake's commits happen in the outer transaction; a transaction begun and ended in
    its block before it commits must not let the held Ctrl-C go."""
    path = _lake_catalog(tmp_path)
    with workbench.open(path) as catalog:
        with pytest.raises(KeyboardInterrupt) as raised, catalog.transaction() as con:
            with catalog.editing(con, ["x"]):
                _insert(con, "x")
            signal.raise_signal(signal.SIGINT)  # held: the lake has the frame
            with catalog.transaction():  # another write, nested, ends first
                pass
            signal.raise_signal(signal.SIGINT)  # a second press, still held
        assert after_commit(raised.value), "raised before the outer write committed"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert _ids(catalog) == ["x"]
        catalog.refresh_lake(force=True)
        assert _ids(catalog) == ["x"]
    with workbench.open(path) as catalog:
        assert _ids(catalog) == ["x"]


def test_a_failed_nested_transaction_lets_no_lake_write_follow(tmp_path: Path) -> None:
    """A nested transaction that fails (caught by the outer block) rolls the whole back
    (store/catalog.py, `transaction`): the outer block's lake write is refused before it
    reaches the lake, and nothing is left holding Ctrl-C."""
    path = _lake_catalog(tmp_path)
    with workbench.open(path) as catalog:
        with pytest.raises(CatalogError, match="nested"), catalog.transaction() as con:
            with pytest.raises(ValueError), catalog.transaction():
                raise ValueError("a nested write failed")
            with catalog.editing(con, ["x"]):
                _insert(con, "x")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        catalog.refresh_lake(force=True)
        assert _ids(catalog) == []


def test_a_process_ignoring_ctrl_c_goes_on_ignoring_it(tmp_path: Path) -> None:
    path = _lake_catalog(tmp_path)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with workbench.open(path) as catalog:
        with catalog.transaction() as con:
            with catalog.editing(con, ["x"]):
                _insert(con, "x")
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert _ids(catalog) == ["x"]


def test_a_handler_of_its_own_is_called_once_the_write_committed(tmp_path: Path) -> None:
    path = _lake_catalog(tmp_path)
    calls: list[tuple[int, list[str]]] = []

    def stop_after_this_step(signum: int, frame: Any) -> None:
        calls.append((signum, _ids(catalog)))  # what the handler sees: the write, done

    signal.signal(signal.SIGINT, stop_after_this_step)
    with workbench.open(path) as catalog:
        with catalog.transaction() as con:
            with catalog.editing(con, ["x"]):
                _insert(con, "x")
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
            assert calls == []  # held while the write commits
        assert calls == [(signal.SIGINT, ["x"])]
        assert signal.getsignal(signal.SIGINT) is stop_after_this_step
        signal.raise_signal(signal.SIGINT)  # not held any more
        assert len(calls) == 2


def test_a_write_stands_in_the_report_when_the_own_handler_raises(tmp_path: Path) -> None:
    """A handler of the process's own that raises (here its own KeyboardInterrupt) once the
    write committed: the writer keeps the write in its report, as for Python's own."""
    path = _lake_catalog(tmp_path)

    def raises(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("the process's own")

    with workbench.open(path) as catalog:
        writer = CatalogWriter(catalog, progress=False)
        writer.add(_frame("a"))
        signal.signal(signal.SIGINT, raises)
        sys.settrace(_ctrl_c_at(Lake.settled.__code__))
        try:
            with pytest.raises(KeyboardInterrupt, match="the process's own") as raised:
                writer.flush()
        finally:
            sys.settrace(None)
        assert after_commit(raised.value)
        assert signal.getsignal(signal.SIGINT) is raises
        assert writer.report.frames == 1
        catalog.refresh_lake(force=True)
        assert _ids(catalog) == ["a"]


def test_ctrl_c_between_two_tables_commits_lets_the_write_end_whole(tmp_path: Path) -> None:
    """Ctrl-C (from another thread) as the second lake table is about to be committed: the
    third is committed too, then the catalog, then it is raised."""
    path = _lake_catalog(tmp_path)
    overwrites = [0]

    def tracer(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is lake_write._overwrite.__code__:
            overwrites[0] += 1
            if overwrites[0] == 2:
                sys.settrace(None)
                _ctrl_c_from_another_thread()

    with workbench.open(path) as catalog:
        writer = CatalogWriter(catalog, progress=False)
        writer.add(_frame("a"))
        sys.settrace(tracer)
        try:
            with pytest.raises(KeyboardInterrupt) as raised:
                writer.flush()
        finally:
            sys.settrace(None)
        assert after_commit(raised.value) and overwrites == [2]
        assert writer.report.frames == 1
        before = catalog.sql("SELECT count(*) FROM sources").fetchall()
        catalog.refresh_lake(force=True)
        assert _ids(catalog) == ["a"]
        assert catalog.sql("SELECT count(*) FROM sources").fetchall() == before == [(1,)]
