"""An Arrow table registered for a block that fails inside a transaction: the block's own
error reaches the caller, not the aborted transaction's refusal to unregister."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from workbench.store.arrow import registered


def test_the_blocks_error_is_what_propagates(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    con.execute("CREATE TABLE t (x INTEGER NOT NULL)")
    con.execute("BEGIN TRANSACTION")
    rows = pa.table({"x": pa.array([None], pa.int32())})
    with (
        pytest.raises(duckdb.ConstraintException, match="NOT NULL"),
        registered(con, "_wb_rows", rows),
    ):
        con.execute("INSERT INTO t SELECT * FROM _wb_rows")
    con.execute("ROLLBACK")
    with registered(con, "_wb_rows", pa.table({"x": pa.array([1], pa.int32())})):
        con.execute("INSERT INTO t SELECT * FROM _wb_rows")
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
    with pytest.raises(duckdb.CatalogException):  # unregistered after the block
        con.execute("SELECT * FROM _wb_rows")
