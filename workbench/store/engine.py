"""The catalog's engine: its settings and its seal.

A catalog's DuckDB engine is configured from the environment when the file is opened (its
memory budget and threads, the time a person's query may run, the lower budget of imports),
then sealed: no file, network or extension access and no setting changed but the memory
budget. These are the engine's own terms, apart from the catalog that holds the connection
(store/catalog.py, which offers these names as it always did): an engine opened beside a
catalog (a lake's writes, store/lake_write.py) takes the same settings (`engine_config`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import duckdb

from workbench.errors import CatalogError

# The engine's memory budget (DuckDB's memory_limit: what it holds before spilling sorts,
# joins and aggregates to the catalog's temp folder); threads default to the cores.
MEMORY_LIMIT_ENV = "WORKBENCH_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "1GB"
# The engine's budget while an import runs (never above memory_limit). DuckDB keeps the blocks
# a write stores in its cache until it reaches its limit, and an import writes gigabytes: at
# 1GB that cache alone is 1 GB after a few million frames, on top of the import's own memory.
# Lowering the limit evicts the cache; browsing gets its own limit back when the import ends.
IMPORT_MEMORY_LIMIT_ENV = "WORKBENCH_IMPORT_MEMORY_LIMIT"
DEFAULT_IMPORT_MEMORY_LIMIT = "256MB"
THREADS_ENV = "WORKBENCH_THREADS"
# Seconds a query typed by a person may run (catalog.sql, views with a where() fragment).
TIME_LIMIT_ENV = "WORKBENCH_SQL_TIME_LIMIT"
DEFAULT_TIME_LIMIT = 30.0
# Engine settings made before the seal: afterwards nothing can be SET.
_SEAL = (
    "SET python_enable_replacements = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET allow_persistent_secrets = false",
    "SET enable_external_access = false",
    # The one setting left to change: the memory budget, lowered for imports
    # (Catalog.import_memory).
    "SET allowed_configs = ['memory_limit']",
    "SET lock_configuration = true",
)


def engine_config() -> dict[str, Any]:
    """DuckDB settings of the catalog's engine: `WORKBENCH_MEMORY_LIMIT` (default 1GB; e.g.
    `4GB`) and `WORKBENCH_THREADS` (default: DuckDB's, the number of cores)."""
    config: dict[str, Any] = {
        "memory_limit": os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT
    }
    threads = os.environ.get(THREADS_ENV)
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise CatalogError(f"{THREADS_ENV}={threads!r} is not a number of threads")
        config["threads"] = int(threads)
    return config


def import_memory_limit(limit: str) -> str:
    """The engine's memory budget during an import: `WORKBENCH_IMPORT_MEMORY_LIMIT` (default
    256MB), or the catalog's own `limit` if that is lower."""
    wanted = os.environ.get(IMPORT_MEMORY_LIMIT_ENV) or DEFAULT_IMPORT_MEMORY_LIMIT
    if _size_bytes(wanted) is None:
        raise CatalogError(f"{IMPORT_MEMORY_LIMIT_ENV}={wanted!r} is not a size (e.g. 256MB)")
    held, given = _size_bytes(limit), _size_bytes(wanted)
    return limit if held is not None and given is not None and held <= given else wanted


_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def _size_bytes(text: str) -> int | None:
    """A size as DuckDB reads one ("256MB", "1GiB", "1.5 GB"), in bytes; None if it is not
    one of those (DuckDB's own check of the setting then decides)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if found is None or found.group(2) not in _UNITS:
        return None
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def default_time_limit() -> float:
    """`WORKBENCH_SQL_TIME_LIMIT` (seconds) if set, else 30."""
    raw = os.environ.get(TIME_LIMIT_ENV)
    try:
        return float(raw) if raw else DEFAULT_TIME_LIMIT
    except ValueError as exc:
        raise CatalogError(f"{TIME_LIMIT_ENV}={raw!r} is not a number of seconds") from exc


def seal(engine: duckdb.DuckDBPyConnection, path: Path) -> None:
    """No file, network or extension access from here on, and no way to turn it back on.

    Every query on the catalog, the library's and a person's, runs on this engine: what
    the read-only guard might miss still cannot read a file. Registered Arrow data, the
    database's own file, its WAL and its temp directory keep working.
    """
    con = engine.cursor()
    try:
        for statement in _SEAL:
            con.execute(statement)
    except duckdb.Error as exc:
        raise CatalogError(f"cannot seal catalog {path}: {exc}") from exc
    finally:
        con.close()


def set_memory_limit(engine: duckdb.DuckDBPyConnection, limit: str) -> None:
    con = engine.cursor()
    try:
        con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error as exc:
        raise CatalogError(f"cannot set the engine's memory limit to {limit!r}: {exc}") from exc
    finally:
        con.close()
