"""Tagging the selection and saved views (ActionsPanel); the actions on the selection and their
dialogs (ActionsBar): send to annotation, invalidate scenes, delete inputs.

The dialogs' state and their calls to the service are in workbench.ui.dialogs; here are only
the widgets laid out over it.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from workbench.errors import WorkbenchError
from workbench.ui.dialogs import (
    BUSY,
    ActionDialog,
    DeleteInputs,
    InvalidateScenes,
    SendToAnnotation,
)
from workbench.ui.forms import delete_form, invalidate_form, send_form
from workbench.ui.state import WorkbenchState
from workbench.ui.text import TextAlert, TextPane, html, text


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
        self.message = TextAlert("", alert_type="info", css_classes=["wb-message"], visible=False)

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

    def _run(self, action: Any, typed: str | None) -> None:
        """Run an action; its error (a bad tag, a failing query) becomes the message."""
        try:
            action(typed or "")
        except WorkbenchError as exc:
            self.message.alert_type = "danger"
            self.message.object = text(exc)
            self.message.visible = True

    def _open(self) -> None:
        if self.views.value:
            self._run(self.state.open_view, self.views.value)

    def _show_selection(self, *events: param.parameterized.Event) -> None:
        has = bool(self.state.selection)
        self.tag_button.disabled = self.untag_button.disabled = not has

    def _show_message(self, *events: param.parameterized.Event) -> None:
        self.message.alert_type = "info"
        self.message.object = text(self.state.message)
        self.message.visible = bool(self.state.message)

    def _show_views(self, *events: param.parameterized.Event) -> None:
        self.views.options = list(self.state.saved_views)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            TextPane(html("<b>Tag the selection</b>")),
            pn.Row(self.tag_input, self.tag_button, self.untag_button),
            TextPane(html("<b>Saved views</b>")),
            pn.Row(self.view_name, self.save_button),
            pn.Row(self.views, self.open_button),
            self.message,
            sizing_mode="stretch_width",
        )


class DialogView(pn.viewable.Viewer):
    """The frame every action dialog shares: its form, dry run, confirm/cancel, progress,
    preview and result."""

    def __init__(
        self,
        dialog: ActionDialog,
        form: list[Any],
        css: str,
        split: int | None = None,
        **params: Any,
    ) -> None:
        """`form` is laid out in one column, or in two from index `split` on."""
        super().__init__(**params)
        self.dialog = dialog
        self.form = form
        fields: list[Any] = list(form)
        if split is not None:
            fields = [pn.Row(pn.Column(*form[:split]), pn.Column(*form[split:]))]
        self.css = css
        self.dry_run_button = pn.widgets.Button(
            label="Dry run", css_classes=["wb-preview"], color="primary", width=90
        )
        self.confirm_button = pn.widgets.Button(
            label="Confirm", css_classes=["wb-confirm"], color="danger", width=90
        )
        self.cancel_button = pn.widgets.Button(label="Close", css_classes=["wb-cancel"], width=90)
        self.spinner = pn.indicators.LoadingSpinner(value=False, size=20)
        self.progress = pn.Row(
            self.spinner,
            TextPane(html("{}: working…", dialog.title)),
            css_classes=["wb-action-progress"],
            visible=False,
        )
        self.preview = TextPane("", css_classes=["wb-action-preview"], visible=False)
        self.result = TextAlert(
            "", alert_type="info", css_classes=["wb-action-result"], visible=False
        )
        self.root = pn.Column(
            TextPane(html("<b>{}</b>", dialog.title)),
            *fields,
            pn.Row(self.dry_run_button, self.confirm_button, self.cancel_button),
            self.progress,
            self.preview,
            self.result,
            css_classes=["wb-dialog", css],
            styles={"border": "1px solid #bbb", "border-radius": "4px", "padding": "6px"},
            visible=False,
            sizing_mode="stretch_width",
        )
        self.dry_run_button.on_click(lambda _: dialog.dry_run())
        self.confirm_button.on_click(lambda _: dialog.confirm())
        self.cancel_button.on_click(lambda _: dialog.cancel())
        dialog.param.watch(self._show, ["visible", "stage", "preview", "result", "error"])
        self._show()

    def _show(self, *events: param.parameterized.Event) -> None:
        d = self.dialog
        busy = d.stage in BUSY
        self.root.visible = d.visible
        self.dry_run_button.disabled = busy
        self.confirm_button.disabled = d.stage != "preview"
        self.cancel_button.disabled = busy
        self.spinner.value = self.progress.visible = busy
        self.preview.object = d.preview
        self.preview.visible = bool(d.preview) and d.stage in ("preview", "running")
        if d.error:
            self.result.param.update(
                alert_type="danger", object=text(d.error, quote=False), visible=True
            )
        elif d.result:
            self.result.param.update(
                alert_type="success", object=text(d.result, quote=False), visible=True
            )
        else:
            self.result.visible = False

    def __panel__(self) -> pn.viewable.Viewable:
        return self.root


class ActionsBar(pn.viewable.Viewer):
    """The actions on the current selection, and their dialogs (one open at a time)."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.send = SendToAnnotation(state)
        self.invalidate = InvalidateScenes(state)
        self.delete = DeleteInputs(state)
        self.dialogs: list[ActionDialog] = [self.send, self.invalidate, self.delete]
        self.views = [
            DialogView(self.send, send_form(self.send), "wb-send-dialog", split=7),
            DialogView(self.invalidate, invalidate_form(self.invalidate), "wb-invalidate-dialog"),
            DialogView(self.delete, delete_form(self.delete), "wb-delete-dialog"),
        ]
        self.summary = TextPane("", css_classes=["wb-actions-summary"], margin=(8, 10))
        self.send_button = pn.widgets.Button(
            label="Send to annotation", css_classes=["wb-send"], color="primary"
        )
        self.invalidate_button = pn.widgets.Button(
            label="Invalidate scenes", css_classes=["wb-invalidate"]
        )
        self.delete_button = pn.widgets.Button(
            label="Delete inputs", css_classes=["wb-delete-inputs"]
        )
        for button, dialog in (
            (self.send_button, self.send),
            (self.invalidate_button, self.invalidate),
            (self.delete_button, self.delete),
        ):
            button.on_click(self._opener(dialog))
        state.param.watch(self._show_selection, ["selection"])
        self._show_selection()

    def _opener(self, dialog: ActionDialog) -> Any:
        return lambda _: self.open(dialog)

    def open(self, dialog: ActionDialog) -> None:
        for other in self.dialogs:
            if other is not dialog and other.visible:
                other.cancel()
        dialog.open()

    def _show_selection(self, *events: param.parameterized.Event) -> None:
        selection = self.state.selection
        self.summary.object = text(selection.summary())
        self.send_button.disabled = not selection.frame_ids
        self.invalidate_button.disabled = self.delete_button.disabled = not selection.scene_uuids

    def __panel__(self) -> pn.viewable.Viewable:
        bar = pn.Row(
            self.send_button, self.invalidate_button, self.delete_button, self.summary,
            css_classes=["wb-actions"], styles={"flex-wrap": "wrap"},
        )  # fmt: skip
        return pn.Column(bar, *self.views, sizing_mode="stretch_width")
