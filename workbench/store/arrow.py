"""Arrow tables handed to the catalog's SQL: visible under a name for one block, or appended
to a catalog table by column name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import duckdb
import pyarrow as pa

from workbench.store.sqlsafe import quote_ident


@contextmanager
def registered(
    con: duckdb.DuckDBPyConnection, name: str, table: pa.Table
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An Arrow table visible to SQL as `name` for the duration of the block. When the
    block fails, its error is what propagates: in the transaction it aborted, unregistering
    fails too ("Current transaction is aborted"), which would hide the cause."""
    con.register(name, table)
    try:
        yield con
    except BaseException:
        with suppress(duckdb.Error):
            con.unregister(name)
        raise
    con.unregister(name)


def append_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Insert `rows` into the catalog table `table`, matching columns by name (the table's
    other columns take their defaults); nothing happens for no rows."""
    if rows.num_rows == 0:
        return
    with registered(con, "_wb_rows", rows):
        con.execute(f"INSERT INTO {quote_ident(table)} BY NAME SELECT * FROM _wb_rows")
