"""Projects, batches and requests: where inputs are placed.

A project is named by its id or its external id, a batch by its id or its external id within
the project. Omitting the batch means the project's latest open batch. Batches move forward
only: pending -> open -> completed; inputs go into pending or open batches.
"""

from __future__ import annotations

import uuid
from typing import Any

import duckdb

from workbench.services.context import Action, ServiceContext, rows
from workbench.services.errors import Conflict, InvalidArgument, StateError, UnknownIds
from workbench.services.models import (
    BATCH_STATUSES,
    BATCH_TRANSITIONS,
    Batch,
    Project,
    Request,
)

_PROJECT_COLUMNS = "id, external_id, title, description, backend, created"
_BATCH_COLUMNS = "id, project_id, external_id, status, created"
_REQUEST_COLUMNS = "id, project_id, batch_id, title, run_id, created"
# Inputs may be added to batches in these states.
WRITABLE_BATCH = ("pending", "open")


def project_row(con: duckdb.DuckDBPyConnection, project: str) -> dict[str, Any]:
    found = rows(
        con,
        f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE id = ? OR external_id = ? "
        "ORDER BY id = ? DESC LIMIT 1",
        [project, project, project],
    )
    if not found:
        raise UnknownIds("projects", [project])
    return found[0]


def batch_row(
    con: duckdb.DuckDBPyConnection, project_id: str, batch: str | None, *, writable: bool = False
) -> dict[str, Any]:
    """The named batch of a project, or its latest open batch when `batch` is None."""
    if batch is None:
        found = rows(
            con,
            f"SELECT {_BATCH_COLUMNS} FROM batches WHERE project_id = ? AND status = 'open' "
            "ORDER BY created DESC, rowid DESC LIMIT 1",
            [project_id],
        )
        if not found:
            raise StateError(f"project {project_id!r} has no open batch: create one or name one")
        return found[0]
    found = rows(
        con,
        f"SELECT {_BATCH_COLUMNS} FROM batches WHERE project_id = ? AND (id = ? OR external_id = ?) "
        "ORDER BY id = ? DESC LIMIT 1",
        [project_id, batch, batch, batch],
    )
    if not found:
        raise UnknownIds(f"batches of project {project_id!r}", [batch])
    if writable and found[0]["status"] not in WRITABLE_BATCH:
        raise StateError(f"batch {batch!r} is {found[0]['status']}: inputs cannot be added to it")
    return found[0]


def insert_project(
    con: duckdb.DuckDBPyConnection,
    external_id: str,
    *,
    title: str | None = None,
    description: str | None = None,
    backend: str = "local",
) -> dict[str, Any]:
    taken = rows(con, "SELECT id FROM projects WHERE external_id = ?", [external_id])
    if taken:
        raise Conflict(f"a project with external id {external_id!r} exists ({taken[0]['id']})")
    project_id = str(uuid.uuid4())
    con.execute(
        "INSERT INTO projects (id, external_id, title, description, backend) VALUES (?, ?, ?, ?, ?)",
        [project_id, external_id, title or external_id, description, backend],
    )
    return project_row(con, project_id)


def insert_batch(
    con: duckdb.DuckDBPyConnection, project_id: str, external_id: str | None, status: str
) -> dict[str, Any]:
    if status not in BATCH_STATUSES:
        raise InvalidArgument(f"batch status {status!r}: expected one of {BATCH_STATUSES}")
    if external_id is not None:
        taken = rows(
            con,
            "SELECT id FROM batches WHERE project_id = ? AND external_id = ?",
            [project_id, external_id],
        )
        if taken:
            raise Conflict(f"project {project_id!r} already has a batch {external_id!r}")
    batch_id = str(uuid.uuid4())
    con.execute(
        "INSERT INTO batches (id, project_id, external_id, status) VALUES (?, ?, ?, ?)",
        [batch_id, project_id, external_id, status],
    )
    return rows(con, f"SELECT {_BATCH_COLUMNS} FROM batches WHERE id = ?", [batch_id])[0]


def insert_request(
    con: duckdb.DuckDBPyConnection,
    project_id: str,
    batch_id: str | None,
    title: str | None,
    run_id: str | None = None,
) -> str:
    request_id = str(uuid.uuid4())
    con.execute(
        "INSERT INTO requests (id, project_id, batch_id, title, run_id) VALUES (?, ?, ?, ?, ?)",
        [request_id, project_id, batch_id, title, run_id],
    )
    return request_id


