"""Sending frames to annotation: `annotate()` (FiftyOne's semantics, Kognic's objects).

One call, one transaction: the view's frames are grouped into scenes (one per context, frames
in time order; an existing created scene with exactly the same frames is reused), the scenes
become inputs of a request of the run in the project's batch, the backend creates its tasks
with the frames and the existing labels of the schema's fields, and the run is recorded with
its id map and a snapshot of every uploaded label. Any problem raises before anything stays
written; `dryrun=True` does all of it and rolls it back.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from workbench.backends.base import AnnotationBackend, UploadRequest
from workbench.errors import QueryError
from workbench.model.labels import LabelSchema
from workbench.model.shapes import LABEL_SCHEMA, UPLOAD_FRAME_SCHEMA
from workbench.services.context import Action, ServiceContext, arrow, rows
from workbench.services.errors import Conflict, InvalidArgument, StateError, UnknownIds
from workbench.services.inputs import insert_inputs
from workbench.services.label_schema import (
    RUN_FRAMES,
    build_label_schema,
    json_path,
    type_predicate,
)
from workbench.services.models import SCENE_FAILED, SceneSpec
from workbench.services.projects import batch_row, insert_batch, insert_project, insert_request
from workbench.services.reports import RUN_OPEN, AnnotationConfig, AnnotationRunInfo
from workbench.services.runs import run_info, run_row
from workbench.services.scenes import PlannedScene, insert_scenes, plan_scenes, process_media
from workbench.store.arrow import registered

DEFAULT_PROJECT = "default"


class SupportsFrameIds(Protocol):
    """A view: anything that lists frame ids in order (workbench.query's View does)."""

    def frame_ids(self) -> Any: ...


FrameSource = SupportsFrameIds | Sequence[str] | Mapping[str, Any]


@dataclass(frozen=True)
class Framing:
    """Which frames of each context are sent (CVAT's frame_start/stop/step, per sequence)."""

    start: int = 0
    stop: int | None = None
    step: int = 1


def view_frames(ctx: ServiceContext, view: FrameSource) -> tuple[list[str], dict[str, Any] | None]:
    """The frame ids of `view` in order, and its spec when it has one (stored with the run)."""
    try:
        return _view_frames(ctx, view)
    except QueryError as exc:
        # The engine's first line says what is wrong; the lines after it quote the query.
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise InvalidArgument(f"the view cannot be read: {problem}", argument="view") from exc
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # A spec dict from elsewhere (over HTTP) whose stages are not what View.from_dict
        # reads: its parts have the wrong types or are missing.
        raise InvalidArgument(
            f"the view spec cannot be read: {type(exc).__name__}", argument="view"
        ) from exc


def _view_frames(ctx: ServiceContext, view: FrameSource) -> tuple[list[str], dict[str, Any] | None]:
    spec: dict[str, Any] | None = None
    if isinstance(view, Mapping):
        if set(view) == {"frame_ids"}:
            return _unique(view["frame_ids"]), None
        from workbench.query.view import View  # the query layer is optional here

        spec = dict(view)
        view = View.from_dict(ctx.catalog, spec)
    if isinstance(view, str):
        raise InvalidArgument("expected a view or a list of frame ids, got a string")
    if hasattr(view, "frame_ids"):
        ids = view.frame_ids()
        if spec is None and hasattr(view, "to_dict"):
            spec = view.to_dict()
        ids = ids.to_pylist() if hasattr(ids, "to_pylist") else list(ids)
        return _unique(ids), spec
    return _unique(view), None


def _unique(ids: Any) -> list[str]:
    if isinstance(ids, str):
        raise InvalidArgument("frame_ids must be a list, got a string")
    out = list(dict.fromkeys(ids))
    if not all(isinstance(i, str) for i in out):
        raise InvalidArgument("frame ids must be strings")
    return out


def _check_sizes(**sizes: int | None) -> None:
    for name, value in sizes.items():
        minimum = 0 if name == "frame_start" else 1
        if value is not None and (not isinstance(value, int) or value < minimum):
            raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")


def annotate(
    ctx: ServiceContext,
    view: FrameSource,
    anno_key: str,
    *,
    label_schema: LabelSchema | Mapping[str, Any] | Sequence[str] | None,
    label_field: str | None,
    label_type: str | None,
    classes: Sequence[str] | None,
    attributes: bool | Sequence[str] | Mapping[str, Any],
    mask_targets: Mapping[int, str] | None,
    config: AnnotationConfig,
    dryrun: bool = False,
) -> AnnotationRunInfo:
    _check_sizes(
        task_size=config.task_size,
        segment_size=config.segment_size,
        frame_start=config.frame_start,
        frame_stop=config.frame_stop,
        frame_step=config.frame_step,
    )
    if not isinstance(anno_key, str) or not anno_key:
        raise InvalidArgument(f"anno_key must be a non-empty string, got {anno_key!r}")
    backend = ctx.backend(config.backend)
    target = {"anno_key": anno_key, "backend": config.backend}
    with Action(ctx, "annotate", target, dryrun=dryrun) as act:
        frame_ids, spec = view_frames(ctx, view)
        act.target["frames"] = len(frame_ids)
        if not frame_ids:
            raise InvalidArgument("the view has no frames: there is nothing to annotate")
        with act.transaction() as con:
            if rows(con, "SELECT 1 FROM annotation_runs WHERE anno_key = ?", [anno_key]):
                raise Conflict(f"an annotation run {anno_key!r} exists: pick another key")
            framing = Framing(config.frame_start or 0, config.frame_stop, config.frame_step or 1)
            groups = _frame_groups(con, frame_ids, framing)
            with registered(con, RUN_FRAMES, _frames_table(groups)):
                schema = build_label_schema(
                    con,
                    backend.capabilities,
                    label_schema=label_schema,
                    label_field=label_field,
                    label_type=label_type,
                    classes=classes,
                    attributes=attributes,
                    mask_targets=mask_targets,
                )
                _check_media(con, backend, groups, config.media_field)
                labels = _labels(con, schema)
            run_id = str(uuid.uuid4())
            summary = _send(
                con, backend, groups, labels, schema, config, anno_key, run_id, dryrun=dryrun
            )
            _record_run(con, ctx.actor, anno_key, run_id, schema, config, spec, summary)
            info = run_info(ctx, con, run_row(con, anno_key))
            act.done(info.frames, summary)
    return dataclasses.replace(info, dryrun=dryrun)


def _record_run(
    con: duckdb.DuckDBPyConnection,
    actor: str,
    anno_key: str,
    run_id: str,
    schema: LabelSchema,
    config: AnnotationConfig,
    spec: dict[str, Any] | None,
    summary: dict[str, Any],
) -> None:
    con.execute(
        "INSERT INTO annotation_runs (anno_key, run_id, backend, label_schema, config, view, "
        "status, project_id, batch_id, request_id, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            anno_key,
            run_id,
            config.backend,
            json.dumps(schema.to_dict()),
            json.dumps(config.to_dict()),
            json.dumps(spec, default=str) if spec is not None else None,
            RUN_OPEN,
            summary["project_id"],
            summary["batch_id"],
            summary["request_id"],
            actor,
        ],
    )


