"""Annotating a task of the local platform in the app, with Bokeh's edit tools.

The picture of the task's current frame (`image_url`, as in the viewer) under the shapes of
the chosen field as editable glyphs: boxes are `quad`s edited with `BoxEditTool` (shift-drag
draws, drag moves, tap + Backspace deletes), single-ring polygons are `patches` edited with
`PolyDrawTool` (draw, drag, delete) and `PolyEditTool` (double-tap a polygon, then drag its
vertices). Tools the run's restrictions forbid are left out. The other shapes of the frame
are drawn faint and dashed, not editable.

The browser changes the ColumnDataSources; their `data` callbacks hand the rows to
`AnnotatorState.update_boxes/update_polygons`, and the ids given to new shapes are patched
back into the source (patching leaves the vertex lists alone, so a polygon being drawn is
not disturbed). Like the viewer, one copy of the figure is kept per rendering (PerRender).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import panel as pn
import param
from bokeh.models import (
    BoxEditTool,
    ColumnDataSource,
    HoverTool,
    PolyDrawTool,
    PolyEditTool,
    Range1d,
    TapTool,
)
from bokeh.plotting import figure
from bokeh.transform import factor_cmap

from workbench.services import AttributeSpec, EditRestrictions, Shape
from workbench.ui.annotator_state import AnnotatorState, BoxRow, PolygonRow, Reconciled
from workbench.ui.bokeh_edit import PerRender, editing, set_data
from workbench.ui.frame_view import plot_size
from workbench.ui.glyphs import SourceGlyphs, frame_glyphs
from workbench.ui.palette import UNLABELLED, label_color
from workbench.ui.text import Html, TextAlert, TextPane, css_class, text

HELP = {
    "box": "Boxes: shift-drag to draw, drag to move, tap one and press Backspace to delete.",
    "polygon": (
        "Polygons: double-tap to start one, tap to add vertices, double-tap to finish; "
        "double-tap a polygon to edit its vertices; tap one and press Backspace to delete."
    ),
}
BOX_COLUMNS = ("left", "right", "top", "bottom", "id", "label")
POLYGON_COLUMNS = ("xs", "ys", "id", "label")


def _column(data: Mapping[str, Any], name: str, n: int) -> list[Any]:
    values = list(data.get(name, []))
    return values + [""] * (n - len(values))


def box_rows(data: Mapping[str, Any]) -> list[BoxRow]:
    """Rows of a quad source as the browser left them (new boxes have an empty id)."""
    n = len(data.get("left", []))
    ids, left, right = _column(data, "id", n), data["left"], data["right"]
    top, bottom = data["top"], data["bottom"]
    return [
        BoxRow(str(ids[i] or ""), float(left[i]), float(top[i]), float(right[i]), float(bottom[i]))
        for i in range(n)
    ]


def polygon_rows(data: Mapping[str, Any]) -> list[PolygonRow]:
    n = len(data.get("xs", []))
    ids = _column(data, "id", n)
    return [
        PolygonRow(
            str(ids[i] or ""),
            tuple(float(v) for v in data["xs"][i]),
            tuple(float(v) for v in data["ys"][i]),
        )
        for i in range(n)
    ]


def shape_roi(shape: Shape) -> dict[str, Any]:
    """A shape as the viewer's glyph functions take an ROI (drawn on the one source shown)."""
    return {
        "id": shape.id,
        "kind": shape.kind,
        "label": shape.label,
        "field": shape.field,
        "geometry": [list(ring) for ring in shape.geometry],
        "attributes": shape.attributes,
        "confidence": shape.confidence,
    }


