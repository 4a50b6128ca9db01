"""Ctrl-C while the main thread waits for one of DuckDB's statements: DuckDB's Python client
stops the statement and raises a RuntimeError ("Query interrupted"), the KeyboardInterrupt
consumed. A write transaction gives it back as the KeyboardInterrupt it was, rolled back
(store/interrupts.py, `ctrl_c`): a writer then takes the write out of its report and stops,
rather than take it for a failure of the write and store what it had queued, and the import
is recorded as interrupted, not failed.

The Ctrl-C is a real SIGINT, sent by another thread once the main thread is inside the
statement."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import workbench
from tests.ctrl_c import ctrl_c_when, python_ctrl_c  # noqa: F401 (the fixture, autouse)

# A statement that runs for a second or more (a sum of hashes over a long range), run again
# and again until Ctrl-C stops it (DuckDB looks for it between pieces of its work).
_LONG = "SELECT sum(hash(range)) FROM range(300000000)"
_AGAIN = 1000


def _ctrl_c_once_inside(code_name: str) -> threading.Thread:
    """SIGINT once the main thread has been on a line of the function `code_name` for a while
    (inside a statement, whose call released the GIL)."""
    return ctrl_c_when(lambda f: f.f_code if f.f_code.co_name == code_name else None, 120)


def _write_stopped(catalog: workbench.Catalog) -> None:
    with catalog.transaction() as con:
        con.execute("INSERT INTO meta VALUES ('stopped', 'no')")
        for _ in range(_AGAIN):
            con.execute(_LONG).fetchall()


def test_ctrl_c_in_a_write_transactions_statement_is_a_keyboard_interrupt(
    tmp_path: Path,
) -> None:
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        watcher = _ctrl_c_once_inside("_write_stopped")
        with pytest.raises(KeyboardInterrupt):
            _write_stopped(catalog)
        watcher.join()
        assert catalog.cursor().execute("SELECT * FROM meta WHERE key = 'stopped'").fetchall() == []
