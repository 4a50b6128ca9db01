"""Quoting of identifiers, and the guard that keeps SQL typed by a person read-only.

Two lines of defence stand between a person's SQL and anything outside the catalog:

1. this guard: the SQL is parsed by DuckDB itself (`json_serialize_sql`), never by regular
   expressions. It must be one SELECT; every table it names must be a catalog table or a CTE
   in scope where it is named (SQL scoping, walked with a scope stack); it may call no table
   function but a few pure ones, and no function that reads engine state or the machine;
2. the engine: the catalog's DuckDB database is sealed when it is opened (no file, network or
   extension access, configuration locked; see Catalog), so whatever this guard misses still
   cannot reach a file.

A WHERE fragment (`View.where`) must moreover be one expression on its own: see check_where.
Person SQL runs under a time limit (`time_limit`), so one query cannot hold the catalog.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from workbench.errors import QueryError, ReadOnlyQueryError

# Table functions that only compute; every other one (read_csv, read_parquet, query, glob,
# duckdb_settings, json_execute_serialized_sql...) is refused.
_SAFE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
# Scalar functions that read the machine, the engine's settings or its state, or change it.
_UNSAFE_FUNCTIONS = frozenset(
    {
        "getenv",
        "getvariable",
        "current_setting",
        "current_query",
        "current_query_id",
        "current_database",
        "current_catalog",
        "current_schema",
        "current_schemas",
        "current_role",
        "current_user",
        "current_connection_id",
        "current_transaction_id",
        "session_user",
        "user",
        "in_search_path",
        "txid_current",
        "version",
        "nextval",
        "currval",
        "setval",
        "read_text",
        "read_blob",
        "glob",
        "query",
        "query_table",
        "which_secret",
        "sniff_csv",
        "col_description",
        "obj_description",
        "shobj_description",
        "format_type",
        "format_pg_type",
        "map_to_pg_oid",
        "map_type_id_to_pg_oid",
    }
)
_UNSAFE_FUNCTION_PREFIXES = (
    "pg_",
    "duckdb_",
    "sqlite_",
    "pragma_",
    "has_",
    "inet_",
    "read_",
    "parquet_",
    "json_execute",
    "__internal",
)
# Names of the engine's own views and tables (pg_settings, duckdb_tables, sqlite_master,
# information_schema...). Never a table a query may read, nor a name a CTE may take: even
# where a CTE would shadow one, refusing the name leaves nothing to get wrong.
_ENGINE_PREFIXES = ("pg_", "duckdb_", "sqlite_", "pragma_", "information_schema")
_QUERY_NODES = ("SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE")
# The probe a WHERE fragment is parsed in: the same text the view compiles it into.
WHERE_PROBE = "SELECT * FROM frames AS f WHERE "


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB (the one place identifiers enter SQL)."""
    return '"' + name.replace('"', '""') + '"'


def embed_where(fragment: str) -> str:
    """A WHERE fragment as it enters a query: in parentheses, on lines of its own (so a
    trailing `--` comment cannot swallow the closing parenthesis)."""
    return "(\n" + fragment + "\n)"


# -- whole queries ------------------------------------------------------------------------------


def check_read_only(con: duckdb.DuckDBPyConnection, query: str, tables: Iterable[str]) -> None:
    """Raise ReadOnlyQueryError unless `query` is one SELECT that reads only `tables`."""
    statements = _statements(con, query, "the query")
    if len(statements) != 1:
        raise ReadOnlyQueryError(f"expected one query, got {len(statements)} statements")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = statements[0].type.name
        raise ReadOnlyQueryError(f"only queries can run here, not {kind} statements")
    with _depth_bounded():
        _Guard(tables).visit(_tree(con, query), frozenset())


@contextmanager
def _depth_bounded() -> Iterator[None]:
    """Python's recursion limit bounds how deep a parse tree may be (DuckDB's own limit,
    max_expression_depth, is about as deep): deeper input is refused, not a crash."""
    try:
        yield
    except RecursionError as exc:
        raise ReadOnlyQueryError("the query is nested too deeply to be checked") from exc


def _statements(con: duckdb.DuckDBPyConnection, text: str, what: str) -> list[Any]:
    try:
        return list(con.extract_statements(text))
    except duckdb.Error as exc:
        raise ReadOnlyQueryError(f"cannot parse {what}: {_first_line(exc)}") from exc


