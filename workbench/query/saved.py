"""Saved views: a view's spec stored by name in the catalog's `saved_views` table.

`save_view`, `load_view`, `list_views` and `delete_view` work on a catalog. The functions
that take a connection (`view_rows`, `store_view`, `rename_stored_view`, `remove_view`) do
their part inside the caller's transaction: the service's audited actions
(`Workbench.save_view`, `rename_view`, `delete_view`) use them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from workbench.errors import CatalogError, QueryError
from workbench.query._sql import first_lines
from workbench.query.view import View

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog


@dataclass(frozen=True)
class SavedView:
    name: str
    created: datetime | None
    stages: int


@dataclass(frozen=True)
class StoredView:
    """A saved view's row: its name, its spec (`View.to_dict()`) and when it was saved."""

    name: str
    spec: dict[str, Any]
    created: datetime | None


def save_view(catalog: Catalog, name: str, view: View) -> None:
    """Store `view` under `name`, replacing a saved view of that name."""
    if not isinstance(name, str) or not name.strip():
        raise QueryError("a saved view needs a non-empty name")
    try:
        with catalog.transaction() as con:
            store_view(con, name, view.to_dict())
    except duckdb.Error as exc:
        raise CatalogError(f"cannot save view {name!r}: {first_lines(exc)}") from exc


def load_view(catalog: Catalog, name: str) -> View:
    rows = view_rows(catalog.cursor(), name)
    if not rows:
        known = ", ".join(v.name for v in list_views(catalog)) or "none"
        raise QueryError(f"no saved view named {name!r} (saved: {known})")
    return View.from_dict(catalog, rows[0].spec)


def list_views(catalog: Catalog) -> list[SavedView]:
    rows = (
        catalog.cursor()
        .execute(
            "SELECT name, created, json_array_length(spec -> '$.stages') FROM saved_views ORDER BY name"
        )
        .fetchall()
    )
    return [SavedView(str(n), c, int(s or 0)) for n, c, s in rows]


def delete_view(catalog: Catalog, name: str) -> bool:
    """Remove a saved view; False if there was none of that name."""
    with catalog.transaction() as con:
        return remove_view(con, name)


# -- inside a caller's transaction ---------------------------------------------------------


def view_rows(con: duckdb.DuckDBPyConnection, name: str | None = None) -> list[StoredView]:
    """The saved view named `name` (none or one), or every saved view, by name."""
    query = "SELECT name, spec, created FROM saved_views"
    params: list[Any] = []
    if name is not None:
        query += " WHERE name = ?"
        params.append(name)
    found = con.execute(query + " ORDER BY name", params).fetchall()
    return [StoredView(str(n), json.loads(s), c) for n, s, c in found]


def store_view(con: duckdb.DuckDBPyConnection, name: str, spec: Mapping[str, Any]) -> bool:
    """Store `spec` under `name`, replacing a saved view of that name; whether one was
    replaced."""
    found = con.execute("DELETE FROM saved_views WHERE name = ? RETURNING name", [name]).fetchall()
    con.execute("INSERT INTO saved_views (name, spec) VALUES (?, ?)", [name, json.dumps(spec)])
    return bool(found)


def rename_stored_view(con: duckdb.DuckDBPyConnection, name: str, new_name: str) -> None:
    """Give the saved view `name` the name `new_name` (the caller checked both)."""
    con.execute("UPDATE saved_views SET name = ? WHERE name = ?", [new_name, name])


def remove_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Remove a saved view; False if there was none of that name."""
    found = con.execute("DELETE FROM saved_views WHERE name = ? RETURNING name", [name]).fetchall()
    return bool(found)
