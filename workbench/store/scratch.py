"""Scratch tables of one block of a write: temporary tables dropped when the block ends well.

When the block fails, nothing is run: the engine's error aborted the transaction it ran in,
and any statement there (a `DROP TABLE` in a `finally`) would raise DuckDB's "Current
transaction is aborted" instead, hiding the error that caused it. The rollback that follows
drops the tables made inside the transaction; outside one they stay until the next
`CREATE OR REPLACE` of the same name or the connection's end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


@contextmanager
def dropped_after(con: duckdb.DuckDBPyConnection, *tables: str) -> Iterator[None]:
    """Drop the temporary `tables` after the block, unless it raised (its error propagates
    as itself)."""
    yield
    for table in tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")
