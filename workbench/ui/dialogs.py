"""The state of the actions on a selection: send to annotation, invalidate scenes, delete inputs.

Each action is a small dialog: a form, then a dry run (the service does the whole action in a
transaction and rolls it back) whose report is shown as the preview, then confirm or cancel.
Nothing here knows about widgets; views (workbench.ui.actions) set these parameters and call
these methods, and so do the tests. Every call goes through the session's service, so every
action (dry runs included) is validated and written to the audit log there.

The selection is taken when a dialog opens and kept until it closes: the preview and the
action act on the same frames even if the person clicks tiles meanwhile. Changing the form
after a dry run sends the dialog back to the form: only a previewed action can be confirmed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import param

from workbench.errors import WorkbenchError
from workbench.model.labels import KIND_OF_LABEL_TYPE, LABEL_TYPES
from workbench.query import View
from workbench.services import (
    INVALIDATION_REASONS,
    AnnotationRunInfo,
    Input,
    InvalidArgument,
    RemovalReport,
)
from workbench.ui.background import run_action
from workbench.ui.reports import annotation_preview_html, removal_preview_html
from workbench.ui.selection import Selection
from workbench.ui.text import Html, html
from workbench.ui.wording import agree, plural

if TYPE_CHECKING:
    from workbench.services import WorkbenchService
    from workbench.ui.state import WorkbenchState

# form -> checking (the dry run runs) -> preview -> running (the confirmed call) -> done
STAGES = ("form", "checking", "preview", "running", "done")
BUSY = ("checking", "running")
# Reasons a person picks; "broken-input" is for platforms that find a scene's media broken.
PERSON_REASONS = tuple(r for r in INVALIDATION_REASONS if r != "broken-input")
FROM_FIELD = "from the field"
ATTRIBUTE_MODES = (FROM_FIELD, "none", "custom")
RESTRICTIONS = (
    "allow_additions",
    "allow_deletions",
    "allow_label_edits",
    "allow_index_edits",
    "allow_spatial_edits",
)
# Classes named in the warning about labels the chosen classes leave out.
MAX_NAMED_CLASSES = 5


class ActionDialog(param.Parameterized):
    """One action on the selection: form -> dry run (preview) -> confirm, or cancel."""

    title: ClassVar[str] = ""
    visible = param.Boolean(default=False)
    stage: param.Selector[str] = param.Selector(default="form", objects=list(STAGES))
    preview = param.String(
        default="", doc="What the action would do (the dry run), as `Html` from ui.reports."
    )
    result = param.String(default="", doc="What the action did.")
    error = param.String(default="", doc="Why the dry run or the action was refused.")

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.selection = Selection()
        self._form_version = 0  # counts form changes: a late dry run of an old form is dropped
        self.param.watch(self._form_changed, self.form_params())

    @property
    def service(self) -> WorkbenchService:
        return self.state.service

    # -- what each action defines --------------------------------------------------------
    def form_params(self) -> list[str]:
        """Parameters of the form: changing one after a dry run asks for a new one."""
        return []

    def prepare(self) -> None:
        """Fill the form for the selection just taken (raise WorkbenchError if it cannot)."""

    def dry_run_html(self) -> Html:
        raise NotImplementedError

    def perform(self) -> str:
        """Do it (confirmed); return what was done, for a person to read."""
        raise NotImplementedError

    # -- the dialog's life ---------------------------------------------------------------
    def open(self) -> None:
        """Open the dialog on the current selection."""
        self.selection = self.state.selection
        self.param.update(visible=True, stage="form", preview="", result="", error="")
        self._attempt(self.prepare)

    def dry_run(self) -> None:
        """Ask the service what the action would do. The preview (stage "preview") or the
        refusal (`error`, stage "form") follows: in the background when served, with the
        progress shown meanwhile (a dry run does the whole action), at once otherwise."""
        if self.stage in BUSY:
            return
        version = self._form_version
        self.param.update(stage="checking", preview="", error="", result="")

        def previewed(preview: Html) -> None:
            if version != self._form_version:  # the form changed meanwhile
                self.stage = "form"
            else:
                self.param.update(stage="preview", preview=preview)

        def refused(exc: WorkbenchError) -> None:
            self.param.update(stage="form", error=str(exc))

        run_action(self.title, self.dry_run_html, previewed, refused)

    def confirm(self) -> None:
        """Do what the preview showed: in the background when served (the progress shows
        meanwhile), at once otherwise."""
        if self.stage != "preview":
            self.error = "preview the action (dry run) before confirming it"
            return
        self.param.update(stage="running", error="")
        run_action(self.title, self.perform, self._done, self._failed)

    def cancel(self) -> None:
        """Close the dialog; nothing is done (a running action finishes in the background)."""
        if self.stage not in BUSY:
            self.param.update(visible=False, stage="form", preview="", error="")

    def _done(self, result: str) -> None:
        self._attempt(self.after_done)
        self.param.update(stage="done", result=result, error="")
        self.state.after_action()

    def after_done(self) -> None:
        """Bring the form up to date with what the action changed (nothing by default)."""

    def _failed(self, exc: WorkbenchError) -> None:
        self.param.update(stage="preview" if self.preview else "form", error=str(exc))

    def _attempt[T](self, work: Callable[[], T]) -> T | None:
        """Run a service call; its refusal becomes the dialog's error instead of vanishing."""
        try:
            return work()
        except WorkbenchError as exc:
            self.error = str(exc)
            return None

    def _form_changed(self, *events: param.parameterized.Event) -> None:
        self._form_version += 1
        if self.stage in ("preview", "done"):
            self.param.update(stage="form", preview="", result="")