class EditorCopy:
    """The figure of one rendering of the editor, rebuilt when the task or field changes."""

    def __init__(self) -> None:
        self.pane = pn.pane.Bokeh(None, css_classes=["wb-annotator-view"])
        self.key: tuple[Any, ...] | None = None
        self._new_sources()

    def _new_sources(self) -> None:
        # New sources with every new figure: the old figure may still be on screen.
        self.image = ColumnDataSource({"url": [], "x": [], "y": [], "w": [], "h": []})
        self.others = ColumnDataSource({"xs": [], "ys": [], "label": [], "field": [], "id": []})
        self.boxes = ColumnDataSource({c: [] for c in BOX_COLUMNS})
        self.polygons = ColumnDataSource({c: [] for c in POLYGON_COLUMNS})
        self.vertices = ColumnDataSource({"x": [], "y": []})
        self.size = (0, 0)
        self.figure: Any = None

    def build(self, kind: str | None, rules: EditRestrictions, classes: Sequence[str]) -> None:
        self._new_sources()
        fig = figure(
            x_range=Range1d(start=0, end=1),
            y_range=Range1d(start=1, end=0),  # y down, as in pixel coordinates
            tools="pan,wheel_zoom,reset",
            active_scroll="wheel_zoom",
            toolbar_location="above",
            css_classes=["wb-annotator-plot"],
            min_border=0,
            output_backend="canvas",
        )
        fig.grid.visible = False
        fig.axis.visible = False
        fig.background_fill_color = "#222222"
        fig.image_url(url="url", x="x", y="y", w="w", h="h", anchor="top_left", source=self.image)
        fig.multi_polygons(
            xs="xs", ys="ys", source=self.others, line_color="#dddddd", line_dash=[4, 3],
            fill_alpha=0.0, line_width=1,
        )  # fmt: skip
        color: Any = (
            factor_cmap(
                "label", [label_color(c) for c in classes], list(classes), nan_color=UNLABELLED
            )
            if classes
            else UNLABELLED
        )
        style = {"line_color": color, "fill_color": color, "fill_alpha": 0.15, "line_width": 2}
        if kind == "box":
            quad = fig.quad(
                left="left", right="right", top="top", bottom="bottom", source=self.boxes, **style
            )
            self._tools(fig, quad, rules, boxes=True)
        elif kind == "polygon":
            patches = fig.patches(xs="xs", ys="ys", source=self.polygons, **style)
            vertices = fig.scatter(x="x", y="y", size=8, color="#ffffff", source=self.vertices)
            self._tools(fig, patches, rules, boxes=False, vertices=vertices)
        # Shown (pane.object) by the view once its data is in: a figure sent to the browser
        # must not be followed by changes to models the browser has not received yet.
        self.figure = fig

    @staticmethod
    def _tools(
        fig: Any, renderer: Any, rules: EditRestrictions, *, boxes: bool, vertices: Any = None
    ) -> None:
        """Edit tools as the run's restrictions allow; a tap tool selects in any case."""
        tap = TapTool(renderers=[renderer])
        fig.add_tools(tap, HoverTool(renderers=[renderer], tooltips=[("label", "@label")]))
        edit: Any = None
        if boxes and (rules.allow_additions or rules.allow_deletions or rules.allow_spatial_edits):
            edit = BoxEditTool(renderers=[renderer], empty_value="")
        elif not boxes and (rules.allow_additions or rules.allow_deletions):
            edit = PolyDrawTool(
                renderers=[renderer], empty_value="", drag=rules.allow_spatial_edits
            )
        if edit is not None:
            fig.add_tools(edit)
            fig.toolbar.active_multi = edit
        if not boxes and rules.allow_spatial_edits:
            fig.add_tools(PolyEditTool(renderers=[renderer], vertex_renderer=vertices))
        fig.toolbar.active_tap = tap

    def fit(self, width: int, height: int) -> None:
        if (width, height) == self.size or self.figure is None:
            return
        self.size = (width, height)
        self.figure.x_range.update(start=0, end=width, reset_start=0, reset_end=width)
        self.figure.y_range.update(start=height, end=0, reset_start=height, reset_end=0)
        self.figure.frame_width, self.figure.frame_height = plot_size(width, height, 1)


def attribute_widget(name: str, spec: AttributeSpec) -> pn.widgets.Widget:
    """A widget for one attribute of the schema; read-only attributes are shown disabled."""
    css = ["wb-annotator-attribute", css_class("wb-attribute-", name)]
    widget: pn.widgets.Widget
    if spec.type in ("checkbox", "occluded"):
        widget = pn.widgets.Checkbox(label=name, css_classes=css)
    elif spec.type == "select":
        options = {"(unset)": None, **{str(v): v for v in spec.values}}
        widget = pn.widgets.Select(label=name, options=options, css_classes=css)
    elif spec.type == "radio":
        widget = pn.widgets.RadioButtonGroup(label=name, options=list(spec.values), css_classes=css)
    elif spec.type == "group_id":
        widget = pn.widgets.IntInput(label=name, value=None, css_classes=css)
    else:
        widget = pn.widgets.TextInput(label=name, css_classes=css)
    widget.disabled = spec.read_only
    return widget


