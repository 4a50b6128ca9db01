"""Tagging the selection, and saved views."""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from workbench.errors import WorkbenchError
from workbench.ui.state import WorkbenchState


class ActionsPanel(pn.viewable.Viewer):
    """Tag and untag the selection, save and reopen views."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        state = self.state
        self.tag_input = pn.widgets.TextInput(
            placeholder="tag", css_classes=["wb-tag-input"], width=140
        )
        self.tag_button = pn.widgets.Button(label="Tag", css_classes=["wb-tag-apply"], width=70)
        self.untag_button = pn.widgets.Button(label="Untag", css_classes=["wb-untag"], width=70)
        self.view_name = pn.widgets.TextInput(
            placeholder="view name", css_classes=["wb-view-name"], width=140
        )
        self.save_button = pn.widgets.Button(
            label="Save view", css_classes=["wb-save-view"], width=90
        )
        self.views = pn.widgets.Select(
            options=list(state.saved_views), css_classes=["wb-views"], width=140
        )
        self.open_button = pn.widgets.Button(
            label="Open view", css_classes=["wb-open-view"], width=90
        )
        self.message = pn.pane.Alert(
            "", alert_type="info", css_classes=["wb-message"], visible=False
        )

        self.tag_button.on_click(
            lambda _: self._run(state.tag_selection, self.tag_input.value_input)
        )
        self.untag_button.on_click(
            lambda _: self._run(state.untag_selection, self.tag_input.value_input)
        )
        self.save_button.on_click(lambda _: self._run(state.save_view, self.view_name.value_input))
        self.open_button.on_click(lambda _: self._open())
        state.param.watch(self._show_selection, ["selection"])
        state.param.watch(self._show_message, ["message"])
        state.param.watch(self._show_views, ["saved_views"])
        self._show_selection()

    def _run(self, action: Any, text: str | None) -> None:
        """Run an action; its error (a bad tag, a failing query) becomes the message."""
        try:
            action(text or "")
        except WorkbenchError as exc:
            self.message.alert_type = "danger"
            self.message.object = html.escape(str(exc))
            self.message.visible = True

    def _open(self) -> None:
        if self.views.value:
            self._run(self.state.open_view, self.views.value)

    def _show_selection(self, *events: param.parameterized.Event) -> None:
        has = bool(self.state.selection)
        self.tag_button.disabled = self.untag_button.disabled = not has

    def _show_message(self, *events: param.parameterized.Event) -> None:
        self.message.alert_type = "info"
        self.message.object = html.escape(self.state.message)
        self.message.visible = bool(self.state.message)

    def _show_views(self, *events: param.parameterized.Event) -> None:
        self.views.options = list(self.state.saved_views)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.HTML("<b>Tag the selection</b>"),
            pn.Row(self.tag_input, self.tag_button, self.untag_button),
            pn.pane.HTML("<b>Saved views</b>"),
            pn.Row(self.view_name, self.save_button),
            pn.Row(self.views, self.open_button),
            self.message,
            sizing_mode="stretch_width",
        )
