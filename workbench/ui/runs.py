"""The annotation runs panel: every run with its progress, load its annotations, rename, delete.

`RunsState` reads runs through the session's service and acts on them; `RunsPanel` lays the
runs out as rows with buttons. Loading merges with `unexpected="return"`: a served app never
stops to ask a person, and the labels it did not expect are listed in the merge report.
Renaming and deleting ask for confirmation first (deleting shows the service's dry run of
what goes). Every call that writes (loading, renaming, deleting and its dry run) runs on the
action pool when served, with `working` (or `loading`) saying what runs meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from workbench.errors import WorkbenchError
from workbench.query import View
from workbench.services import InvalidArgument, MergeReport, RemovalReport
from workbench.ui.background import run_action
from workbench.ui.later import built_when_shown
from workbench.ui.modal import Modal
from workbench.ui.reports import merge_report_html
from workbench.ui.text import Html, TextAlert, TextPane, html, text

if TYPE_CHECKING:
    from workbench.services import WorkbenchService
    from workbench.ui.state import WorkbenchState


@dataclass(frozen=True)
class RunRow:
    """One run as the panel lists it."""

    anno_key: str
    backend: str
    status: str
    fields: str
    tasks_done: int
    tasks: int
    editable: bool  # its tasks can be edited in the app (the local platform)
    actor: str = ""  # who made it

    @property
    def loaded(self) -> bool:
        return self.status == "loaded"

    def describe(self) -> str:
        loaded = "loaded" if self.loaded else "not loaded" if self.status == "open" else self.status
        return (
            f"{self.backend} · {self.fields} · {self.tasks_done}/{self.tasks} tasks done · {loaded}"
        )


@dataclass(frozen=True)
class PendingRunAction:
    """A rename or delete waiting for the person to confirm it."""

    action: str  # "rename" or "delete"
    anno_key: str
    text: str  # what it will do


class RunsState(param.Parameterized):
    """The runs of the catalog and what was last done to them."""

    runs = param.List(default=[], doc="RunRow per annotation run, oldest first.")
    report = param.ClassSelector(class_=MergeReport, default=None, allow_None=True)
    report_labels = param.Dict(
        default={}, doc="(frame id, ROI id) -> label of the ROIs the report names."
    )
    pending = param.ClassSelector(class_=PendingRunAction, default=None, allow_None=True)
    new_key = param.String(default="", doc="The new key of a pending rename.")
    loading = param.String(default=None, allow_None=True, doc="The run being loaded.")
    working = param.String(
        default="", doc="The rename, deletion or dry run running ('' when none), for a person."
    )
    message = param.String(default="")
    error = param.String(default="")

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        # Runs change when an action on the selection made one (or removed its inputs).
        state.param.watch(lambda _: self.refresh(), ["changes"])
        self.refresh()

    @property
    def service(self) -> WorkbenchService:
        return self.state.service

    def refresh(self) -> None:
        self._attempt(self._read_runs)

    def _read_runs(self) -> None:
        editable = {
            name for name, caps in self.service.get_backends().items() if caps.supports_task_editing
        }
        rows = []
        for key in self.service.list_annotation_runs():
            info = self.service.get_annotation_info(key)
            status = self.service.get_annotation_status(key)
            rows.append(
                RunRow(
                    anno_key=key,
                    backend=info.backend,
                    status=info.status,
                    fields=", ".join(info.label_schema.names()),
                    tasks_done=sum(1 for t in status.tasks if t.status == "done"),
                    tasks=len(status.tasks),
                    editable=info.backend in editable and info.status != "cleaned",
                    actor=info.actor or "",
                )
            )
        self.runs = rows

    def row(self, anno_key: str) -> RunRow | None:
        return next((r for r in self.runs if r.anno_key == anno_key), None)

    def _attempt[T](self, work: Callable[[], T]) -> T | None:
        """A service call whose refusal is shown, never swallowed."""
        try:
            result = work()
        except WorkbenchError as exc:
            self.param.update(error=str(exc), message="")
            return None
        self.error = ""
        return result

    # -- loading -------------------------------------------------------------------------
    def load(self, anno_key: str) -> None:
        """Merge the run's annotations into the catalog; `report` (or `error`) follows: in
        the background when served (a big merge takes seconds), at once otherwise."""
        if self.loading or self.working:
            return
        self.param.update(loading=anno_key, error="", message=f"loading {anno_key!r}…")

        catalog = self.state.catalog

        def merge() -> tuple[MergeReport, dict[tuple[str, str], str]]:
            # The labels of ROIs the merge may delete are read before it, those it writes
            # after: the report names labels, not ROI ids.
            before = roi_labels(View(catalog).select_annotation_run(anno_key))
            report = self.service.load_annotations(anno_key, unexpected="return")
            written = {r.frame_id for r in (*report.added, *report.changed)}
            after = roi_labels(View(catalog).select(sorted(written))) if written else {}
            return report, {**before, **after}

        def merged(result: tuple[MergeReport, dict[tuple[str, str], str]]) -> None:
            report, labels = result
            message = f"loaded {anno_key!r}: {report.describe()}"
            self.param.update(report=report, report_labels=labels, message=message, loading=None)
            self.state.after_action(labels_changed=report.changes > 0)

        def refused(exc: WorkbenchError) -> None:
            self.param.update(error=str(exc), message="", loading=None)

        run_action("load annotations", merge, merged, refused)

    # -- rename and delete, confirmed ----------------------------------------------------
    def ask_rename(self, anno_key: str) -> None:
        self.param.update(
            pending=PendingRunAction("rename", anno_key, f"Rename run {anno_key!r} to:"),
            new_key=anno_key,
            error="",
        )

    def ask_delete(self, anno_key: str) -> None:
        """Show what deleting the run removes (the service's dry run), then wait."""

        def plan() -> RemovalReport:
            return self.service.delete_annotation_run(anno_key, dryrun=True)

        def planned(report: RemovalReport) -> None:
            text = (
                f"Delete run {anno_key!r}? This removes {report.describe()}. Its inputs and "
                "the platform's tasks stay (clean the run up first to remove those)."
            )
            self.pending = PendingRunAction("delete", anno_key, text)

        self._act(f"checking what deleting {anno_key!r} removes", plan, planned)

    def confirm(self) -> None:
        pending = self.pending
        if pending is None:
            return
        if pending.action == "rename":
            new_key = self.new_key.strip()
            message = f"renamed {pending.anno_key!r} to {new_key!r}"

            def act() -> object:
                return self._rename(pending.anno_key, new_key)

        else:
            message = f"deleted run {pending.anno_key!r}"

            def act() -> object:
                return self.service.delete_annotation_run(pending.anno_key, confirm=True)

        def done(_: object) -> None:
            self.param.update(pending=None, message=message)
            self.state.after_action()  # refreshes the runs too (they watch `changes`)

        self._act(f"{pending.action} {pending.anno_key!r}", act, done)

    def _act[T](self, what: str, work: Callable[[], T], then: Callable[[T], None]) -> None:
        """A write through the service (in the background when served); its refusal is
        shown, never swallowed."""
        busy = self.working or (f"loading {self.loading!r}" if self.loading else "")
        if busy:
            self.error = f"{busy} is not finished yet"
            return
        self.param.update(working=what, error="")

        def done(result: T) -> None:
            self.working = ""
            then(result)

        def refused(exc: WorkbenchError) -> None:
            self.param.update(working="", error=str(exc), message="")

        run_action(what, work, done, refused)

    def _rename(self, anno_key: str, new_key: str) -> object:
        if not new_key or new_key == anno_key:
            raise InvalidArgument("type a new key for the run")
        return self.service.rename_annotation_run(anno_key, new_key)

    def cancel(self) -> None:
        self.param.update(pending=None, error="")

    def close_report(self) -> None:
        self.param.update(report=None, report_labels={})


class RunsPanel(pn.viewable.Viewer):
    """Annotation runs: one row per run with Load / Annotate / Rename / Delete buttons; every
    part bound to the RunsState."""

    def __init__(
        self,
        runs: RunsState,
        on_annotate: Callable[[str], object] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.runs = runs
        self.on_annotate = on_annotate
        self.rows = pn.Column(
            objects=pn.bind(self._rows, runs.param.runs), sizing_mode="stretch_width"
        )
        self.refresh_button = pn.widgets.Button(
            label="Refresh", css_classes=["wb-runs-refresh"], width=80
        )
        self.refresh_button.on_click(lambda _: runs.refresh())
        pending = runs.param.pending
        self.confirm_text = TextPane(pn.bind(_pending_text, pending))
        self.new_key = pn.widgets.TextInput.from_param(
            runs.param.new_key,
            onkeyup=True,
            label="",
            description=None,
            css_classes=["wb-run-new-key"],
            visible=pn.bind(_renaming, pending),
        )
        busy = pn.bind(_busy, runs.param.loading, runs.param.working)
        self.confirm_button = pn.widgets.Button(
            label=pn.bind(_confirm_label, pending), css_classes=["wb-confirm"], color="danger",
            width=80, disabled=busy,
        )  # fmt: skip
        self.cancel_button = pn.widgets.Button(
            label="Cancel", css_classes=["wb-cancel"], width=80, disabled=busy
        )
        self.confirm_button.on_click(lambda _: runs.confirm())
        self.cancel_button.on_click(lambda _: runs.cancel())
        self.dialog = pn.Column(
            self.confirm_text,
            self.new_key,
            pn.Row(self.confirm_button, self.cancel_button),
            css_classes=["wb-run-dialog"],
            visible=pn.bind(_is_pending, pending),
        )
        said = (runs.param.message, runs.param.error)
        self.message = TextAlert(
            pn.bind(_said, *said),
            alert_type=pn.bind(_alert_type, runs.param.error),
            visible=pn.bind(_shown, *said),
            css_classes=["wb-runs-message"],
        )
        self.report = TextPane(
            pn.bind(_report_html, runs.param.report, runs.param.report_labels),
            css_classes=["wb-merge-report"],
            visible=pn.bind(_is_pending, runs.param.report),
            sizing_mode="stretch_width",
        )
        # Over the page, not in the sidebar: a report can list hundreds of rows.
        self.report_modal = Modal(
            self.report,
            title="Merge report",
            open=pn.bind(_is_pending, runs.param.report),
            on_close=runs.close_report,
            css=["wb-merge-report-dialog"],
            width=960,
        )
        self.spinner = pn.indicators.LoadingSpinner(value=busy, size=20, visible=busy)

    def _rows(self, runs: list[RunRow]) -> list[pn.viewable.Viewable]:
        return [self._row(r) for r in runs] or [TextPane(html("<i>No annotation runs yet.</i>"))]

    def _row(self, run: RunRow) -> pn.viewable.Viewable:
        def button(label: str, css: str, action: Callable[[str], object]) -> pn.widgets.Button:
            b = pn.widgets.Button(label=label, css_classes=[css], width=74, margin=(2, 2))

            def clicked(event: param.parameterized.Event) -> None:
                action(run.anno_key)

            b.on_click(clicked)
            return b

        buttons = [button("Load", "wb-load-run", self.runs.load)]
        if run.editable and self.on_annotate is not None:
            buttons.append(button("Annotate", "wb-annotate-run", self.on_annotate))
        buttons.append(button("Rename", "wb-rename-run", self.runs.ask_rename))
        buttons.append(button("Delete", "wb-delete-run", self.runs.ask_delete))
        title = html(
            "<b>{}</b><br><span style='font-size:90%'>{}</span>", run.anno_key, run.describe()
        )
        if run.actor:
            title += html("<br><span style='font-size:80%;color:#666'>by {}</span>", run.actor)
        return pn.Column(
            TextPane(title, margin=(2, 5)),
            pn.Row(*buttons),
            css_classes=["wb-run"],
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(TextPane(html("<b>Annotation runs</b>")), self.refresh_button, self.spinner),
            self.rows,
            built_when_shown(self.dialog, self.runs, "pending"),
            self.message,
            css_classes=["wb-runs"],
            sizing_mode="stretch_width",
        )


def _pending_text(pending: PendingRunAction | None) -> Html:
    return text(pending.text if pending is not None else "")


def _renaming(pending: PendingRunAction | None) -> bool:
    return pending is not None and pending.action == "rename"


def _confirm_label(pending: PendingRunAction | None) -> str:
    return "Rename" if _renaming(pending) else "Delete"


def _is_pending(value: object) -> bool:
    return value is not None


def _busy(loading: str | None, working: str) -> bool:
    return loading is not None or bool(working)


def _said(message: str, error: str) -> Html:
    return text(error or message, quote=False)


def _shown(message: str, error: str) -> bool:
    return bool(error or message)


def _alert_type(error: str) -> str:
    return "danger" if error else "info"


def _report_html(report: MergeReport | None, labels: dict[tuple[str, str], str]) -> Html:
    return merge_report_html(report, labels) if report is not None else Html()


def roi_labels(view: View) -> dict[tuple[str, str], str]:
    """(frame id, ROI id) -> label of the view's ROIs."""
    table = view.rois()
    columns = (table.column(c).to_pylist() for c in ("frame_id", "id", "label"))
    return {(str(f), str(r)): str(label or "") for f, r, label in zip(*columns, strict=True)}
