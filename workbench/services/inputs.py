"""Inputs: scenes placed into a request of a batch of a project.

A scene can be placed in many projects and batches, once per request. Removing inputs (by
deleting them or by invalidating their scenes) also removes what annotation platforms hold
for them and the rows of the runs' id maps for their frames, so a later merge leaves the
catalog's labels of those frames alone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from workbench.services.arguments import confirmed
from workbench.services.context import Action, ServiceContext, id_list, parse, rows, strings
from workbench.services.errors import (
    ConfirmationRequired,
    Conflict,
    ServiceError,
    StateError,
    UnknownIds,
)
from workbench.services.models import (
    INPUT_LINK,
    SCENE_CREATED,
    SCENE_PENDING,
    SCENE_PROCESSING,
    Input,
    InputCreationResult,
    RemovalReport,
    Scene,
    SceneSpec,
)
from workbench.services.projects import batch_row, default_request, project_row
from workbench.store.arrow import registered

_INPUT_QUERY = """
    SELECT i.uuid, i.scene_uuid, s.external_id AS scene_external_id, i.project_id, i.batch_id,
           i.request_id, i.status, p.external_id AS project, b.external_id AS batch,
           ar.anno_key, i.error_message, i.created
    FROM inputs i
    JOIN scenes s ON s.uuid = i.scene_uuid
    LEFT JOIN projects p ON p.id = i.project_id
    LEFT JOIN batches b ON b.id = i.batch_id
    LEFT JOIN requests r ON r.id = i.request_id
    LEFT JOIN annotation_runs ar ON ar.run_id = r.run_id AND r.run_id IS NOT NULL"""


def _input(row: dict[str, Any]) -> Input:
    return Input(**row, view_link=INPUT_LINK.format(uuid=row["uuid"]))


def query_inputs(
    ctx: ServiceContext,
    *,
    project: str | None = None,
    batch: str | None = None,
    scene_uuids: Sequence[str] | None = None,
    external_ids: Sequence[str] | None = None,
) -> list[Input]:
    """Inputs filtered by project, batch, scene uuids and scene external ids (all optional)."""
    con = ctx.catalog.cursor()
    conditions: list[str] = []
    params: list[Any] = []
    if project is not None:
        project_id = project_row(con, project)["id"]
        conditions.append("i.project_id = ?")
        params.append(project_id)
        if batch is not None:
            conditions.append("i.batch_id = ?")
            params.append(batch_row(con, project_id, batch)["id"])
    elif batch is not None:
        conditions.append("(b.id = ? OR b.external_id = ?)")
        params.extend([batch, batch])
    if scene_uuids is not None:
        conditions.append("i.scene_uuid IN (SELECT unnest(?::VARCHAR[]))")
        params.append(strings(scene_uuids, "scene_uuids"))
    if external_ids is not None:
        conditions.append("s.external_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(strings(external_ids, "external_ids"))
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    found = rows(con, _INPUT_QUERY + where + " ORDER BY i.created, i.uuid", params)
    return [_input(r) for r in found]


def insert_inputs(
    con: duckdb.DuckDBPyConnection,
    scene_uuids: Sequence[str],
    project_id: str,
    batch_id: str,
    request_id: str,
) -> list[str]:
    """Place scenes in a request; refuses scenes already in it. Returns the new input uuids."""
    uuids = [str(uuid.uuid4()) for _ in scene_uuids]
    table = pa.table(
        {
            "uuid": pa.array(uuids, pa.string()),
            "scene_uuid": pa.array(list(scene_uuids), pa.string()),
        }
    )
    with registered(con, "_wb_new_inputs", table):
        taken = con.execute(
            "SELECT DISTINCT scene_uuid FROM inputs WHERE request_id = ? "
            "AND scene_uuid IN (SELECT scene_uuid FROM _wb_new_inputs)",
            [request_id],
        ).fetchall()
        if taken:
            raise Conflict(
                f"scenes already have an input in request {request_id!r}: "
                + ", ".join(sorted(r[0] for r in taken)[:10])
            )
        con.execute(
            "INSERT INTO inputs (uuid, scene_uuid, request_id, project_id, batch_id, status) "
            "SELECT uuid, scene_uuid, ?, ?, ?, 'created' FROM _wb_new_inputs",
            [request_id, project_id, batch_id],
        )
    return uuids


def _scene_status_rows(
    con: duckdb.DuckDBPyConnection,
    scene_uuids: Sequence[str] | None,
    external_ids: Sequence[str] | None,
) -> list[dict[str, Any]]:
    if scene_uuids:
        found = rows(
            con,
            "SELECT uuid, external_id, status FROM scenes "
            "WHERE uuid IN (SELECT unnest(?::VARCHAR[]))",
            [list(scene_uuids)],
        )
        missing = set(scene_uuids) - {r["uuid"] for r in found}
        if missing:
            raise UnknownIds("scenes", missing)
        order = {u: k for k, u in enumerate(scene_uuids)}
        return sorted(found, key=lambda r: order[r["uuid"]])
    # By external id: the newest created scene of each, as Kognic resolves them.
    wanted = list(external_ids or [])
    found = rows(
        con,
        "SELECT uuid, external_id, status FROM scenes "
        "WHERE external_id IN (SELECT unnest(?::VARCHAR[])) AND status = 'created' "
        "QUALIFY row_number() OVER (PARTITION BY external_id ORDER BY created DESC, rowid DESC) = 1",
        [wanted],
    )
    missing = set(wanted) - {r["external_id"] for r in found}
    if missing:
        raise UnknownIds("scene external ids (of created scenes)", missing)
    order = {e: k for k, e in enumerate(wanted)}
    return sorted(found, key=lambda r: order[r["external_id"]])


def create_inputs_from_scenes(
    ctx: ServiceContext,
    project: str,
    *,
    batch: str | None = None,
    scene_uuids: Sequence[str] | None = None,
    external_ids: Sequence[str] | None = None,
    dryrun: bool = False,
) -> list[Input]:
    """Place existing created scenes (by uuid or external id) into a project's batch."""
    scene_uuids = strings(scene_uuids, "scene_uuids")
    external_ids = strings(external_ids, "external_ids")
    if bool(scene_uuids) == bool(external_ids):
        raise StateError("give either scene_uuids or external_ids")
    target = {"project": project, "batch": batch, **id_list(scene_uuids or external_ids)}
    with Action(ctx, "create_inputs", target, dryrun=dryrun) as act, act.transaction() as con:
        scenes = _scene_status_rows(con, scene_uuids, external_ids)
        not_ready = [r["uuid"] for r in scenes if r["status"] != SCENE_CREATED]
        if not_ready:
            raise StateError(
                "only created scenes can become inputs; not created: "
                + ", ".join(f"{u} ({s})" for u, s in _statuses(scenes, not_ready))
            )
        uuids = _place(con, project, batch, [r["uuid"] for r in scenes])
        act.done(len(uuids), {"input_uuids": len(uuids)})
        found = _inputs_by_uuid(con, uuids)
    return found


