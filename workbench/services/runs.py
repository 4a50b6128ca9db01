"""Annotation run records: info, status, id map, rename, delete, cleanup.

A run is stored in `annotation_runs` (schema, config, view spec, stable run_id), its id map
in `annotation_ids` and what each uploaded label looked like in `annotation_snapshots`.
Deleting a run removes the record only (the backend's tasks stay: `cleanup` removes those).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from workbench.model.labels import LabelSchema
from workbench.services.arguments import confirmed
from workbench.services.context import Action, ServiceContext, rows, scalar
from workbench.services.errors import ConfirmationRequired, Conflict, InvalidArgument, UnknownIds
from workbench.services.models import RemovalReport
from workbench.services.reports import (
    RUN_CLEANED,
    AnnotationConfig,
    AnnotationRunInfo,
    IdMap,
    IdMapEntry,
    RunStatus,
)

_RUN_COLUMNS = (
    "anno_key, run_id, backend, status, label_schema, config, view, project_id, batch_id, "
    "request_id, actor, created, loaded"
)
# Tables whose rows are keyed by anno_key (the local platform's are keyed by run_id).
_KEYED_BY_ANNO_KEY = ("annotation_runs", "annotation_ids", "annotation_snapshots")


def run_row(con: duckdb.DuckDBPyConnection, anno_key: str) -> dict[str, Any]:
    if not isinstance(anno_key, str):
        raise InvalidArgument(f"anno_key must be a string, got {anno_key!r}")
    found = rows(con, f"SELECT {_RUN_COLUMNS} FROM annotation_runs WHERE anno_key = ?", [anno_key])
    if not found:
        raise UnknownIds("annotation runs", [anno_key])
    return found[0]


def run_config(row: dict[str, Any]) -> AnnotationConfig:
    return AnnotationConfig.from_dict(json.loads(row["config"]))


def run_schema(row: dict[str, Any]) -> LabelSchema:
    return LabelSchema.from_dict(json.loads(row["label_schema"]))


def run_info(
    ctx: ServiceContext, con: duckdb.DuckDBPyConnection, row: dict[str, Any]
) -> AnnotationRunInfo:
    counts = rows(
        con,
        """SELECT count(*) AS inputs, count(DISTINCT i.scene_uuid) AS scenes,
                  coalesce(sum(len(s.frame_ids)), 0) AS frames
           FROM inputs i JOIN scenes s ON s.uuid = i.scene_uuid WHERE i.request_id = ?""",
        [row["request_id"]],
    )[0]
    labels = scalar(
        con,
        "SELECT count(*) FROM annotation_ids WHERE anno_key = ? AND origin = 'upload'",
        [row["anno_key"]],
    )
    backend = ctx.backends.get(row["backend"])
    tasks = len(backend.task_statuses(con, row["run_id"])) if backend else 0
    return AnnotationRunInfo(
        anno_key=row["anno_key"],
        run_id=row["run_id"],
        backend=row["backend"],
        status=row["status"],
        label_schema=run_schema(row),
        config=run_config(row),
        project_id=row["project_id"],
        batch_id=row["batch_id"],
        request_id=row["request_id"],
        frames=int(counts["frames"]),
        scenes=int(counts["scenes"]),
        inputs=int(counts["inputs"]),
        tasks=tasks,
        labels=int(labels or 0),
        view=json.loads(row["view"]) if row["view"] else None,
        actor=row["actor"],
        created=row["created"],
        loaded=row["loaded"],
    )


def list_annotation_runs(ctx: ServiceContext) -> list[str]:
    con = ctx.catalog.cursor()
    found = con.execute(
        "SELECT anno_key FROM annotation_runs ORDER BY created, anno_key"
    ).fetchall()
    return [r[0] for r in found]


def get_annotation_info(ctx: ServiceContext, anno_key: str) -> AnnotationRunInfo:
    con = ctx.catalog.cursor()
    return run_info(ctx, con, run_row(con, anno_key))


def get_annotation_status(ctx: ServiceContext, anno_key: str) -> RunStatus:
    con = ctx.catalog.cursor()
    row = run_row(con, anno_key)
    backend = ctx.backend(row["backend"])
    return RunStatus(
        anno_key=anno_key,
        backend=row["backend"],
        status=row["status"],
        tasks=tuple(backend.task_statuses(con, row["run_id"])),
    )


def annotation_id_map(ctx: ServiceContext, anno_key: str) -> IdMap:
    con = ctx.catalog.cursor()
    run_row(con, anno_key)
    found = rows(
        con,
        "SELECT frame_id, field, roi_id, task_id, shape_id, origin FROM annotation_ids "
        "WHERE anno_key = ? ORDER BY frame_id, field, roi_id, shape_id",
        [anno_key],
    )
    return IdMap(anno_key=anno_key, entries=tuple(IdMapEntry(**r) for r in found))


def rename_annotation_run(
    ctx: ServiceContext, anno_key: str, new_anno_key: str, *, dryrun: bool = False
) -> AnnotationRunInfo:
    target = {"anno_key": anno_key, "new_anno_key": new_anno_key}
    with Action(ctx, "rename_annotation_run", target, dryrun=dryrun) as act:
        if not isinstance(new_anno_key, str) or not new_anno_key:
            raise InvalidArgument(f"new anno_key must be a non-empty string, got {new_anno_key!r}")
        with act.transaction() as con:
            run_row(con, anno_key)
            if rows(con, "SELECT 1 FROM annotation_runs WHERE anno_key = ?", [new_anno_key]):
                raise Conflict(f"an annotation run {new_anno_key!r} exists")
            for table in _KEYED_BY_ANNO_KEY:
                con.execute(
                    f"UPDATE {table} SET anno_key = ? WHERE anno_key = ?", [new_anno_key, anno_key]
                )
            info = run_info(ctx, con, run_row(con, new_anno_key))
            act.done(1)
    return info


def delete_annotation_run(
    ctx: ServiceContext, anno_key: str, *, confirm: bool = False, dryrun: bool = False
) -> RemovalReport:
    """Delete the run's record and id map; its inputs and the backend's tasks stay."""
    confirm = confirmed(confirm)
    with (
        Action(ctx, "delete_annotation_run", {"anno_key": anno_key}, dryrun=dryrun) as act,
        act.transaction() as con,
    ):
        row = run_row(con, anno_key)
        id_rows = scalar(con, "SELECT count(*) FROM annotation_ids WHERE anno_key = ?", [anno_key])
        backend = ctx.backend(row["backend"])
        left = backend.cleanup(con, row["run_id"], dryrun=True)
        note = None
        if left.tasks:
            note = (
                f"its {left.tasks} tasks and {left.annotations} annotations stay on the "
                f"{row['backend']} platform: clean the run up first to remove them"
            )
        report = RemovalReport(
            action="delete_annotation_run",
            dryrun=dryrun,
            runs=1,
            id_map_rows=int(id_rows or 0),
            note=note,
        )
        if not confirm and not dryrun:
            raise ConfirmationRequired(report)
        for table in _KEYED_BY_ANNO_KEY:
            con.execute(f"DELETE FROM {table} WHERE anno_key = ?", [anno_key])
        act.done(1, report.to_dict())
    return report


def cleanup_annotation_run(
    ctx: ServiceContext, anno_key: str, *, confirm: bool = False, dryrun: bool = False
) -> RemovalReport:
    """Delete the run's tasks and annotations from its backend; the record stays."""
    confirm = confirmed(confirm)
    with (
        Action(ctx, "cleanup_annotation_run", {"anno_key": anno_key}, dryrun=dryrun) as act,
        act.transaction() as con,
    ):
        row = run_row(con, anno_key)
        report = cleanup_in(ctx, con, row, confirm=confirm, dryrun=dryrun)
        act.done(report.tasks, report.to_dict())
    return report


def cleanup_in(
    ctx: ServiceContext,
    con: duckdb.DuckDBPyConnection,
    row: dict[str, Any],
    *,
    confirm: bool,
    dryrun: bool,
) -> RemovalReport:
    """Cleanup inside a caller's transaction (also used by load_annotations(cleanup=True))."""
    backend = ctx.backend(row["backend"])
    plan = backend.cleanup(con, row["run_id"], dryrun=True)
    report = RemovalReport(
        action="cleanup_annotation_run",
        dryrun=dryrun,
        tasks=plan.tasks,
        annotations=plan.annotations,
    )
    if not confirmed(confirm) and not dryrun:
        raise ConfirmationRequired(report)
    backend.cleanup(con, row["run_id"], dryrun=dryrun)
    con.execute(
        "UPDATE annotation_runs SET status = ? WHERE anno_key = ?", [RUN_CLEANED, row["anno_key"]]
    )
    return report
