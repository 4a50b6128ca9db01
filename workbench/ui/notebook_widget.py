"""The app as an ipywidget (`WorkbenchApp.ipywidget()`), for front ends that show widgets.

Apart from `workbench.ui.notebook` so that serving the app never imports ipywidgets.
"""

from __future__ import annotations

from typing import Any

import ipywidgets

from workbench.ui.notebook import ConnectionProbe


class AppWidget(ipywidgets.VBox):
    """A note saying what to install, then the app's Bokeh widget. The note hides once the
    app's probe got a ping from the browser; a front end without widget support shows the
    `fallback_html` note instead of the widget."""

    def __init__(
        self, app: Any, probe: ConnectionProbe, *, note_html: str, fallback_html: str
    ) -> None:
        self.note = ipywidgets.HTML(value=note_html)
        super().__init__(children=[self.note, app])
        self.app = app
        self.probe = probe
        self._fallback_html = fallback_html
        probe.param.watch(self._hide_note, ["connected"])

    @property
    def connected(self) -> bool:
        """Whether the widget's front end has answered the kernel."""
        return bool(self.probe.connected)

    def _hide_note(self, event: Any) -> None:
        if event.new:
            self.note.layout.display = "none"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # A front end picks the widget view when it can show widgets, this HTML otherwise.
        data = super()._repr_mimebundle_(**kwargs)
        if isinstance(data, dict):
            data = {**data, "text/html": self._fallback_html}
        return data