def _statuses(scenes: list[dict[str, Any]], uuids: list[str]) -> list[tuple[str, str]]:
    status = {r["uuid"]: r["status"] for r in scenes}
    return [(u, status[u]) for u in uuids[:10]]


def _place(
    con: duckdb.DuckDBPyConnection, project: str, batch: str | None, scene_uuids: list[str]
) -> list[str]:
    project_id = project_row(con, project)["id"]
    batch_id = batch_row(con, project_id, batch, writable=True)["id"]
    request_id = default_request(con, project_id, batch_id)
    return insert_inputs(con, scene_uuids, project_id, batch_id, request_id)


def _inputs_by_uuid(con: duckdb.DuckDBPyConnection, uuids: list[str]) -> list[Input]:
    found = rows(con, _INPUT_QUERY + " WHERE i.uuid IN (SELECT unnest(?::VARCHAR[]))", [uuids])
    order = {u: k for k, u in enumerate(uuids)}
    return sorted((_input(r) for r in found), key=lambda i: order[i.uuid])


def create_inputs(
    ctx: ServiceContext,
    scenes: Sequence[SceneSpec],
    project: str,
    *,
    batch: str | None = None,
    wait_timeout: float = 1800.0,
    sleep_time: float = 5.0,
    dryrun: bool = False,
) -> Iterator[InputCreationResult]:
    """Create scenes and place each in the batch; yields one result per input as it is done.

    The project and batch are checked at once (errors are raised by this call, not by the
    first `next`). Scenes that fail yield a failure at stage 'scene'; scenes still pending
    after `wait_timeout` seconds yield a failure at stage 'timeout'. Waiting sleeps
    `sleep_time` between checks; the local platform never needs to wait.
    """
    from workbench.services.scenes import plan_scenes

    con = ctx.catalog.cursor()
    project_id = project_row(con, project)["id"]
    batch_row(con, project_id, batch, writable=True)
    specs = [parse(SceneSpec, s, f"scenes[{i}]", argument="scenes") for i, s in enumerate(scenes)]
    plan_scenes(con, specs)  # bad specs fail here too, not halfway through the results
    return _create_inputs(ctx, specs, project, batch, wait_timeout, sleep_time, dryrun)


