"""What the catalog holds of a batch's good Nucleus scenes, looked up at once (the queries of
workbench.ingest._nucleus_sql, run on the catalog): which scenes are stored exactly as they
stand, which have none of their ids stored, and of those which hold no stored frame either."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from workbench.ingest import _nucleus_sql as sql

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog


def stored(
    catalog: Catalog, placed: pa.Table, *, alone: bool, update: bool
) -> tuple[set[int], set[int], set[int]]:
    """The lines of `placed` (_line, id, context_id, frame_index) whose scenes the catalog
    holds at the places they take now (with `update` only: without it such frames are
    conflicts), those none of whose ids the catalog holds, and (with `alone`, when every line
    is one or the other) those of the latter whose scene holds no stored frame either."""
    con = catalog.cursor()
    try:
        con.register("_nu_placed", placed)
        lines, counts = np.unique(placed["_line"].to_numpy(), return_counts=True)
        frames = dict(zip(lines.tolist(), counts.tolist(), strict=True))
        found = [(n, s, at, frames[n], c) for n, s, at, c in con.execute(sql.STORED).fetchall()]
        settled = _alone(con, found) if update else set()
        unstored = {n for n, stored, _, _, _ in found if stored == 0}
        new: set[int] = set()
        if alone and unstored and len(settled) + len(unstored) == len(found):
            held = con.execute(sql.SCENES_HELD, [sorted(unstored)]).fetchall()
            new = unstored - {n for (n,) in held}
        con.unregister("_nu_placed")
    finally:
        con.close()
    return settled, unstored, new


def _alone(con: Any, found: list[tuple[int, int, int, int, str]]) -> set[int]:
    """Of the lines `found` (sql.STORED's, each line's number of frames before its scene)
    whose every frame is stored at the place it takes, those no other frame shares a place
    with: first those whose scene holds no other frame (its count of frames is theirs), then,
    of the others, those `CROWDED` does not name."""
    here = {n: (count, context) for n, stored, at, count, context in found if stored == at == count}
    if not here:
        return set()
    counts = dict(
        con.execute(sql.CONTEXT_FRAMES, [sorted({c for _, c in here.values()})]).fetchall()
    )
    alone = {n for n, (count, context) in here.items() if counts.get(context) == count}
    others = sorted(here.keys() - alone)
    if others:
        crowded = {n for (n,) in con.execute(sql.CROWDED, [others]).fetchall()}
        alone.update(set(others) - crowded)
    return alone
