"""What annotation runs take and return: config, run info, status, merge report, tasks.

Frozen dataclasses with `to_dict()` / `from_dict()`, except `AnnotationResults`, which is the
run info bound to the service that made it (in-process, or the HTTP client later) so that
`results.get_status()`, `results.cleanup()` and `results.load_annotations()` work on it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TextIO

from workbench.backends.base import TaskStatus
from workbench.backends.local import TaskFrame
from workbench.model.labels import EditRestrictions, LabelSchema
from workbench.model.serialise import Serialisable
from workbench.model.shapes import Shape
from workbench.services.errors import StateError
from workbench.services.models import RemovalReport

UNEXPECTED_MODES: tuple[str, ...] = ("ignore", "keep", "return", "prompt")
Unexpected = Literal["ignore", "keep", "return", "prompt"]

RUN_OPEN, RUN_LOADED, RUN_CLEANED = "open", "loaded", "cleaned"


@dataclass(frozen=True)
class AnnotationConfig(Serialisable):
    """How a run was asked for, beyond its label schema."""

    backend: str
    restrictions: EditRestrictions
    media_field: str | None = None
    project: str | None = None
    batch: str | None = None
    task_size: int | None = None
    segment_size: int | None = None
    frame_start: int | None = None
    frame_stop: int | None = None
    frame_step: int | None = None


@dataclass(frozen=True)
class AnnotationRunInfo(Serialisable):
    anno_key: str
    run_id: str
    backend: str
    status: str
    label_schema: LabelSchema
    config: AnnotationConfig
    project_id: str | None
    batch_id: str | None
    request_id: str | None
    frames: int
    scenes: int
    inputs: int
    tasks: int
    labels: int
    view: dict[str, Any] | None = None
    actor: str | None = None
    created: datetime | None = None
    loaded: datetime | None = None
    dryrun: bool = False


@dataclass(frozen=True)
class RunStatus(Serialisable):
    anno_key: str
    backend: str
    status: str
    tasks: tuple[TaskStatus, ...]

    @property
    def frames(self) -> int:
        return sum(t.frames for t in self.tasks)

    @property
    def annotations(self) -> int:
        return sum(t.annotations for t in self.tasks)

    def describe(self) -> str:
        done = sum(1 for t in self.tasks if t.status == "done")
        lines = [
            f"Annotation run {self.anno_key!r} ({self.backend}): {self.status}, "
            f"{done}/{len(self.tasks)} tasks done, {self.frames} frames, "
            f"{self.annotations} annotations"
        ]
        for t in self.tasks:
            lines.append(
                f"  task {t.position:>3} {t.task_id}  {t.status:<11} {t.frames:>6} frames "
                f"{t.annotations:>7} annotations"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class IdMapEntry(Serialisable):
    frame_id: str
    field: str
    roi_id: str | None
    task_id: str | None
    shape_id: str
    origin: str


@dataclass(frozen=True)
class IdMap(Serialisable):
    """Which platform shape each label of a run is ('upload': sent; 'merge': added back)."""

    anno_key: str
    entries: tuple[IdMapEntry, ...]


@dataclass(frozen=True)
class LabelRef(Serialisable):
    """A label in the catalog: a ROI of a frame's field (roi_id None for a scalar value)."""

    frame_id: str
    field: str
    roi_id: str | None


@dataclass(frozen=True)
class Rejection(Serialisable):
    """A change an annotator made that the merge refused, and why.

    `change` is one of: addition, deletion, label, spatial, index, attribute, class,
    geometry, duplicate.
    """

    frame_id: str
    field: str
    shape_id: str | None
    roi_id: str | None
    change: str
    reason: str


@dataclass(frozen=True)
class UnexpectedLabels(Serialisable):
    """Labels of a type the run's schema did not ask for in their field.

    `action` says what the merge did with them: ignored, kept (in `destination`) or returned
    (then `shapes` holds them).
    """

    field: str
    label_type: str
    count: int
    action: str
    destination: str | None = None
    shapes: tuple[Shape, ...] = ()


@dataclass(frozen=True)
class MergeReport(Serialisable):
    anno_key: str
    dryrun: bool
    added: tuple[LabelRef, ...] = ()
    changed: tuple[LabelRef, ...] = ()
    deleted: tuple[LabelRef, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    unexpected: tuple[UnexpectedLabels, ...] = ()
    unchanged: int = 0
    keyframes: int = 0
    cleanup: RemovalReport | None = None

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.changed) + len(self.deleted)

    def describe(self) -> str:
        text = (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.deleted)} deleted, "
            f"{self.unchanged} unchanged, {len(self.rejected)} rejected"
        )
        unexpected = sum(u.count for u in self.unexpected)
        return text + (f", {unexpected} unexpected" if unexpected else "")


# Called once per group of unexpected labels with unexpected="prompt": return the field to
# keep them in, or None to skip them. Must not block on a person in a served app.
UnexpectedCallback = Callable[[UnexpectedLabels], str | None]


@dataclass(frozen=True)
class TaskDetail(Serialisable):
    """Everything an editor needs to annotate one task of the local platform."""

    task: TaskStatus
    anno_key: str
    label_schema: LabelSchema
    restrictions: EditRestrictions
    media_field: str | None
    frames: tuple[TaskFrame, ...]
    shapes: tuple[Shape, ...]


class RunService(Protocol):
    """What AnnotationResults needs of the service that made it."""

    def get_annotation_status(self, anno_key: str) -> RunStatus: ...

    def get_annotation_info(self, anno_key: str) -> AnnotationRunInfo: ...

    def cleanup_annotation_run(
        self, anno_key: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport: ...

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

    def annotation_id_map(self, anno_key: str) -> IdMap: ...


class AnnotationResults:
    """An annotation run, bound to the service that made it (FiftyOne's AnnotationResults)."""

    def __init__(self, info: AnnotationRunInfo, service: RunService | None = None) -> None:
        self.info = info
        self._service = service

    @property
    def anno_key(self) -> str:
        return self.info.anno_key

    def __repr__(self) -> str:
        return f"AnnotationResults({self.info.anno_key!r}, backend={self.info.backend!r})"

    def to_dict(self) -> dict[str, Any]:
        return self.info.to_dict()

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], service: RunService | None = None
    ) -> AnnotationResults:
        return cls(AnnotationRunInfo.from_dict(data), service)

    def _bound(self) -> RunService:
        if self._service is None:
            raise StateError("these results are not bound to a service: pass one to from_dict")
        return self._service

    def get_status(self) -> RunStatus:
        return self._bound().get_annotation_status(self.anno_key)

    def print_status(self, file: TextIO | None = None) -> None:
        print(self.get_status().describe(), file=file or sys.stdout)

    def id_map(self) -> IdMap:
        return self._bound().annotation_id_map(self.anno_key)

    def load_annotations(
        self,
        *,
        unexpected: Unexpected = "prompt",
        dest_field: str | Mapping[str, str] | None = None,
        on_unexpected: UnexpectedCallback | None = None,
        dryrun: bool = False,
    ) -> MergeReport:
        return self._bound().load_annotations(
            self.anno_key,
            unexpected=unexpected,
            dest_field=dest_field,
            on_unexpected=on_unexpected,
            dryrun=dryrun,
        )

    def cleanup(self, *, confirm: bool = False, dryrun: bool = False) -> RemovalReport:
        """Delete the run's tasks and annotations from the backend (needs confirm=True)."""
        return self._bound().cleanup_annotation_run(self.anno_key, confirm=confirm, dryrun=dryrun)