def _tree(con: duckdb.DuckDBPyConnection, query: str) -> dict[str, Any]:
    raw = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [query]).fetchall()[0][0]
    tree: dict[str, Any] = json.loads(raw)
    if tree.get("error"):
        raise ReadOnlyQueryError(
            f"only plain SELECT queries can run here: {tree.get('error_message')}"
        )
    return tree


def fold(name: str) -> str:
    """An identifier as DuckDB compares it (ASCII case only): the guard never takes two
    names for the same that DuckDB might tell apart."""
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _loose(name: str) -> str:
    """An identifier folded as broadly as Unicode allows (DuckDB folds e.g. the Kelvin sign
    to `k`): used only to refuse engine names, where folding too much is harmless."""
    return unicodedata.normalize("NFKC", name).casefold()


def _engine_name(name: str) -> bool:
    loose = _loose(name)
    return loose.startswith(_ENGINE_PREFIXES)


class _Guard:
    """Walks DuckDB's parse tree with the CTE names in scope at each point."""

    def __init__(self, tables: Iterable[str]) -> None:
        self.tables = frozenset(fold(t) for t in tables)
        self.listed = ", ".join(sorted(tables))

    def visit(self, value: Any, scope: frozenset[str]) -> None:
        if isinstance(value, list):
            for child in value:
                self.visit(child, scope)
            return
        if not isinstance(value, dict):
            return
        kind = value.get("type")
        if "class" in value:
            self._expression(value, scope)
        elif kind in _QUERY_NODES:
            self._query_node(value, scope)
            return
        elif kind == "BASE_TABLE":
            self._table(value, scope)
        elif kind == "TABLE_FUNCTION":
            self._table_function(value)
        elif kind == "SHOW_REF":
            raise ReadOnlyQueryError("DESCRIBE, SHOW and SUMMARIZE are not allowed here")
        for child in value.values():
            self.visit(child, scope)

    def _query_node(self, node: dict[str, Any], scope: frozenset[str]) -> None:
        """A CTE is visible in later CTEs of its WITH and in the node's body (and nested
        subqueries); a recursive CTE also in its recursive term. Nowhere else."""
        visible = set(scope)
        for entry in (node.get("cte_map") or {}).get("map") or []:
            name = str(entry.get("key", ""))
            if _engine_name(name):
                raise ReadOnlyQueryError(f"a CTE cannot be named {name!r}: an engine view")
            self.visit(entry.get("value"), frozenset(visible))
            visible.add(fold(name))
        inner = frozenset(visible)
        for key, child in node.items():
            if key == "cte_map":
                continue
            if node.get("type") == "RECURSIVE_CTE_NODE" and key == "right":
                self.visit(child, inner | {fold(str(node.get("cte_name", "")))})
            else:
                self.visit(child, inner)

    def _table(self, node: dict[str, Any], scope: frozenset[str]) -> None:
        name = str(node.get("table_name", ""))
        path = [str(p) for p in (node.get("qualified_name") or {}).get("path") or [name]]
        schema = node.get("schema_name") or ""
        qualified = bool(node.get("catalog_name")) or (schema and fold(schema) != "main")
        if qualified or path[-1] != name or len(path) > 2 or path[:-1] not in ([], [schema]):
            raise ReadOnlyQueryError(f"table {name!r}: only tables of this catalog can be read")
        if _engine_name(name):
            raise ReadOnlyQueryError(f"table {name!r} is the engine's, not the catalog's")
        if not schema and fold(name) in scope:
            return  # a CTE in scope
        if fold(name) not in self.tables:
            raise ReadOnlyQueryError(
                f"unknown table {name!r}: queries read catalog tables only ({self.listed})"
            )

    def _table_function(self, node: dict[str, Any]) -> None:
        function = node.get("function") or {}
        name = _function_name(function)
        if name not in _SAFE_TABLE_FUNCTIONS:
            allowed = ", ".join(f"{f}()" for f in sorted(_SAFE_TABLE_FUNCTIONS))
            raise ReadOnlyQueryError(f"table function {name}() is not allowed (only {allowed})")

    def _expression(self, node: dict[str, Any], scope: frozenset[str]) -> None:
        if "function_name" not in node:
            return
        name = _function_name(node)
        if name in _UNSAFE_FUNCTIONS or name.startswith(_UNSAFE_FUNCTION_PREFIXES):
            raise ReadOnlyQueryError(f"function {name}() is not allowed in catalog queries")


