"""What the embedding, duplicate and QA analyses share when they write to the catalog.

Every write is one transaction that also writes an audit_log row, like the evaluation runs;
a catalog opened read-only is refused before anything is computed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from workbench.errors import AnalysisError
from workbench.store.audit import default_actor

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# Embedding keys name a table (`emb_<key>`): lowercase letters, digits and underscores only.
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,47}")


def check_key(key: Any, what: str = "an embedding key") -> str:
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise AnalysisError(
            f"{what} must be 1 to 48 lowercase letters, digits or underscores starting with a "
            f"letter, got {key!r}"
        )
    return key


def check_writable(catalog: Catalog, what: str) -> None:
    if catalog.read_only:
        raise AnalysisError(f"{catalog.path} is opened read-only: {what} are stored in the catalog")


def check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise AnalysisError(f"{name} must be True or False, got {value!r}")
    return value


def positive_int(value: Any, name: str, *, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AnalysisError(f"{name} must be a positive integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise AnalysisError(f"{name} must be at most {maximum}, got {value}")
    return value


def positive_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise AnalysisError(f"{name} must be a positive number, got {value!r}")
    return float(value)


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[str]:
    """An Arrow table readable by name on `con` inside the block (the sealed engine reads
    registered Arrow data, never files)."""
    con.register(name, table)
    try:
        yield name
    finally:
        con.unregister(name)


def to_json(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(",", ":"), sort_keys=True)


def audit(
    con: duckdb.DuckDBPyConnection,
    action: str,
    target: Mapping[str, Any],
    count: int,
    *,
    dryrun: bool = False,
    details: Mapping[str, Any] | None = None,
) -> None:
    con.execute(
        "INSERT INTO audit_log (actor, action, target, count, dry_run, outcome, details)"
        " VALUES (?, ?, ?, ?, ?, 'ok', ?)",
        [
            default_actor(),
            action,
            to_json(dict(target)),
            count,
            dryrun,
            to_json(dict(details)) if details else None,
        ],
    )
