"""SQL text with its parameters, and running it against the catalog.

Every piece of SQL the query layer builds is a `Compiled`: text with `?` placeholders and the
values for them in order of appearance, so pieces concatenate without ever formatting a value
into the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from workbench.errors import QueryError
from workbench.store.interrupts import statements_stopped
from workbench.store.sqlsafe import check_read_only, check_where, time_limit

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# Up to this many values go into SQL as `IN (?, ?, ...)`, which DuckDB pushes into the table
# scan; longer lists become a semi-join against `unnest(?)`, which stays fast for 100k ids.
INLINE_LIST_MAX = 64

# How many lines of a DuckDB error reach the person: the message, not the whole plan dump.
ERROR_LINES = 3


@dataclass(frozen=True)
class Compiled:
    """One SQL text with `?` placeholders and the values that fill them, in order."""

    sql: str
    params: tuple[Any, ...] = ()

    def __add__(self, other: Compiled | str) -> Compiled:
        if isinstance(other, str):
            return Compiled(self.sql + other, self.params)
        return Compiled(self.sql + other.sql, self.params + other.params)

    def __radd__(self, other: str) -> Compiled:
        return Compiled(other + self.sql, self.params)

    @staticmethod
    def join(parts: Iterable[Compiled | str], sep: str) -> Compiled:
        sql: list[str] = []
        params: list[Any] = []
        for part in parts:
            if isinstance(part, str):
                sql.append(part)
            else:
                sql.append(part.sql)
                params.extend(part.params)
        return Compiled(sep.join(sql), tuple(params))


TRUE = Compiled("TRUE")


def sql(text: str, *params: Any) -> Compiled:
    return Compiled(text, params)


def all_of(conditions: Sequence[Compiled]) -> Compiled:
    if not conditions:
        return TRUE
    return Compiled.join([("(" + c + ")") for c in conditions], " AND ")


def in_list(expr: str, values: Sequence[Any], cast: str | None = None) -> Compiled:
    """`expr IN (...)` over `values` as parameters (never formatted into the text)."""
    if not values:
        return Compiled("FALSE")
    if len(values) <= INLINE_LIST_MAX:
        marks = ", ".join("?" for _ in values)
        return Compiled(f"{expr} IN ({marks})", tuple(values))
    typed = f"?::{cast}[]" if cast else "?"
    return Compiled(f"{expr} IN (SELECT unnest({typed}))", (list(values),))


def json_pointer(key: str) -> str:
    """The JSON Pointer (RFC 6901) of a top-level key: `/` and `~` in the key are escaped,
    so a key can hold any character and still name exactly one member."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def first_lines(exc: BaseException, lines: int = ERROR_LINES) -> str:
    text = str(exc).strip()
    return "\n".join(text.splitlines()[:lines]) if text else type(exc).__name__


def guard(catalog: Catalog, query: Compiled) -> None:
    """Refuse anything but one read-only SELECT over the catalog's tables."""
    con = catalog.cursor()
    try:
        check_read_only(con, query.sql, catalog.table_names())
    finally:
        con.close()


def guard_where(catalog: Catalog, fragment: str) -> None:
    """Refuse a WHERE fragment that is not one read-only expression (see check_where)."""
    con = catalog.cursor()
    try:
        check_where(con, fragment, catalog.table_names())
    finally:
        con.close()


Tables = Mapping[str, pa.Table]


@contextmanager
def _cursor(catalog: Catalog, tables: Tables | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh cursor with `tables` (Arrow data the query reads by name) registered."""
    con = catalog.cursor()
    try:
        for name, table in (tables or {}).items():
            con.register(name, table)
        yield con
    finally:
        con.close()


def execute(
    catalog: Catalog,
    query: Compiled,
    *,
    check: bool = False,
    limit: float | None = None,
    tables: Tables | None = None,
) -> pa.Table:
    """Run `query` on a fresh cursor and return the whole result as an Arrow table.

    `check` runs the read-only guard first and bounds the query by `limit` seconds (default:
    the catalog's time limit): needed when the query holds SQL a person typed. DuckDB's
    errors become QueryError with DuckDB's own message, for the UI to show; Ctrl-C in the
    statement a KeyboardInterrupt (store/interrupts.py). `tables` are
    Arrow tables the query reads by name (never with `check`: the guard knows only the
    catalog's tables).
    """
    with _cursor(catalog, tables) as con:
        try:
            if check:
                check_read_only(con, query.sql, catalog.table_names())
            with statements_stopped(), time_limit(con, _limit(catalog, limit) if check else None):
                return con.sql(query.sql, params=list(query.params)).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(first_lines(exc)) from exc


def execute_rows(
    catalog: Catalog,
    query: Compiled,
    *,
    check: bool = False,
    limit: float | None = None,
    tables: Tables | None = None,
) -> list[tuple[Any, ...]]:
    with _cursor(catalog, tables) as con:
        try:
            if check:
                check_read_only(con, query.sql, catalog.table_names())
            with statements_stopped(), time_limit(con, _limit(catalog, limit) if check else None):
                return con.execute(query.sql, list(query.params)).fetchall()
        except duckdb.Error as exc:
            raise QueryError(first_lines(exc)) from exc


def _limit(catalog: Catalog, limit: float | None) -> float:
    return catalog.time_limit if limit is None else limit


def table_columns(catalog: Catalog, table: str) -> list[str]:
    rows = execute_rows(
        catalog,
        sql(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            table,
        ),
    )
    return [str(r[0]) for r in rows]
