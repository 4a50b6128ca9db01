"""A statement of the summaries' upkeep that fails inside the writer's transaction: the
engine's own error reaches the caller, not the aborted transaction's refusal of the scratch
tables' `DROP` ("Current transaction is aborted"); the rollback drops those tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from workbench.store import summaries

# The frames' columns the summaries read; `context_key` of a type given by each test.
_FRAMES = (
    "CREATE TABLE frames (frame_key BIGINT, id VARCHAR, context_key {context},"
    " context_id VARCHAR, values_key {values}, timestamp BIGINT, frame_index INTEGER)"
)


def _catalog(
    path: Path, context: str = "INTEGER", values: str = "INTEGER"
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(_FRAMES.format(context=context, values=values))
    con.execute("INSERT INTO frames VALUES (0, 'a', 1, 'c', 1, 10, 0)")
    summaries.build(con, 1)
    return con


def _scratch(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def test_a_failing_statement_in_the_contexts_upkeep_reaches_the_caller(tmp_path: Path) -> None:
    # frames' context keys the summaries' INTEGER keys cannot be compared with: the DELETE of
    # the contexts' summaries fails to bind, inside the write's transaction
    con = _catalog(tmp_path / "c.duckdb", context="VARCHAR")
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO frames VALUES (1, 'b', 'x', 'c', 1, 11, 1)")
    with pytest.raises(duckdb.BinderException, match="Cannot compare"):
        summaries.keep(con, 2)
    con.execute("ROLLBACK")
    assert _scratch(con) == []  # the rollback dropped _wb_changed and _wb_contexts
    assert summaries.marked(con) == 1


def test_a_failing_statement_in_the_values_upkeep_reaches_the_caller(tmp_path: Path) -> None:
    con = _catalog(tmp_path / "c.duckdb", values="VARCHAR")
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO frames VALUES (1, 'b', 1, 'c', 'x', 11, 1)")
    with pytest.raises(duckdb.Error) as raised:
        summaries.keep(con, 2)
    assert not isinstance(raised.value, duckdb.TransactionException), raised.value
    con.execute("ROLLBACK")
    assert _scratch(con) == []


def test_the_scratch_tables_go_after_an_upkeep_that_ends_well(tmp_path: Path) -> None:
    con = _catalog(tmp_path / "c.duckdb")
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO frames VALUES (1, 'b', 1, 'c', 1, 5, 1)")
    summaries.keep(con, 2)
    assert _scratch(con) == []
    con.execute("COMMIT")
    assert con.execute("SELECT frames, first_frame_id FROM context_summaries").fetchall() == [
        (2, "b")
    ]
