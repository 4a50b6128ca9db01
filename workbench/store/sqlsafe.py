"""Quoting of identifiers, and the guard that keeps SQL typed by a person read-only.

A person's SQL is parsed by DuckDB itself (`json_serialize_sql`), never by regular
expressions: it must be one SELECT whose tables are catalog tables or its own CTEs, and which
calls no table function that could read files or the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb

from workbench.errors import ReadOnlyQueryError

# Table functions that only compute: everything else (read_csv, read_parquet, query, glob,
# read_text, duckdb_settings...) is refused.
_SAFE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
# Scalar functions that reach outside the catalog.
_UNSAFE_FUNCTIONS = frozenset({"getenv", "current_setting", "read_text", "read_blob"})


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB (the one place identifiers enter SQL)."""
    return '"' + name.replace('"', '""') + '"'


def check_read_only(con: duckdb.DuckDBPyConnection, query: str, tables: Iterable[str]) -> None:
    """Raise ReadOnlyQueryError unless `query` is one SELECT over `tables` (and its CTEs)."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise ReadOnlyQueryError(f"cannot parse the query: {_first_line(exc)}") from exc
    if len(statements) != 1:
        raise ReadOnlyQueryError(f"expected one query, got {len(statements)} statements")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = statements[0].type.name
        raise ReadOnlyQueryError(f"only queries can run here, not {kind} statements")
    raw = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [query]).fetchall()[0][0]
    tree = json.loads(raw)
    if tree.get("error"):
        raise ReadOnlyQueryError(
            f"only plain SELECT queries can run here: {tree.get('error_message')}"
        )
    allowed = {t.lower() for t in tables} | {c.lower() for c in _cte_names(tree)}
    for node in _walk(tree):
        _check_node(node, allowed)


def _check_node(node: dict[str, Any], allowed: set[str]) -> None:
    kind = node.get("type")
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", ""))
        if node.get("catalog_name") or node.get("schema_name") not in ("", "main", None):
            raise ReadOnlyQueryError(f"table {name!r}: only tables of this catalog can be read")
        if name.lower() not in allowed:
            raise ReadOnlyQueryError(
                f"unknown table {name!r}: queries read catalog tables only "
                f"({', '.join(sorted(allowed))})"
            )
    elif kind == "TABLE_FUNCTION":
        fn = str(node.get("function", {}).get("function_name", "")).lower()
        if fn not in _SAFE_TABLE_FUNCTIONS:
            raise ReadOnlyQueryError(f"table function {fn}() is not allowed: it can reach files")
    elif node.get("class") == "FUNCTION":
        fn = str(node.get("function_name", "")).lower()
        if fn in _UNSAFE_FUNCTIONS:
            raise ReadOnlyQueryError(f"function {fn}() is not allowed in catalog queries")


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _cte_names(tree: dict[str, Any]) -> Iterator[str]:
    for node in _walk(tree):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map", []):
                yield str(entry.get("key", ""))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
