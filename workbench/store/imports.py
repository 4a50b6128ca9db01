"""Import records: who imported which files into the catalog, when, and how far it got.

An import opens its record (status `running`) before it reads anything, adds its counts in
the same transaction as every batch it commits (so the counts always match what is stored),
and closes it `finished` or `failed`; each closed import also writes one audit_log row.

A process killed mid-import cannot close its record. The catalog file is held by one process
at a time, so whoever opens it finds no other process writing: a `running` record that is
not an import of this very process belongs to a process that is gone. Opening the catalog
read-write marks such records `interrupted` (with an audit row); read-only readers see them
reported as `interrupted` too. Running the same import again (same format, files and options)
stores the rest, since importers replace re-imported frames whole; when it finishes, the
interrupted records it completes become `superseded` and name it in `superseded_by`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from workbench.model.jsontext import dumps
from workbench.store import groups
from workbench.store.audit import append_audit_row

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

RUNNING = "running"
FINISHED = "finished"
INTERRUPTED = "interrupted"
FAILED = "failed"
SUPERSEDED = "superseded"

# Refusal messages kept on a record; the count is always whole.
MAX_RECORDED_ERRORS = 20
AUDIT_ACTION = "import"

# Imports this process is running: their `running` records are live, every other one is not.
_active: set[str] = set()
_active_lock = threading.Lock()


@dataclass(frozen=True)
class ImportCounts:
    """How far an import got: what it stored and what it refused or noted."""

    batches: int = 0
    frames: int = 0
    sources: int = 0
    rois: int = 0
    refused: int = 0
    warnings: int = 0
    outside_media_roots: int = 0


_COUNT_COLUMNS = tuple(ImportCounts.__dataclass_fields__)


@dataclass(frozen=True)
class ImportRecord:
    """One row of the `imports` table."""

    id: str
    actor: str | None
    format: str
    options: dict[str, Any]
    files: list[str]
    media_roots: list[str]
    started: datetime
    finished: datetime | None
    status: str
    pid: int | None
    host: str | None
    counts: ImportCounts = field(default_factory=ImportCounts)
    errors: list[str] = field(default_factory=list)
    error: str | None = None
    resumes: str | None = None
    superseded_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started"] = self.started.isoformat()
        data["finished"] = self.finished.isoformat() if self.finished else None
        return data

    def describe(self) -> str:
        """One paragraph of plain text: what was imported and how far it got."""
        c = self.counts
        when = self.started.strftime("%Y-%m-%d %H:%M:%S")
        text = (
            f"{self.format} import {self.id[:8]} by {self.actor or 'unknown'}, started {when} "
            f"UTC, {self.status} after {c.batches} committed batch(es): {c.frames} frames, "
            f"{c.sources} sources, {c.rois} ROIs stored, {c.refused} records refused"
        )
        if self.error:
            text += f"; error: {self.error}"
        return text + "\n    files: " + ", ".join(self.files)


def begin_import(
    catalog: Catalog,
    *,
    fmt: str,
    files: Sequence[str],
    options: Mapping[str, Any],
    media_roots: Sequence[str],
    actor: str,
) -> ImportRecord:
    """Open the record of an import that starts now (committed at once, so a kill before the
    first batch still leaves it). It names the latest interrupted run of the same import."""
    record_id = uuid.uuid4().hex
    started = _now()
    options_text = _options_text(options)
    with catalog.transaction(layout=False) as con:  # the record alone
        earlier = con.execute(
            "SELECT id FROM imports WHERE status = ? AND format = ? AND files = ? "
            "AND CAST(options AS VARCHAR) = ? ORDER BY started DESC LIMIT 1",
            [INTERRUPTED, fmt, list(files), options_text],
        ).fetchall()
        con.execute(
            "INSERT INTO imports (id, actor, format, options, files, media_roots, started, "
            "status, pid, host, resumes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record_id,
                actor,
                fmt,
                options_text,
                list(files),
                list(media_roots),
                started,
                RUNNING,
                os.getpid(),
                socket.gethostname(),
                earlier[0][0] if earlier else None,
            ],
        )
    with _active_lock:
        _active.add(record_id)
    return get_import(catalog, record_id)


def record_progress(con: duckdb.DuckDBPyConnection, record_id: str, counts: ImportCounts) -> None:
    """Store an import's counts; call inside the transaction that commits its batch."""
    assignments = ", ".join(f"{name} = ?" for name in _COUNT_COLUMNS)
    con.execute(
        f"UPDATE imports SET {assignments} WHERE id = ?",
        [*(getattr(counts, name) for name in _COUNT_COLUMNS), record_id],
    )


def end_import(
    catalog: Catalog,
    record_id: str,
    status: str,
    *,
    counts: ImportCounts | None = None,
    errors: Sequence[str] = (),
    error: str | None = None,
) -> ImportRecord:
    """Close an import's record (`finished`, `failed` or `interrupted`) and audit it.

    Without `counts` the record keeps those of its last committed batch. A finished import
    supersedes the interrupted runs of the same import that started before it.
    """
    if status not in (FINISHED, FAILED, INTERRUPTED):
        raise ValueError(f"an import ends finished, failed or interrupted, not {status!r}")
    try:
        with catalog.transaction(layout=False) as con:  # the record and its audit row
            if counts is not None:
                record_progress(con, record_id, counts)
            con.execute(
                "UPDATE imports SET status = ?, finished = ?, errors = ?, error = ? WHERE id = ?",
                [
                    status,
                    _now(),
                    dumps(list(errors)[:MAX_RECORDED_ERRORS]) if errors else None,
                    error,
                    record_id,
                ],
            )
            if status == FINISHED:
                _supersede(con, record_id)
            _audit(con, _read(con, record_id)[0])
    finally:
        with _active_lock:
            _active.discard(record_id)
    if status == FINISHED:
        _count_groups(catalog)
    return get_import(catalog, record_id)


