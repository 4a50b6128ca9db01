"""The sequence QA panel: stored issues by kind with counts; one click opens an issue.

Issues are those `sequence_qa` stored in `qa_issues` (docs/sequence-qa.md) for the contexts
of the app's view (without the panel's own stage). Picking a kind narrows the app's view to
the frames with such an issue (`match_qa`, under the panel's name) and lists them; picking
one opens its context in the viewer at its frame. "Run checks" runs every check over the
view's contexts (in the background when served) and lists the issues again.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from workbench.analysis.sequence_qa import list_issues, sequence_qa
from workbench.errors import WorkbenchError
from workbench.query import View
from workbench.ui.background import run_in_background
from workbench.ui.tab_state import TabState
from workbench.ui.text import TextAlert, TextPane

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState

PANEL = "qa"
MAX_LISTED = 200


def describe(issue: dict[str, Any]) -> str:
    """One issue as a line of text."""
    where = issue.get("frame_id") or issue["context_id"] + " (whole context)"
    parts = [str(issue["severity"]), str(where)]
    if issue.get("source_id"):
        parts.append(f"camera {issue['source_id']}")
    if issue.get("track") is not None:
        parts.append(f"{issue.get('field') or ''} track {issue['track']}")
    return " · ".join(parts)


class QaState(TabState):
    PANEL = PANEL
    counts = param.Dict(default={}, doc="Issues per kind in the view's contexts.")
    kind = param.String(default="", doc="The kind shown ('': none picked).")
    issues = param.List(default=[], doc="Issues of `kind` (at most MAX_LISTED).")
    issue = param.Integer(default=None, allow_None=True, doc="Index of the issue opened.")

    def stages_dropped(self) -> None:
        self.kind = ""

    def refresh(self) -> None:
        """Count the stored issues of the view's contexts by kind."""
        try:
            table = list_issues(self.view(), None)
        except WorkbenchError as exc:
            self.error = str(exc)
            return
        self._stale = False
        counts = Counter(table.column("kind").to_pylist())
        self.param.update(counts=dict(sorted(counts.items())), error="")
        if self.kind:
            self._list()

    @param.depends("kind", watch=True)
    def _on_kind(self) -> None:
        stages = View(self.app_state.catalog).match_qa(self.kind).stages if self.kind else ()
        self.app_state.query.set_panel_stages(PANEL, stages)
        self._list()

    def _list(self) -> None:
        issues: list[dict[str, Any]] = []
        if self.kind:
            try:
                issues = list_issues(self.view(), self.kind).slice(0, MAX_LISTED).to_pylist()
            except WorkbenchError as exc:
                self.error = str(exc)
        self.param.update(issues=issues, issue=None)

    def open(self, index: int) -> None:
        """Open issue `index` of the list: its context at its frame (its first frame for an
        issue of the whole context)."""
        issue = self.issues[index]
        state = self.app_state
        state.context.open(issue["context_id"], state.view, frame_id=issue.get("frame_id"))
        self.issue = index

    def run_checks(self) -> None:
        """Run every sequence check over the view's contexts, then list the issues again."""
        view = self.view()
        self.working = "checking sequences"

        def done(report: Any) -> None:
            self.working = ""
            self.refresh()

        def failed(exc: WorkbenchError) -> None:
            self.param.update(working="", error=str(exc))

        run_in_background(
            lambda: sequence_qa(view, None, progress=False), done, failed, action=True
        )


class QaPanel(pn.viewable.Viewer):
    """Kinds with counts (buttons), the issues of the kind picked (a list), run checks."""

    def __init__(self, app_state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = QaState(app_state)
        s = self.state
        self.kinds = pn.widgets.RadioButtonGroup(
            options=self._kind_options(s.counts), value="", css_classes=["wb-qa-kinds"]
        )
        self.kinds.param.watch(lambda e: setattr(s, "kind", e.new or ""), "value")
        s.param.watch(self._on_counts, ["counts"])
        s.param.watch(lambda e: setattr(self.kinds, "value", e.new), ["kind"])
        self.list = pn.widgets.Select(options={}, size=12, css_classes=["wb-qa-issues"], width=520)
        s.param.watch(self._on_issues, ["issues"])
        self.list.param.watch(self._picked, "value")
        self.run = pn.widgets.Button(label="Run checks", css_classes=["wb-qa-run"])
        self.run.on_click(lambda _: s.run_checks())
        self.status = TextPane(
            pn.bind(self._status, s.param.counts, s.param.working), css_classes=["wb-qa-status"]
        )
        self.error = TextAlert(
            s.param.error, alert_type="danger", visible=pn.bind(bool, s.param.error),
            css_classes=["wb-qa-error"],
        )  # fmt: skip

    @staticmethod
    def _kind_options(counts: dict[str, int]) -> dict[str, str]:
        return {"all": "", **{f"{k} ({n})": k for k, n in counts.items()}}

    def _status(self, counts: dict[str, int], working: str) -> str:
        if working:
            return working + "…"
        total = sum(counts.values())
        if not total:
            return "No sequence issues stored for these contexts: run the checks."
        return f"{total} issues in {len(counts)} kinds"

    def _on_counts(self, *events: Any) -> None:
        self.kinds.options = self._kind_options(self.state.counts)

    def _on_issues(self, *events: Any) -> None:
        self.list.options = {f"{n + 1}. {describe(i)}": n for n, i in enumerate(self.state.issues)}
        self.list.value = None

    def _picked(self, event: Any) -> None:
        if event.new is not None:
            self.state.open(int(event.new))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self.run, self.status),
            self.error,
            self.kinds,
            self.list,
            css_classes=["wb-qa"],
            sizing_mode="stretch_width",
        )
