"""Frames a person's SQL deletes while imports are under way on a local catalog.

An import counts each frame it leaves stored once (workbench/ingest/_counting.py). A write
that is not an import's (a person's `DELETE` in `catalog.transaction()`, outside any writer
or service) tells no import what it takes away: a frame it deletes stays counted as the
import stored it, as one another import removes does, and the import would count it a
second time if it gave it again. So, before such a write's COMMIT (store/before_commit.py),
while imports are under way: the frames stored over the span of keys they counted are
counted in the write's transaction and as last committed; only if fewer are left are their
keys read both ways, and each import notes the frames it counted among those deleted, read
as last committed (as it stored them), as another import's write would have told it
(`Counted.deleted`). It takes them back once when it gives them again. An import's own
writes, which tell, are not checked (`_counted_elsewhere.writing`). A lake-backed catalog's
frames are not the engine's tables: such a DELETE is refused there.

Not under it: a person's SQL that changes a stored frame's sources or ROIs without deleting
the frame (the frame stays counted as stored; given again, its ROIs as stored now are taken
back), and SQL run on a cursor outside `catalog.transaction()` (autocommitted, no COMMIT of
the catalog's to run before).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.ingest import _counted_elsewhere as elsewhere

_STORED = "frames WHERE frame_key BETWEEN ? AND ?"


def check(catalog: Any, con: Any, cursor: Callable[[], Any]) -> Callable[[], None] | None:
    """Before the COMMIT of the transaction `con` on `catalog` (`cursor`: a new cursor, which
    reads the catalog as last committed): the imports under way note the frames they counted
    that it deletes. Nothing is read when no import is under way, or when it is one's."""
    if catalog.lake is not None or elsewhere.is_writing(catalog):
        return None
    imports = [(c, span) for c in elsewhere.others(catalog, None) if (span := c.span())]
    if not imports:
        return None
    low, high = min(s[0] for _, s in imports), max(s[1] for _, s in imports)
    left = con.execute(f"SELECT count(*) FROM {_STORED}", [low, high]).fetchall()[0][0]
    committed = cursor()
    try:
        if (
            committed.execute(f"SELECT count(*) FROM {_STORED}", [low, high]).fetchall()[0][0]
            <= left
        ):
            return None
        keys = f"SELECT frame_key FROM {_STORED}"
        before = committed.execute(keys, [low, high]).fetchnumpy()["frame_key"]
        after = con.execute(keys, [low, high]).fetchnumpy()["frame_key"]
        deleted = _missing(np.sort(before.astype(np.int64)), np.sort(after.astype(np.int64)))
        undos = [undo for c, _ in imports if (undo := c.deleted(committed, deleted))]
    finally:
        committed.close()

    def undone() -> None:
        for undo in reversed(undos):
            undo()

    return undone


def _missing(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The keys of `before` not in `after` (both sorted, distinct). (numpy's setdiff1d
    hashed them: 0.3 s at 100,000 keys.)"""
    if not len(after):
        return before
    at = np.minimum(np.searchsorted(after, before), len(after) - 1)
    return before[after[at] != before]
