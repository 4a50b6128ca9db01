"""Ctrl-C while a query a person typed runs (`Catalog.sql`, and the query layer's `execute`
that the app and the notebook's views read through) is the KeyboardInterrupt it was: the
notebook's stop button interrupts the kernel's main thread with SIGINT, and DuckDB's Python
client stops the statement and raises RuntimeError("Query interrupted") in its place, which
reached the person as an error of their query. A person's mistake stays a QueryError whose
text is DuckDB's, and the time limit's stop a QueryError saying so.

The Ctrl-C is a real SIGINT, sent by another thread once the main thread is inside the
statement."""

from __future__ import annotations

import threading
from pathlib import Path
from types import FrameType

import pytest

import workbench
from tests.ctrl_c import ctrl_c_when, python_ctrl_c  # noqa: F401 (the fixture, autouse)
from workbench.errors import QueryError
from workbench.query._sql import execute, sql

# A person's query that runs for many seconds (DuckDB looks for Ctrl-C between its pieces).
_LONG = "SELECT sum(hash(range)) FROM range(2000000000)"


def _ctrl_c_once_inside(code_name: str) -> threading.Thread:
    """SIGINT once the main thread has been inside DuckDB's client, called from the function
    `code_name`, for a while (inside the statement)."""

    def place(frame: FrameType) -> bool | None:
        if "duckdb" not in frame.f_code.co_filename:
            return None
        inner: FrameType | None = frame
        while inner is not None and inner.f_code.co_name != code_name:
            inner = inner.f_back
        return True if inner is not None else None

    return ctrl_c_when(place, 120)


def test_ctrl_c_in_catalog_sql_is_a_keyboard_interrupt(tmp_path: Path) -> None:
    with workbench.open(tmp_path / "c.duckdb", time_limit=0) as catalog:
        watcher = _ctrl_c_once_inside("sql")
        with pytest.raises(KeyboardInterrupt):
            catalog.sql(_LONG)
        watcher.join()
        assert catalog.sql("SELECT count(*) FROM frames").fetchall() == [(0,)]


def test_ctrl_c_in_the_apps_query_is_a_keyboard_interrupt(tmp_path: Path) -> None:
    with workbench.open(tmp_path / "c.duckdb", time_limit=0) as catalog:
        watcher = _ctrl_c_once_inside("execute")
        with pytest.raises(KeyboardInterrupt):
            execute(catalog, sql(_LONG), check=True)
        watcher.join()


def test_a_persons_error_and_the_time_limit_stay_query_errors(tmp_path: Path) -> None:
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with pytest.raises(QueryError, match="no_such_column"):
            catalog.sql("SELECT no_such_column FROM frames")
        with pytest.raises(QueryError, match="no_such_column"):
            execute(catalog, sql("SELECT no_such_column FROM frames"), check=True)
        with pytest.raises(QueryError, match=r"longer than 0\.5 s"):
            catalog.sql(_LONG, time_limit=0.5)
        with pytest.raises(QueryError, match=r"longer than 0\.5 s"):
            execute(catalog, sql(_LONG), check=True, limit=0.5)