class SendToAnnotation(ActionDialog):
    """Create an annotation run for the selected frames (FiftyOne's annotate())."""

    title = "Send to annotation"
    backend: param.Selector[str] = param.Selector(default=None, objects=[])
    anno_key = param.String(default="")
    project = param.String(default="", doc="Project name; empty: 'default'. New ones are made.")
    batch = param.String(default="", doc="Batch; empty: the project's latest open one.")
    label_field = param.String(default="")
    label_type = param.String(default="", doc="Empty: the type of the field's labels.")
    classes = param.List(default=[], item_type=str)
    attribute_mode: param.Selector[str] = param.Selector(
        default=FROM_FIELD, objects=list(ATTRIBUTE_MODES)
    )
    attribute_spec = param.String(
        default="", doc="JSON {name: spec} when attribute_mode is custom."
    )
    allow_additions = param.Boolean(default=True)
    allow_deletions = param.Boolean(default=True)
    allow_label_edits = param.Boolean(default=True)
    allow_index_edits = param.Boolean(default=True)
    allow_spatial_edits = param.Boolean(default=True)
    task_size = param.Integer(default=None, allow_None=True, bounds=(1, None))

    outside_classes = param.String(
        default="", doc="The selection's labels the classes leave out, and what merging does."
    )
    fields = param.List(default=[], doc="Label fields of the catalog (the field's options).")
    projects = param.List(default=[], doc="Existing projects of the backend.")
    batches = param.List(default=[], doc="Pending and open batches of the project.")
    label_types = param.List(default=[], doc="Label types the backend supports.")

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(state, **params)
        self._existing: dict[str, int] = {}  # label -> count among the selection's labels

    def form_params(self) -> list[str]:
        return [
            "backend",
            "anno_key",
            "project",
            "batch",
            "label_field",
            "label_type",
            "classes",
            "attribute_mode",
            "attribute_spec",
            *RESTRICTIONS,
            "task_size",
        ]

    def prepare(self) -> None:
        if not self.selection.frame_ids:
            raise InvalidArgument("select frames or contexts to send first")
        backends = self.service.get_backends()
        self.param.backend.objects = list(backends)
        if self.backend not in backends:
            self.backend = next(iter(backends), None)
        self.fields = View(self.state.catalog).fields()
        if not self.label_field and self.fields:
            self.label_field = self.fields[0]
        self._backend_changed()
        self._field_changed()

    @param.depends("backend", watch=True)
    def _backend_changed(self) -> None:
        if not self.backend:
            return
        capabilities = self.service.get_backends()[self.backend]
        self.label_types = [t for t in LABEL_TYPES if t in capabilities.label_types]
        self.projects = [
            p.external_id for p in self.service.get_projects() if p.backend == self.backend
        ]
        self._project_changed()

    @param.depends("project", watch=True)
    def _project_changed(self) -> None:
        if self.project not in self.projects:
            self.batches = []
            return
        self.batches = [
            b.external_id or b.id
            for b in self.service.get_batches(self.project)
            if b.status != "completed"
        ]

    @param.depends("label_field", watch=True)
    def _field_changed(self) -> None:
        """Classes start as the labels the catalog has in that field."""
        field = self.label_field.strip()
        if not field:
            return
        counts = View(self.state.catalog).label_counts(field)
        labels = sorted({str(v) for v in counts.column("label").to_pylist() if v is not None})
        self.classes = labels
        self._count_existing()

    @param.depends("label_type", watch=True)
    def _count_existing(self) -> None:
        """Count the selection's labels that would be uploaded (the field's, of the label
        type's kind), once per field and type: the classes are checked against them."""
        field = self.label_field.strip()
        view = View(self.state.catalog).select(self.selection.frame_ids)
        kind = KIND_OF_LABEL_TYPE.get(self.label_type)
        if kind is not None and kind != "scalar":
            view = view.filter_rois(field, kinds=[kind])
        rows = view.label_counts(field).to_pylist() if field and self.selection else []
        self._existing = {str(r["label"]): int(r["count"]) for r in rows if r["label"]}
        self._check_classes()

    @param.depends("classes", watch=True)
    def _check_classes(self) -> None:
        self.outside_classes = outside_classes_text(
            self._existing, self.classes, self.label_field.strip()
        )

    def annotate_kwargs(self) -> dict[str, Any]:
        """The arguments of `Workbench.annotate` this form stands for."""
        if not self.label_field.strip():
            raise InvalidArgument("name the label field to annotate")
        if self.label_type and self.label_type not in self.label_types:
            raise InvalidArgument(
                f"the {self.backend} backend has no label type {self.label_type!r}"
            )
        return {
            "backend": self.backend or "local",
            "label_field": self.label_field.strip(),
            "label_type": self.label_type or None,
            "classes": [c.strip() for c in self.classes if c.strip()] or None,
            "attributes": self._attributes(),
            "project": self.project.strip() or None,
            "batch": self.batch.strip() or None,
            "task_size": self.task_size,
            **{name: bool(getattr(self, name)) for name in RESTRICTIONS},
        }

    def _attributes(self) -> bool | dict[str, Any]:
        if self.attribute_mode == FROM_FIELD:
            return True
        if self.attribute_mode == "none":
            return False
        text = self.attribute_spec.strip()
        if not text:
            return {}
        try:
            spec = json.loads(text)
        except ValueError as exc:
            raise InvalidArgument(f"attributes: not valid JSON: {exc}") from exc
        if not isinstance(spec, dict):
            raise InvalidArgument('attributes: expected a JSON object {"name": {"type": ...}}')
        return spec

    def _annotate(self, dryrun: bool) -> AnnotationRunInfo:
        view = {"frame_ids": list(self.selection.frame_ids)}
        kwargs = self.annotate_kwargs()
        return self.service.annotate(view, self.anno_key.strip(), dryrun=dryrun, **kwargs).info

    def dry_run_html(self) -> Html:
        info = self._annotate(dryrun=True)
        project = self.project.strip() or "default"
        new_project = project not in self.projects
        new_batch = bool(self.batch.strip()) and self.batch.strip() not in self.batches
        preview = annotation_preview_html(
            info, project, new_project=new_project, new_batch=new_batch
        )
        if self.outside_classes:
            preview += html(
                "<div class='wb-outside-classes'><b>Note:</b> {}</div>", self.outside_classes
            )
        return preview

    def perform(self) -> str:
        info = self._annotate(dryrun=False)
        return (
            f"Created annotation run {info.anno_key!r} on {info.backend}: "
            f"{plural(info.frames, 'frame')} in {plural(info.scenes, 'scene')}, "
            f"{plural(info.inputs, 'input')}, {plural(info.tasks, 'task')}, "
            f"{plural(info.labels, 'label')} uploaded."
        )