def _create_inputs(
    ctx: ServiceContext,
    specs: list[SceneSpec],
    project: str,
    batch: str | None,
    wait_timeout: float,
    sleep_time: float,
    dryrun: bool,
) -> Iterator[InputCreationResult]:
    from workbench.services.scenes import create_scenes, get_scenes_by_uuids

    deadline = time.monotonic() + wait_timeout
    waiting = create_scenes(ctx, specs, dryrun=dryrun)
    while True:
        final = [s for s in waiting if s.status not in (SCENE_PENDING, SCENE_PROCESSING)]
        waiting = [s for s in waiting if s not in final]
        yield from _inputs_for(ctx, final, project, batch, dryrun)
        remaining = deadline - time.monotonic()
        if not waiting or remaining <= 0 or dryrun:
            break
        time.sleep(min(sleep_time, remaining))
        waiting = get_scenes_by_uuids(ctx, [s.uuid for s in waiting])
    for scene in waiting:
        yield InputCreationResult(
            external_id=scene.external_id,
            scene_uuid=scene.uuid,
            status="failed",
            stage="timeout",
            error_message=f"scene still {scene.status} after {wait_timeout} s",
            dryrun=dryrun,
        )


def _inputs_for(
    ctx: ServiceContext, scenes: list[Scene], project: str, batch: str | None, dryrun: bool
) -> Iterator[InputCreationResult]:
    for scene in scenes:
        if scene.status != SCENE_CREATED:
            yield InputCreationResult(
                external_id=scene.external_id,
                scene_uuid=scene.uuid,
                status="failed",
                stage="scene",
                error_message=scene.error_message or f"scene is {scene.status}",
                dryrun=dryrun,
            )
    ready = [s for s in scenes if s.status == SCENE_CREATED]
    if not ready:
        return
    try:
        if dryrun:
            uuids: list[str | None] = [None] * len(ready)
        else:
            made = create_inputs_from_scenes(
                ctx, project, batch=batch, scene_uuids=[s.uuid for s in ready]
            )
            uuids = [i.uuid for i in made]
    except ServiceError as exc:
        for scene in ready:
            yield InputCreationResult(
                external_id=scene.external_id,
                scene_uuid=scene.uuid,
                status="failed",
                stage="input",
                error_message=str(exc),
                dryrun=dryrun,
            )
        return
    for scene, input_uuid in zip(ready, uuids, strict=True):
        yield InputCreationResult(
            external_id=scene.external_id,
            scene_uuid=scene.uuid,
            status="created",
            input_uuid=input_uuid,
            dryrun=dryrun,
        )


# -- removal --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputRemoval:
    tasks: int
    annotations: int
    id_map_rows: int