def _frame_groups(
    con: duckdb.DuckDBPyConnection, frame_ids: list[str], framing: Framing
) -> list[list[str]]:
    """The view's frames grouped by context (in order of first appearance), sampled per
    context by frame_start/stop/step over the context's frames in time order."""
    table = pa.table(
        {
            "frame_id": pa.array(frame_ids, pa.string()),
            "position": pa.array(range(len(frame_ids)), pa.int32()),
        }
    )
    with registered(con, "_wb_view_frames", table):
        unknown = con.execute(
            "SELECT frame_id FROM _wb_view_frames WHERE frame_id NOT IN (SELECT id FROM frames)"
        ).fetchall()
        if unknown:
            raise UnknownIds("frames", [r[0] for r in unknown])
        found = con.execute(
            """SELECT context_id, list(frame_id ORDER BY k) FROM (
                   SELECT v.frame_id, f.context_id, min(v.position) OVER w AS first,
                          row_number() OVER (w ORDER BY f.timestamp NULLS LAST,
                                             f.frame_index NULLS LAST, f.id) - 1 AS k
                   FROM _wb_view_frames v JOIN frames f ON f.id = v.frame_id
                   WINDOW w AS (PARTITION BY f.context_id))
               WHERE k >= ? AND (? IS NULL OR k <= ?) AND (k - ?) % ? = 0
               GROUP BY context_id, first ORDER BY first""",
            [framing.start, framing.stop, framing.stop, framing.start, framing.step],
        ).fetchall()
    groups = [list(r[1]) for r in found]
    if not groups:
        raise InvalidArgument("frame_start/frame_stop/frame_step leave no frames to annotate")
    return groups