def outside_classes_text(existing: dict[str, int], classes: list[str], field: str) -> str:
    """What a person must know before sending labels the classes leave out ('' if none):
    they are uploaded as they are, and merging the run back refuses them."""
    chosen = {c.strip() for c in classes if c.strip()}
    if not chosen:
        return ""
    outside = sorted(
        ((label, n) for label, n in existing.items() if label not in chosen), key=lambda x: -x[1]
    )
    left_out = sum(n for _, n in outside)
    if not left_out:
        return ""
    total = sum(existing.values())
    shown = ", ".join(f"{label} {n}" for label, n in outside[:MAX_NAMED_CLASSES])
    more = len(outside) - MAX_NAMED_CLASSES
    if more > 0:
        shown += f" and {plural(more, 'other class', 'other classes')}"
    return (
        f"{left_out} of the {plural(total, 'existing label')} of field {field!r} in the "
        f"selected frames {agree(left_out, 'is', 'are')} not of the classes "
        f"{', '.join(sorted(chosen))} ({shown}): {agree(left_out, 'it is', 'they are')} "
        f"uploaded as {agree(left_out, 'it is', 'they are')}, and loading the run's "
        f"annotations will reject {agree(left_out, 'it', 'them')} "
        f"({agree(left_out, 'it stays', 'they stay')} unchanged in the catalog)."
    )


