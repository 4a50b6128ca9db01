"""What the catalog remembers between writes (whether it holds frames, its tables) is not
kept from a read that another connection's write overtook: the next writer must not take an
empty catalog for granted (it would insert frames without looking for stored ones)."""

from __future__ import annotations

import inspect
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame
from workbench.store.catalog import Catalog


class _Overtaken:
    """A cursor whose read's answer is handed back only after another thread's write has
    committed (the read began before it)."""

    def __init__(self, cursor: Any, write: Any) -> None:
        self._cursor, self._write = cursor, write

    def execute(self, *args: Any) -> _Overtaken:
        self._rows = self._cursor.execute(*args).fetchall()
        failed: list[BaseException] = []
        thread = threading.Thread(target=_run, args=(self._write, failed))
        thread.start()
        thread.join()
        assert not failed, failed
        return self

    def fetchall(self) -> list[Any]:
        return self._rows


def _overtake_once(monkeypatch: pytest.MonkeyPatch, catalog: Catalog, write: Any) -> None:
    """The catalog's next cursor is overtaken by `write`; the write's own are not."""
    real = catalog.cursor

    def cursor() -> Any:
        monkeypatch.setattr(catalog, "cursor", real)
        return _Overtaken(real(), write)

    monkeypatch.setattr(catalog, "cursor", cursor)


def _run(write: Any, failed: list[BaseException]) -> None:
    try:
        write()
    except BaseException as exc:  # handed to the test's thread
        failed.append(exc)


def _add_frame(catalog: Catalog) -> None:
    with CatalogWriter(catalog) as writer:
        writer.add(Frame(id="f0", context_id="c0"))


def test_a_read_overtaken_by_a_write_is_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = workbench.open(tmp_path / "c.duckdb")
    _overtake_once(monkeypatch, catalog, lambda: _add_frame(catalog))
    assert catalog.has_frames() is False  # what the read saw, before the write
    assert catalog.has_frames() is True


def test_tables_read_before_a_write_that_made_one_are_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = workbench.open(tmp_path / "c.duckdb")

    def make_table() -> None:
        with catalog.transaction() as con:
            con.execute("CREATE TABLE extra_notes (x INTEGER)")

    _overtake_once(monkeypatch, catalog, make_table)
    assert "extra_notes" not in catalog.table_names()
    assert "extra_notes" in catalog.table_names()


def _when_at(function: Any, text: str, action: Any) -> Any:
    """A tracer that runs `action` once, as `function` (a code object's name) reaches its line
    holding `text`, in the thread that sets it (sys.settrace)."""
    lines, first = inspect.getsourcelines(getattr(Catalog, function))
    target = first + next(i for i, line in enumerate(lines) if text in line)
    done: list[bool] = []

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_name != function:
            return None if event == "call" else tracer
        if event == "line" and frame.f_lineno == target and not done:
            done.append(True)
            action()
        return tracer

    return tracer


@pytest.mark.parametrize("function", ["has_frames", "table_names"])
def test_a_write_committed_between_the_check_and_the_keeping_is_not_forgotten(
    tmp_path: Path, function: str
) -> None:
    """Another thread's write commits after a read found the generation unmoved and before
    it keeps its answer (a thread may switch between any two steps): the answer is kept
    under the same lock as the write forgets the caches, so the write's forgetting comes
    after, and the next call reads again."""
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        catalog.table_names()
        failed: list[BaseException] = []

        def write() -> None:
            with catalog.transaction() as con:
                con.execute("CREATE TABLE later (x INTEGER)")
            _add_frame(catalog)

        def commit_meanwhile() -> None:
            thread = threading.Thread(target=_run, args=(write, failed))
            thread.start()
            thread.join(timeout=1.0)  # blocked by the lock: it finishes after the keeping

        keep = "self._has_frames = known" if function == "has_frames" else "self._table_names ="
        catalog._has_frames = catalog._table_names = None  # type: ignore[attr-defined]
        sys.settrace(_when_at(function, keep, commit_meanwhile))
        try:
            getattr(catalog, function)()
        finally:
            sys.settrace(None)
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and thread.name.startswith("Thread-"):
                thread.join(timeout=30)
        assert not failed, failed
        assert catalog.has_frames() is True
        assert "later" in catalog.table_names()