def _frames_table(groups: list[list[str]]) -> pa.Table:
    ids = [f for g in groups for f in g]
    return pa.table(
        {"frame_id": pa.array(ids, pa.string()), "position": pa.array(range(len(ids)), pa.int32())}
    )


def _check_media(
    con: duckdb.DuckDBPyConnection,
    backend: AnnotationBackend,
    groups: list[list[str]],
    media_field: str | None,
) -> None:
    if any(len(g) > 1 for g in groups) and not backend.capabilities.supports_video:
        raise InvalidArgument(f"the {backend.name} backend cannot annotate sequences")
    if media_field is None:
        return
    missing = con.execute(
        f"SELECT frame_id FROM {RUN_FRAMES} WHERE frame_id NOT IN "
        "(SELECT frame_id FROM sources WHERE id = ?) ORDER BY position",
        [media_field],
    ).fetchall()
    if missing:
        raise InvalidArgument(
            f"media_field {media_field!r}: frames without that source: "
            + ", ".join(r[0] for r in missing[:10])
        )


def _labels(con: duckdb.DuckDBPyConnection, schema: LabelSchema) -> pa.Table:
    """The existing labels of the schema's fields on the run's frames (LABEL_SCHEMA)."""
    parts: list[str] = []
    params: list[Any] = []
    for name, field_schema in schema.fields.items():
        if field_schema.type == "scalar":
            parts.append(
                f"""SELECT NULL AS roi_id, f.id AS frame_id, ? AS field, 'scalar' AS kind,
                       NULL AS label, NULL AS confidence, [] AS geometry, NULL AS mask,
                       NULL AS attributes, json_extract(f.metadata, ?)::VARCHAR AS value,
                       NULL AS track_index, NULL AS keyframe, [] AS source_ids,
                       rf.position, '' AS sort_id
                    FROM frames f JOIN {RUN_FRAMES} rf ON rf.frame_id = f.id
                    WHERE json_exists(f.metadata, ?)
                      AND json_type(f.metadata, ?) <> 'NULL'"""
            )
            path = json_path(name)
            params.extend([name, path, path, path])
        else:
            parts.append(
                f"""SELECT r.id AS roi_id, r.frame_id, r.field, r.kind, r.label, r.confidence,
                       r.geometry, r.mask::VARCHAR AS mask, r.attributes::VARCHAR AS attributes,
                       NULL AS value, r.track_index, r.keyframe, r.source_ids, rf.position,
                       r.id AS sort_id
                    FROM rois r JOIN {RUN_FRAMES} rf ON rf.frame_id = r.frame_id
                    WHERE r.field = ? AND {type_predicate(field_schema.type)}"""
            )
            params.append(name)
    query = " UNION ALL ".join(f"({p})" for p in parts) + " ORDER BY position, field, sort_id"
    table = arrow(con, query, params)
    return table.select(LABEL_SCHEMA.names).cast(LABEL_SCHEMA)


def _send(
    con: duckdb.DuckDBPyConnection,
    backend: AnnotationBackend,
    groups: list[list[str]],
    labels: pa.Table,
    schema: LabelSchema,
    config: AnnotationConfig,
    anno_key: str,
    run_id: str,
    *,
    dryrun: bool = False,
) -> dict[str, Any]:
    """Scenes, inputs, tasks and the id map of a run; returns what it made."""
    project_id, batch_id = _project_and_batch(con, config)
    scenes, new = _scenes(con, groups)
    request_id = insert_request(con, project_id, batch_id, anno_key, run_id)
    input_uuids = insert_inputs(con, [s.uuid for s in scenes], project_id, batch_id, request_id)
    frames = pa.Table.from_pylist(
        [
            {"frame_id": f, "input_uuid": input_uuids[i], "scene_index": i, "position": 0}
            for i, s in enumerate(scenes)
            for f in s.frame_ids
        ],
        schema=UPLOAD_FRAME_SCHEMA,
    )
    frames = frames.set_column(3, "position", pa.array(range(frames.num_rows), pa.int32()))
    result = backend.upload(
        con,
        UploadRequest(
            run_id=run_id,
            anno_key=anno_key,
            label_schema=schema,
            restrictions=config.restrictions,
            project_id=project_id,
            batch_id=batch_id,
            frames=frames,
            labels=labels,
            task_size=config.task_size,
            segment_size=config.segment_size,
            media_field=config.media_field,
            dryrun=dryrun,
        ),
    )
    _record_id_map(con, anno_key, labels, result.shape_ids, result.task_ids)
    return {
        "project_id": project_id,
        "batch_id": batch_id,
        "request_id": request_id,
        "run_id": run_id,
        "scenes": len(scenes),
        "new_scenes": new,
        "inputs": len(input_uuids),
        "frames": frames.num_rows,
        "tasks": result.tasks,
        "labels": labels.num_rows,
    }


