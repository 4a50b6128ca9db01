"""The state of the local-platform editor: one task of a run, its frames, and the shapes drawn.

The editor keeps a working copy of the task's shapes. The view reports what the person did
on the current frame as rows (boxes as corners, polygons as vertex lists); `update_boxes` /
`update_polygons` turn them into shapes, keeping ids of shapes that were there and giving
new ones an id at once (so the next edit of the same row is recognised). `save()` hands the
whole working copy to the service (`save_task_annotations`), `complete()` marks the task
done. The run's edit restrictions are applied while editing where they can be (a move of a
label that may not move is put back, with a message); the merge enforces them anyway.

Fields the editor draws: `detections` (boxes) and `polygons` (single-ring polygons). Other
shapes of the frame (other fields, polygons with holes, lines, points) are shown, not edited,
and saved back unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import param

from workbench.errors import WorkbenchError
from workbench.model.geometry import bounds, polygon_ring
from workbench.model.geometry import corner_ring as box_ring
from workbench.services import (
    AttributeSpec,
    EditRestrictions,
    FieldSchema,
    SaveResult,
    Shape,
    TaskDetail,
    TaskFrame,
    TaskSource,
    TaskStatus,
)
from workbench.ui.background import run_action

if TYPE_CHECKING:
    from workbench.services import WorkbenchService
    from workbench.ui.state import WorkbenchState

# Label type -> the shape kind the editor draws for it.
EDITABLE_TYPES = {"detections": "box", "polygons": "polygon"}
# Coordinates from the browser are floats; a move smaller than this is no move.
TOLERANCE = 1e-6


@dataclass(frozen=True)
class BoxRow:
    """A box as the view has it: its shape id ("" for a box just drawn) and its corners."""

    id: str
    x0: float
    y0: float
    x1: float
    y1: float

    def bounds(self) -> tuple[float, float, float, float]:
        return (
            min(self.x0, self.x1),
            min(self.y0, self.y1),
            max(self.x0, self.x1),
            max(self.y0, self.y1),
        )


@dataclass(frozen=True)
class PolygonRow:
    """A polygon as the view has it: its shape id ("" when new) and its vertices."""

    id: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]


@dataclass
class Reconciled:
    """What an update did to the rows the view sent: ids given to new rows (by row index),
    labels they got, and whether rows were put back (the view must then redraw)."""

    ids: dict[int, str] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)
    redraw: bool = False


def box_bounds(shape: Shape) -> tuple[float, float, float, float]:
    return bounds(shape.geometry[:1]) or (0.0, 0.0, 0.0, 0.0)


def _close(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, abs_tol=TOLERANCE) for x, y in zip(a, b, strict=True)
    )


def default_attributes(schema: FieldSchema) -> dict[str, Any]:
    return {
        name: spec.default for name, spec in schema.attributes.items() if spec.default is not None
    }


class AnnotatorState(param.Parameterized):
    """One open task of a local run, the current frame, and the working copy of its shapes."""

    anno_key = param.String(default=None, allow_None=True)
    tasks = param.List(default=[], doc="TaskStatus of every task of the run.")
    task_id = param.String(default=None, allow_None=True)
    index = param.Integer(default=0, bounds=(0, None), doc="Position of the frame in the task.")
    field: param.Selector[str | None] = param.Selector(default=None, objects=[], allow_None=True)
    label = param.String(
        default="", doc="The label picker: of the selected shape, else of new ones."
    )
    selected = param.String(default=None, allow_None=True, doc="Id of the selected shape.")
    version = param.Integer(default=0, doc="Bumped whenever what the editor draws changes.")
    dirty = param.Boolean(default=False, doc="Edits not saved yet.")
    working = param.String(default="", doc="The save running ('' when none), for a person.")
    message = param.String(default="")
    error = param.String(default="")

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.detail: TaskDetail | None = None
        self.shapes: list[Shape] = []
        self._uploaded: frozenset[str] = frozenset()

    @property
    def service(self) -> WorkbenchService:
        return self.state.service

    # -- what is open ------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.detail is not None

    @property
    def restrictions(self) -> EditRestrictions:
        return self.detail.restrictions if self.detail else EditRestrictions()

    @property
    def field_schema(self) -> FieldSchema | None:
        if self.detail is None or self.field is None:
            return None
        return self.detail.label_schema.fields.get(self.field)

    @property
    def kind(self) -> str | None:
        schema = self.field_schema
        return EDITABLE_TYPES.get(schema.type) if schema else None

    @property
    def classes(self) -> list[str]:
        schema = self.field_schema
        return list(schema.classes) if schema else []

    @property
    def attributes(self) -> dict[str, AttributeSpec]:
        schema = self.field_schema
        return dict(schema.attributes) if schema else {}

    @property
    def frames(self) -> tuple[TaskFrame, ...]:
        return self.detail.frames if self.detail else ()

    @property
    def frame(self) -> TaskFrame | None:
        frames = self.frames
        return frames[min(self.index, len(frames) - 1)] if frames else None

    @property
    def source(self) -> TaskSource | None:
        frame = self.frame
        return frame.sources[0] if frame and frame.sources else None

    def status_text(self) -> str:
        if self.detail is None:
            return "no task open"
        task = self.detail.task
        frame = self.frame
        n = len(self.frame_shapes())
        return (
            f"run {self.detail.anno_key} · task {task.position + 1}/{len(self.tasks) or 1} "
            f"({task.status}) · frame {self.index + 1}/{len(self.frames)}"
            f"{' · ' + frame.frame_id if frame else ''} · {n} shape{'' if n == 1 else 's'}"
            f"{' · unsaved edits' if self.dirty else ''}"
        )

    def _attempt[T](self, work: Callable[[], T]) -> T | None:
        try:
            result = work()
        except WorkbenchError as exc:
            self.param.update(error=str(exc), message="")
            return None
        self.error = ""
        return result

    # -- opening -----------------------------------------------------------------------------
    def open_run(self, anno_key: str) -> None:
        """Open the run's first task that is not done (or its first task)."""
        tasks = self._attempt(lambda: self.service.list_tasks(anno_key))
        if tasks is None:
            return
        if not tasks:
            self.error = f"run {anno_key!r} has no tasks"
            return
        self.param.update(anno_key=anno_key, tasks=tasks)
        first = next((t for t in tasks if t.status != "done"), tasks[0])
        self.open_task(first.task_id)

    def open_task(self, task_id: str) -> None:
        detail = self._attempt(lambda: self.service.get_task(task_id))
        if detail is None:
            return
        id_map = self._attempt(lambda: self.service.annotation_id_map(detail.anno_key))
        uploaded = {e.shape_id for e in id_map.entries if e.origin == "upload"} if id_map else set()
        self.detail = detail
        self.shapes = list(detail.shapes)
        self._uploaded = frozenset(uploaded)
        fields = [n for n, f in detail.label_schema.fields.items() if f.type in EDITABLE_TYPES]
        self.param.field.objects = fields
        message = "" if fields else "this run has no detections or polygons field to draw"
        self.param.update(field=fields[0] if fields else None, index=0, selected=None)
        self.param.update(
            anno_key=detail.anno_key,
            task_id=task_id,
            label=self.classes[0] if self.classes else "",
            dirty=False,
            message=message,
        )
        self.version += 1

    def close(self) -> None:
        """Close the task; edits not saved are dropped."""
        dropped = self.dirty
        self.detail = None
        self.shapes = []
        self.param.update(
            task_id=None, anno_key=None, tasks=[], selected=None, dirty=False,
            message="unsaved edits were dropped" if dropped else "", error="",
        )  # fmt: skip
        self.version += 1

    @param.depends("field", watch=True)
    def _field_changed(self) -> None:
        self.param.update(selected=None, label=self.classes[0] if self.classes else "")
        self.version += 1

    def step(self, delta: int) -> None:
        """Previous/next frame of the task (edits stay in the working copy)."""
        if self.frames:
            index = min(max(self.index + delta, 0), len(self.frames) - 1)
            if index != self.index:
                self.param.update(index=index, selected=None)
                self.version += 1

    # -- the shapes of the current frame ---------------------------------------------------------
    def _on_view(self, shape: Shape) -> bool:
        frame, source = self.frame, self.source
        if frame is None or shape.frame_id != frame.frame_id:
            return False
        return not shape.source_ids or source is None or source.id in shape.source_ids

    def _editable(self, shape: Shape) -> bool:
        if shape.field != self.field or shape.kind != self.kind:
            return False
        return shape.kind == "box" or len(shape.geometry) == 1

    def frame_shapes(self) -> list[Shape]:
        return [s for s in self.shapes if self._on_view(s)]

    def edited_shapes(self) -> list[Shape]:
        """The current frame's shapes the person can edit (of the chosen field and kind)."""
        return [s for s in self.frame_shapes() if self._editable(s)]

    def other_shapes(self) -> list[Shape]:
        """The current frame's shapes shown but not edited."""
        return [s for s in self.frame_shapes() if not self._editable(s)]

    def box_rows(self) -> list[BoxRow]:
        return [BoxRow(str(s.id), *box_bounds(s)) for s in self.edited_shapes() if s.kind == "box"]

    def polygon_rows(self) -> list[PolygonRow]:
        return [
            PolygonRow(str(s.id), tuple(s.geometry[0][0::2]), tuple(s.geometry[0][1::2]))
            for s in self.edited_shapes()
            if s.kind == "polygon"
        ]

    def shape(self, shape_id: str | None) -> Shape | None:
        return next((s for s in self.shapes if shape_id and s.id == shape_id), None)

    def uploaded(self, shape: Shape) -> bool:
        """Whether the shape was sent with the run (restrictions apply to those only)."""
        return shape.id in self._uploaded

    # -- edits from the view ---------------------------------------------------------------------
    def update_boxes(self, rows: Sequence[BoxRow]) -> Reconciled:
        """The boxes of the current frame are now `rows` (moved, resized, drawn, deleted)."""

        def geometry(row: BoxRow) -> tuple[tuple[float, ...], ...] | None:
            x0, y0, x1, y1 = row.bounds()
            return (
                (box_ring(x0, y0, x1, y1),) if x1 - x0 > TOLERANCE and y1 - y0 > TOLERANCE else None
            )

        def moved(shape: Shape, row: BoxRow) -> bool:
            return not _close(box_bounds(shape), row.bounds())

        return self._update("box", rows, geometry, moved)

    def update_polygons(self, rows: Sequence[PolygonRow]) -> Reconciled:
        """The single-ring polygons of the current frame are now `rows`."""

        def geometry(row: PolygonRow) -> tuple[tuple[float, ...], ...] | None:
            ring = polygon_ring(row.xs, row.ys)
            return (ring,) if len(ring) >= 6 else None  # a polygon needs three vertices

        def moved(shape: Shape, row: PolygonRow) -> bool:
            return not _close(shape.geometry[0], polygon_ring(row.xs, row.ys))

        return self._update("polygon", rows, geometry, moved)

    def _update[R: (BoxRow, PolygonRow)](
        self,
        kind: str,
        rows: Sequence[R],
        geometry: Callable[[R], tuple[tuple[float, ...], ...] | None],
        moved: Callable[[Shape, R], bool],
    ) -> Reconciled:
        frame = self.frame
        if frame is None or self.kind != kind:
            return Reconciled()
        before = {s.id: s for s in self.edited_shapes()}
        rules = self.restrictions
        out = Reconciled()
        kept: list[Shape] = []
        notes: list[str] = []
        for i, row in enumerate(rows):
            old = before.get(row.id) if row.id else None
            if old is not None:
                if any(s.id == old.id for s in kept):
                    continue
                new_geometry = geometry(row)
                if moved(old, row) and new_geometry is not None:
                    if rules.allow_spatial_edits or not self.uploaded(old):
                        old = dataclasses.replace(old, geometry=new_geometry)
                    else:
                        notes.append("this run does not allow moving or reshaping labels")
                        out.redraw = True
                kept.append(old)
            elif not rules.allow_additions:
                notes.append("this run does not allow new labels")
                out.redraw = True
            elif (new_geometry := geometry(row)) is not None:
                shape = self._new_shape(frame, kind, new_geometry)
                kept.append(shape)
                out.ids[i], out.labels[i] = str(shape.id), shape.label or ""
        kept_ids = {s.id for s in kept}
        for shape in before.values():
            if shape.id not in kept_ids:
                if rules.allow_deletions or not self.uploaded(shape):
                    continue
                notes.append("this run does not allow deleting labels")
                kept.append(shape)
                out.redraw = True
        self._replace_edited(kept)
        self.message = "; ".join(dict.fromkeys(notes))
        return out

    def _new_shape(
        self, frame: TaskFrame, kind: str, geometry: tuple[tuple[float, ...], ...]
    ) -> Shape:
        schema = self.field_schema
        source = self.source
        # A frame with several cameras says which one a label is on.
        sources = (source.id,) if source is not None and len(frame.sources) > 1 else ()
        return Shape(
            frame_id=frame.frame_id,
            field=str(self.field),
            kind=kind,
            label=self.label or None,
            geometry=geometry,
            attributes=default_attributes(schema) if schema else {},
            id=str(uuid.uuid4()),
            source_ids=sources,
        )

    def _replace_edited(self, shapes: list[Shape]) -> None:
        edited = self.edited_shapes()
        if {s.id: s for s in edited} != {s.id: s for s in shapes}:
            gone = {id(s) for s in edited}
            self.shapes = [s for s in self.shapes if id(s) not in gone] + shapes
            self.dirty = True
        if self.selected and self.shape(self.selected) is None:
            self.selected = None
        self.version += 1

    def _set_shape(self, shape: Shape) -> None:
        self.shapes = [shape if s.id == shape.id else s for s in self.shapes]
        self.dirty = True
        self.version += 1

    # -- the selected shape: label and attributes ------------------------------------------------
    def select(self, shape_id: str | None) -> None:
        shape = self.shape(shape_id)
        if shape is None:
            self.selected = None
            return
        self.param.update(selected=shape.id, label=shape.label or self.label)

    def label_editable(self) -> bool:
        shape = self.shape(self.selected)
        return shape is None or self.restrictions.allow_label_edits or not self.uploaded(shape)

    @param.depends("label", watch=True)
    def _relabel(self) -> None:
        shape = self.shape(self.selected)
        if shape is None or shape.label == (self.label or None):
            return
        if not self.label_editable():
            self.message = "this run does not allow changing the label of existing labels"
            self.label = shape.label or ""
            return
        self._set_shape(dataclasses.replace(shape, label=self.label or None))

    def attribute_values(self) -> dict[str, Any]:
        shape = self.shape(self.selected)
        return dict(shape.attributes) if shape else {}

    def set_attribute(self, name: str, value: Any) -> None:
        """Set an attribute of the selected shape (read-only attributes are refused)."""
        shape = self.shape(self.selected)
        spec = self.attributes.get(name)
        if shape is None or spec is None:
            return
        if spec.read_only:
            self.message = f"attribute {name!r} is read-only in this run"
            return
        if shape.attributes.get(name) == value:
            return
        self._set_shape(dataclasses.replace(shape, attributes={**shape.attributes, name: value}))

    # -- saving ----------------------------------------------------------------------------------
    # Writes, so they run on the action pool when served (`working` says what runs meanwhile);
    # in a notebook or a test they are done when the call returns.
    def save(self) -> None:
        """Store the working copy on the platform (every frame of the task)."""
        task_id = self.task_id
        if self.detail is None or task_id is None:
            return
        shapes = list(self.shapes)

        def work() -> tuple[SaveResult, TaskDetail, list[TaskStatus]]:
            result = self.service.save_task_annotations(task_id, shapes)
            return (result, *self._read_task(task_id))

        def saved(out: tuple[SaveResult, TaskDetail, list[TaskStatus]]) -> None:
            result, detail, tasks = out
            self._reload(detail, tasks, shapes)
            self.message = (
                f"saved: {result.added} added, {result.changed} changed, {result.removed} removed"
            )

        self._act("saving", work, saved)

    def complete(self) -> None:
        """Save what is unsaved, then mark the task done."""
        task_id = self.task_id
        if self.detail is None or task_id is None:
            return
        shapes = list(self.shapes) if self.dirty else None

        def work() -> tuple[TaskDetail, list[TaskStatus]]:
            if shapes is not None:
                self.service.save_task_annotations(task_id, shapes)
            self.service.complete_task(task_id)
            return self._read_task(task_id)

        def completed(out: tuple[TaskDetail, list[TaskStatus]]) -> None:
            self._reload(*out, shapes if shapes is not None else list(self.shapes))
            self.message = "task marked done"
            self.state.after_action()

        self._act("marking the task done", work, completed)

    def _act[T](self, what: str, work: Callable[[], T], then: Callable[[T], None]) -> None:
        if self.working:
            self.error = f"{self.working} is not finished yet"
            return
        self.param.update(working=what, error="")

        def done(result: T) -> None:
            self.working = ""
            then(result)

        def failed(exc: WorkbenchError) -> None:
            self.param.update(working="", error=str(exc), message="")

        run_action(what, work, done, failed)

    def _read_task(self, task_id: str) -> tuple[TaskDetail, list[TaskStatus]]:
        """The task as the platform has it now (it fills in keyframes, status), and the
        run's tasks."""
        detail = self.service.get_task(task_id)
        return detail, self.service.list_tasks(detail.anno_key)

    def _reload(self, detail: TaskDetail, tasks: list[TaskStatus], sent: list[Shape]) -> None:
        """Show the task as read back, keeping the position. Edits made while it was being
        saved stay in the working copy (still unsaved)."""
        if self.task_id != detail.task.task_id:
            return  # another task was opened meanwhile
        edited = self.shapes != sent
        self.detail = detail
        if not edited:
            self.shapes = list(detail.shapes)
        self.param.update(tasks=tasks or self.tasks, dirty=edited)
        if self.selected and self.shape(self.selected) is None:
            self.selected = None
        self.version += 1