def _function_name(node: dict[str, Any]) -> str:
    name = fold(str(node.get("function_name", "")))
    schema = fold(str(node.get("schema") or ""))
    path = (node.get("qualified_name") or {}).get("path") or [name]
    if node.get("catalog") or schema not in ("", "main") or len(path) > 2:
        raise ReadOnlyQueryError(f"function {name}(): only the engine's plain functions")
    return name


# -- WHERE fragments ----------------------------------------------------------------------------


def check_where(con: duckdb.DuckDBPyConnection, fragment: str, tables: Iterable[str]) -> None:
    """Raise ReadOnlyQueryError unless `fragment` is one boolean expression on its own.

    The fragment is parsed by DuckDB inside `SELECT * FROM frames AS f WHERE (<fragment>)`,
    as the view embeds it: the result must be exactly that statement with one WHERE
    expression, nothing else (no set operation, ORDER/LIMIT, second statement, CTE...). It
    must also parse without the parentheses, to the same expression: `false) OR (true` closes
    the view's parentheses and is refused. What the expression reads passes the same guard
    as catalog.sql (subqueries over catalog tables are fine).
    """
    with _depth_bounded():
        _check_where(con, fragment, tables)


def _check_where(con: duckdb.DuckDBPyConnection, fragment: str, tables: Iterable[str]) -> None:
    what = "the WHERE fragment"
    embedded = WHERE_PROBE + embed_where(fragment)
    statements = _statements(con, embedded, what + " (it must be one expression)")
    if len(statements) != 1:
        raise ReadOnlyQueryError(
            f"{what} must be one expression: it turns the view's one query into "
            f"{len(statements)} statements"
        )
    tree = _where_tree(con, embedded)
    expression = tree.pop("where_clause", None)
    if expression is None or tree != _reference(con):
        raise ReadOnlyQueryError(
            f"{what} must be one expression: it adds clauses of its own to the view's query"
        )
    bare = WHERE_PROBE + "\n" + fragment + "\n"
    try:
        alone = _where_tree(con, bare).get("where_clause")
    except (duckdb.Error, ReadOnlyQueryError):
        alone = None
    if alone != expression:
        raise ReadOnlyQueryError(
            f"{what} must be one expression on its own: its parentheses or comments reach "
            "outside it"
        )
    _Guard(tables).visit(expression, frozenset())


def _where_tree(con: duckdb.DuckDBPyConnection, text: str) -> dict[str, Any]:
    """The probe's one SELECT node, without the positions of its parts in the text."""
    if len(con.extract_statements(text)) != 1:
        raise ReadOnlyQueryError("not one statement")
    statements = _tree(con, text).get("statements") or []
    node = _without_locations(statements[0].get("node")) if len(statements) == 1 else None
    if not isinstance(node, dict):
        raise ReadOnlyQueryError("the WHERE fragment must be one expression")
    return node


_REFERENCE: dict[str, Any] = {}


def _reference(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The probe's tree around its WHERE expression, as DuckDB parses a plain one."""
    if not _REFERENCE:
        tree = _where_tree(con, WHERE_PROBE + embed_where("TRUE"))
        tree.pop("where_clause")
        _REFERENCE.update(tree)
    return _REFERENCE


def _without_locations(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_locations(v) for k, v in value.items() if not k.startswith("query_location")
        }
    if isinstance(value, list):
        return [_without_locations(v) for v in value]
    return value


# -- time limit ---------------------------------------------------------------------------------


@contextmanager
def time_limit(con: duckdb.DuckDBPyConnection, seconds: float | None) -> Iterator[None]:
    """Interrupt what `con` runs inside the block once `seconds` have passed.

    DuckDB stops the query at its next check and raises; that becomes a QueryError saying so.
    None or 0 means no limit (the library's own queries).
    """
    if not seconds or seconds <= 0:
        yield
        return
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.InterruptException as exc:
        if not fired.is_set():
            raise
        raise QueryError(f"query took longer than {seconds:g} s and was stopped") from exc
    finally:
        timer.cancel()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