def _project_and_batch(con: duckdb.DuckDBPyConnection, config: AnnotationConfig) -> tuple[str, str]:
    """The run's project and batch, created when missing (as FiftyOne creates projects)."""
    name = config.project or DEFAULT_PROJECT
    found = rows(
        con,
        "SELECT id, backend FROM projects WHERE id = ? OR external_id = ? LIMIT 1",
        [name, name],
    )
    if found:
        if found[0]["backend"] != config.backend:
            raise Conflict(
                f"project {name!r} belongs to the {found[0]['backend']} backend, "
                f"not {config.backend}"
            )
        project_id = str(found[0]["id"])
    else:
        project_id = str(insert_project(con, name, backend=config.backend)["id"])
    if config.batch is None:
        try:
            return project_id, str(batch_row(con, project_id, None)["id"])
        except StateError:
            return project_id, str(insert_batch(con, project_id, None, "open")["id"])
    try:
        return project_id, str(batch_row(con, project_id, config.batch, writable=True)["id"])
    except UnknownIds:
        return project_id, str(insert_batch(con, project_id, config.batch, "open")["id"])


def _scenes(
    con: duckdb.DuckDBPyConnection, groups: list[list[str]]
) -> tuple[list[PlannedScene], int]:
    """One scene per group: an existing created scene of exactly those frames, or a new one."""
    planned = plan_scenes(con, [SceneSpec(frame_ids=tuple(g)) for g in groups])
    keys = pa.table(
        {
            "i": pa.array(range(len(planned)), pa.int32()),
            "frame_ids": pa.array([list(s.frame_ids) for s in planned], pa.list_(pa.string())),
        }
    )
    with registered(con, "_wb_scene_keys", keys):
        reused = dict(
            con.execute(
                "SELECT k.i, s.uuid FROM _wb_scene_keys k JOIN scenes s "
                "ON s.frame_ids = k.frame_ids AND s.status = 'created' "
                "QUALIFY row_number() OVER (PARTITION BY k.i ORDER BY s.created DESC, s.uuid) = 1"
            ).fetchall()
        )
    fresh = process_media(con, [s for i, s in enumerate(planned) if i not in reused])
    failed = [s for s in fresh if s.status == SCENE_FAILED]
    if failed:
        raise StateError(
            f"{len(failed)} scenes cannot be created: "
            + "; ".join(str(s.error_message) for s in failed[:5])
        )
    insert_scenes(con, fresh)
    fresh_iter = iter(fresh)
    scenes = [
        dataclasses.replace(planned[i], uuid=reused[i]) if i in reused else next(fresh_iter)
        for i in range(len(planned))
    ]
    return scenes, len(fresh)


def _record_id_map(
    con: duckdb.DuckDBPyConnection,
    anno_key: str,
    labels: pa.Table,
    shape_ids: Sequence[str],
    task_ids: Sequence[str],
) -> None:
    table = labels.append_column("shape_id", pa.array(list(shape_ids), pa.string())).append_column(
        "task_id", pa.array(list(task_ids), pa.string())
    )
    with registered(con, "_wb_uploaded", table):
        con.execute(
            "INSERT INTO annotation_ids (anno_key, frame_id, roi_id, field, task_id, shape_id, origin) "
            "SELECT ?, frame_id, roi_id, field, task_id, shape_id, 'upload' FROM _wb_uploaded",
            [anno_key],
        )
        con.execute(
            "INSERT INTO annotation_snapshots BY NAME SELECT ? AS anno_key, * EXCLUDE (task_id) "
            "FROM _wb_uploaded",
            [anno_key],
        )