def _count_groups(catalog: Catalog) -> None:
    """Count a local catalog's frame groups again after an import (which left them out of
    date), while that is cheap; a larger catalog's wait for Catalog.optimize()."""
    if catalog.lake is not None:
        return
    con = catalog.cursor()
    try:
        stamp = groups.local_stamp(con)
        fresh = groups.current(con, groups.LOCAL, lambda: stamp) is not None
    finally:
        con.close()
    if not fresh and 0 < stamp["frames"] <= groups.REBUILD_UP_TO:
        # the import is stored: groups that cannot be counted stay out of use, as before
        with suppress(duckdb.Error):
            catalog.count_groups()


def _supersede(con: duckdb.DuckDBPyConnection, record_id: str) -> None:
    con.execute(
        "UPDATE imports SET status = ?, superseded_by = ? FROM "
        "(SELECT format, files, CAST(options AS VARCHAR) AS opts, started FROM imports "
        " WHERE id = ?) AS this "
        "WHERE imports.status = ? AND imports.format = this.format "
        "AND imports.files = this.files AND CAST(imports.options AS VARCHAR) = this.opts "
        "AND imports.started <= this.started",
        [SUPERSEDED, record_id, record_id, INTERRUPTED],
    )


def mark_interrupted(catalog: Catalog) -> list[ImportRecord]:
    """Mark `interrupted` every `running` record that no import of this process owns.

    Call only with the catalog open read-write: then no other process can be writing it, so
    those imports' processes are gone. Each gets an audit row. Returns the records marked.
    """
    with _active_lock:
        live = set(_active)
    stale = [r for r in _read(catalog.cursor(), status=RUNNING) if r.id not in live]
    if not stale:
        return []
    with catalog.transaction(layout=False) as con:  # the records and their audit rows
        for record in stale:
            con.execute(
                "UPDATE imports SET status = ? WHERE id = ? AND status = ?",
                [INTERRUPTED, record.id, RUNNING],
            )
            _audit(con, _with_status(record, INTERRUPTED))
    return [_with_status(r, INTERRUPTED) for r in stale]


def list_imports(
    catalog: Catalog, *, status: str | None = None, limit: int | None = None
) -> list[ImportRecord]:
    """Import records, newest first. A `running` record no import of this process owns is
    reported `interrupted` even before a read-write open has marked it so."""
    with _active_lock:
        live = set(_active)
    records = [
        _with_status(r, INTERRUPTED) if r.status == RUNNING and r.id not in live else r
        for r in _read(catalog.cursor())
    ]
    if status is not None:
        records = [r for r in records if r.status == status]
    return records[:limit] if limit is not None else records


def interrupted_imports(catalog: Catalog) -> list[ImportRecord]:
    """Imports that stopped before they finished and have not been run again to the end."""
    return list_imports(catalog, status=INTERRUPTED)


def get_import(catalog: Catalog, record_id: str) -> ImportRecord:
    found = _read(catalog.cursor(), record_id)
    if not found:
        raise KeyError(record_id)
    return found[0]


# -- rows ------------------------------------------------------------------------------------

_SELECT = (
    "SELECT id, actor, format, options, files, media_roots, started, finished, status, pid, "
    f"host, {', '.join(_COUNT_COLUMNS)}, errors, error, resumes, superseded_by FROM imports"
)


def _read(
    con: duckdb.DuckDBPyConnection, record_id: str | None = None, *, status: str | None = None
) -> list[ImportRecord]:
    if record_id is not None:
        query, params = f"{_SELECT} WHERE id = ?", [record_id]
    elif status is not None:
        query, params = f"{_SELECT} WHERE status = ? ORDER BY started DESC", [status]
    else:
        query, params = f"{_SELECT} ORDER BY started DESC", []
    rows = con.execute(query, params).fetchall()
    return [_record(row) for row in rows]


def _record(row: tuple[Any, ...]) -> ImportRecord:
    head, counts, tail = (
        row[:11],
        row[11 : 11 + len(_COUNT_COLUMNS)],
        row[11 + len(_COUNT_COLUMNS) :],
    )
    (rid, actor, fmt, options, files, roots, started, finished, status, pid, host) = head
    errors, error, resumes, superseded_by = tail
    return ImportRecord(
        id=rid,
        actor=actor,
        format=fmt,
        options=json.loads(options) if options else {},
        files=list(files or []),
        media_roots=list(roots or []),
        started=started,
        finished=finished,
        status=status,
        pid=pid,
        host=host,
        counts=ImportCounts(*(int(v or 0) for v in counts)),
        errors=json.loads(errors) if errors else [],
        error=error,
        resumes=resumes,
        superseded_by=superseded_by,
    )


def _with_status(record: ImportRecord, status: str) -> ImportRecord:
    return ImportRecord(**{**record.__dict__, "status": status})


def _audit(con: duckdb.DuckDBPyConnection, record: ImportRecord) -> None:
    if record.status == FINISHED:
        outcome = "ok"
    elif record.status == FAILED:
        outcome = f"failed: {record.error or 'unknown error'}"
    else:
        outcome = (
            f"interrupted: the import stopped after {record.counts.batches} committed "
            f"batch(es) (process {record.pid} on {record.host})"
        )
    append_audit_row(
        con,
        actor=record.actor or "unknown",
        action=AUDIT_ACTION,
        target={"import_id": record.id, "format": record.format, "files": record.files},
        count=record.counts.frames,
        outcome=outcome,
        details={**asdict(record.counts), "resumes": record.resumes},
    )


def _options_text(options: Mapping[str, Any]) -> str:
    return dumps(dict(options), sort_keys=True)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
