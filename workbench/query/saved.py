"""Saved views: a view's spec stored by name in the catalog's `saved_views` table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

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


def save_view(catalog: Catalog, name: str, view: View) -> None:
    """Store `view` under `name`, replacing a saved view of that name."""
    if not isinstance(name, str) or not name.strip():
        raise QueryError("a saved view needs a non-empty name")
    spec = json.dumps(view.to_dict())
    try:
        with catalog.transaction() as con:
            con.execute("DELETE FROM saved_views WHERE name = ?", [name])
            con.execute("INSERT INTO saved_views (name, spec) VALUES (?, ?)", [name, spec])
    except duckdb.Error as exc:
        raise CatalogError(f"cannot save view {name!r}: {first_lines(exc)}") from exc


def load_view(catalog: Catalog, name: str) -> View:
    rows = (
        catalog.cursor().execute("SELECT spec FROM saved_views WHERE name = ?", [name]).fetchall()
    )
    if not rows:
        known = ", ".join(v.name for v in list_views(catalog)) or "none"
        raise QueryError(f"no saved view named {name!r} (saved: {known})")
    return View.from_dict(catalog, json.loads(rows[0][0]))


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
        found = con.execute("SELECT count(*) FROM saved_views WHERE name = ?", [name]).fetchall()
        con.execute("DELETE FROM saved_views WHERE name = ?", [name])
    return bool(found[0][0])
