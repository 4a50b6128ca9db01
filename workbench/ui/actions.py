"""Tagging the selection and saved views (ActionsPanel); the actions on the selection and their
dialogs (ActionsBar): send to annotation, invalidate scenes, delete inputs.

The dialogs' state and their calls to the service are in workbench.ui.dialogs; here are only
the widgets laid out over it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import panel as pn

from workbench.errors import WorkbenchError
from workbench.ui.dialogs import (
    BUSY,
    ActionDialog,
    DeleteInputs,
    InvalidateScenes,
    SendToAnnotation,
)
from workbench.ui.forms import delete_form, invalidate_form, send_form
from workbench.ui.later import built_when_shown
from workbench.ui.modal import Modal, placed_when_opened
from workbench.ui.selection import Selection
from workbench.ui.state import WorkbenchState
from workbench.ui.text import Html, TextAlert, TextPane, html, text


class ActionsPanel(pn.viewable.Viewer):
    """Tag and untag the selection, save and reopen views.

    The writes run through the service (in the background when served): the spinner shows
    while one runs, the alert what the last one did or why it was refused.
    """

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        acting = pn.bind(bool, state.param.acting)
        cannot_tag = pn.bind(_cannot_tag, state.param.selection, state.param.acting)
        self.tag_input = pn.widgets.TextInput(
            placeholder="tag", css_classes=["wb-tag-input"], width=140
        )
        self.tag_button = pn.widgets.Button(
            label="Tag", css_classes=["wb-tag-apply"], width=70, disabled=cannot_tag
        )
        self.untag_button = pn.widgets.Button(
            label="Untag", css_classes=["wb-untag"], width=70, disabled=cannot_tag
        )
        self.view_name = pn.widgets.TextInput(
            placeholder="view name", css_classes=["wb-view-name"], width=140
        )
        self.save_button = pn.widgets.Button(
            label="Save view", css_classes=["wb-save-view"], width=90, disabled=acting
        )
        self.views = pn.widgets.Select(
            options=state.param.saved_views, css_classes=["wb-views"], width=140
        )
        self.open_button = pn.widgets.Button(
            label="Open view", css_classes=["wb-open-view"], width=90
        )
        self.rename_button = pn.widgets.Button(
            label="Rename to the name above", css_classes=["wb-rename-view"], width=190,
            disabled=acting,
        )  # fmt: skip
        self.delete_button = pn.widgets.Button(
            label="Delete view", css_classes=["wb-delete-view"], width=100, disabled=acting
        )
        # Deleting asks first: the chosen view's name and a confirm button.
        self.deleting = pn.widgets.TextInput(visible=False)  # the name waiting for a yes
        self.confirm_delete = pn.widgets.Button(
            label=pn.bind(_delete_label, self.deleting.param.value), color="danger",
            css_classes=["wb-confirm-delete-view"], visible=pn.bind(bool, self.deleting.param.value),
        )  # fmt: skip
        self.cancel_delete = pn.widgets.Button(
            label="Keep it", css_classes=["wb-cancel-delete-view"], width=80,
            visible=pn.bind(bool, self.deleting.param.value),
        )  # fmt: skip
        # The spinner sets its own CSS classes: the hook goes on a box around it.
        self.spinner = pn.indicators.LoadingSpinner(value=acting, size=20)
        self.working = pn.Row(self.spinner, css_classes=["wb-acting"], visible=acting)
        said = pn.bind(_said, state.param.message, state.param.action_error)
        self.message = TextAlert(
            said,
            alert_type=pn.bind(_alert_type, state.param.action_error),
            visible=pn.bind(bool, said),
            css_classes=["wb-message"],
        )
        # The text boxes are read when a button is clicked (`value_input`: what is typed,
        # even before the box loses focus); they hold no state of their own worth binding.
        self.tag_button.on_click(
            lambda _: self._run(state.tag_selection, self.tag_input.value_input)
        )
        self.untag_button.on_click(
            lambda _: self._run(state.untag_selection, self.tag_input.value_input)
        )
        self.save_button.on_click(lambda _: self._run(state.save_view, self.view_name.value_input))
        self.open_button.on_click(lambda _: self._open())
        self.rename_button.on_click(lambda _: self._rename())
        self.delete_button.on_click(lambda _: self._ask_delete())
        self.confirm_delete.on_click(lambda _: self._delete())
        self.cancel_delete.on_click(lambda _: setattr(self.deleting, "value", ""))

    def _run(self, action: Any, typed: str | None) -> None:
        """Run an action; a refusal raised at once (a failing query) becomes the message too."""
        try:
            action(typed or "")
        except WorkbenchError as exc:
            self.state.action_error = str(exc)

    def _open(self) -> None:
        if self.views.value:
            self._run(self.state.open_view, self.views.value)

    def _rename(self) -> None:
        name, new_name = self.views.value, (self.view_name.value_input or "").strip()
        if not name:
            self.state.action_error = "choose a saved view to rename"
        elif not new_name:
            self.state.action_error = "type the new name in the view name box"
        else:
            self._run(lambda new: self.state.rename_view(name, new), new_name)

    def _ask_delete(self) -> None:
        if self.views.value:
            self.deleting.value = self.views.value

    def _delete(self) -> None:
        name, self.deleting.value = self.deleting.value, ""
        if name:
            self._run(self.state.delete_view, name)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            TextPane(html("<b>Tag the selection</b>")),
            pn.Row(self.tag_input, self.tag_button, self.untag_button, self.working),
            TextPane(html("<b>Saved views</b>")),
            pn.Row(self.view_name, self.save_button),
            pn.Row(self.views, self.open_button),
            pn.Row(self.rename_button, self.delete_button, styles={"flex-wrap": "wrap"}),
            built_when_shown(
                pn.Row(self.confirm_delete, self.cancel_delete), self.deleting, "value"
            ),
            self.message,
            sizing_mode="stretch_width",
        )


def _delete_label(name: str) -> str:
    return f"Delete {name!r}" if name else ""


def _cannot_tag(selection: Selection, acting: str) -> bool:
    return not selection or bool(acting)


def _said(message: str, error: str) -> Html:
    return text(error or message)


def _alert_type(error: str) -> str:
    return "danger" if error else "info"


class DialogView(pn.viewable.Viewer):
    """The frame every action dialog shares: its form, dry run, confirm/cancel, progress,
    preview and result; every part bound to the dialog's state."""

    def __init__(
        self,
        dialog: ActionDialog,
        form: list[Any],
        css: str,
        split: int | None = None,
        width: int = 640,
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
        busy = pn.bind(_busy, dialog.param.stage)
        self.dry_run_button = pn.widgets.Button(
            label="Dry run", css_classes=["wb-preview"], color="primary", width=90, disabled=busy
        )
        self.confirm_button = pn.widgets.Button(
            label="Confirm", css_classes=["wb-confirm"], color="danger", width=90,
            disabled=pn.bind(_not_previewed, dialog.param.stage),
        )  # fmt: skip
        self.cancel_button = pn.widgets.Button(
            label="Close", css_classes=["wb-cancel"], width=90, disabled=busy
        )
        self.spinner = pn.indicators.LoadingSpinner(value=busy, size=20)
        self.progress = pn.Row(
            self.spinner,
            TextPane(html("{}: working…", dialog.title)),
            css_classes=["wb-action-progress"],
            visible=busy,
        )
        self.preview = TextPane(
            dialog.param.preview,
            css_classes=["wb-action-preview"],
            visible=pn.bind(_shows_preview, dialog.param.preview, dialog.param.stage),
        )
        outcome = (dialog.param.result, dialog.param.error)
        self.result = TextAlert(
            pn.bind(_outcome_text, *outcome),
            alert_type=pn.bind(_outcome_type, *outcome),
            visible=pn.bind(_outcome_shown, *outcome),
            css_classes=["wb-action-result"],
        )
        # A box over the page: the grid stays where it was underneath.
        self.modal = Modal(
            *fields,
            pn.Row(self.dry_run_button, self.confirm_button, self.cancel_button),
            self.progress,
            self.preview,
            self.result,
            title=dialog.title,
            open=dialog.param.visible,
            on_close=dialog.cancel,
            css=[css, "wb-dialog"],
            width=width,
        )
        self.root = self.modal.root
        self.dry_run_button.on_click(lambda _: dialog.dry_run())
        self.confirm_button.on_click(lambda _: dialog.confirm())
        self.cancel_button.on_click(lambda _: dialog.cancel())

    def __panel__(self) -> pn.viewable.Viewable:
        return self.root


def _busy(stage: str) -> bool:
    return stage in BUSY


def _shows_preview(preview: str, stage: str) -> bool:
    return bool(preview) and stage in ("preview", "running")


def _not_previewed(stage: str) -> bool:
    return stage != "preview"


# The result alert: the refusal (red), else what was done (green), else nothing.
def _outcome_text(result: str, error: str) -> Html:
    return text(error or result, quote=False)


def _outcome_type(result: str, error: str) -> str:
    return "danger" if error else "success"


def _outcome_shown(result: str, error: str) -> bool:
    return bool(error or result)


class ActionsBar(pn.viewable.Viewer):
    """The actions on the current selection, and their dialogs (one open at a time)."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.send = SendToAnnotation(state)
        self.invalidate = InvalidateScenes(state)
        self.delete = DeleteInputs(state)
        self.dialogs: list[ActionDialog] = [self.send, self.invalidate, self.delete]
        # Each dialog's widgets are made the first time it opens (or `views` is read): a
        # page nobody sends from does not build three forms (a third of the app's setup).
        self._makers: list[Callable[[], DialogView]] = [
            lambda: DialogView(
                self.send, send_form(self.send), "wb-send-dialog", split=8, width=900
            ),
            lambda: DialogView(
                self.invalidate, invalidate_form(self.invalidate), "wb-invalidate-dialog"
            ),
            lambda: DialogView(self.delete, delete_form(self.delete), "wb-delete-dialog"),
        ]
        self._views: dict[int, DialogView] = {}
        selection = state.param.selection
        no_scenes = pn.bind(_no_scenes, selection)
        self.summary = TextPane(
            pn.bind(Selection.summary, selection),
            css_classes=["wb-actions-summary"],
            margin=(8, 10),
        )
        self.send_button = pn.widgets.Button(
            label="Send to annotation", css_classes=["wb-send"], color="primary",
            disabled=pn.bind(_no_frames, selection),
        )  # fmt: skip
        self.invalidate_button = pn.widgets.Button(
            label="Invalidate scenes", css_classes=["wb-invalidate"], disabled=no_scenes
        )
        self.delete_button = pn.widgets.Button(
            label="Delete inputs", css_classes=["wb-delete-inputs"], disabled=no_scenes
        )
        for button, dialog in (
            (self.send_button, self.send),
            (self.invalidate_button, self.invalidate),
            (self.delete_button, self.delete),
        ):
            button.on_click(self._opener(dialog))

    def _opener(self, dialog: ActionDialog) -> Any:
        return lambda _: self.open(dialog)

    def open(self, dialog: ActionDialog) -> None:
        for other in self.dialogs:
            if other is not dialog and other.visible:
                other.cancel()
        dialog.open()

    def view(self, i: int) -> DialogView:
        """The widgets of dialog `i` (of `dialogs`), made the first time they are needed."""
        if i not in self._views:
            self._views[i] = self._makers[i]()
        return self._views[i]

    @property
    def views(self) -> list[DialogView]:
        """Every dialog's widgets (made now if they were not)."""
        return [self.view(i) for i in range(len(self.dialogs))]

    def modals(self) -> list[pn.viewable.Viewable]:
        """The dialogs, each a box over the page (the app places them), each made and
        built in the page the first time it opens."""
        return [
            placed_when_opened(partial(self._modal, i), dialog, "visible")
            for i, dialog in enumerate(self.dialogs)
        ]

    def _modal(self, i: int) -> Modal:
        return self.view(i).modal

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(
            self.send_button, self.invalidate_button, self.delete_button, self.summary,
            css_classes=["wb-actions"], styles={"flex-wrap": "wrap"},
        )  # fmt: skip


def _no_frames(selection: Selection) -> bool:
    return not selection.frame_ids


def _no_scenes(selection: Selection) -> bool:
    return not selection.scene_uuids
