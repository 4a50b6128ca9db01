"""A lake left ahead of its catalog by a write the catalog rolled back, undone.

A lake-backed catalog's write commits each lake table first, then the catalog's transaction
(store/lake_write.py). If that transaction rolls back after the lake's commits (an error in
the block after `editing`, a statement failing, the process killed), the lake keeps rows the
catalog never committed: keyed past its next frame key, without summaries, counted by no
import. The catalog records the versions it pinned when it last committed (`_lake`), and
every commit a catalog's write makes carries the catalog's writer id in the Delta commit's
metadata (`WRITER`), so the commits after the pinned versions that carry this catalog's id
are exactly those of writes it rolled back. They are undone, not kept: the person was told
the write failed, and the catalog, the import records and the audit log say it did not
happen (docs/scale-out.md, "What is and is not transactional").

The undo is one commit (Delta) or snapshot (Iceberg) per table that removes the files
those commits added and brings back the files they removed (store/lake_undo.py): every
other commit since (a job's appended rows) stays, and the files brought back keep their
stored order (`_row`), so the table reads as it did at the pinned version plus the jobs'
rows. It carries `REPAIR`, not `WRITER`, so it is never undone itself, and it is
idempotent: once made, the same computation finds nothing left to change. It runs right
after a transaction that moved the pins rolls back, and again whenever the catalog is about
to move its pins (opening, a refresh), which covers a process that died mid-write.

An undo that cannot be made (files to bring back a vacuum removed, files of ours another
writer rewrote) raises `LakeUndoError`; opening then fails until the person accepts the lake
as it is (`workbench lake accept`, store/lake_accept.py).
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import replace

import duckdb

from workbench.errors import LakeError, LakeUndoError
from workbench.store.lake import Lake
from workbench.store.lake_undo import REPAIR, WRITER, Plan, commit, plan

__all__ = ["REPAIR", "WRITER", "name_writer", "rolled_back", "settle", "undo"]
# The catalog's writer id, in its `meta` table.
WRITER_KEY = "lake_writer"


def writer_of(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [WRITER_KEY]).fetchall()
    return str(rows[0][0]) if rows else None


def name_writer(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Tag the lake commits of the catalog's writes with its writer id, made (in the
    caller's transaction) if it has none yet. A catalog attached to a lake another catalog
    writes has an id of its own, so it never takes the other's writes for its own."""
    known = writer_of(con)
    if known is None:
        known = uuid.uuid4().hex
        con.execute("INSERT INTO meta VALUES (?, ?)", [WRITER_KEY, known])
    lake.name_writer(known)


def settle(lake: Lake, *, strict: bool = True) -> dict[str, int] | None:
    """The versions the catalog may pin now: the tables' latest, once the commits of this
    catalog's rolled-back writes after the pinned versions are undone. A table that did not
    move costs one look at its version. When the undo fails: LakeError if `strict`
    (LakeUndoError when it cannot be made at all), else a warning and None (the pins stay; the catalog's writes are refused until it succeeds)."""
    latest = lake.latest_versions()
    moved = [n for n, t in lake.tables.items() if t.version is not None and latest[n] != t.version]
    if not moved or lake.writer is None:
        return latest
    lake.unrepaired = True
    try:
        for name in moved:
            pinned = lake.tables[name].version
            assert pinned is not None
            if undo(lake, name, pinned, lake.writer):
                latest[name] = lake.format.version(name)
    except Exception as exc:
        message = f"the lake at {lake.root} holds a write this catalog rolled back, and undoing it "
        impossible = isinstance(exc, LakeUndoError)
        if impossible:
            message += f"cannot be done: {exc}"
        else:
            message += f"failed ({exc}); open the catalog again to retry"
        if strict:
            raise (LakeUndoError if impossible else LakeError)(message) from exc
        warnings.warn(message, stacklevel=2)
        return None
    lake.unrepaired = False
    return latest


def rolled_back(lake: Lake, con: duckdb.DuckDBPyConnection, pins: dict[str, int | None]) -> None:
    """After a transaction rolled back: if it had moved the pins (its write reached the
    lake), the pins it began with again, and its lake commits undone at once."""
    if lake.pins() == pins:
        return
    for name, version in pins.items():
        lake.tables[name] = replace(lake.tables[name], version=version)
    lake.index(con)  # the files by key of the pinned snapshots again
    settle(lake, strict=False)


# What the person can do when an undo cannot be made (store/lake_accept.py).
WAY_OUT = (
    "`workbench --catalog CATALOG lake accept` lists what would stay of it, and with "
    "--confirm keeps the lake as it is and stores those rows into the catalog (audited)"
)


def undo(lake: Lake, name: str, pinned: int, writer: str) -> bool:
    """Undo, in one commit, what the commits after `pinned` tagged with `writer` did to the
    files of table `name`; returns whether there was anything left to undo."""
    found = plan(lake, name, pinned, writer)
    if found is not None and not found.whole:
        raise LakeUndoError(
            f"lake table {name}: snapshots made since the catalog's pin (snapshot {pinned}) "
            f"were expired (a vacuum) and the earlier metadata files that listed them are "
            f"gone: snapshot {found.unknown}'s parent is not known, so whether they hold a "
            f"write this catalog rolled back, and what it changed, is not known; {WAY_OUT}"
        )
    if found is None or not (found.gone or found.back or found.lost):
        return False  # none, or undone already
    if found.lost:  # another writer rewrote files of ours since: rows not told apart
        raise LakeUndoError(
            f"lake table {name} was rewritten by another writer since: {found.lost[:3]}; {WAY_OUT}"
        )
    missing = found.missing()
    if missing:
        raise LakeUndoError(
            f"files of lake table {name} to bring back are gone (a vacuum removed them): "
            f"{missing[:3]}; {WAY_OUT}"
        )
    _commit(lake, found, writer)
    return True


def _commit(lake: Lake, found: Plan, writer: str) -> None:
    commit(lake, found, writer)