class AnnotatorView(pn.viewable.Viewer):
    """The editor: task and field pickers, the picture with editable shapes, label and
    attribute widgets of the selected shape, previous/next frame, save, mark done, close.

    Status, message, spinner and buttons are bound to the editor's parameters. The pickers
    and the attribute widgets keep explicit watchers: picking a task opens it (an action, not
    a value), and the attribute widgets are made anew for each field. Each side writes the
    other only when they differ, and options and value are set together, so what the editor
    shows never comes back to it as an edit.
    """

    def __init__(self, editor: AnnotatorState, **params: Any) -> None:
        super().__init__(**params)
        self.editor = editor
        self._copies = PerRender(EditorCopy)
        self._drawing = False
        self._origin: EditorCopy | None = None
        self.status = TextPane(
            pn.bind(self._status, editor.param.version, editor.param.dirty),
            css_classes=["wb-annotator-status"],
        )
        self.help = TextPane("", styles={"font-size": "90%", "color": "#555"})
        self.task = pn.widgets.Select(label="task", css_classes=["wb-annotator-task"], width=260)
        self.field = pn.widgets.Select(label="field", css_classes=["wb-annotator-field"], width=180)
        self.label = pn.widgets.Select(label="label", css_classes=["wb-annotator-label"], width=180)
        self.attributes = pn.Column(css_classes=["wb-annotator-attributes"])
        self._attribute_widgets: dict[str, pn.widgets.Widget] = {}
        closed = pn.bind(_closed_or_working, editor.param.task_id, editor.param.working)
        self.buttons = {
            name: pn.widgets.Button(label=label, css_classes=[f"wb-annotator-{name}"], width=90)
            for name, label in (
                ("prev", "‹ frame"), ("next", "frame ›"), ("save", "Save"),
                ("done", "Mark task done"), ("close", "Close"),
            )
        }  # fmt: skip
        for name in ("prev", "next", "done"):
            self.buttons[name].disabled = closed
        self.buttons["save"].param.update(
            color="primary",
            disabled=pn.bind(_nothing_to_save, editor.param.dirty, editor.param.working),
        )
        said = (editor.param.message, editor.param.error)
        self.message = TextAlert(
            pn.bind(_said, *said),
            alert_type=pn.bind(_alert_type, editor.param.error),
            visible=pn.bind(_shown, *said),
            css_classes=["wb-annotator-message"],
        )
        working = pn.bind(bool, editor.param.working)
        self.spinner = pn.indicators.LoadingSpinner(value=working, visible=working, size=20)
        self._connect()
        self._show_task()

    def _connect(self) -> None:
        editor, b = self.editor, self.buttons
        b["prev"].on_click(lambda _: editor.step(-1))
        b["next"].on_click(lambda _: editor.step(1))
        b["save"].on_click(lambda _: self._save())
        b["done"].on_click(lambda _: self._complete())
        b["close"].on_click(lambda _: editor.close())
        self.task.param.watch(self._pick_task, "value")
        self.field.param.watch(self._pick_field, "value")
        self.label.param.watch(self._pick_label, "value")
        editor.param.watch(self._show_task, ["task_id", "field", "tasks"])
        editor.param.watch(self._redraw, ["version"])
        editor.param.watch(self._show_selected, ["selected", "label"])

    def _save(self) -> None:
        self.editor.save()

    def _complete(self) -> None:
        self.editor.complete()

    def _status(self, version: int, dirty: bool) -> Html:
        return text(self.editor.status_text())

    # -- widgets -> state ---------------------------------------------------------------------
    def _pick_task(self, event: param.parameterized.Event) -> None:
        if event.new and event.new != self.editor.task_id:
            self.editor.open_task(event.new)

    def _pick_field(self, event: param.parameterized.Event) -> None:
        if event.new and event.new != self.editor.field:
            self.editor.field = event.new

    def _pick_label(self, event: param.parameterized.Event) -> None:
        if event.new is not None and event.new != self.editor.label:
            self.editor.label = event.new

    def _set_attribute(self, name: str) -> Any:
        def changed(event: param.parameterized.Event) -> None:
            if event.new != self._shown_attribute(name):
                self.editor.set_attribute(name, event.new)

        return changed

    # -- state -> widgets ---------------------------------------------------------------------
    def _show_task(self, *events: param.parameterized.Event) -> None:
        editor = self.editor
        self.task.param.update(
            options={
                f"task {t.position + 1} · {t.status} · {t.frames} frames": t.task_id
                for t in editor.tasks
            },
            value=editor.task_id,
        )
        self.field.param.update(options=list(editor.param.field.objects or []), value=editor.field)
        self.label.param.update(
            options=editor.classes,
            value=editor.label if editor.label in editor.classes else None,
        )
        self._attribute_widgets = {
            name: attribute_widget(name, spec) for name, spec in editor.attributes.items()
        }
        # Their state is set before they are shown: a change to a widget the browser has
        # not received yet ("reference isn't known") breaks the page.
        self._show_attributes()
        for name, widget in self._attribute_widgets.items():
            widget.param.watch(self._set_attribute(name), "value")
        self.attributes.objects = list(self._attribute_widgets.values())
        self.help.object = text(HELP.get(editor.kind or "", ""))
        self._rebuild()
        self._show_selected()

    def _show_selected(self, *events: param.parameterized.Event) -> None:
        editor = self.editor
        if editor.label in editor.classes and editor.label != self.label.value:
            self.label.value = editor.label
        self.label.disabled = not editor.label_editable()
        self._show_attributes()

    def _shown_attribute(self, name: str) -> Any:
        """What the attribute's widget shows for the selected shape (its default if unset)."""
        spec = self.editor.attributes.get(name)
        unset = False if spec is not None and spec.type in ("checkbox", "occluded") else None
        return self.editor.attribute_values().get(name, unset)

    def _show_attributes(self) -> None:
        """The attribute widgets show the selected shape's values (disabled without one)."""
        editor = self.editor
        selected = editor.shape(editor.selected) is not None
        for name, widget in self._attribute_widgets.items():
            shown = self._shown_attribute(name)
            if widget.value != shown:
                widget.value = shown
            widget.disabled = editor.attributes[name].read_only or not selected

    # -- drawing ------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """New figures when the task or the field changes (tools depend on both)."""
        self._show(list(self._copies))

    def _show(self, copies: list[EditorCopy]) -> None:
        """Draw `copies`, building new figures where needed: each new figure gets its data
        before it is put in its pane, all in one held batch of document events."""
        with editing(*[c.pane for c in copies]):
            self._drawing = True
            try:
                for copy in copies:
                    fresh = self._build(copy)
                    self._draw(copy)
                    if fresh:
                        copy.pane.object = copy.figure
            finally:
                self._drawing = False

    def _build(self, copy: EditorCopy) -> bool:
        """A new figure for `copy` if the task or field changed; whether one was made."""
        editor = self.editor
        key = (editor.task_id, editor.field)
        if copy.key == key and copy.figure is not None:
            return False
        copy.build(editor.kind, editor.restrictions, editor.classes)
        copy.key = key
        copy.boxes.on_change("data", lambda attr, old, new: self._edited(copy, boxes=True))
        copy.polygons.on_change("data", lambda attr, old, new: self._edited(copy, boxes=False))
        copy.boxes.selected.on_change("indices", lambda a, o, new: self._tapped(copy, True, new))
        copy.polygons.selected.on_change(
            "indices", lambda a, o, new: self._tapped(copy, False, new)
        )
        return True

    def _redraw(self, *events: param.parameterized.Event) -> None:
        copies = [c for c in self._copies if c is not self._origin]
        with editing(*[c.pane for c in copies]):
            self._drawing = True
            try:
                for copy in copies:
                    self._draw(copy)
            finally:
                self._drawing = False

    def _draw(self, copy: EditorCopy) -> None:
        editor = self.editor
        source = editor.source
        if copy.figure is None:
            return
        if source is None or not editor.is_open:
            for cds in (copy.image, copy.others, copy.boxes, copy.polygons):
                set_data(cds, {k: [] for k in cds.data})
            return
        width, height = int(source.width or 0), int(source.height or 0)
        copy.image.data = {
            "url": [self.editor.state.media.image(source.uri)] if source.uri else [],
            "x": [0] if source.uri else [], "y": [0] if source.uri else [],
            "w": [width] if source.uri else [], "h": [height] if source.uri else [],
        }  # fmt: skip
        copy.fit(width or 1, height or 1)
        frame = {
            "sources": [{"id": source.id, "width": width, "height": height}],
            "rois": [shape_roi(s) for s in editor.other_shapes()],
        }
        glyphs = frame_glyphs(frame).get(source.id, SourceGlyphs())
        set_data(copy.others, {k: glyphs.shapes[k] for k in ("xs", "ys", "label", "field", "id")})
        boxes = editor.box_rows()
        set_data(
            copy.boxes,
            {
                "left": [r.x0 for r in boxes], "right": [r.x1 for r in boxes],
                "top": [r.y0 for r in boxes], "bottom": [r.y1 for r in boxes],
                "id": [r.id for r in boxes], "label": [self._label(r.id) for r in boxes],
            },
        )  # fmt: skip
        polygons = editor.polygon_rows()
        set_data(
            copy.polygons,
            {
                "xs": [list(r.xs) for r in polygons], "ys": [list(r.ys) for r in polygons],
                "id": [r.id for r in polygons], "label": [self._label(r.id) for r in polygons],
            },
        )  # fmt: skip

    def _label(self, shape_id: str) -> str:
        shape = self.editor.shape(shape_id)
        return (shape.label or "") if shape else ""

    # -- edits from the browser ---------------------------------------------------------------
    def _edited(self, copy: EditorCopy, *, boxes: bool) -> None:
        if self._drawing:
            return
        self._origin = copy
        try:
            if boxes:
                outcome = self.editor.update_boxes(box_rows(copy.boxes.data))
            else:
                outcome = self.editor.update_polygons(polygon_rows(copy.polygons.data))
        finally:
            self._origin = None
        if outcome.redraw:
            self._redraw_only(copy)
        else:
            self._patch(copy.boxes if boxes else copy.polygons, outcome)

    def _redraw_only(self, copy: EditorCopy) -> None:
        with editing(copy.pane):
            self._drawing = True
            try:
                self._draw(copy)
            finally:
                self._drawing = False

    def _patch(self, source: ColumnDataSource, outcome: Reconciled) -> None:
        """Give new rows their ids and labels without touching their vertices."""
        if not outcome.ids:
            return
        with pn.io.hold():
            self._drawing = True
            try:
                source.patch(
                    cast(
                        Any,
                        {
                            "id": list(outcome.ids.items()),
                            "label": list(outcome.labels.items()),
                        },
                    )
                )
            finally:
                self._drawing = False

    def _tapped(self, copy: EditorCopy, boxes: bool, indices: list[int]) -> None:
        if self._drawing:
            return
        ids = (copy.boxes if boxes else copy.polygons).data.get("id", [])
        picked = [str(ids[i]) for i in indices if 0 <= i < len(ids) and ids[i]]
        self.editor.select(picked[0] if picked else None)

    def __panel__(self) -> pn.viewable.Viewable:
        copy, new = self._copies.take()
        if new or copy.figure is None:
            self._show([copy])
        b = self.buttons
        controls = pn.Row(self.task, self.field, self.label)
        steps = pn.Row(b["prev"], b["next"], b["save"], b["done"], b["close"], self.spinner)
        return pn.Column(
            self.status,
            controls,
            steps,
            self.help,
            self.message,
            pn.Row(copy.pane, self.attributes),
            css_classes=["wb-annotator"],
            sizing_mode="stretch_width",
        )


def _closed_or_working(task_id: str | None, working: str) -> bool:
    return task_id is None or bool(working)


def _nothing_to_save(dirty: bool, working: str) -> bool:
    return not dirty or bool(working)


def _said(message: str, error: str) -> Html:
    return text(error or message, quote=False)


def _shown(message: str, error: str) -> bool:
    return bool(error or message)


def _alert_type(error: str) -> str:
    return "danger" if error else "info"
