"""One row of the audit log, written from any layer (imports sit below the services)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

import duckdb

from workbench.model.jsontext import dumps


def default_actor() -> str:
    """Who acts when no actor is given: $USER, else the login name, else 'unknown'."""
    name = os.environ.get("USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def append_audit_row(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str,
    action: str,
    target: Mapping[str, Any] | None,
    count: int | None,
    outcome: str,
    details: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> None:
    """Add one audit_log row inside the caller's transaction (it commits with the work)."""
    con.execute(
        "INSERT INTO audit_log (actor, action, target, count, dry_run, outcome, details) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            actor,
            action,
            dumps(target) if target is not None else None,
            count,
            dry_run,
            outcome,
            dumps(details) if details is not None else None,
        ],
    )