def remove_inputs(
    ctx: ServiceContext,
    con: duckdb.DuckDBPyConnection,
    input_uuids: Sequence[str],
    *,
    plan_only: bool,
    dryrun: bool,
) -> InputRemoval:
    """Delete inputs, their platform tasks/shapes and their frames' id-map rows.

    With `plan_only` nothing is deleted and backends are asked for counts only. Backends get
    `dryrun` so remote ones do nothing in a dry run; catalog writes roll back with the dry run.
    """
    table = pa.table({"uuid": pa.array(list(input_uuids), pa.string())})
    tasks = annotations = 0
    with registered(con, "_wb_removed_inputs", table):
        runs = rows(
            con,
            """SELECT ar.run_id, ar.anno_key, ar.backend, list(i.uuid) AS inputs
               FROM inputs i JOIN requests r ON r.id = i.request_id
               JOIN annotation_runs ar ON ar.run_id = r.run_id
               WHERE i.uuid IN (SELECT uuid FROM _wb_removed_inputs)
               GROUP BY ALL ORDER BY ar.anno_key""",
        )
        for run in runs:
            removal = ctx.backend(run["backend"]).remove_inputs(
                con, run["run_id"], run["inputs"], dryrun=plan_only or dryrun
            )
            tasks += removal.tasks
            annotations += removal.annotations
        id_map_rows = _id_map_rows(con, delete=not plan_only)
        if not plan_only:
            con.execute("DELETE FROM inputs WHERE uuid IN (SELECT uuid FROM _wb_removed_inputs)")
    return InputRemoval(tasks=tasks, annotations=annotations, id_map_rows=id_map_rows)


def _id_map_rows(con: duckdb.DuckDBPyConnection, *, delete: bool) -> int:
    """Id-map (and snapshot) rows of the removed inputs' frames in their runs."""
    keys = """SELECT ar.anno_key, unnest(s.frame_ids) AS frame_id
              FROM inputs i JOIN scenes s ON s.uuid = i.scene_uuid
              JOIN requests r ON r.id = i.request_id
              JOIN annotation_runs ar ON ar.run_id = r.run_id
              WHERE i.uuid IN (SELECT uuid FROM _wb_removed_inputs)"""
    count = con.execute(
        f"SELECT count(*) FROM annotation_ids WHERE (anno_key, frame_id) IN "
        f"(SELECT (anno_key, frame_id) FROM ({keys}))"
    ).fetchall()[0][0]
    if delete and count:
        for table in ("annotation_ids", "annotation_snapshots"):
            con.execute(
                f"DELETE FROM {table} WHERE (anno_key, frame_id) IN "
                f"(SELECT (anno_key, frame_id) FROM ({keys}))"
            )
    return int(count)


def delete_inputs(
    ctx: ServiceContext,
    uuids: Sequence[str],
    *,
    confirm: bool = False,
    dryrun: bool = False,
) -> RemovalReport:
    """Delete inputs and their annotations; their scenes and other inputs stay."""
    confirm = confirmed(confirm)
    wanted = sorted(set(strings(uuids, "uuids")))
    with (
        Action(ctx, "delete_inputs", id_list(wanted), dryrun=dryrun) as act,
        act.transaction() as con,
    ):
        known = {
            r[0]
            for r in con.execute(
                "SELECT uuid FROM inputs WHERE uuid IN (SELECT unnest(?::VARCHAR[]))", [wanted]
            ).fetchall()
        }
        missing = [u for u in wanted if u not in known]
        if missing:
            raise UnknownIds("inputs", missing)
        plan = remove_inputs(ctx, con, wanted, plan_only=True, dryrun=True)
        report = RemovalReport(
            action="delete_inputs",
            dryrun=dryrun,
            inputs=len(wanted),
            annotations=plan.annotations,
            tasks=plan.tasks,
            id_map_rows=plan.id_map_rows,
            input_uuids=tuple(wanted),
        )
        if not confirm and not dryrun:
            raise ConfirmationRequired(report)
        remove_inputs(ctx, con, wanted, plan_only=False, dryrun=dryrun)
        act.done(len(wanted), {**report.to_dict(), "input_uuids": len(wanted)})
    return report
