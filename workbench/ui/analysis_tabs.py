"""The analysis panels of the app, as tabs under the viewer: evaluation, embeddings,
duplicates, sequence QA and patches. Each adds its stages to the app's view (`QueryState.panels`), so what one
picks the grid, the facets, the other panels and the actions follow. A tab's content is
built, and its data read, only once it is opened (the first tab is a short note): the app's
first page stays as light as without them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import panel as pn

from workbench.ui.duplicates_panel import DuplicatesPanel
from workbench.ui.embeddings_panel import EmbeddingsPanel
from workbench.ui.evaluation_panel import EvaluationPanel
from workbench.ui.patches import PatchesView
from workbench.ui.qa_panel import QaPanel
from workbench.ui.text import TextPane

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState

NOTE = (
    "Evaluation (where the model is wrong), embeddings (the view as a map: lasso a region,"
    " find similar frames), duplicates (copies to look at or leave out), sequence QA (broken sequences and tracks) and patches (one tile"
    " per ROI): open a tab. What a tab picks narrows the grid above."
)
TABS = ("analysis", "evaluation", "embeddings", "duplicates", "qa", "patches")


class AnalysisTabs(pn.viewable.Viewer):
    """The five panels over one app state; `open(name)` shows one ("evaluation",
    "embeddings", "duplicates", "qa", "patches"). Each panel is made the first time its tab opens (or
    it is asked for): a session that never opens one does not build it."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self._panels: dict[str, Any] = {}
        self._boxes = {name: pn.Column(sizing_mode="stretch_width", margin=0) for name in TABS[1:]}
        self.tabs = pn.Tabs(
            ("Analysis", TextPane(NOTE, css_classes=["wb-analysis-note"])),
            ("Evaluation", self._boxes["evaluation"]),
            ("Embeddings", self._boxes["embeddings"]),
            ("Duplicates", self._boxes["duplicates"]),
            ("Sequence QA", self._boxes["qa"]),
            ("Patches", self._boxes["patches"]),
            dynamic=True,
            css_classes=["wb-analysis"],
            sizing_mode="stretch_width",
        )
        self.tabs.param.watch(self._on_tab, "active")

    @property
    def evaluation(self) -> EvaluationPanel:
        return self._panel("evaluation", lambda: EvaluationPanel(self.state))

    @property
    def embeddings(self) -> EmbeddingsPanel:
        def make() -> EmbeddingsPanel:
            panel = EmbeddingsPanel(self.state)
            # "Find similar" to the patches picked in the Patches tab.
            panel.state.roi_picks = self.patches.state.picked_rois
            return panel

        return self._panel("embeddings", make)

    @property
    def duplicates(self) -> DuplicatesPanel:
        return self._panel("duplicates", lambda: DuplicatesPanel(self.state))

    @property
    def qa(self) -> QaPanel:
        return self._panel("qa", lambda: QaPanel(self.state))

    @property
    def patches(self) -> PatchesView:
        return self._panel("patches", lambda: PatchesView(self.state))

    def _panel[P](self, name: str, make: Callable[[], P]) -> P:
        if name not in self._panels:
            self._panels[name] = make()
        return cast(P, self._panels[name])

    def open(self, name: str) -> None:
        self.tabs.active = TABS.index(name)

    def _on_tab(self, *events: Any) -> None:
        shown = TABS[self.tabs.active]
        if shown in self._boxes and not self._boxes[shown].objects:
            self._boxes[shown][:] = [getattr(self, shown)]
        for name, panel in self._panels.items():
            panel.state.active = shown == name
        if shown == "evaluation":
            self.evaluation.state.refresh_runs()

    def __panel__(self) -> pn.viewable.Viewable:
        return self.tabs
