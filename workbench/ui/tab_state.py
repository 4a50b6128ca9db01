"""What the analysis tabs that count stored results share: their counts follow the app's view.

A tab's state reads its counts again when the query changes while the tab shows, or when it is
shown after a change (a tab never opened reads nothing). Its picks are stages of the app's view
under the tab's name (`PANEL`); when those stages go ("Reset filters", a saved view opened),
`stages_dropped` clears the picks that made them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import param

from workbench.query import View
from workbench.ui.query_state import QUERY_PARAMS

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState


class TabState(param.Parameterized):
    """Counts of a tab, read lazily over the app's view without the tab's own stages."""

    PANEL: ClassVar[str] = ""
    active = param.Boolean(default=False, doc="Shown: only then are the counts read.")
    working = param.String(default="", doc="What runs now ('': nothing).")
    error = param.String(default="")

    def __init__(self, app_state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.app_state = app_state
        self._stale = True
        app_state.query.param.watch(self._on_query, list(QUERY_PARAMS))
        app_state.query.param.watch(self._on_panels, ["panels"])

    def view(self) -> View:
        return self.app_state.query.view(self.app_state.catalog, without=self.PANEL)

    def refresh(self) -> None:
        """Read the counts again (and clear `_stale`)."""
        raise NotImplementedError

    def stages_dropped(self) -> None:
        """The tab's stages were removed from the app's view: clear the picks behind them."""

    def _on_panels(self, *events: Any) -> None:
        if self.PANEL not in self.app_state.query.panels:
            self.stages_dropped()

    def _on_query(self, *events: Any) -> None:
        self._stale = True
        if self.active:
            self.refresh()

    @param.depends("active", watch=True)
    def _on_active(self) -> None:
        if self.active and self._stale:
            self.refresh()
