"""Bookkeeping rows of annotation backends, in catalog tables each backend declares.

A backend that must remember things about its runs (which CVAT project and tasks hold a run,
which task frame is which catalog frame, ...) declares its tables as `LedgerTable`s and reads
and writes them through a `Ledger` on the cursor it was handed: typed `put`, `rows`, `get`,
`delete`, with every value a parameter, identifiers quoted, JSON columns encoded and decoded
here. The backend writes no SQL of its own, and the catalog schema does not name its tables.

The store makes a declared table on its first write (`CREATE TABLE IF NOT EXISTS`, in the
caller's transaction, so a dry run or a failed action leaves no table behind); a read of a
table not made yet finds no rows. A table that exists already, made by an earlier version's
migration, is used as it is once it is seen to have every declared column (a catalog missing
one is a CatalogError naming it, never a silent mismatch).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from workbench.errors import CatalogError
from workbench.store.sqlsafe import quote_ident

# DuckDB column types a ledger may declare, and the Arrow type rows are staged in.
_ARROW: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of _ARROW's keys
    not_null: bool = False
    # An SQL default for rows that do not give the column (e.g. current_timestamp).
    default: str | None = None

    def __post_init__(self) -> None:
        if self.type not in _ARROW:
            raise ValueError(f"column {self.name!r}: type {self.type!r} is not one of {_ARROW}")


@dataclass(frozen=True)
class LedgerTable:
    """A backend's table: its name (prefixed with the backend's name) and its columns."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise ValueError(f"{self.name} has no column {name!r}")

    def ddl(self) -> str:
        parts = []
        for c in self.columns:
            part = f"{quote_ident(c.name)} {c.type}"
            if self.primary_key == (c.name,):
                part += " PRIMARY KEY"
            elif c.not_null:
                part += " NOT NULL"
            if c.default is not None:
                part += f" DEFAULT {c.default}"
            parts.append(part)
        if len(self.primary_key) > 1:
            parts.append(f"PRIMARY KEY ({', '.join(map(quote_ident, self.primary_key))})")
        body = ",\n    ".join(parts)
        return f"CREATE TABLE IF NOT EXISTS {quote_ident(self.name)} (\n    {body})"


class Ledger:
    """Typed access to the declared tables of one backend, on one cursor (inside the
    caller's transaction when it has one).

    `where` arguments are column=value: a value matches by equality, None matches NULL,
    and a list, tuple or set matches any of its items (the table comes first, by position,
    so a column may be called `name`).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, tables: Iterable[LedgerTable]) -> None:
        self._con = con
        self._tables = {t.name: t for t in tables}
        self._present: set[str] = set()

    def table(self, name: str) -> LedgerTable:
        try:
            return self._tables[name]
        except KeyError:
            raise ValueError(f"{name!r} is not a table of this ledger") from None

    # -- writing -----------------------------------------------------------------------------
    def put(self, name: str, rows: Sequence[Mapping[str, Any]], /) -> int:
        """Insert rows (dicts by column name; JSON columns take any JSON value); how many."""
        table = self.table(name)
        if not rows:
            return 0
        given = [c for c in table.columns if any(c.name in row for row in rows)]
        unknown = sorted({k for row in rows for k in row} - {c.name for c in table.columns})
        if unknown:
            raise ValueError(f"{name} has no columns {', '.join(unknown)}")
        staged = pa.table(
            {
                c.name: pa.array([_encode(c, row.get(c.name)) for row in rows], _ARROW[c.type])
                for c in given
            }
        )
        self._create(table)
        view = f"_wb_ledger_{uuid.uuid4().hex[:12]}"
        columns = ", ".join(quote_ident(c.name) for c in given)
        self._con.register(view, staged)
        try:
            self._con.execute(
                f"INSERT INTO {quote_ident(name)} ({columns}) SELECT {columns} FROM {view}"
            )
        finally:
            self._con.unregister(view)
        return len(rows)

    def delete(self, name: str, /, **where: Any) -> int:
        """Delete the rows matching `where` (which must say something)."""
        table = self.table(name)
        if not where:
            raise ValueError(f"deleting from {name} needs a condition")
        if not self._exists(table):
            return 0
        condition, params = _where(table, where)
        found = self._con.execute(
            f"DELETE FROM {quote_ident(name)} WHERE {condition}", params
        ).fetchall()
        return int(found[0][0]) if found else 0

    # -- reading -----------------------------------------------------------------------------
    def rows(
        self, name: str, /, *, order_by: Sequence[str] = (), **where: Any
    ) -> list[dict[str, Any]]:
        """The rows matching `where`, as dicts (JSON columns decoded), in `order_by` order."""
        table = self.table(name)
        if not self._exists(table):
            return []
        select = ", ".join(
            f"{quote_ident(c.name)}::VARCHAR" if c.type == "JSON" else quote_ident(c.name)
            for c in table.columns
        )
        query = f"SELECT {select} FROM {quote_ident(name)}"
        params: list[Any] = []
        if where:
            condition, params = _where(table, where)
            query += f" WHERE {condition}"
        if order_by:
            query += " ORDER BY " + ", ".join(quote_ident(table.column(c).name) for c in order_by)
        found = self._con.execute(query, params).fetchall()
        return [
            {c.name: _decode(c, value) for c, value in zip(table.columns, row, strict=True)}
            for row in found
        ]

    def get(self, name: str, /, **where: Any) -> dict[str, Any] | None:
        """The one row matching `where`, or None; more than one is a CatalogError."""
        found = self.rows(name, **where)
        if len(found) > 1:
            raise CatalogError(f"{name}: {len(found)} rows where one was expected ({where})")
        return found[0] if found else None

    # -- tables ------------------------------------------------------------------------------
    def _exists(self, table: LedgerTable) -> bool:
        if table.name in self._present:
            return True
        columns = {
            r[0]
            for r in self._con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ?",
                [table.name],
            ).fetchall()
        }
        if not columns:
            return False
        missing = [c.name for c in table.columns if c.name not in columns]
        if missing:
            raise CatalogError(
                f"catalog table {table.name} lacks the columns {', '.join(missing)} its backend "
                "needs: it was made by another version of workbench"
            )
        self._present.add(table.name)
        return True

    def _create(self, table: LedgerTable) -> None:
        if not self._exists(table):
            self._con.execute(table.ddl())
            self._present.add(table.name)


def _where(table: LedgerTable, where: Mapping[str, Any]) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for name, value in where.items():
        column = table.column(name)
        if column.type == "JSON":
            raise ValueError(f"{table.name}.{name}: JSON columns cannot be matched")
        ident = quote_ident(name)
        if value is None:
            parts.append(f"{ident} IS NULL")
        elif isinstance(value, list | tuple | set | frozenset):
            parts.append(f"{ident} IN (SELECT unnest(?::{column.type}[]))")
            params.append(list(value))
        else:
            parts.append(f"{ident} = ?")
            params.append(value)
    return " AND ".join(parts), params


def _encode(column: Column, value: Any) -> Any:
    if column.type == "JSON" and value is not None:
        return json.dumps(value)
    return value


def _decode(column: Column, value: Any) -> Any:
    if column.type == "JSON" and isinstance(value, str):
        return json.loads(value)
    return value
