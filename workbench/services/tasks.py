"""The local platform's task editing API, as the app's annotation editor uses it.

List a run's tasks, get one task's frames (with their images) and current shapes, save the
shapes the person drew or edited, and mark the task done. Saving is an audited action like
any other; the shapes are checked for well-formed geometry here and against the run's schema
when the run is merged (where the edit restrictions are applied).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from workbench.backends.base import TaskStatus
from workbench.backends.local import TASK_STATUSES, LocalBackend, SaveResult
from workbench.model.shapes import Shape
from workbench.services.context import Action, ServiceContext, parse, rows, strings
from workbench.services.errors import InvalidArgument, StateError, UnknownIds
from workbench.services.reports import TaskDetail
from workbench.services.runs import run_config, run_row, run_schema


def _local(ctx: ServiceContext) -> LocalBackend:
    for backend in ctx.backends.values():
        if isinstance(backend, LocalBackend):
            return backend
    raise StateError("this service has no local annotation platform")


def _task_run(ctx: ServiceContext, con: duckdb.DuckDBPyConnection, task_id: str) -> dict[str, Any]:
    """The run record a local task belongs to."""
    if not isinstance(task_id, str):
        raise InvalidArgument(f"task_id must be a string, got {task_id!r}")
    run_id = _local(ctx).task_run(con, task_id)
    if run_id is None:
        raise UnknownIds("tasks", [task_id])
    found = rows(con, "SELECT anno_key FROM annotation_runs WHERE run_id = ?", [run_id])
    if not found:
        raise StateError(f"task {task_id!r} belongs to an annotation run whose record was deleted")
    return run_row(con, found[0]["anno_key"])


def list_tasks(ctx: ServiceContext, anno_key: str) -> list[TaskStatus]:
    con = ctx.catalog.cursor()
    row = run_row(con, anno_key)
    backend = ctx.backend(row["backend"])
    if not backend.capabilities.supports_task_editing:
        raise StateError(f"run {anno_key!r} is on {row['backend']}: edit its tasks there")
    return backend.task_statuses(con, row["run_id"])


def get_task(ctx: ServiceContext, task_id: str, *, segment: int | None = None) -> TaskDetail:
    """The task with its frames and shapes: all of them, or one segment's (long sequences)."""
    con = ctx.catalog.cursor()
    row = _task_run(ctx, con, task_id)
    local = _local(ctx)
    config = run_config(row)
    frames = local.task_frames(con, task_id, config.media_field, segment)
    shapes = local.task_shapes(
        con, task_id, None if segment is None else [f.frame_id for f in frames]
    )
    return TaskDetail(
        task=local.task_status(con, task_id),
        anno_key=row["anno_key"],
        label_schema=run_schema(row),
        restrictions=config.restrictions,
        media_field=config.media_field,
        frames=tuple(frames),
        shapes=tuple(shapes),
    )


def get_task_annotations(
    ctx: ServiceContext, task_id: str, *, frame_ids: Sequence[str] | None = None
) -> list[Shape]:
    con = ctx.catalog.cursor()
    _task_run(ctx, con, task_id)
    wanted = None if frame_ids is None else strings(frame_ids, "frame_ids")
    return _local(ctx).task_shapes(con, task_id, wanted)


def save_task_annotations(
    ctx: ServiceContext,
    task_id: str,
    shapes: Sequence[Shape | Mapping[str, Any]],
    *,
    frame_ids: Sequence[str] | None = None,
    dryrun: bool = False,
) -> SaveResult:
    """Replace the task's shapes on `frame_ids` (default: every frame of the task)."""
    parsed = [parse(Shape, s, f"shapes[{i}]", argument="shapes") for i, s in enumerate(shapes)]
    wanted = None if frame_ids is None else strings(frame_ids, "frame_ids")
    target = {"task_id": task_id, "shapes": len(parsed), "frames": len(wanted) if wanted else None}
    with (
        Action(ctx, "save_task_annotations", target, dryrun=dryrun) as act,
        act.transaction() as con,
    ):
        row = _task_run(ctx, con, task_id)
        if row["status"] != "open" and row["status"] != "loaded":
            raise StateError(f"annotation run {row['anno_key']!r} is {row['status']}")
        result = _local(ctx).save_shapes(con, task_id, parsed, wanted)
        act.done(result.shapes, {**result.to_dict(), "shape_ids": len(result.shape_ids)})
    return result


def set_task_status(
    ctx: ServiceContext,
    task_id: str,
    status: str,
    *,
    assignee: str | None = None,
    dryrun: bool = False,
) -> TaskStatus:
    target = {"task_id": task_id, "status": status, "assignee": assignee}
    with Action(ctx, "set_task_status", target, dryrun=dryrun) as act:
        if status not in TASK_STATUSES:
            raise InvalidArgument(f"task status {status!r}: expected one of {TASK_STATUSES}")
        with act.transaction() as con:
            _task_run(ctx, con, task_id)
            local = _local(ctx)
            local.set_task_status(con, task_id, status, assignee)
            found = local.task_status(con, task_id)
            act.done(1)
    return found