def default_request(con: duckdb.DuckDBPyConnection, project_id: str, batch_id: str) -> str:
    """The batch's request for inputs placed outside annotation runs, made on first use."""
    found = con.execute(
        "SELECT id FROM requests WHERE project_id = ? AND batch_id = ? AND run_id IS NULL "
        "AND title = 'default' ORDER BY created LIMIT 1",
        [project_id, batch_id],
    ).fetchall()
    if found:
        return str(found[0][0])
    return insert_request(con, project_id, batch_id, "default")


# -- actions --------------------------------------------------------------------------------


def create_project(
    ctx: ServiceContext,
    external_id: str,
    *,
    title: str | None = None,
    description: str | None = None,
    backend: str = "local",
    dryrun: bool = False,
) -> Project:
    ctx.backend(backend)
    target = {"external_id": external_id, "backend": backend}
    with Action(ctx, "create_project", target, dryrun=dryrun) as act, act.transaction() as con:
        row = insert_project(
            con, external_id, title=title, description=description, backend=backend
        )
        act.done(1, {"project_id": row["id"]})
    return Project(**row)


def get_projects(ctx: ServiceContext) -> list[Project]:
    con = ctx.catalog.cursor()
    found = rows(con, f"SELECT {_PROJECT_COLUMNS} FROM projects ORDER BY created, external_id")
    return [Project(**r) for r in found]


def create_batch(
    ctx: ServiceContext,
    project: str,
    *,
    external_id: str | None = None,
    status: str = "open",
    dryrun: bool = False,
) -> Batch:
    target = {"project": project, "external_id": external_id, "status": status}
    with Action(ctx, "create_batch", target, dryrun=dryrun) as act, act.transaction() as con:
        project_id = project_row(con, project)["id"]
        row = insert_batch(con, project_id, external_id, status)
        act.done(1, {"batch_id": row["id"]})
    return Batch(**row)


def get_batches(ctx: ServiceContext, project: str) -> list[Batch]:
    con = ctx.catalog.cursor()
    project_id = project_row(con, project)["id"]
    found = rows(
        con,
        f"SELECT {_BATCH_COLUMNS} FROM batches WHERE project_id = ? ORDER BY created, rowid",
        [project_id],
    )
    return [Batch(**r) for r in found]


def set_batch_status(
    ctx: ServiceContext, project: str, batch: str, status: str, *, dryrun: bool = False
) -> Batch:
    if status not in BATCH_STATUSES:
        raise InvalidArgument(f"batch status {status!r}: expected one of {BATCH_STATUSES}")
    target = {"project": project, "batch": batch, "status": status}
    with Action(ctx, "set_batch_status", target, dryrun=dryrun) as act, act.transaction() as con:
        project_id = project_row(con, project)["id"]
        row = batch_row(con, project_id, batch)
        if status != row["status"] and status not in BATCH_TRANSITIONS[row["status"]]:
            raise StateError(
                f"batch {batch!r} is {row['status']}: it cannot become {status} "
                "(batches go pending -> open -> completed)"
            )
        con.execute("UPDATE batches SET status = ? WHERE id = ?", [status, row["id"]])
        act.done(1, {"from": row["status"], "to": status})
    return Batch(**{**row, "status": status})


def create_request(
    ctx: ServiceContext,
    project: str,
    *,
    batch: str | None = None,
    title: str | None = None,
    dryrun: bool = False,
) -> Request:
    target = {"project": project, "batch": batch, "title": title}
    with Action(ctx, "create_request", target, dryrun=dryrun) as act, act.transaction() as con:
        project_id = project_row(con, project)["id"]
        batch_id = batch_row(con, project_id, batch, writable=True)["id"]
        request_id = insert_request(con, project_id, batch_id, title)
        found = rows(con, f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE id = ?", [request_id])
        act.done(1, {"request_id": request_id})
    return Request(**found[0])


def get_requests(ctx: ServiceContext, project: str, batch: str | None = None) -> list[Request]:
    con = ctx.catalog.cursor()
    project_id = project_row(con, project)["id"]
    query = f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE project_id = ?"
    params: list[Any] = [project_id]
    if batch is not None:
        query += " AND batch_id = ?"
        params.append(batch_row(con, project_id, batch)["id"])
    return [Request(**r) for r in rows(con, query + " ORDER BY created, rowid", params)]