class InvalidateScenes(ActionDialog):
    """Mark the scenes holding the selected frames invalidated:<reason>."""

    title = "Invalidate scenes"
    reason: param.Selector[str] = param.Selector(
        default="bad-content", objects=list(PERSON_REASONS)
    )
    scene_uuids = param.List(default=[], item_type=str)

    def form_params(self) -> list[str]:
        return ["reason"]

    def prepare(self) -> None:
        self.scene_uuids = list(self.selection.scene_uuids)
        if not self.scene_uuids:
            raise InvalidArgument(
                "no scene holds the selected frames: there is nothing to invalidate"
            )

    def dry_run_html(self) -> Html:
        report = self.service.invalidate_scenes(self.scene_uuids, self.reason, dryrun=True)
        return removal_preview_html(report, self._inputs(report))

    def _inputs(self, report: RemovalReport) -> list[Input]:
        gone = set(report.input_uuids)
        found = self.service.query_inputs(scene_uuids=self.scene_uuids) if gone else []
        return [i for i in found if i.uuid in gone]

    def perform(self) -> str:
        report = self.service.invalidate_scenes(self.scene_uuids, self.reason, confirm=True)
        return f"Invalidated ({self.reason}): {report.describe()}."


class DeleteInputs(ActionDialog):
    """Delete chosen inputs of the selected frames' scenes, with their annotations."""

    title = "Delete inputs"
    inputs = param.List(default=[], doc="Inputs of the selection's scenes (Input objects).")
    chosen = param.List(default=[], item_type=str, doc="Uuids of the inputs to delete.")

    def form_params(self) -> list[str]:
        return ["chosen"]

    def prepare(self) -> None:
        self.inputs = self._read_inputs()
        self.chosen = [i.uuid for i in self.inputs]
        if not self.inputs:
            raise InvalidArgument("the selected frames are in no input: there is nothing to delete")

    def _read_inputs(self) -> list[Input]:
        uuids = list(self.selection.scene_uuids)
        # An empty scene list would mean "no filter" to query_inputs: every input.
        return self.service.query_inputs(scene_uuids=uuids) if uuids else []

    def after_done(self) -> None:
        """The deleted inputs leave the list; none of those left is chosen."""
        self.param.update(inputs=self._read_inputs(), chosen=[])

    def dry_run_html(self) -> Html:
        if not self.chosen:
            raise InvalidArgument("choose the inputs to delete")
        report = self.service.delete_inputs(self.chosen, dryrun=True)
        chosen = set(self.chosen)
        return removal_preview_html(report, [i for i in self.inputs if i.uuid in chosen])

    def perform(self) -> str:
        report = self.service.delete_inputs(self.chosen, confirm=True)
        return f"Deleted: {report.describe()}."
