"""Scenes: the units sent for annotation, built from frames or whole contexts.

Creating scenes validates every spec set-based (one query per step, never one per frame):
unknown frames or contexts are refused by name, a scene type that does not fit its frames is
refused with the reason, and nothing is written unless every spec is valid. The local platform
then processes each scene at once (its media must be readable), so a scene is written as
`created`, or `failed` with an error message; `pending` and `processing` appear only with
asynchronous platforms. Invalidation ends a scene's life as `invalidated:<reason>` and removes
every input that uses it, with their annotations.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from workbench.services.arguments import confirmed
from workbench.services.context import Action, ServiceContext, arrow, id_list, parse, rows, strings
from workbench.services.errors import (
    ConfirmationRequired,
    InvalidArgument,
    SceneSpecError,
    UnknownIds,
)
from workbench.services.inputs import remove_inputs
from workbench.services.models import (
    INVALIDATION_REASONS,
    SCENE_CREATED,
    SCENE_FAILED,
    SCENE_TYPES,
    RemovalReport,
    Scene,
    SceneSpec,
)
from workbench.store.arrow import append_rows, registered

_SCENE_COLUMNS = (
    "uuid, external_id, scene_type, status, frame_ids, context_id, error_message, "
    "calibration_id, created"
)
_MEMBERS = pa.schema([("i", pa.int32()), ("frame_id", pa.string()), ("ord", pa.int32())])
_CONTEXTS = pa.schema([("i", pa.int32()), ("context_id", pa.string())])


@dataclass(frozen=True)
class PlannedScene:
    """A validated scene, before it is written."""

    uuid: str
    external_id: str | None
    scene_type: str
    context_id: str | None
    frame_ids: tuple[str, ...]
    calibration_id: str | None
    status: str = SCENE_CREATED
    error_message: str | None = None


def plan_scenes(con: duckdb.DuckDBPyConnection, specs: Sequence[SceneSpec]) -> list[PlannedScene]:
    """Validate `specs` against the catalog; raise UnknownIds / SceneSpecError, else plan."""
    problems: list[str] = []
    members: list[tuple[int, str, int]] = []
    contexts: list[tuple[int, str]] = []
    for i, spec in enumerate(specs):
        if spec.scene_type is not None and spec.scene_type not in SCENE_TYPES:
            problems.append(f"scene {i}: unknown scene type {spec.scene_type!r}")
        if bool(spec.frame_ids) == bool(spec.context_id):
            problems.append(f"scene {i}: give either frame_ids or context_id")
        elif spec.context_id:
            contexts.append((i, spec.context_id))
        else:
            if len(set(spec.frame_ids)) != len(spec.frame_ids):
                problems.append(f"scene {i}: a frame appears twice")
            members.extend((i, f, k) for k, f in enumerate(spec.frame_ids))
    if problems:
        raise SceneSpecError(problems)
    stats = _scene_stats(con, members, contexts)
    for i, spec in enumerate(specs):
        problems.extend(_check_type(i, spec, stats[i]))
    if problems:
        raise SceneSpecError(problems)
    return [_planned(spec, stats[i]) for i, spec in enumerate(specs)]


def _scene_stats(
    con: duckdb.DuckDBPyConnection,
    members: list[tuple[int, str, int]],
    contexts: list[tuple[int, str]],
) -> dict[int, dict[str, Any]]:
    """Per scene: its frames in order, contexts, source counts and source-id sets."""
    spec_frames = pa.Table.from_pylist(
        [{"i": i, "frame_id": f, "ord": k} for i, f, k in members], schema=_MEMBERS
    )
    spec_contexts = pa.Table.from_pylist(
        [{"i": i, "context_id": c} for i, c in contexts], schema=_CONTEXTS
    )
    with (
        registered(con, "_wb_spec_frames", spec_frames),
        registered(con, "_wb_spec_contexts", spec_contexts),
    ):
        unknown_frames = con.execute(
            "SELECT DISTINCT frame_id FROM _wb_spec_frames "
            "WHERE frame_id NOT IN (SELECT id FROM frames)"
        ).fetchall()
        if unknown_frames:
            raise UnknownIds("frames", [r[0] for r in unknown_frames])
        unknown_contexts = con.execute(
            "SELECT DISTINCT context_id FROM _wb_spec_contexts "
            "WHERE context_id NOT IN (SELECT context_id FROM frames)"
        ).fetchall()
        if unknown_contexts:
            raise UnknownIds("contexts", [r[0] for r in unknown_contexts])
        found = arrow(
            con,
            """WITH members AS (
                   SELECT i, frame_id, ord FROM _wb_spec_frames
                   UNION ALL
                   SELECT c.i, f.id, (row_number() OVER (PARTITION BY c.i ORDER BY f.timestamp
                          NULLS LAST, f.frame_index NULLS LAST, f.id) - 1)::INTEGER
                   FROM _wb_spec_contexts c JOIN frames f ON f.context_id = c.context_id),
               per_frame AS (
                   SELECT frame_id, count(*) AS n, string_agg(id, ',' ORDER BY id) AS ids
                   FROM sources WHERE frame_id IN (SELECT frame_id FROM members)
                   GROUP BY frame_id)
               SELECT m.i, list(m.frame_id ORDER BY m.ord) AS frame_ids,
                      list(DISTINCT f.context_id) AS contexts,
                      min(coalesce(p.n, 0)) AS min_sources, max(coalesce(p.n, 0)) AS max_sources,
                      count(DISTINCT p.ids) AS source_sets,
                      list(m.frame_id) FILTER (WHERE p.n IS NULL) AS no_sources
               FROM members m JOIN frames f ON f.id = m.frame_id
               LEFT JOIN per_frame p ON p.frame_id = m.frame_id
               GROUP BY m.i""",
        )
    return {int(r["i"]): r for r in found.to_pylist()}


def _check_type(i: int, spec: SceneSpec, stat: dict[str, Any]) -> list[str]:
    where = f"scene {i} ({spec.external_id or spec.context_id or stat['frame_ids'][0]})"
    problems: list[str] = []
    if stat["no_sources"]:
        problems.append(f"{where}: frame {stat['no_sources'][0]!r} has no image to annotate")
    if len(stat["contexts"]) > 1:
        problems.append(f"{where}: its frames come from {len(stat['contexts'])} contexts")
    frames = len(stat["frame_ids"])
    if spec.scene_type == "camera_frame" and (frames != 1 or stat["max_sources"] > 1):
        problems.append(
            f"{where}: a camera_frame is one frame with one image, got {frames} frames "
            f"with up to {stat['max_sources']} images"
        )
    if spec.scene_type == "camera_sequence" and (
        stat["max_sources"] > 1 or stat["source_sets"] > 1
    ):
        problems.append(f"{where}: a camera_sequence needs one camera on every frame")
    return problems


def _planned(spec: SceneSpec, stat: dict[str, Any]) -> PlannedScene:
    frame_ids = tuple(stat["frame_ids"])
    scene_type = spec.scene_type or infer_scene_type(len(frame_ids), stat["max_sources"])
    context_id = spec.context_id or (stat["contexts"][0] if stat["contexts"] else None)
    external_id = (
        spec.external_id or spec.context_id or (frame_ids[0] if len(frame_ids) == 1 else context_id)
    )
    return PlannedScene(
        uuid=str(uuid.uuid4()),
        external_id=external_id,
        scene_type=scene_type,
        context_id=context_id,
        frame_ids=frame_ids,
        calibration_id=spec.calibration_id,
    )


def infer_scene_type(frames: int, max_sources: int) -> str:
    if max_sources > 1:
        return "frame_group"
    return "camera_frame" if frames == 1 else "camera_sequence"


def process_media(
    con: duckdb.DuckDBPyConnection, planned: list[PlannedScene]
) -> list[PlannedScene]:
    """Mark scenes whose local media files are missing as failed (remote URIs are trusted)."""
    members = pa.table(
        {
            "i": pa.array([i for i, s in enumerate(planned) for _ in s.frame_ids], pa.int32()),
            "frame_id": pa.array([f for s in planned for f in s.frame_ids], pa.string()),
        }
    )
    with registered(con, "_wb_media", members):
        found = con.execute(
            "SELECT m.i, s.frame_id, s.id, s.uri FROM _wb_media m "
            "JOIN sources s ON s.frame_id = m.frame_id ORDER BY m.i"
        ).fetchall()
    errors: dict[int, str] = {}
    for i, frame_id, source_id, uri in found:
        if i in errors or not uri or not _is_local(uri):
            continue
        path = uri.removeprefix("file://")
        if not os.path.exists(path):
            errors[i] = f"source {source_id!r} of frame {frame_id!r}: file not found: {path}"
    return [
        dataclasses.replace(s, status=SCENE_FAILED, error_message=errors[i]) if i in errors else s
        for i, s in enumerate(planned)
    ]


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def insert_scenes(con: duckdb.DuckDBPyConnection, planned: Sequence[PlannedScene]) -> None:
    table = pa.table(
        {
            "uuid": [s.uuid for s in planned],
            "external_id": pa.array([s.external_id for s in planned], pa.string()),
            "scene_type": [s.scene_type for s in planned],
            "status": [s.status for s in planned],
            "calibration_id": pa.array([s.calibration_id for s in planned], pa.string()),
            "error_message": pa.array([s.error_message for s in planned], pa.string()),
            "context_id": pa.array([s.context_id for s in planned], pa.string()),
            "frame_ids": pa.array([list(s.frame_ids) for s in planned], pa.list_(pa.string())),
        }
    )
    append_rows(con, "scenes", table)


def create_scenes(
    ctx: ServiceContext, specs: Sequence[SceneSpec], *, dryrun: bool = False
) -> list[Scene]:
    specs = [parse(SceneSpec, s, f"scenes[{i}]", argument="scenes") for i, s in enumerate(specs)]
    with (
        Action(ctx, "create_scenes", {"scenes": len(specs)}, dryrun=dryrun) as act,
        act.transaction() as con,
    ):
        planned = process_media(con, plan_scenes(con, specs))
        insert_scenes(con, planned)
        stored = {r["uuid"]: _scene(r) for r in _scene_rows(con, [s.uuid for s in planned])}
        failed = sum(1 for s in planned if s.status == SCENE_FAILED)
        act.done(len(planned), {"created": len(planned) - failed, "failed": failed})
    return [stored[s.uuid] for s in planned]


def get_scenes_by_uuids(ctx: ServiceContext, uuids: Sequence[str]) -> list[Scene]:
    """The scenes, in the order asked; unknown uuids are refused by name."""
    wanted = strings(uuids, "uuids")
    con = ctx.catalog.cursor()
    found = {r["uuid"]: r for r in _scene_rows(con, wanted)}
    missing = [u for u in wanted if u not in found]
    if missing:
        raise UnknownIds("scenes", missing)
    return [_scene(found[u]) for u in wanted]


def find_scenes(
    ctx: ServiceContext,
    *,
    frame_ids: Sequence[str] | None = None,
    context_ids: Sequence[str] | None = None,
) -> list[Scene]:
    """Scenes holding any of `frame_ids` or made from a context of `context_ids`, oldest
    first (invalidated ones included: their status says so). Unknown ids find nothing."""
    frames = pa.table({"frame_id": pa.array(strings(frame_ids, "frame_ids"), pa.string())})
    contexts = pa.table({"context_id": pa.array(strings(context_ids, "context_ids"), pa.string())})
    con = ctx.catalog.cursor()
    # One join over the scenes' frame lists, not a list lookup per selected frame: the app
    # asks this for selections of up to a million frames.
    with (
        registered(con, "_wb_find_frames", frames),
        registered(con, "_wb_find_contexts", contexts),
    ):
        found = rows(
            con,
            f"""SELECT {_SCENE_COLUMNS} FROM scenes
                WHERE uuid IN (SELECT m.uuid FROM
                                 (SELECT uuid, unnest(frame_ids) AS frame_id FROM scenes) m
                               JOIN _wb_find_frames f ON f.frame_id = m.frame_id)
                   OR context_id IN (SELECT context_id FROM _wb_find_contexts)
                ORDER BY created, uuid""",
        )
    return [_scene(r) for r in found]


def _scene_rows(con: duckdb.DuckDBPyConnection, uuids: list[str]) -> list[dict[str, Any]]:
    return rows(
        con,
        f"SELECT {_SCENE_COLUMNS} FROM scenes WHERE uuid IN (SELECT unnest(?::VARCHAR[]))",
        [uuids],
    )


def _scene(row: dict[str, Any]) -> Scene:
    return Scene(**{**row, "frame_ids": tuple(row["frame_ids"] or ())})


def invalidate_scenes(
    ctx: ServiceContext,
    uuids: Sequence[str],
    reason: str,
    *,
    confirm: bool = False,
    dryrun: bool = False,
) -> RemovalReport:
    """Mark scenes invalidated:<reason>; delete every input using them and its annotations."""
    confirm = confirmed(confirm)
    wanted = strings(uuids, "uuids")
    target = {**id_list(wanted), "reason": reason}
    with Action(ctx, "invalidate_scenes", target, dryrun=dryrun) as act:
        if reason not in INVALIDATION_REASONS:
            raise InvalidArgument(
                f"invalidation reason {reason!r}: expected one of {', '.join(INVALIDATION_REASONS)}"
            )
        with act.transaction() as con:
            found = {r["uuid"]: r for r in _scene_rows(con, wanted)}
            missing = [u for u in wanted if u not in found]
            if missing:
                raise UnknownIds("scenes", missing)
            live = sorted(
                {u for u, r in found.items() if not str(r["status"]).startswith("invalidated:")}
            )
            inputs = [
                r[0]
                for r in con.execute(
                    "SELECT uuid FROM inputs WHERE scene_uuid IN (SELECT unnest(?::VARCHAR[])) "
                    "ORDER BY uuid",
                    [live],
                ).fetchall()
            ]
            plan = remove_inputs(ctx, con, inputs, plan_only=True, dryrun=True)
            skipped = len(set(wanted)) - len(live)
            report = RemovalReport(
                action="invalidate_scenes",
                dryrun=dryrun,
                scenes=len(live),
                inputs=len(inputs),
                annotations=plan.annotations,
                tasks=plan.tasks,
                id_map_rows=plan.id_map_rows,
                input_uuids=tuple(inputs),
                note=f"{skipped} already invalidated, left as they are" if skipped else None,
            )
            if not confirm and not dryrun:
                raise ConfirmationRequired(report)
            remove_inputs(ctx, con, inputs, plan_only=False, dryrun=dryrun)
            con.execute(
                "UPDATE scenes SET status = ? WHERE uuid IN (SELECT unnest(?::VARCHAR[]))",
                [f"invalidated:{reason}", live],
            )
            act.done(len(live), {**report.to_dict(), "input_uuids": len(inputs)})
    return report
