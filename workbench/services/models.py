"""What the service's scene, input and audit actions take and return.

All are frozen dataclasses with `to_dict()` / `from_dict()`, so the HTTP API carries them as
JSON unchanged. Vocabulary (Kognic's): a scene is the unit sent for annotation (one frame, a
camera sequence or a multi-camera frame group); an input places a scene into a request of a
batch of a project; a batch is pending, open or completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from workbench.model.serialise import Serialisable

SceneType = Literal["camera_frame", "camera_sequence", "frame_group"]
SCENE_TYPES: tuple[SceneType, ...] = get_args(SceneType)

InvalidationReason = Literal["bad-content", "duplicate", "incorrectly-created", "broken-input"]
INVALIDATION_REASONS: tuple[InvalidationReason, ...] = get_args(InvalidationReason)

BatchStatus = Literal["pending", "open", "completed"]
BATCH_STATUSES: tuple[BatchStatus, ...] = get_args(BatchStatus)
# A batch moves forward only: pending -> open -> completed.
BATCH_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("open", "completed"),
    "open": ("completed",),
    "completed": (),
}

# Statuses a scene passes through; `invalidated:<reason>` is final.
SCENE_PENDING, SCENE_PROCESSING, SCENE_CREATED, SCENE_FAILED = (
    "pending",
    "processing",
    "created",
    "failed",
)

INPUT_LINK = "/?input={uuid}"


@dataclass(frozen=True)
class SceneSpec(Serialisable):
    """A scene to create: some frames, or a whole context (every frame of it, in time order).

    `scene_type` is inferred when None: one frame with one source is a camera_frame, several
    single-source frames a camera_sequence, anything with several sources a frame_group.
    `external_id` defaults to the frame id (one frame) or the context id.
    """

    frame_ids: tuple[str, ...] = ()
    context_id: str | None = None
    external_id: str | None = None
    scene_type: str | None = None
    calibration_id: str | None = None


@dataclass(frozen=True)
class Scene(Serialisable):
    uuid: str
    external_id: str | None
    scene_type: SceneType
    status: str
    frame_ids: tuple[str, ...]
    context_id: str | None = None
    error_message: str | None = None
    calibration_id: str | None = None
    created: datetime | None = None

    @property
    def invalidated(self) -> bool:
        return self.status.startswith("invalidated:")


@dataclass(frozen=True)
class Project(Serialisable):
    id: str
    external_id: str
    title: str | None = None
    description: str | None = None
    backend: str = "local"
    created: datetime | None = None


@dataclass(frozen=True)
class Batch(Serialisable):
    id: str
    project_id: str
    external_id: str | None
    status: BatchStatus
    created: datetime | None = None


@dataclass(frozen=True)
class Request(Serialisable):
    id: str
    project_id: str
    batch_id: str | None
    title: str | None = None
    run_id: str | None = None
    created: datetime | None = None


@dataclass(frozen=True)
class Input(Serialisable):
    """A scene placed in a project/batch; `view_link` opens it in the app."""

    uuid: str
    scene_uuid: str
    scene_external_id: str | None
    project_id: str
    batch_id: str | None
    request_id: str | None
    status: str
    view_link: str
    project: str | None = None
    batch: str | None = None
    anno_key: str | None = None
    error_message: str | None = None
    created: datetime | None = None


@dataclass(frozen=True)
class InputCreationResult(Serialisable):
    """One input of `create_inputs`: created, or failed at `stage` ('scene', 'input', 'timeout')."""

    external_id: str | None
    scene_uuid: str | None
    status: Literal["created", "failed"]
    input_uuid: str | None = None
    stage: str | None = None
    error_message: str | None = None
    dryrun: bool = False


@dataclass(frozen=True)
class RemovalReport(Serialisable):
    """What a destructive action removes (dry run or confirmation) or removed."""

    action: str
    dryrun: bool
    scenes: int = 0
    inputs: int = 0
    annotations: int = 0
    tasks: int = 0
    id_map_rows: int = 0
    runs: int = 0
    input_uuids: tuple[str, ...] = ()
    note: str | None = None
    views: int = 0

    def describe(self) -> str:
        parts = [
            _count(self.scenes, "scene"),
            _count(self.inputs, "input"),
            _count(self.annotations, "annotation"),
            _count(self.tasks, "task"),
            _count(self.runs, "annotation run record"),
            _count(self.id_map_rows, "id map row"),
            _count(self.views, "saved view"),
        ]
        said = [p for p in parts if p]
        text = ", ".join(said) if said else "nothing"
        return text + (f" ({self.note})" if self.note else "")


def _count(n: int, noun: str) -> str:
    if not n:
        return ""
    return f"{n} {noun}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class RoiRef(Serialisable):
    """An ROI of the catalog: its frame and its id (ROI ids are unique within a frame)."""

    frame_id: str
    roi_id: str


@dataclass(frozen=True)
class TagReport(Serialisable):
    """What tagging or untagging did (or, in a dry run, would do).

    `targets`: the distinct frames (or ROIs) named; `changed`: how many of them got the tag
    (tag_*) or lost it (untag_*); the others had it already (or did not have it).
    """

    action: str
    dryrun: bool
    tag: str
    targets: int
    changed: int

    def describe(self) -> str:
        what = "ROI" if self.action.endswith("_rois") else "frame"
        noun = what + ("" if self.changed == 1 else "s")
        done = "tagged" if self.action.startswith("tag") else "untagged"
        return f"{done} {self.changed} {noun} {self.tag!r}"


@dataclass(frozen=True)
class SavedViewInfo(Serialisable):
    """A saved view: its name, its spec (`View.to_dict()`, what `View.from_dict` reads) and
    when it was saved. From `save_view`, `replaced` says whether it replaced one."""

    name: str
    spec: dict[str, Any]
    created: datetime | None = None
    replaced: bool = False
    dryrun: bool = False

    @property
    def stages(self) -> int:
        stages = self.spec.get("stages")
        return len(stages) if isinstance(stages, list) else 0


@dataclass(frozen=True)
class AuditEntry(Serialisable):
    id: int
    at: datetime
    actor: str | None
    action: str
    target: dict[str, object] | None
    count: int | None
    dry_run: bool
    outcome: str | None
    details: dict[str, object] | None
