"""Closing a catalog while another thread's query runs (a served app stopping mid-query)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import pytest

import workbench
from workbench.errors import QueryError
from workbench.query import View


def _long_query_running(catalog, errors: list[BaseException]) -> threading.Thread:
    """A query over the catalog's frames that runs for minutes, started on another thread."""
    started = threading.Event()

    def run() -> None:
        view = View(catalog).where("f.id IN (SELECT a.id FROM frames a, frames b, frames c)")
        started.set()
        try:
            view.with_time_limit(0).count()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(5)
    time.sleep(0.5)  # into the query
    return thread


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "long.duckdb"
    with workbench.open(path) as catalog, catalog.transaction() as con:
        con.execute("INSERT INTO frames (id, context_id) SELECT 'f' || range, 'c' FROM range(2000)")
    return path


def test_close_interrupts_a_running_query(filled: Path):
    catalog = workbench.open(filled)
    errors: list[BaseException] = []
    thread = _long_query_running(catalog, errors)
    assert thread.is_alive()
    started = time.monotonic()
    catalog.close()  # no "connection is busy"
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 10
    assert len(errors) == 1 and isinstance(errors[0], QueryError)
    assert "Interrupted" in str(errors[0])
    # The file is closed: it opens again.
    with workbench.open(filled) as again:
        assert again.view().count() == 2000


def test_plain_duckdb_refuses_to_close_a_busy_connection(filled: Path):
    """What close() works around: the parent connection of a busy cursor will not close."""
    con = duckdb.connect(str(filled))
    cursor = con.cursor()

    def run() -> None:
        with pytest.raises(duckdb.Error):
            cursor.execute("SELECT count(*) FROM frames a, frames b, frames c")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.5)
    with pytest.raises(duckdb.Error, match="busy"):
        con.close()
    cursor.interrupt()
    thread.join(10)
    con.close()
