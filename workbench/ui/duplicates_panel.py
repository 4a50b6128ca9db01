"""The duplicates panel: find copies among the view's frames, then look at them or leave them out.

"Find duplicates" runs `find_duplicates` over the app's view (without the panel's own stage;
in the background when served) with the kinds and scope picked, and stores the groups
(docs/embeddings.md#duplicates). The counts are those of the stored groups among the view's
frames. "Show" turns them into one stage of the app's view, under the panel's name, so the
grid, the facets and the actions follow: every member of a group (the frame kept first), the
copies only (what a person would invalidate or tag), or the view without the copies.

    panel = DuplicatesPanel(app.state)
    panel.state.param.update(kinds=["exact"], scope="all")
    panel.state.find()
    panel.state.show = "extra"      # the grid lists the copies; "Select all that match" ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import panel as pn
import param

from workbench.analysis.duplicates import KINDS
from workbench.errors import WorkbenchError
from workbench.query import View
from workbench.ui.background import run_in_background
from workbench.ui.tab_state import TabState
from workbench.ui.text import TextAlert, TextPane, text

if TYPE_CHECKING:
    from workbench.query.stages import Stage
    from workbench.ui.state import WorkbenchState

PANEL = "duplicates"
SHOWS = {
    "": "every frame",
    "all": "groups, the kept frame first",
    "extra": "the copies only",
    "without": "without the copies",
}
SCOPES = {"across_contexts": "across contexts", "all": "within contexts too"}


class DuplicatesState(TabState):
    """What to search for, what is stored among the view's frames, and what to show."""

    PANEL = PANEL
    kinds = param.ListSelector(default=["exact", "perceptual"], objects=list(KINDS))
    scope: param.Selector[str] = param.Selector(default="across_contexts", objects=list(SCOPES))
    counts = param.Dict(default={}, doc="kind -> (groups, copies) among the view's frames.")
    show: param.Selector[str] = param.Selector(default="", objects=list(SHOWS))
    kind: param.Selector[str] = param.Selector(default="", objects=["", *KINDS])
    found = param.String(default="", doc="What the last search did.")

    def stages_dropped(self) -> None:
        self.show = ""

    def refresh(self) -> None:
        """Count the stored groups, and their copies, among the view's frames, by kind."""
        view = self.view()
        try:
            counts = {
                kind: (
                    view.match_duplicates(kind, "first").count(),
                    view.match_duplicates(kind, "extra").count(),
                )
                for kind in KINDS
            }
        except WorkbenchError as exc:
            self.error = str(exc)
            return
        self._stale = False
        self.param.update(counts={k: c for k, c in counts.items() if c[0]}, error="")

    def find(self) -> None:
        """Search the view's frames for duplicates of the kinds picked, store the groups
        (replacing those of the same kinds), then count them again."""
        from workbench.analysis.duplicates import find_duplicates

        if not self.kinds:
            self.error = "pick at least one kind of duplicate"
            return
        view, kinds, scope = self.view(), tuple(self.kinds), self.scope
        self.param.update(working="finding duplicates", error="", found="")

        def done(results: Any) -> None:
            problems = len(results.hash_errors)
            pictures = "picture" if problems == 1 else "pictures"
            unread = f"; {problems} {pictures} could not be read" if problems else ""
            first = f" (first: {results.hash_errors[0]})" if problems else ""
            self.param.update(working="", found=str(results) + unread + first)
            self.refresh()
            self._apply()

        def failed(exc: WorkbenchError) -> None:
            self.param.update(working="", error=str(exc))

        run_in_background(
            lambda: find_duplicates(view, kinds=kinds, scope=scope, progress=False),
            done,
            failed,
            action=True,
        )

    def stages(self) -> tuple[Stage, ...]:
        """The stage "show" adds to the app's view (none for every frame)."""
        if not self.show:
            return ()
        kind = self.kind or None
        view = View(self.app_state.catalog)
        if self.show == "without":
            return view.exclude_duplicates(kind).stages
        return view.match_duplicates(kind, self.show).stages

    @param.depends("show", "kind", watch=True)
    def _apply(self) -> None:
        self.app_state.query.set_panel_stages(PANEL, self.stages())

    @property
    def status(self) -> str:
        if self.working:
            return self.working + "…"
        if not self.counts:
            return "No duplicate groups stored among these frames: find duplicates."
        return "; ".join(
            f"{kind}: {groups:,} groups, {copies:,} copies"
            for kind, (groups, copies) in self.counts.items()
        )


class DuplicatesPanel(pn.viewable.Viewer):
    """Kinds and scope, "Find duplicates", the stored counts, and what the grid shows."""

    def __init__(self, app_state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = s = DuplicatesState(app_state)
        self.kinds = pn.widgets.CheckButtonGroup.from_param(
            s.param.kinds, name="", css_classes=["wb-dup-kinds"]
        )
        self.scope = pn.widgets.Select.from_param(
            s.param.scope, options={v: k for k, v in SCOPES.items()}, name="pairs",
            css_classes=["wb-dup-scope"], width=170,
        )  # fmt: skip
        self.find = pn.widgets.Button(
            label="Find duplicates", color="primary", css_classes=["wb-dup-find"],
            disabled=pn.bind(bool, s.param.working),
        )  # fmt: skip
        self.find.on_click(lambda _: s.find())
        self.found = TextPane(pn.bind(text, s.param.found), css_classes=["wb-dup-found"])
        self.status = TextPane(
            pn.bind(lambda *_: text(s.status), s.param.counts, s.param.working),
            css_classes=["wb-dup-status"],
        )
        self.showing = pn.widgets.RadioButtonGroup.from_param(
            s.param.show, options={v: k for k, v in SHOWS.items()}, name="",
            css_classes=["wb-dup-show"],
        )  # fmt: skip
        self.kind = pn.widgets.Select.from_param(
            s.param.kind, options={"any kind": "", **{k: k for k in KINDS}}, name="of",
            css_classes=["wb-dup-kind"], width=130,
        )  # fmt: skip
        self.error = TextAlert(
            s.param.error, alert_type="danger", visible=pn.bind(bool, s.param.error),
            css_classes=["wb-dup-error"],
        )  # fmt: skip

    def __panel__(self) -> pn.viewable.Viewable:
        search = pn.Row(
            self.kinds, self.scope, self.find, self.found,
            styles={"flex-wrap": "wrap", "align-items": "flex-end"},
        )  # fmt: skip
        showing = pn.Row(
            self.showing, self.kind, styles={"flex-wrap": "wrap", "align-items": "flex-end"}
        )
        return pn.Column(
            search,
            self.error,
            self.status,
            showing,
            css_classes=["wb-duplicates"],
            sizing_mode="stretch_width",
        )
