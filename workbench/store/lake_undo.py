"""What a catalog's rolled-back writes did to one lake table's files, per table format, and
the one commit that undoes it (store/lake_repair.py decides when; store/lake_accept.py keeps
it instead when it cannot be undone).

- Delta: the commits after the pinned version whose commit metadata carry the catalog's
  writer id; the files each added and removed, from the snapshots around it; the undo is
  one commit of remove and add actions (`create_write_transaction`).
- Iceberg: the snapshots after the pinned one (its descendants on the main branch) whose
  summary properties carry the id; the files each added and removed, from the manifests
  that snapshot wrote (its ADDED and DELETED entries: no other snapshot is needed). A
  snapshot a vacuum expired is gone from the table's metadata (and pyiceberg clears the
  parent id of the one after it), but the earlier metadata files the table's log names
  still list it, its summary and its manifests (a vacuum removes data files only): the
  walk back to the pin reads them, newest first, when a parent is missing. Only when they
  are gone too (the log's length, `write.metadata.previous-versions-max`, passed, or the
  files removed) is what the expired snapshots did unknown: the plan says so (`whole`,
  `unknown`: the snapshot whose parent is not found) and the undo is refused, naming it,
  whether or not a snapshot still known is ours. The undo is one overwrite snapshot that
  deletes the added data files and appends the removed ones (`update_snapshot().overwrite()`
  with `delete_data_file` / `append_data_file`): the files brought back keep the bounds
  their manifest entries had, so the file list stays in stored order.

Neither rolls the table back to the pinned snapshot: other writers' commits since (a job's
appended rows) stay.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
import pyarrow as pa

from workbench.store.lake import BUCKET, Lake, is_remote, table_uri

# The commit metadata (Delta) or snapshot summary property (Iceberg) naming the catalog
# whose write made the commit, and the one naming the catalog whose undo made it.
WRITER = "workbench.writer"
REPAIR = "workbench.repair"


@dataclass
class Plan:
    """What undoing one table's rolled-back commits does: the files they added that the
    table still has (removed by the undo) and those they removed that it has not since
    (brought back), each with the format's record of it; `lost`: files they added that
    another writer removed since (their rows cannot be told from the others')."""

    name: str
    base: str  # the table's folder: Delta's paths are relative to it
    now: dict[str, Any]
    gone: dict[str, Any]
    back: dict[str, Any]
    lost: list[str]
    # Whether every commit after the pin is known (an Iceberg snapshot a vacuum expired is
    # not, once the earlier metadata files are gone: what it changed cannot be undone), and
    # if not, the snapshot the walk back from the latest one stopped at (its parent unknown).
    whole: bool = True
    unknown: int | None = None

    def uri(self, path: str) -> str:
        """A file's full path or URI (Iceberg's paths are full already)."""
        if path.startswith("file://"):
            return path.removeprefix("file://")
        if "://" in path or os.path.isabs(path):
            return path
        return f"{self.base}/{unquote(path)}"

    def missing(self) -> list[str]:
        """The files to bring back that are gone from the disk (a vacuum removed them)."""
        if is_remote(self.base):
            return []  # the commit would refer to them; a missing one fails the next read
        return sorted(p for p in self.back if not os.path.exists(self.uri(p)))


def rows_of(record: Any) -> int:
    """The rows a file holds, from the format's record of it."""
    if isinstance(record, dict):
        return int(record.get("num_records") or 0)
    return int(record.record_count)


def plan(lake: Lake, name: str, pinned: int, writer: str) -> Plan | None:
    """The undo of table `name`'s commits after `pinned` made by `writer`; None if none."""
    if lake.format.kind == "iceberg":
        return _iceberg_plan(lake, name, pinned, writer)
    return _delta_plan(lake, name, pinned, writer)


def commit(lake: Lake, found: Plan, writer: str) -> None:
    """Make the undo `found`: one commit (Delta) or snapshot (Iceberg) tagged `REPAIR`."""
    if lake.format.kind == "iceberg":
        tbl = lake.format.table(found.name)  # type: ignore[attr-defined]
        with tbl.transaction() as tx:
            update = tx.update_snapshot(snapshot_properties={REPAIR: writer})
            with update.overwrite() as overwrite:
                for record in found.gone.values():
                    overwrite.delete_data_file(record)
                for record in found.back.values():
                    overwrite.append_data_file(record)
        return
    _delta_commit(lake.delta(found.name), found, writer)


def _diff(
    ours: list[tuple[set[str], dict[str, Any]]],
    undone: set[str],
    now: dict[str, Any],
) -> tuple[set[str], dict[str, Any], list[str]]:
    """From what each of ours added (paths) and removed (records), oldest first, and what
    earlier undos removed: the files to remove, to bring back, and those lost."""
    added: set[str] = set()
    removed: dict[str, Any] = {}
    for paths, records in ours:
        added |= paths
        for path, record in records.items():
            removed.setdefault(path, record)
    lost = sorted(added - now.keys() - removed.keys() - undone)
    back = {p: r for p, r in removed.items() if p not in added and p not in now}
    return added & now.keys(), back, lost


# -- Delta -----------------------------------------------------------------------------------
def _delta_plan(lake: Lake, name: str, pinned: int, writer: str) -> Plan | None:
    from deltalake import DeltaTable

    dt = lake.delta(name)
    latest = int(dt.version())
    log = [h for h in dt.history(limit=latest - pinned) if int(h["version"]) > pinned]
    ours = sorted(int(h["version"]) for h in log if h.get(WRITER) == writer)
    repairs = [int(h["version"]) for h in log if h.get(REPAIR) == writer]
    if not ours:
        return None
    states: dict[int, dict[str, dict[str, Any]]] = {}

    def files(version: int) -> dict[str, dict[str, Any]]:
        if version not in states:
            at = DeltaTable(dt.table_uri, version=version, storage_options=lake.options)
            rows = pa.table(at.get_add_actions(flatten=False)).to_pylist()
            states[version] = {str(r["path"]): r for r in rows}
        return states[version]

    changes: list[tuple[set[str], dict[str, Any]]] = []
    for version in ours:
        before, after = files(version - 1), files(version)
        removed = {p: before[p] for p in before.keys() - after.keys()}
        changes.append((set(after.keys() - before.keys()), removed))
    undone: set[str] = set()  # the files an undo made before removed
    for version in repairs:
        undone |= files(version - 1).keys() - files(version).keys()
    now = files(latest)
    gone, back, lost = _diff(changes, undone, now)
    return Plan(name, table_uri(lake.root, name), now, {p: now[p] for p in gone}, back, lost)


def _delta_commit(dt: Any, found: Plan, writer: str) -> None:
    from deltalake.transaction import AddAction, CommitProperties, RemoveAction

    stamp = int(time.time() * 1000)
    now = found.now
    actions: list[Any] = [
        RemoveAction(p, True, stamp, int(now[p]["size_bytes"]), _partition(now[p]))
        for p in sorted(found.gone)
    ]
    actions += [
        AddAction(
            p, int(a["size_bytes"]), _partition(a), int(a["modification_time"]), True, _stats(a)
        )
        for p, a in found.back.items()
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


# -- Iceberg ---------------------------------------------------------------------------------
def _iceberg_plan(lake: Lake, name: str, pinned: int, writer: str) -> Plan | None:
    tbl = lake.format.table(name)  # type: ignore[attr-defined]
    since, stopped = _descendants(tbl, pinned)
    ours = [s for s in since if _property(s, WRITER) == writer]
    base = table_uri(lake.root, name)
    if not ours and stopped is None:
        return None
    changes = [_snapshot_changes(tbl, s) for s in ours]
    undone: set[str] = set()
    for snapshot in since:
        if _property(snapshot, REPAIR) == writer:
            undone |= set(_snapshot_changes(tbl, snapshot)[1])
    current = tbl.current_snapshot()
    now = {
        e.data_file.file_path: e.data_file
        for m in current.manifests(tbl.io)
        for e in m.fetch_manifest_entry(tbl.io, discard_deleted=True)
    }
    gone, back, lost = _diff(changes, undone, now)
    found = Plan(name, base, now, {p: now[p] for p in gone}, back, lost)
    if stopped is not None:
        found.whole, found.unknown = False, stopped
    return found


class _History:
    """A table's snapshots, with those a vacuum expired found in the earlier metadata files
    its log names (newest first, read only as a missing parent needs them)."""

    def __init__(self, tbl: Any) -> None:
        self.tbl = tbl
        self.known = {s.snapshot_id: s for s in tbl.snapshots()}
        self.parents = {i: s.parent_snapshot_id for i, s in self.known.items()}
        self.logs = [e.metadata_file for e in reversed(tbl.metadata.metadata_log)]

    def parent(self, snapshot: Any) -> tuple[Any | None, bool]:
        """The snapshot's parent, and whether it is known (a table's first snapshot, sequence
        number 1 (0 in format version 1), has none)."""
        while True:
            at = self.parents.get(snapshot.snapshot_id)
            if at is not None and at in self.known:
                return self.known[at], True
            if not self.logs:
                return None, at is None and snapshot.sequence_number <= 1
            self._read(self.logs.pop(0))

    def _read(self, location: str) -> None:
        from pyiceberg.serializers import FromInputFile

        try:
            meta = FromInputFile.table_metadata(self.tbl.io.new_input(location))
        except (OSError, ValueError):
            return  # removed (a table's log may outlive its files)
        for snapshot in meta.snapshots:
            self.known.setdefault(snapshot.snapshot_id, snapshot)
            if snapshot.parent_snapshot_id is not None:
                self.parents[snapshot.snapshot_id] = snapshot.parent_snapshot_id
            else:
                self.parents.setdefault(snapshot.snapshot_id, None)


def _descendants(tbl: Any, pinned: int) -> tuple[list[Any], int | None]:
    """The current snapshot and its ancestors after `pinned` (0: none), oldest first, and
    the snapshot the walk stopped at before reaching `pinned` (its parent expired and not
    found in the metadata log), else None. If `pinned` is there but not an ancestor (the
    table was rolled back by another tool), only the snapshots made after it count."""
    history = _History(tbl)
    out = []
    snapshot = tbl.current_snapshot()
    stopped = None
    while snapshot is not None and snapshot.snapshot_id != pinned:
        out.append(snapshot)
        snapshot, known = history.parent(snapshot)
        if snapshot is None and not known:
            stopped = out[-1].snapshot_id
    base = history.known.get(pinned) if pinned else None
    if base is not None and snapshot is None:
        out = [s for s in out if s.sequence_number > base.sequence_number]
        stopped = None
    return out[::-1], stopped


def _property(snapshot: Any, key: str) -> str | None:
    summary = snapshot.summary
    return None if summary is None else summary.get(key)


def _snapshot_changes(tbl: Any, snapshot: Any) -> tuple[set[str], dict[str, Any]]:
    """The data files one snapshot added (paths) and removed (records), from the entries of
    the manifests it wrote itself."""
    added: set[str] = set()
    removed: dict[str, Any] = {}
    for manifest in snapshot.manifests(tbl.io):
        if manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=False):
            status = entry.status.name
            if status == "ADDED" and entry.snapshot_id == snapshot.snapshot_id:
                added.add(entry.data_file.file_path)
            elif status == "DELETED":
                removed[entry.data_file.file_path] = entry.data_file
    return added, removed
