"""Checks run in a write transaction just before its COMMIT, for the layers above the store:
an import under way notes the frames it counted that a person's SQL deletes
(workbench/ingest/_counted_deletes.py).

A check is given the catalog, the transaction's cursor and a way to open a cursor of its
own, which reads the catalog as last committed (what the transaction deleted is still there
for it); it returns what undoes what it noted, should the COMMIT fail, or None. A nested
transaction (`Catalog.transaction`) runs none: the outer one's COMMIT does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Undo = Callable[[], None]
Check = Callable[[Any, Any, Callable[[], Any]], Undo | None]

_CHECKS: list[Check] = []
_LOCK = threading.Lock()


def add(check: Check) -> None:
    """Run `check` before every COMMIT of every catalog from now on (once, however often it
    is added)."""
    with _LOCK:
        if check not in _CHECKS:
            _CHECKS.append(check)


def run(catalog: Any, con: Any, cursor: Callable[[], Any]) -> Undo:
    """Run the checks on the transaction `con` of `catalog` (`cursor`: a new cursor on it);
    returns what undoes what they noted (undone already if one of them fails)."""
    with _LOCK:
        checks = list(_CHECKS)
    undos: list[Undo] = []

    def undone() -> None:
        for undo in reversed(undos):
            undo()

    try:
        for check in checks:
            undo = check(catalog, con, cursor)
            if undo is not None:
                undos.append(undo)
    except BaseException:
        undone()  # (the transaction rolls back)
        raise
    return undone
