"""`WorkbenchService`: the part of the service API the app uses, as a protocol.

Both the in-process `Workbench` and the HTTP client (`workbench.connect(url)`, a
`WorkbenchClient`) satisfy it, so the app's `service` is typed by what it calls rather than
by one of the two. Each method has the signature of its `Workbench` method
(tests/services/test_protocol.py pins them), and mypy checks that both classes fit (below).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from workbench.backends.base import Capabilities, TaskStatus
from workbench.backends.local import SaveResult
from workbench.model.labels import LabelSchema
from workbench.model.shapes import Shape
from workbench.services.annotate import FrameSource
from workbench.services.curation import ViewSource
from workbench.services.models import (
    AuditEntry,
    Batch,
    Input,
    Project,
    RemovalReport,
    RoiRef,
    SavedViewInfo,
    Scene,
    TagReport,
)
from workbench.services.reports import (
    AnnotationResults,
    AnnotationRunInfo,
    IdMap,
    MergeReport,
    RunStatus,
    TaskDetail,
    Unexpected,
    UnexpectedCallback,
)


class WorkbenchService(Protocol):
    """What the app asks of its service: reads, the actions on a selection, annotation runs,
    the local platform's tasks, tags, saved views and the audit log."""

    @property
    def actor(self) -> str: ...

    def get_backends(self) -> dict[str, Capabilities]: ...

    def get_projects(self) -> list[Project]: ...

    def get_batches(self, project: str) -> list[Batch]: ...

    def find_scenes(
        self,
        *,
        frame_ids: Sequence[str] | None = None,
        context_ids: Sequence[str] | None = None,
    ) -> list[Scene]: ...

    def invalidate_scenes(
        self, uuids: Sequence[str], reason: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport: ...

    def query_inputs(
        self,
        *,
        project: str | None = None,
        batch: str | None = None,
        scene_uuids: Sequence[str] | None = None,
        external_ids: Sequence[str] | None = None,
    ) -> list[Input]: ...

    def delete_inputs(
        self, uuids: Sequence[str], *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport: ...

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
    ) -> AnnotationResults: ...

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
    ) -> MergeReport: ...

    def list_annotation_runs(self) -> list[str]: ...

    def get_annotation_info(self, anno_key: str) -> AnnotationRunInfo: ...

    def get_annotation_status(self, anno_key: str) -> RunStatus: ...

    def annotation_id_map(self, anno_key: str) -> IdMap: ...

    def rename_annotation_run(
        self, anno_key: str, new_anno_key: str, *, dryrun: bool = False
    ) -> AnnotationRunInfo: ...

    def delete_annotation_run(
        self, anno_key: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport: ...

    def list_tasks(self, anno_key: str) -> list[TaskStatus]: ...

    def get_task(self, task_id: str, *, segment: int | None = None) -> TaskDetail: ...

    def save_task_annotations(
        self,
        task_id: str,
        shapes: Sequence[Shape | Mapping[str, Any]],
        *,
        frame_ids: Sequence[str] | None = None,
        dryrun: bool = False,
    ) -> SaveResult: ...

    def complete_task(self, task_id: str) -> TaskStatus: ...

    def tag_frames(
        self, frame_ids: Sequence[str], tag: str, *, dryrun: bool = False
    ) -> TagReport: ...

    def untag_frames(
        self, frame_ids: Sequence[str], tag: str, *, dryrun: bool = False
    ) -> TagReport: ...

    def tag_rois(
        self, rois: Sequence[RoiRef | Mapping[str, Any]], tag: str, *, dryrun: bool = False
    ) -> TagReport: ...

    def untag_rois(
        self, rois: Sequence[RoiRef | Mapping[str, Any]], tag: str, *, dryrun: bool = False
    ) -> TagReport: ...

    def get_saved_views(self) -> list[SavedViewInfo]: ...

    def save_view(self, name: str, view: ViewSource, *, dryrun: bool = False) -> SavedViewInfo: ...

    def rename_view(self, name: str, new_name: str, *, dryrun: bool = False) -> SavedViewInfo: ...

    def delete_view(
        self, name: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport: ...

    def audit_log(self, *, limit: int = 100, action: str | None = None) -> list[AuditEntry]: ...


if TYPE_CHECKING:
    from workbench.services.client import WorkbenchClient
    from workbench.services.workbench import Workbench

    def _both_fit(local: Workbench, remote: WorkbenchClient) -> list[WorkbenchService]:
        return [local, remote]  # mypy: each is a WorkbenchService
