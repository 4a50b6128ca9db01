"""A write transaction's cursor lent to a read on the transaction's own thread
(`Catalog.cursor`): the read sees what the transaction wrote, and its `close` (or `with`
block) leaves the cursor open for the transaction, which closes it as it ends."""

from __future__ import annotations

from typing import Any, Self, cast

import duckdb


class _Lent:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def lent(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """`con` as a cursor whose closing closes nothing."""
    return cast(duckdb.DuckDBPyConnection, _Lent(con))
