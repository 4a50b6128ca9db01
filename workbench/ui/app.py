"""The workbench app: query panel, grid, viewer and player over one WorkbenchState.

    from workbench.ui.app import WorkbenchApp
    app = WorkbenchApp(catalog)      # the last expression of a notebook cell shows it
    app.selection                    # what is selected, for the actions that follow

The actions bar (send to annotation, invalidate scenes, delete inputs), the annotation runs
panel and the annotator all act through one service (`workbench.services.Workbench`), so
every action is validated and audited there. The server calls `create_app(catalog, media)`
once per browser session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import panel as pn
from bokeh.models.widgets.markups import PreText

from workbench.store.imports import interrupted_imports
from workbench.ui.actions import ActionsBar, ActionsPanel
from workbench.ui.analysis_tabs import AnalysisTabs
from workbench.ui.annotator import AnnotatorView
from workbench.ui.annotator_state import AnnotatorState
from workbench.ui.grid import GridView
from workbench.ui.later import after_first_render
from workbench.ui.media import MediaUrls
from workbench.ui.modal import placed_when_opened
from workbench.ui.notebook import ipywidget as notebook_widget
from workbench.ui.notebook import load_extension
from workbench.ui.notebook import mimebundle as notebook_mimebundle
from workbench.ui.player import PlayerView
from workbench.ui.query_panel import QueryPanel
from workbench.ui.runs import RunsPanel, RunsState
from workbench.ui.sample import SampleView, sample_styles
from workbench.ui.selection import Selection
from workbench.ui.shared import shared_read
from workbench.ui.state import WorkbenchState
from workbench.ui.viewer import FrameViewer

if TYPE_CHECKING:
    from workbench.services import WorkbenchService
    from workbench.store.catalog import Catalog

SIDEBAR_WIDTH = 340


# What a section builds: a Panel object or a Viewer of the app.
Part = pn.viewable.Viewable | pn.viewable.Viewer


@dataclass(frozen=True)
class Section:
    """One part of the app's page: `make()` builds it for one rendering of the app;
    `later` parts are added once the page is on screen when served (at once otherwise)."""

    name: str
    make: Callable[[], Part]
    later: bool = False
    # Whether a divider goes above it in the sidebar.
    divided: bool = True


# Narrower than this, the main column goes below the sidebar.
MAIN_MIN_WIDTH = 520


class WorkbenchApp(pn.viewable.Viewer):
    """Everything a person needs to find, look at, select and tag frames of a catalog, send
    them to annotation, annotate them on the local platform and merge the results back.

    `service` is the service every action goes through (default: `Workbench(catalog)`; the
    HTTP client `workbench.connect(url)` fits too: both are `WorkbenchService`s).
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        media: MediaUrls | None = None,
        service: WorkbenchService | None = None,
        **params: Any,
    ) -> None:
        # A notebook needs Panel's extension loaded before the app is shown; people forget
        # the `pn.extension()` cell. Served apps and plain scripts need nothing.
        load_extension()
        super().__init__(**params)
        self.catalog = catalog
        self.state = WorkbenchState(catalog, media, service=service)
        self.query_panel = QueryPanel(self.state)
        self.grid = GridView(self.state)
        self.viewer = FrameViewer(self.state)
        # The page tells the grid which frame the viewer drew (its active tile in frames mode).
        self.grid.grid.channel = self.viewer.canvas.channel
        self.player = PlayerView(self.state.context, self.state.media, self.viewer.canvas)
        if self.player.read_ahead is not None:  # the next pictures come with the frame
            self.viewer.ahead = self.player.read_ahead.urls_due
        self.actions_bar = ActionsBar(self.state)
        self.runs = RunsState(self.state)
        self.annotator = AnnotatorState(self.state)
        self._annotator_view: AnnotatorView | None = None
        self._layout()
        self._bind_keys()
        # Served, the viewer is below the grid, out of the first screen: the first tile is
        # opened (its context read and drawn) once the page is on screen, with the viewer's
        # parts, before anything a person does (those parts come in the same batch).
        after_first_render(self._open_first_tile)

    @property
    def annotator_view(self) -> AnnotatorView:
        """The annotator's widgets and figure, made the first time they are needed (a task
        opens): a session that never annotates does not build, send or lay them out."""
        if self._annotator_view is None:
            self._annotator_view = AnnotatorView(self.annotator)
        return self._annotator_view

    # Made when first shown (served: once the page is on screen), not with the first
    # document: the runs panel alone cost a third of the app's setup, the sample view's
    # controls and the actions panel together a quarter of what was left.
    @cached_property
    def runs_panel(self) -> RunsPanel:
        return RunsPanel(self.runs, on_annotate=self.annotate_run)

    @cached_property
    def sample(self) -> SampleView:
        """The sample view's controls (above the viewer)."""
        return SampleView(self.state, self.viewer)

    @cached_property
    def actions(self) -> ActionsPanel:
        """Tagging the selection, saved views (the sidebar)."""
        return ActionsPanel(self.state)

    @cached_property
    def analysis(self) -> AnalysisTabs:
        """Evaluation, embeddings, sequence QA and patches (workbench/ui/analysis_tabs.py)."""
        return AnalysisTabs(self.state)

    @property
    def service(self) -> WorkbenchService:
        return self.state.service

    def annotate_run(self, anno_key: str) -> None:
        """Open the annotator on the run's first task that is not done."""
        self.annotator.open_run(anno_key)

    def _open_first_tile(self) -> None:
        """Start with something to look at: the first tile open in the viewer."""
        _ = self.sample  # made first: the viewer's frames carry its title (frames mode)
        if self.state.tiles and self.state.context.context_id is None:
            self.state.open_tile(self.state.tiles[0]["id"])

    @property
    def selection(self) -> Selection:
        """The selected frames and contexts (a frozen value: keep it, it will not change)."""
        return self.state.selection

    def _layout(self) -> None:
        """The parts of the page, in order. Each is a `Section`; a new panel of the app is
        one more entry in one of these lists (`later=True` for what can wait until the page
        is on screen)."""
        self.sidebar_sections: list[Section] = [
            Section("query", self.query_panel.main_part),
            Section("more filters", self.query_panel.more_filters, later=True, divided=False),
            Section("actions", lambda: self.actions, later=True),
            Section("runs", lambda: self.runs_panel, later=True),
        ]
        self.main_sections: list[Section] = [
            Section("import notice", self._import_notice),
            Section("actions bar", lambda: self.actions_bar),
            Section("grid", lambda: self.grid),
            Section("viewer", self._viewer_area, later=True),
            Section("analysis", lambda: self.analysis, later=True),
        ]
        # Boxes over the page (dialogs, reports): placed last, shown while open.
        self.overlays: list[Section] = [
            Section("action dialogs", lambda: pn.Column(*self.actions_bar.modals()), later=True),
            Section(
                "merge report",
                lambda: placed_when_opened(self.runs_panel.report_modal, self.runs, "report"),
                later=True,
            ),
        ]

    def __panel__(self) -> pn.viewable.Viewable:
        # Built anew for every rendering: a notebook may show the app more than once, and
        # the views' Bokeh figures can belong to one document only (see PerRender).
        # `later` sections are added once the rest is on screen (served; at once otherwise):
        # a smaller first document is built, sent and drawn sooner. Only widgets wait: with
        # the viewer's figures added that way, BokehJS now and then measured a figure it had
        # not laid out yet ("top_panel" errors in bench/ui_bench.py). The later sections of
        # a column (and what follows them) go into one box, filled at once: each box filled
        # is one more layout of the whole page in the browser (~0.1 s at load: every figure
        # reads its CSS again).
        waiting: list[tuple[pn.Column, list[tuple[Section, bool]]]] = []

        def column(sections: list[Section], divided: bool) -> list[Part]:
            parts: list[Part] = []
            later: list[tuple[Section, bool]] = []  # with whether a divider goes above
            for i, section in enumerate(sections):
                divider = divided and i > 0 and section.divided
                if section.later or later:
                    later.append((section, divider))
                else:
                    parts += [*_divider(divider), section.make()]
            if later:
                box = pn.Column(sizing_mode="stretch_width", margin=0)
                waiting.append((box, later))
                parts.append(box)
            return parts

        sidebar = pn.Column(
            *column(self.sidebar_sections, divided=True),
            width=SIDEBAR_WIDTH,
            css_classes=["wb-sidebar"],
        )
        main = pn.Column(
            *column(self.main_sections + self.overlays, divided=False),
            sizing_mode="stretch_width",
        )

        def fill() -> None:
            for box, later in waiting:
                box[:] = [part for s, d in later for part in (*_divider(d), s.make())]

        after_first_render(fill)
        # Side by side when there is room, the sidebar above the rest when not (a notebook
        # cell beside JupyterLab's file browser): nothing is cut off at the right. A Row
        # that wraps, not Panel's FlexBox: FlexBox is a ReactiveHTML component, whose
        # templates need 'unsafe-eval', which the served app's CSP refuses (the page would
        # stay blank).
        main.styles = {"flex": f"1 1 {MAIN_MIN_WIDTH}px", "min-width": "0"}
        return pn.Row(sidebar, main, styles={"flex-wrap": "wrap"}, sizing_mode="stretch_width")

    def _bind_keys(self) -> None:
        keys, state = self.player.keys, self.state
        keys.on("n", lambda shift: state.step_tile(1))
        keys.on("p", lambda shift: state.step_tile(-1))
        keys.on("e", lambda shift: self.sample.toggle())
        keys.on("t", lambda shift: self.sample.tag_current_frame())
        keys.on("Escape", lambda shift: self.close_top())

    def close_top(self) -> None:
        """Close what is on top: a dialog, else the merge report, else the sample view."""
        for dialog in self.actions_bar.dialogs:
            if dialog.visible:
                dialog.cancel()
                return
        if self.runs.report is not None:
            self.runs.close_report()
        elif self.state.display.expanded:
            self.state.display.expanded = False

    def _viewer_area(self) -> pn.viewable.Viewable:
        """The sample view (its controls, the viewer and player), or the annotator while a
        task is open. The sample view takes the window while `display.expanded`."""
        task = self.annotator.param.task_id
        viewing = pn.Column(
            *_divider(True),
            self.sample,
            self.viewer,
            self.player,
            visible=pn.bind(_is_none, task),
            styles=pn.bind(sample_styles, self.state.display.param.expanded),
            css_classes=["wb-sample-view"],
            sizing_mode="stretch_width",
        )
        editing = pn.Column(visible=pn.bind(_is_set, task), sizing_mode="stretch_width")

        def place(*events: object) -> None:
            if self.annotator.task_id is not None and not editing.objects:
                editing[:] = [*_divider(True), self.annotator_view]

        self.annotator.param.watch(place, ["task_id"])
        place()
        return pn.Column(viewing, editing, sizing_mode="stretch_width", margin=0)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        # Panel's output after a note saying what to install, hidden once the kernel
        # hears from the browser (workbench/ui/notebook.py).
        return notebook_mimebundle(self, include, exclude)

    def _import_notice(self) -> pn.viewable.Viewable:
        catalog = self.catalog
        served = self.state.served
        text = shared_read(catalog, ("imports",), lambda: import_notice(catalog), served=served)
        if not text:
            return pn.Column(visible=False, margin=0)
        style: dict[str, str | None] = {
            "background": "#fff3cd",
            "border": "1px solid #d4a72c",
            "padding": "4px 8px",
        }
        # File names come from whoever named the files: Bokeh's PreText sets its text as
        # text (textContent), never as markup.
        notice = PreText(text=text, css_classes=["wb-import-notice"], styles=style)
        return pn.pane.Bokeh(notice, sizing_mode="stretch_width")

    def ipywidget(self) -> Any:
        """The app as an ipywidget, for front ends that only show ipywidgets (VS Code...):
        needs jupyter_bokeh where the front end runs."""
        return notebook_widget(self)


