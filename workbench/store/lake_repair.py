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

The undo is one Delta commit per table that removes the files those commits added and
brings back the files they removed (`create_write_transaction` with remove and add
actions): every other commit since (a job's appended rows) stays, and the files brought back
keep their stored order (`_row`), so the table reads as it did at the pinned version plus
the jobs' rows. It carries `REPAIR`, not `WRITER`, so it is never undone itself, and it is
idempotent: once made, the same computation finds nothing left to change. It runs right
after a transaction that moved the pins rolls back, and again whenever the catalog is about
to move its pins (opening, a refresh), which covers a process that died mid-write.

Delta lakes only: an Iceberg lake is left as it is (not built).
"""

from __future__ import annotations

import math
import os
import time
import uuid
import warnings
from dataclasses import replace
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from workbench.errors import LakeError
from workbench.store.lake import BUCKET, Lake, is_remote

# The Delta commit metadata naming the catalog whose write made the commit, and the one
# naming the catalog whose undo made it.
WRITER = "workbench.writer"
REPAIR = "workbench.repair"
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
    move costs one look at its version. When the undo fails: LakeError if `strict`, else a
    warning and None (the pins stay; the catalog's writes are refused until it succeeds)."""
    latest = lake.latest_versions()
    moved = [n for n, t in lake.tables.items() if t.version is not None and latest[n] > t.version]
    if not moved or lake.writer is None or lake.format.kind != "delta":
        return latest
    lake.unrepaired = True
    try:
        for name in moved:
            pinned = lake.tables[name].version
            assert pinned is not None
            if undo(lake, name, pinned, lake.writer):
                latest[name] = lake.format.version(name)
    except Exception as exc:
        message = (
            f"the lake at {lake.root} holds a write this catalog rolled back, and undoing it "
            f"failed ({exc}); open the catalog again to retry"
        )
        if strict:
            raise LakeError(message) from exc
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


def undo(lake: Lake, name: str, pinned: int, writer: str) -> bool:
    """Undo, in one commit, what the commits after `pinned` tagged with `writer` did to the
    files of table `name`; returns whether there was anything left to undo."""
    from deltalake import DeltaTable

    dt = lake.delta(name)
    latest = int(dt.version())
    log = [h for h in dt.history(limit=latest - pinned) if int(h["version"]) > pinned]
    ours = [int(h["version"]) for h in log if h.get(WRITER) == writer]
    undone = [int(h["version"]) for h in log if h.get(REPAIR) == writer]
    if not ours:
        return False
    states: dict[int, dict[str, dict[str, Any]]] = {}

    def files(version: int) -> dict[str, dict[str, Any]]:
        if version not in states:
            at = DeltaTable(dt.table_uri, version=version, storage_options=lake.options)
            rows = pa.table(at.get_add_actions(flatten=False)).to_pylist()
            states[version] = {str(r["path"]): r for r in rows}
        return states[version]

    added: set[str] = set()
    removed: dict[str, dict[str, Any]] = {}
    for version in sorted(ours):
        before, after = files(version - 1), files(version)
        added |= after.keys() - before.keys()
        for path in before.keys() - after.keys():
            removed.setdefault(path, before[path])
    now = files(latest)
    repaired: set[str] = set()  # the files an undo made before removed
    for version in undone:
        repaired |= files(version - 1).keys() - files(version).keys()
    lost = added - now.keys() - removed.keys() - repaired
    if lost:  # another writer rewrote files of ours since: their rows cannot be told apart
        raise LakeError(
            f"lake table {name} was rewritten by another writer since: {sorted(lost)[:3]}"
        )
    gone = sorted(added & now.keys())
    back = {p: a for p, a in removed.items() if p not in added and p not in now}
    if not gone and not back:
        return False  # undone already
    _check(lake, name, back)
    _commit(dt, gone, now, back, writer)
    return True


def _check(lake: Lake, name: str, back: dict[str, dict[str, Any]]) -> None:
    """Refuse to bring back files that are gone from the disk (a vacuum removed them)."""
    if is_remote(lake.root):
        return  # the commit refers to them; a missing one fails the next read, named
    base = os.path.join(lake.root, name)
    missing = [p for p in back if not os.path.exists(os.path.join(base, p))]
    if missing:
        raise LakeError(f"files of lake table {name} to bring back are gone: {missing[:3]}")


def _commit(
    dt: Any,
    gone: list[str],
    now: dict[str, dict[str, Any]],
    back: dict[str, dict[str, Any]],
    writer: str,
) -> None:
    from deltalake.transaction import AddAction, CommitProperties, RemoveAction

    stamp = int(time.time() * 1000)
    actions: list[Any] = [
        RemoveAction(p, True, stamp, int(now[p]["size_bytes"]), _partition(now[p])) for p in gone
    ]
    actions += [
        AddAction(
            p, int(a["size_bytes"]), _partition(a), int(a["modification_time"]), True, _stats(a)
        )
        for p, a in back.items()
    ]
    dt.create_write_transaction(
        actions,
        "append",
        dt.schema(),
        [BUCKET],
        commit_properties=CommitProperties(custom_metadata={REPAIR: writer}),
    )


def _partition(action: dict[str, Any]) -> dict[str, str | None]:
    values = action.get("partition") or {}
    return {k: None if v is None else str(v) for k, v in values.items()}


def _stats(action: dict[str, Any]) -> str:
    """A file's statistics as the log keeps them, from the parsed ones the table gives:
    numbers and text only (a timestamp's bounds are left out: no reader needs them)."""

    def plain(values: Any) -> dict[str, Any]:
        if not isinstance(values, dict):
            return {}
        return {
            k: v
            for k, v in values.items()
            if isinstance(v, int | str | bool) or (isinstance(v, float) and math.isfinite(v))
        }

    return orjson.dumps(
        {
            "numRecords": action.get("num_records"),
            "minValues": plain(action.get("min")),
            "maxValues": plain(action.get("max")),
            "nullCount": plain(action.get("null_count")),
        }
    ).decode()
