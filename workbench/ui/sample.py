"""The sample view's controls: moving from sample to sample, taking the screen, tagging the
open frame and the ROIs chosen on it, and what the viewer draws (label text, opacity per
label field, classes shown).

The viewer and the player sit under these controls; with `display.expanded` the three take
the whole window over the grid (the app gives them the overlay's styles), and Escape or the
close button puts them back. Every control is bound to the state (WorkbenchState and its
DisplayOptions); tagging goes through the service like every other write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import panel as pn
import param

from workbench.errors import WorkbenchError
from workbench.ui.facets import Facets
from workbench.ui.later import after_first_render, wrapping_row
from workbench.ui.text import Html, LiveText, TextAlert, css_class, text

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState
    from workbench.ui.viewer import FrameViewer

# The sample view over the page: fixed over the window, scrolling inside.
EXPANDED = {
    "position": "fixed",
    "inset": "0",
    "width": "100vw",
    "height": "100vh",
    "z-index": "900",
    "background": "var(--panel-background-color, #ffffff)",
    "overflow": "auto",
    "padding": "6px 12px",
    "box-sizing": "border-box",
}
INLINE: dict[str, str] = {}
# Pixels the display options (label text, opacity per field, classes) take on a wide page:
# kept for them before they come.
DISPLAY_HEIGHT = 76


def sample_styles(expanded: bool) -> dict[str, str]:
    return EXPANDED if expanded else INLINE


class SampleView(pn.viewable.Viewer):
    """The row of controls above the viewer, and the display options under it."""

    def __init__(self, state: WorkbenchState, viewer: FrameViewer, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.viewer = viewer
        display = state.display
        context = state.context
        # In frames mode the title changes at every step: the viewer's frame carries it then.
        self.title = LiveText(
            css_classes=["wb-sample-title"], margin=(8, 10), channel=viewer.canvas.channel
        )
        viewer.position_extras["s"] = lambda frame_id: list(self.title_parts(frame_id))
        context.param.watch(self._show_title, ["context_id"])
        state.param.watch(self._show_title, ["tiles", "page", "mode"])
        self._show_title()
        self.prev_sample = _button("‹ sample (p)", "wb-prev-sample", 100)
        self.next_sample = _button("sample › (n)", "wb-next-sample", 100)
        self.expand = pn.widgets.Button(
            label=pn.bind(_expand_label, display.param.expanded),
            css_classes=["wb-expand"],
            color="primary",
            width=170,
        )
        self.tag = pn.widgets.TextInput(
            placeholder="tag (t tags the frame)", css_classes=["wb-sample-tag"], width=170
        )
        self.tag_frame = _button("Tag frame", "wb-tag-frame", 90)
        self.tag_rois = _button("Tag chosen ROIs", "wb-tag-rois", 130)
        self.untag_rois = _button("Untag chosen ROIs", "wb-untag-rois", 140)
        said = pn.bind(_said, state.param.message, state.param.action_error, display.param.expanded)
        self.message = TextAlert(
            said,
            alert_type=pn.bind(_alert_type, state.param.action_error),
            visible=pn.bind(bool, said),
            css_classes=["wb-sample-message"],
        )
        self.label_text = pn.widgets.Checkbox.from_param(
            display.param.label_text, label="label text", css_classes=["wb-label-text-toggle"]
        )
        self.opacity = {field: self._opacity_slider(field) for field in state.fields}
        self.classes = self._classes_shown()
        self.prev_sample.on_click(lambda _: state.step_tile(-1))
        self.next_sample.on_click(lambda _: state.step_tile(1))
        self.expand.on_click(lambda _: self.toggle())
        self.tag_frame.on_click(lambda _: self.tag_current_frame())
        self.tag_rois.on_click(lambda _: self._tag_chosen(add=True))
        self.untag_rois.on_click(lambda _: self._tag_chosen(add=False))

    # -- what the controls (and the keys) do ---------------------------------------------
    def toggle(self) -> None:
        """Open the sample view on the open frame, or put it back under the grid."""
        display = self.state.display
        if display.expanded or self.state.context.frame is not None:
            display.expanded = not display.expanded

    def tag_current_frame(self) -> None:
        self._run(self.state.tag_frame)

    def _tag_chosen(self, add: bool) -> None:
        rois = self.viewer.chosen_rois()
        if not rois:
            self.state.action_error = "click shapes on the picture to choose ROIs to tag"
            return
        action = self.state.tag_rois if add else self.state.untag_rois
        self._run(lambda tag: action(rois, tag))

    def _run(self, action: Any) -> None:
        try:
            action(self.tag.value_input or "")
        except WorkbenchError as exc:
            self.state.action_error = str(exc)

    # -- widgets -------------------------------------------------------------------------
    def _opacity_slider(self, field: str) -> pn.widgets.FloatSlider:
        display = self.state.display
        slider = pn.widgets.FloatSlider(
            label=f"{field} opacity", start=0.0, end=1.0, step=0.05,
            value=display.field_opacity(field), width=160,
            css_classes=[css_class("wb-opacity-", field)],
        )  # fmt: skip
        slider.param.watch(lambda e: display.set_opacity(field, e.new), ["value"])
        return slider

    def _classes_shown(self) -> pn.widgets.CheckBoxGroup:
        """Every label of the query's facets, checked unless hidden. Explicit watchers: the
        widget holds the classes shown, the state those hidden."""
        display = self.state.display
        # Its checkboxes wrap: one long row of classes would widen the page (a notebook cell).
        widget = pn.widgets.CheckBoxGroup(
            inline=True, css_classes=["wb-classes-shown"], sizing_mode="stretch_width",
            styles={"max-height": "90px", "overflow-y": "auto"},
            stylesheets=[".bk-input-group { flex-wrap: wrap; }"],
        )  # fmt: skip

        def show(*events: param.parameterized.Event) -> None:
            options = _class_options(self.state.facets, display.hidden_classes)
            hidden = set(display.hidden_classes)
            widget.param.update(options=options, value=[c for c in options if c not in hidden])

        def picked(event: param.parameterized.Event) -> None:
            hidden = [c for c in widget.options if c not in set(event.new)]
            if sorted(hidden) != sorted(display.hidden_classes):
                display.hidden_classes = hidden

        self.state.param.watch(show, ["facets"])
        display.param.watch(show, ["hidden_classes"])
        widget.param.watch(picked, ["value"])
        show()
        return widget

    def _show_title(self, *events: Any) -> None:
        strong, rest = self.title_parts()
        self.title.param.update(strong=strong, text=rest)

    def title_parts(self, frame_id: str | None = None) -> tuple[str, str]:
        """The open sample's title: (its context id, shown bold; where it is in the grid);
        `frame_id`: at that frame of the open context (default: the current one)."""
        state = self.state
        context_id = state.context.context_id
        if context_id is None:
            return "", "no sample open"
        ids = [t["id"] for t in state.tiles]
        active = frame_id if frame_id and state.mode == "frames" else state.active_tile
        if active not in ids:
            return context_id, ""
        position = state.page * state.page_size + ids.index(active) + 1
        return context_id, f" · sample {position} of {state.total}"

    def __panel__(self) -> pn.viewable.Viewable:
        navigation = wrapping_row(
            self.prev_sample, self.next_sample, self.title, self.tag, self.tag_frame,
            self.tag_rois, self.untag_rois, self.expand,
        )  # fmt: skip

        # The classes on a line of their own: a stretching widget in a wrapping row reaches
        # past the row's end by its margins. Added once the page is on screen when served (a
        # smaller first document), in room kept for them: above the picture, they would
        # otherwise push it down under the mouse seconds after the page is shown.
        display = pn.Column(
            css_classes=["wb-display"], sizing_mode="stretch_width", margin=0,
            styles={"min-height": f"{DISPLAY_HEIGHT}px"},
        )  # fmt: skip

        def fill() -> None:
            display[:] = [wrapping_row(self.label_text, *self.opacity.values()), self.classes]

        after_first_render(fill)
        return pn.Column(
            navigation, self.message, display,
            css_classes=["wb-sample"], sizing_mode="stretch_width",
        )  # fmt: skip


def _button(label: str, css: str, width: int) -> pn.widgets.Button:
    return pn.widgets.Button(label=label, css_classes=[css], width=width)


def _expand_label(expanded: bool) -> str:
    return "✕ Close sample view (Esc)" if expanded else "⤢ Sample view (e)"


def _class_options(facets: Facets, hidden: list[str]) -> list[str]:
    return sorted({label for _, label, _ in facets.labels if label} | set(hidden))


def _said(message: str, error: str, expanded: bool) -> Html:
    # Only while it takes the screen: otherwise the sidebar says it.
    return text(error or message) if expanded else Html()


def _alert_type(error: str) -> str:
    return "danger" if error else "info"
