"""Frame groups of a lake-backed catalog (store/groups.py): stamped with the lake's versions.

The groups describe one snapshot of the lake: they record the versions of the three tables
they were counted at, and are read only while the catalog's pins are those versions. They
are counted by `lake init`, `lake attach` and `lake compact` (and `Catalog.optimize()` on a
lake); a write moves the pins, and facets then read the frames as before until the next
compaction counts the groups again.
"""

from __future__ import annotations

from typing import Any

import duckdb

from workbench.store import groups
from workbench.store.groups import FRAMES, GROUP, LAKE, MAX_GROUPS, MAX_VALUES, STRETCH
from workbench.store.lake import Lake

__all__ = [
    "FRAMES",
    "GROUP",
    "MAX_GROUPS",
    "MAX_VALUES",
    "STRETCH",
    "build",
    "current",
    "drop",
    "stamp",
]

Con = duckdb.DuckDBPyConnection


def stamp(lake: Lake) -> dict[str, Any]:
    """The versions of the lake's tables the catalog is pinned at."""
    return {n: t.version for n, t in lake.tables.items()}


def build(con: Con, lake: Lake, *, progress: bool = False) -> int:
    """Count the groups of the lake's pinned snapshot (in the caller's transaction); returns
    the number of groups."""
    return groups.build(con, LAKE, stamp(lake), progress=progress)


def drop(con: Con) -> None:
    """Forget the groups (before counting them again)."""
    groups.drop(con, LAKE)


def current(con: Con, lake: Lake) -> list[str] | None:
    """The groups' columns if the groups describe the catalog's pinned snapshot, else None."""
    return groups.current(con, LAKE, lambda: stamp(lake))
