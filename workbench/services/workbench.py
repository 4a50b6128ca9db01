"""`Workbench`: the one service API over a catalog (in-process; over HTTP later, 1:1).

Every method takes JSON-friendly arguments (strings, numbers, lists, dicts, or the frozen
dataclasses of workbench.services with `to_dict`/`from_dict`) and returns such values, so an
HTTP server can expose each method as one route and a client can offer the same methods.
Actions are validated before anything is written, recorded in `audit_log`, and destructive
ones need `confirm=True` (`dryrun=True` reports exactly what they would do).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from workbench.backends import default_backends
from workbench.backends.base import AnnotationBackend, Capabilities, TaskStatus
from workbench.backends.local import SaveResult
from workbench.model.labels import EditRestrictions, LabelSchema
from workbench.model.shapes import Shape
from workbench.services import annotate as _annotate
from workbench.services import curation as _curation
from workbench.services import inputs as _inputs
from workbench.services import load as _load
from workbench.services import projects as _projects
from workbench.services import runs as _runs
from workbench.services import scenes as _scenes
from workbench.services import tasks as _tasks
from workbench.services.annotate import FrameSource
from workbench.services.arguments import checked_methods
from workbench.services.context import ServiceContext, parse, rows
from workbench.services.curation import ViewSource
from workbench.services.models import (
    AuditEntry,
    Batch,
    Input,
    InputCreationResult,
    Project,
    RemovalReport,
    Request,
    RoiRef,
    SavedViewInfo,
    Scene,
    SceneSpec,
    TagReport,
)
from workbench.services.reports import (
    AnnotationConfig,
    AnnotationResults,
    AnnotationRunInfo,
    IdMap,
    MergeReport,
    RunStatus,
    TaskDetail,
    Unexpected,
    UnexpectedCallback,
)
from workbench.store.audit import default_actor
from workbench.store.catalog import Catalog


@checked_methods
class Workbench:
    """Curation actions, scenes and inputs, annotation runs and the local platform's tasks.

    `actor` names who acts in the audit log (default: $USER). `backends` maps backend names to
    AnnotationBackend objects (default: the local platform only). Every public method checks
    its arguments against its type hints first (workbench.services.arguments): a value of the
    wrong type or size is an InvalidArgument naming it, and only `confirm=True` confirms.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        actor: str | None = None,
        backends: Mapping[str, AnnotationBackend] | None = None,
    ) -> None:
        self.catalog = catalog
        self._ctx = ServiceContext(
            catalog=catalog,
            actor=actor or default_actor(),
            backends=dict(backends) if backends is not None else default_backends(),
        )

    @property
    def actor(self) -> str:
        return self._ctx.actor

    def as_actor(self, actor: str) -> Workbench:
        """The same service acting as someone else (a served app: one per request)."""
        return Workbench(self.catalog, actor=actor, backends=self._ctx.backends)

    def __repr__(self) -> str:
        return f"Workbench({self.catalog!r}, actor={self.actor!r})"

    def get_backends(self) -> dict[str, Capabilities]:
        """The annotation backends this service can send to, by name, with what each can do."""
        return {name: b.capabilities for name, b in self._ctx.backends.items()}

    # -- projects, batches, requests --------------------------------------------------------
    def create_project(
        self,
        external_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        backend: str = "local",
        dryrun: bool = False,
    ) -> Project:
        return _projects.create_project(
            self._ctx,
            external_id,
            title=title,
            description=description,
            backend=backend,
            dryrun=dryrun,
        )

    def get_projects(self) -> list[Project]:
        return _projects.get_projects(self._ctx)

    def create_batch(
        self,
        project: str,
        *,
        external_id: str | None = None,
        status: str = "open",
        dryrun: bool = False,
    ) -> Batch:
        """A batch of a project (pending or open; default open)."""
        return _projects.create_batch(
            self._ctx, project, external_id=external_id, status=status, dryrun=dryrun
        )

    def get_batches(self, project: str) -> list[Batch]:
        return _projects.get_batches(self._ctx, project)

    def set_batch_status(
        self, project: str, batch: str, status: str, *, dryrun: bool = False
    ) -> Batch:
        """Move a batch forward: pending -> open -> completed."""
        return _projects.set_batch_status(self._ctx, project, batch, status, dryrun=dryrun)

    def create_request(
        self,
        project: str,
        *,
        batch: str | None = None,
        title: str | None = None,
        dryrun: bool = False,
    ) -> Request:
        return _projects.create_request(self._ctx, project, batch=batch, title=title, dryrun=dryrun)

    def get_requests(self, project: str, *, batch: str | None = None) -> list[Request]:
        return _projects.get_requests(self._ctx, project, batch)

    # -- scenes -----------------------------------------------------------------------------
    def create_scenes(
        self, scenes: Sequence[SceneSpec | Mapping[str, Any]], *, dryrun: bool = False
    ) -> list[Scene]:
        """Create scenes from specs (frames or a whole context each); `dryrun` only validates."""
        specs = [
            parse(SceneSpec, s, f"scenes[{i}]", argument="scenes") for i, s in enumerate(scenes)
        ]
        return _scenes.create_scenes(self._ctx, specs, dryrun=dryrun)

    def create_scenes_from_frames(
        self, frame_ids: Sequence[str], *, scene_type: str | None = None, dryrun: bool = False
    ) -> list[Scene]:
        """One scene per frame."""
        specs = [SceneSpec(frame_ids=(f,), scene_type=scene_type) for f in frame_ids]
        return _scenes.create_scenes(self._ctx, specs, dryrun=dryrun)

    def create_scenes_from_contexts(
        self, context_ids: Sequence[str], *, scene_type: str | None = None, dryrun: bool = False
    ) -> list[Scene]:
        """One scene per context, with every frame of it in time order."""
        specs = [SceneSpec(context_id=c, scene_type=scene_type) for c in context_ids]
        return _scenes.create_scenes(self._ctx, specs, dryrun=dryrun)

    def get_scenes_by_uuids(self, uuids: Sequence[str]) -> list[Scene]:
        return _scenes.get_scenes_by_uuids(self._ctx, uuids)

    def find_scenes(
        self,
        *,
        frame_ids: Sequence[str] | None = None,
        context_ids: Sequence[str] | None = None,
    ) -> list[Scene]:
        """Scenes holding any of these frames or made from these contexts, oldest first."""
        return _scenes.find_scenes(self._ctx, frame_ids=frame_ids, context_ids=context_ids)

    def invalidate_scenes(
        self, uuids: Sequence[str], reason: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        """Mark scenes invalidated:<reason> (bad-content, duplicate, incorrectly-created,
        broken-input) and delete every input using them with its annotations."""
        return _scenes.invalidate_scenes(self._ctx, uuids, reason, confirm=confirm, dryrun=dryrun)

    # -- inputs -----------------------------------------------------------------------------
    def create_inputs(
        self,
        scenes: Sequence[SceneSpec | Mapping[str, Any]],
        project: str,
        *,
        batch: str | None = None,
        wait_timeout: float = 1800.0,
        sleep_time: float = 5.0,
        dryrun: bool = False,
    ) -> Iterator[InputCreationResult]:
        """Create scenes and their inputs in one call; yields one result per input."""
        specs = [
            parse(SceneSpec, s, f"scenes[{i}]", argument="scenes") for i, s in enumerate(scenes)
        ]
        return _inputs.create_inputs(
            self._ctx,
            specs,
            project,
            batch=batch,
            wait_timeout=wait_timeout,
            sleep_time=sleep_time,
            dryrun=dryrun,
        )

    def create_inputs_from_scenes(
        self,
        project: str,
        *,
        batch: str | None = None,
        scene_uuids: Sequence[str] | None = None,
        external_ids: Sequence[str] | None = None,
        dryrun: bool = False,
    ) -> list[Input]:
        """Place created scenes (by uuid, or by external id) in a batch (default: latest open)."""
        return _inputs.create_inputs_from_scenes(
            self._ctx,
            project,
            batch=batch,
            scene_uuids=scene_uuids,
            external_ids=external_ids,
            dryrun=dryrun,
        )

    def query_inputs(
        self,
        *,
        project: str | None = None,
        batch: str | None = None,
        scene_uuids: Sequence[str] | None = None,
        external_ids: Sequence[str] | None = None,
    ) -> list[Input]:
        return _inputs.query_inputs(
            self._ctx,
            project=project,
            batch=batch,
            scene_uuids=scene_uuids,
            external_ids=external_ids,
        )

    def delete_input(
        self, uuid: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        """Delete one input and its annotations; its scene and other inputs stay."""
        return _inputs.delete_inputs(self._ctx, [uuid], confirm=confirm, dryrun=dryrun)

    def delete_inputs(
        self, uuids: Sequence[str], *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        return _inputs.delete_inputs(self._ctx, uuids, confirm=confirm, dryrun=dryrun)

    # -- annotation runs --------------------------------------------------------------------
    def annotate(
        self,
        view: FrameSource,
        anno_key: str,
        *,
        backend: str = "local",
        label_schema: LabelSchema | Mapping[str, Any] | Sequence[str] | None = None,
        label_field: str | None = None,
        label_type: str | None = None,
        classes: Sequence[str] | None = None,
        attributes: bool | Sequence[str] | Mapping[str, Any] = True,
        mask_targets: Mapping[int, str] | None = None,
        allow_additions: bool = True,
        allow_deletions: bool = True,
        allow_label_edits: bool = True,
        allow_index_edits: bool = True,
        allow_spatial_edits: bool = True,
        media_field: str | None = None,
        project: str | None = None,
        batch: str | None = None,
        task_size: int | None = None,
        segment_size: int | None = None,
        frame_start: int | None = None,
        frame_stop: int | None = None,
        frame_step: int | None = None,
        dryrun: bool = False,
    ) -> AnnotationResults:
        """Send a view's frames (and their existing labels) to annotation as run `anno_key`.

        `view` is a query View, a list of frame ids, or a view spec dict. Each context of the
        view becomes a scene (an identical existing scene is reused) and an input of the run's
        request in `project`/`batch` (created when missing; default project 'default', default
        batch its latest open one). `media_field` picks the source (camera) to annotate;
        `task_size` is scenes per task, `segment_size` frames per segment; `frame_start`,
        `frame_stop` (inclusive) and `frame_step` sample each sequence.
        """
        restrictions = EditRestrictions(
            allow_additions=allow_additions,
            allow_deletions=allow_deletions,
            allow_label_edits=allow_label_edits,
            allow_index_edits=allow_index_edits,
            allow_spatial_edits=allow_spatial_edits,
        )
        config = AnnotationConfig(
            backend=backend,
            restrictions=restrictions,
            media_field=media_field,
            project=project,
            batch=batch,
            task_size=task_size,
            segment_size=segment_size,
            frame_start=frame_start,
            frame_stop=frame_stop,
            frame_step=frame_step,
        )
        info = _annotate.annotate(
            self._ctx,
            view,
            anno_key,
            label_schema=label_schema,
            label_field=label_field,
            label_type=label_type,
            classes=classes,
            attributes=attributes,
            mask_targets=mask_targets,
            config=config,
            dryrun=dryrun,
        )
        return AnnotationResults(info, None if dryrun else self)

    def load_annotations(
        self,
        anno_key: str,
        *,
        unexpected: Unexpected = "prompt",
        dest_field: str | Mapping[str, str] | None = None,
        cleanup: bool = False,
        confirm: bool = False,
        on_unexpected: UnexpectedCallback | None = None,
        dryrun: bool = False,
    ) -> MergeReport:
        """Merge the run's results into the catalog in one transaction.

        `unexpected` labels (of a type the schema did not ask for in their field) are ignored,
        kept (in a field named after their type), returned in the report, or, with "prompt",
        handed to `on_unexpected(group) -> field name | None`; without a callback "prompt"
        returns them (it never waits for a person). `cleanup=True` (with `confirm=True`) then
        deletes the run's tasks from the backend.
        """
        return _load.load_annotations(
            self._ctx,
            anno_key,
            unexpected=unexpected,
            dest_field=dest_field,
            cleanup=cleanup,
            confirm=confirm,
            on_unexpected=on_unexpected,
            dryrun=dryrun,
        )

    def list_annotation_runs(self) -> list[str]:
        return _runs.list_annotation_runs(self._ctx)

    def get_annotation_info(self, anno_key: str) -> AnnotationRunInfo:
        return _runs.get_annotation_info(self._ctx, anno_key)

    def load_annotation_results(self, anno_key: str) -> AnnotationResults:
        return AnnotationResults(self.get_annotation_info(anno_key), self)

    def get_annotation_status(self, anno_key: str) -> RunStatus:
        return _runs.get_annotation_status(self._ctx, anno_key)

    def annotation_id_map(self, anno_key: str) -> IdMap:
        return _runs.annotation_id_map(self._ctx, anno_key)

    def rename_annotation_run(
        self, anno_key: str, new_anno_key: str, *, dryrun: bool = False
    ) -> AnnotationRunInfo:
        return _runs.rename_annotation_run(self._ctx, anno_key, new_anno_key, dryrun=dryrun)

    def delete_annotation_run(
        self, anno_key: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        """Delete the run's record and id map only (its inputs and backend tasks stay)."""
        return _runs.delete_annotation_run(self._ctx, anno_key, confirm=confirm, dryrun=dryrun)

    def cleanup_annotation_run(
        self, anno_key: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        """Delete the run's tasks and annotations from its backend; the record stays."""
        return _runs.cleanup_annotation_run(self._ctx, anno_key, confirm=confirm, dryrun=dryrun)

    # -- the local platform's tasks ---------------------------------------------------------
    def list_tasks(self, anno_key: str) -> list[TaskStatus]:
        return _tasks.list_tasks(self._ctx, anno_key)

    def get_task(self, task_id: str, *, segment: int | None = None) -> TaskDetail:
        """A task's frames (with images), current shapes, schema and restrictions; only one
        segment's frames and shapes when `segment` is given."""
        return _tasks.get_task(self._ctx, task_id, segment=segment)

    def get_task_annotations(
        self, task_id: str, *, frame_ids: Sequence[str] | None = None
    ) -> list[Shape]:
        return _tasks.get_task_annotations(self._ctx, task_id, frame_ids=frame_ids)

    def save_task_annotations(
        self,
        task_id: str,
        shapes: Sequence[Shape | Mapping[str, Any]],
        *,
        frame_ids: Sequence[str] | None = None,
        dryrun: bool = False,
    ) -> SaveResult:
        """Replace the task's shapes on `frame_ids` (default: all its frames) with `shapes`."""
        return _tasks.save_task_annotations(
            self._ctx, task_id, shapes, frame_ids=frame_ids, dryrun=dryrun
        )

    def set_task_status(
        self, task_id: str, status: str, *, assignee: str | None = None, dryrun: bool = False
    ) -> TaskStatus:
        """new, in_progress or done."""
        return _tasks.set_task_status(self._ctx, task_id, status, assignee=assignee, dryrun=dryrun)

    def complete_task(self, task_id: str) -> TaskStatus:
        return self.set_task_status(task_id, "done")

    # -- tags and saved views ---------------------------------------------------------------
    def tag_frames(self, frame_ids: Sequence[str], tag: str, *, dryrun: bool = False) -> TagReport:
        """Add the frame tag `tag` (stripped) to the frames that do not carry it yet."""
        return _curation.change_frame_tags(self._ctx, frame_ids, tag, add=True, dryrun=dryrun)

    def untag_frames(
        self, frame_ids: Sequence[str], tag: str, *, dryrun: bool = False
    ) -> TagReport:
        """Remove the frame tag `tag` from the frames."""
        return _curation.change_frame_tags(self._ctx, frame_ids, tag, add=False, dryrun=dryrun)

    def tag_rois(
        self, rois: Sequence[RoiRef | Mapping[str, Any]], tag: str, *, dryrun: bool = False
    ) -> TagReport:
        """Add the ROI tag `tag` to the ROIs (each a frame id and an ROI id)."""
        return _curation.change_roi_tags(self._ctx, rois, tag, add=True, dryrun=dryrun)

    def untag_rois(
        self, rois: Sequence[RoiRef | Mapping[str, Any]], tag: str, *, dryrun: bool = False
    ) -> TagReport:
        """Remove the ROI tag `tag` from the ROIs."""
        return _curation.change_roi_tags(self._ctx, rois, tag, add=False, dryrun=dryrun)

    def get_saved_views(self) -> list[SavedViewInfo]:
        """Every saved view with its spec, by name."""
        return _curation.get_saved_views(self._ctx)

    def save_view(self, name: str, view: ViewSource, *, dryrun: bool = False) -> SavedViewInfo:
        """Save a view (a query View, or its spec) under `name`, replacing one of that name."""
        return _curation.save_view(self._ctx, name, view, dryrun=dryrun)

    def rename_view(self, name: str, new_name: str, *, dryrun: bool = False) -> SavedViewInfo:
        return _curation.rename_view(self._ctx, name, new_name, dryrun=dryrun)

    def delete_view(
        self, name: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        """Delete a saved view (only `confirm=True` confirms)."""
        return _curation.delete_view(self._ctx, name, confirm=confirm, dryrun=dryrun)

    # -- audit ------------------------------------------------------------------------------
    def audit_log(self, *, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        """The latest audit rows, newest first."""
        query = 'SELECT id, "at", actor, action, target, count, dry_run, outcome, details FROM audit_log'
        params: list[Any] = []
        if action is not None:
            query += " WHERE action = ?"
            params.append(action)
        found = rows(
            self.catalog.cursor(), query + " ORDER BY id DESC LIMIT ?", [*params, int(limit)]
        )
        return [
            AuditEntry(
                **{
                    **r,
                    "target": json.loads(r["target"]) if r["target"] else None,
                    "details": json.loads(r["details"]) if r["details"] else None,
                }
            )
            for r in found
        ]