def import_notice(catalog: Catalog) -> str:
    """Plain text about imports that stopped before they finished ('' when there are none)."""
    interrupted = interrupted_imports(catalog)
    if not interrupted:
        return ""
    lines = [
        f"{len(interrupted)} import(s) stopped before they finished: the catalog may lack "
        "some of their frames. Run each again to complete it."
    ]
    for record in interrupted[:5]:
        c = record.counts
        lines.append(
            f"- {record.format} of {', '.join(record.files)}: {c.frames} frames stored in "
            f"{c.batches} batch(es) before it stopped"
        )
    if len(interrupted) > 5:
        lines.append(f"- ... and {len(interrupted) - 5} more (`workbench info`)")
    return "\n".join(lines)


def create_app(
    catalog: Catalog, media: MediaUrls, service: WorkbenchService | None = None
) -> WorkbenchApp:
    """A new app for one browser session of a served workbench (a Viewer Panel can serve;
    the server also reads its `selection`). `service` defaults to `Workbench(catalog)`."""
    return WorkbenchApp(catalog, media=media, service=service)


def _divider(shown: bool) -> list[Part]:
    """A line between two sidebar sections. Not Panel's Divider: added once the page is on
    screen, Panel links its stylesheet to its CDN (which the CSP refuses, and which an
    offline machine cannot reach); a Column's is in the page already."""
    rule = {"border-top": "1px solid #ddd"}
    line = pn.Column(height=0, margin=(8, 5), styles=rule, sizing_mode="stretch_width")
    return [line] if shown else []


def _is_none(value: object) -> bool:
    return value is None


def _is_set(value: object) -> bool:
    return value is not None
