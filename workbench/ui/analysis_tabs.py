"""The analysis panels of the app, as tabs under the viewer: evaluation, embeddings, sequence
QA and patches. Each adds its stages to the app's view (`QueryState.panels`), so what one
picks the grid, the facets, the other panels and the actions follow. A tab's content is
built, and its data read, only once it is opened (the first tab is a short note): the app's
first page stays as light as without them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import panel as pn

from workbench.ui.embeddings_panel import EmbeddingsPanel
from workbench.ui.evaluation_panel import EvaluationPanel
from workbench.ui.patches import PatchesView
from workbench.ui.qa_panel import QaPanel
from workbench.ui.text import TextPane

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState

NOTE = (
    "Evaluation (where the model is wrong), embeddings (the view as a map: lasso a region,"
    " find similar frames), sequence QA (broken sequences and tracks) and patches (one tile"
    " per ROI): open a tab. What a tab picks narrows the grid above."
)
TABS = ("analysis", "evaluation", "embeddings", "qa", "patches")


class AnalysisTabs(pn.viewable.Viewer):
    """The four panels over one app state; `open(name)` shows one ("evaluation",
    "embeddings", "qa", "patches")."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.evaluation = EvaluationPanel(state)
        self.embeddings = EmbeddingsPanel(state)
        self.qa = QaPanel(state)
        self.patches = PatchesView(state)
        self.embeddings.state.roi_picks = self.patches.state.picked_rois
        self.tabs = pn.Tabs(
            ("Analysis", TextPane(NOTE, css_classes=["wb-analysis-note"])),
            ("Evaluation", self.evaluation),
            ("Embeddings", self.embeddings),
            ("Sequence QA", self.qa),
            ("Patches", self.patches),
            dynamic=True,
            css_classes=["wb-analysis"],
            sizing_mode="stretch_width",
        )
        self.tabs.param.watch(self._on_tab, "active")

    def open(self, name: str) -> None:
        self.tabs.active = TABS.index(name)

    def _on_tab(self, *events: Any) -> None:
        shown = TABS[self.tabs.active]
        self.embeddings.state.active = shown == "embeddings"
        self.qa.state.active = shown == "qa"
        self.patches.state.active = shown == "patches"
        self.evaluation.state.active = shown == "evaluation"
        if shown == "evaluation":
            self.evaluation.state.refresh_runs()

    def __panel__(self) -> pn.viewable.Viewable:
        return self.tabs
