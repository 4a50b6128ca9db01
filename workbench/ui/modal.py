"""Boxes over the page: the action dialogs, the merge report and the sample view.

A `Modal` is a Panel column fixed over the whole window (a dimmed backdrop, the box centred
and scrolling inside itself), shown while its `open` reference is true: the grid, the pager
and the scroll position stay where they were underneath. It is laid out by Panel and styled
with `styles` only (no template, no script of its own), so it works served under the app's
Content-Security-Policy and in a notebook alike. Escape closes the topmost one (the app's
keyboard shortcuts, workbench.ui.keys).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import panel as pn
import param

from workbench.ui.text import TextPane, html

# The backdrop covers the window; the box inside it scrolls rather than the page.
BACKDROP = {
    "position": "fixed",
    "inset": "0",
    "width": "100vw",
    "height": "100vh",
    "min-width": "0",
    "z-index": "1000",
    "background": "rgba(0, 0, 0, 0.45)",
    "overflow": "auto",
    "padding": "4vh 2vw",
    "box-sizing": "border-box",
    "align-items": "center",
}
BOX = {
    "background": "var(--panel-background-color, #ffffff)",
    "border-radius": "6px",
    "box-shadow": "0 8px 32px rgba(0, 0, 0, 0.35)",
    "padding": "8px 12px 12px",
    "max-width": "96vw",
}


class Modal(pn.viewable.Viewer):
    """`objects` in a box over the page while `open` is true; the ✕ button (and Escape)
    call `on_close`.

    `open` is anything Panel accepts as a reference to a boolean (`state.param.x`,
    `pn.bind(...)`); `css` are CSS classes of the whole (hooks for tests and styles);
    `width` is the box's width in pixels.
    """

    def __init__(
        self,
        *objects: Any,
        title: str,
        open: Any,
        on_close: Callable[[], object],
        css: Sequence[str],
        width: int = 760,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.on_close = on_close
        self.close_button = pn.widgets.Button(
            label="✕", css_classes=["wb-modal-close"], width=40, color="light"
        )
        self.close_button.on_click(self._close)
        # (No Spacer: a component type absent from the first document gets its stylesheet
        # linked from Panel's CDN when added later, and modals are added later.)
        header = pn.Row(
            TextPane(html("<b style='font-size:15px'>{}</b>", title), margin=(6, 5)),
            self.close_button,
            styles={"justify-content": "space-between"},
            sizing_mode="stretch_width",
        )
        self.box = pn.Column(
            header,
            *objects,
            css_classes=["wb-modal-box"],
            styles=BOX,
            width=width,
            align="center",
        )
        self.root = pn.Column(
            self.box,
            css_classes=["wb-modal", *css],
            styles=BACKDROP,
            visible=open,
            # No room in the page's layout (its styles put it over the window instead): as
            # a stretching column it would give the column holding it the box's width as
            # least width, and a notebook cell would overflow.
            sizing_mode="fixed",
            width=0,
            height=0,
            margin=0,
        )

    def _close(self, event: object) -> None:
        self.on_close()

    def __panel__(self) -> pn.viewable.Viewable:
        return self.root


def placed_when_opened(
    modal: Modal | Callable[[], Modal], owner: param.Parameterized, name: str
) -> pn.Column:
    """An empty column that takes `modal` the first time `owner.<name>` is set (truthy):
    a dialog nobody opens is never built in the browser. `modal` may be a function that
    makes it: then it is not made on the server either until then."""
    box = pn.Column(sizing_mode="fixed", width=0, height=0, margin=0)

    def place(*events: param.parameterized.Event) -> None:
        if getattr(owner, name) and not box.objects:
            box[:] = [modal if isinstance(modal, Modal) else modal()]

    owner.param.watch(place, [name])
    place()
    return box
