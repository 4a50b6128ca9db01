"""The frame viewer: each source (camera) of the current frame with its ROIs drawn on it.

The picture is a Bokeh `image_url` glyph (a URL of the media route, or a data URI in a
notebook), never an RGB array: the browser fetches and caches the bytes instead of the
websocket carrying megabytes of pixels. Coordinates are source pixels with y pointing down, so
every plot has an inverted y range. Stepping to another frame replaces the `.data` of a few
ColumnDataSources in place; figures are built only when the number of sources changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import panel as pn
import param
from bokeh.layouts import row
from bokeh.models import (
    BoxZoomTool,
    ColumnDataSource,
    HoverTool,
    ImageURL,
    LinearScale,
    MultiLine,
    MultiPolygons,
    PanTool,
    Plot,
    Range1d,
    ResetTool,
    SaveTool,
    Scatter,
    TapTool,
    Text,
    WheelZoomTool,
)
from bokeh.models.annotations import Title

from workbench.model.keypoints import KeypointLabel
from workbench.store.keypoints import keypoint_labels
from workbench.ui.bokeh_edit import PerRender, editing
from workbench.ui.display import (
    ALPHA_COLUMNS,
    DisplayOptions,
    empty_text_columns,
    label_texts,
    styled,
)
from workbench.ui.glyphs import Badge, Columns, SourceGlyphs, empty_columns, frame_glyphs
from workbench.ui.masks import MaskPainter
from workbench.ui.media import MediaUrls
from workbench.ui.notebook import in_kernel
from workbench.ui.outcomes import frame_outcomes
from workbench.ui.state import WorkbenchState
from workbench.ui.text import Html, TextAlert, TextPane, html, join, text

PLOT_HEIGHT = 520
MAX_ROW_WIDTH = 1100
# The sample view (the viewer taking the screen) draws larger.
LARGE_PLOT_HEIGHT = 640
LARGE_ROW_WIDTH = 1400
# In a notebook: a JupyterLab cell beside the file browser is about 560 px wide.
NOTEBOOK_ROW_WIDTH = 500
TOOLTIPS = [
    ("label", "@label"),
    ("field", "@field"),
    ("confidence", "@confidence"),
    ("attributes", "@attributes"),
    ("outcome", "@outcome"),
    ("point", "@point"),
    ("id", "@id"),
]


def frame_keypoints(catalog: Any, frame: Mapping[str, Any]) -> dict[str, KeypointLabel]:
    """The point names and skeleton of the labels of the frame's keypoints ROIs."""
    rois = frame.get("rois") or []
    labels = sorted(
        {str(r["label"]) for r in rois if r.get("kind") == "keypoints" and r.get("label")}
    )
    if not labels:
        return {}
    con = catalog.cursor()
    try:
        return keypoint_labels(con, labels)
    finally:
        con.close()


def plot_size(width: int, height: int, sources: int, large: bool = False) -> tuple[int, int]:
    """Frame width and height in screen pixels: keep the aspect, fit the row's width
    (`large`: the sample view's)."""
    aspect = (width or 4) / (height or 3)
    row_width = NOTEBOOK_ROW_WIDTH if in_kernel() else MAX_ROW_WIDTH
    top = PLOT_HEIGHT
    if large:
        row_width, top = LARGE_ROW_WIDTH, LARGE_PLOT_HEIGHT
    plot_height = min(top, int(row_width / max(sources, 1) / aspect))
    return max(int(plot_height * aspect), 80), max(plot_height, 60)


def set_data(source: ColumnDataSource, columns: Columns) -> None:
    """Replace all columns at once: one message to the browser, one redraw. Nothing is
    sent when the source is empty and stays so (a frame without masks or points): each
    message is one more change for the browser to apply and draw."""
    if _empty(columns) and _empty(source.data) and set(columns) == set(source.data):
        return
    source.data = cast(Any, columns)


# Pictures are placed by their top-left corner (Bokeh's stubs type anchors as an enum).
TOP_LEFT = cast(Any, "top_left")


def _shape_glyph(line_width: int = 2) -> MultiPolygons:
    return MultiPolygons(
        xs="xs", ys="ys", line_color="color", line_dash="line_dash", line_width=line_width,
        line_alpha="alpha", fill_color="color", fill_alpha="fill_alpha",
    )  # fmt: skip


def _empty(columns: Mapping[str, Any]) -> bool:
    return all(len(values) == 0 for values in columns.values())


def new_source(columns: Columns) -> ColumnDataSource:
    return ColumnDataSource(data=cast(Any, columns))


class SourcePlot:
    """One figure for one source: picture, masks, shapes, lines and points."""

    def __init__(self) -> None:
        self.image = ColumnDataSource({"url": [], "x": [], "y": [], "w": [], "h": []})
        self.masks = new_source(empty_columns("url", "x", "y", "w", "h", *ALPHA_COLUMNS))
        self.shapes = new_source(empty_columns("xs", "ys", "line_dash", *ALPHA_COLUMNS))
        self.lines = new_source(empty_columns("xs", "ys", "line_dash", *ALPHA_COLUMNS))
        self.points = new_source(empty_columns("x", "y", *ALPHA_COLUMNS))
        self.texts = new_source(empty_text_columns())
        self.size = (0, 0)
        self.large = False
        self.title = Title(text="")
        # A bare Plot, not bokeh.plotting.figure: a picture needs no axes or grids, and
        # figure's (hidden) would be built, sent and laid out in the browser all the same.
        pan, zoom = PanTool(), WheelZoomTool()
        fig = Plot(
            title=self.title,
            x_range=Range1d(start=0, end=1),
            y_range=Range1d(start=1, end=0),  # y down, as in pixel coordinates
            x_scale=LinearScale(),
            y_scale=LinearScale(),
            toolbar_location="above",
            css_classes=["wb-viewer-plot"],
            min_border=0,
            output_backend="canvas",
            background_fill_color="#222222",
        )
        fig.add_tools(pan, zoom, BoxZoomTool(), ResetTool(), SaveTool())
        fig.toolbar.active_drag = pan
        fig.toolbar.active_scroll = zoom
        for source, alpha in ((self.image, 1.0), (self.masks, "alpha")):
            picture = ImageURL(
                url="url", x="x", y="y", w="w", h="h", anchor=TOP_LEFT, global_alpha=alpha
            )
            fig.add_glyph(source, picture)
        shapes = fig.add_glyph(
            self.shapes,
            _shape_glyph(),
            # chosen with a click: thicker; the others as they are
            selection_glyph=_shape_glyph(line_width=4),
            nonselection_glyph=_shape_glyph(),
        )
        lines = fig.add_glyph(
            self.lines,
            MultiLine(
                xs="xs", ys="ys", line_color="color", line_dash="line_dash", line_width=2,
                line_alpha="alpha",
            ),
        )  # fmt: skip
        points = fig.add_glyph(
            self.points,
            Scatter(
                x="x", y="y", size=8, fill_color="color", line_color="#000000",
                fill_alpha="alpha", line_alpha="alpha",
            ),
        )  # fmt: skip
        # Each shape's label on its top-left corner, in its colour.
        label = Text(
            x="x", y="y", text="text", text_color="#ffffff", text_alpha="alpha",
            text_font_size="11px", text_baseline="bottom", background_fill_color="color",
            background_fill_alpha="alpha",
        )  # fmt: skip
        fig.add_glyph(self.texts, label, name="wb-label-text")
        fig.add_tools(
            HoverTool(renderers=[shapes, lines, points], tooltips=TOOLTIPS),
            # A click chooses a shape (shift-click more) for tagging ROIs.
            TapTool(renderers=[shapes], mode="toggle"),
        )
        self.figure = fig

    def show(
        self,
        source: Mapping[str, Any],
        glyphs: SourceGlyphs,
        media: MediaUrls,
        sources: int,
        texts: Columns | None = None,
    ) -> None:
        width, height = int(source.get("width") or 0), int(source.get("height") or 0)
        uri = source.get("uri") or ""
        self.image.data = {
            "url": [media.image(uri)] if uri else [],
            "x": [0] if uri else [],
            "y": [0] if uri else [],
            "w": [width] if uri else [],
            "h": [height] if uri else [],
        }
        set_data(self.masks, glyphs.masks)
        set_data(self.shapes, glyphs.shapes)
        set_data(self.lines, glyphs.lines)
        set_data(self.points, glyphs.points)
        set_data(self.texts, texts if texts is not None else empty_text_columns())
        if self.shapes.selected.indices:
            self.shapes.selected.indices = []  # chosen shapes were the last frame's
        self.title.text = str(source.get("id", ""))
        if (width, height) != self.size or sources != getattr(self, "_sources", 0):
            self._fit(width or 1, height or 1, sources)

    def _fit(self, width: int, height: int, sources: int) -> None:
        self.size = (width, height)
        self._sources = sources
        x, y = self.figure.x_range, self.figure.y_range
        x.update(start=0, end=width, reset_start=0, reset_end=width)
        y.update(start=height, end=0, reset_start=height, reset_end=0)
        size = plot_size(width, height, sources, self.large)
        self.figure.frame_width, self.figure.frame_height = size

    def set_large(self, large: bool) -> None:
        """Draw at the sample view's size (or back at the page's)."""
        if large != self.large:
            self.large = large
            if self.size != (0, 0):
                self._fit(*self.size, getattr(self, "_sources", 1))

    def chosen_rois(self) -> list[str]:
        """Ids of the shapes chosen with a click (for tagging)."""
        ids = self.shapes.data.get("id", [])
        return [str(ids[i]) for i in self.shapes.selected.indices if i < len(ids)]

    def clear(self) -> None:
        for cds in (self.image, self.masks, self.shapes, self.lines, self.points, self.texts):
            set_data(cds, {k: [] for k in cds.data})


def badges_html(badges: Sequence[Badge]) -> Html:
    """Classifications as coloured badges; the field is the tooltip."""
    if not badges:
        return Html()
    spans = join(
        html(
            '<span class="wb-badge" title="{}" style="background:{};color:#000;'
            'border-radius:3px;padding:1px 6px;margin-right:4px">{}</span>',
            b.field,
            b.color,
            b.text,
        )
        for b in badges
    )
    return html("<div>{}</div>", spans)


class ViewerCopy:
    """The plots of one rendering of the viewer (see PerRender)."""

    def __init__(self) -> None:
        self.plots: list[SourcePlot] = []
        self.pane = pn.pane.Bokeh(row(), css_classes=["wb-viewer"], sizing_mode="stretch_width")

    def show(
        self,
        sources: list[Mapping[str, Any]],
        glyphs: dict[str, SourceGlyphs],
        media: MediaUrls,
        options: DisplayOptions,
    ) -> None:
        if len(self.plots) != len(sources):
            # New figures only when the number of sources (cameras) changes.
            self.plots = [SourcePlot() for _ in sources]
            for plot in self.plots:
                plot.large = options.expanded
            self.pane.object = row(*[p.figure for p in self.plots])
        for plot, source in zip(self.plots, sources, strict=True):
            shown = glyphs.get(str(source["id"]), SourceGlyphs())
            texts = label_texts(shown) if options.label_text else None
            plot.show(source, shown, media, len(sources), texts)

    def clear(self) -> None:
        for plot in self.plots:
            plot.clear()


class FrameViewer(pn.viewable.Viewer):
    """The current frame of `state.context`, one plot per source, ROIs by visible field."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self._paint = MaskPainter(state.media.local_file)
        self._copies = PerRender(ViewerCopy)
        self.badges = TextPane("", css_classes=["wb-badges"], margin=(0, 10))
        self.placeholder = TextPane(
            "Click a tile to look at its frames.", css_classes=["wb-viewer-empty"]
        )
        notice = state.param.viewer_notice
        self.notice = TextAlert(
            pn.bind(text, notice),
            alert_type="warning",
            visible=pn.bind(bool, notice),
            css_classes=["wb-viewer-notice"],
        )
        self.fields = pn.widgets.CheckButtonGroup.from_param(
            self.state.param.visible_fields,
            options=list(self.state.fields),
            css_classes=["wb-fields"],
            color="primary",
            variant="outline",
            label="",
        )
        self.display = state.display
        self.state.context.param.watch(self._draw, ["frame"])
        self.state.param.watch(self._draw, ["visible_fields", "outcome_key"])
        self.display.param.watch(self._draw, ["hidden_classes", "opacity", "label_text"])
        self.display.param.watch(self._resize, ["expanded"])
        self._draw()

    @property
    def plots(self) -> list[SourcePlot]:
        """The plots (one per source) of the first rendering."""
        return self._copies.first.plots

    def _draw(self, *events: param.parameterized.Event) -> None:
        copies = list(self._copies)
        with editing(*[c.pane for c in copies]):
            self._draw_frame(copies)

    def _draw_frame(self, copies: list[ViewerCopy]) -> None:
        frame = self.state.context.frame
        if not frame or not frame.get("sources"):
            for copy in copies:
                copy.clear()
            self.badges.object = ""
            self.placeholder.visible = True
            return
        self.placeholder.visible = False
        sources = list(frame["sources"])
        drawn = frame_glyphs(
            frame,
            fields=self.state.visible_fields,
            paint_mask=self._paint,
            outcomes=frame_outcomes(self.state.catalog, self.state.outcome_key, frame),
            keypoints=frame_keypoints(self.state.catalog, frame),
        )
        glyphs = {sid: styled(g, self.display) for sid, g in drawn.items()}
        for copy in copies:
            copy.show(sources, glyphs, self.state.media, self.display)
        badges = [b for s in sources for b in glyphs.get(str(s["id"]), SourceGlyphs()).badges]
        self.badges.object = badges_html(badges)

    def _resize(self, *events: param.parameterized.Event) -> None:
        copies = list(self._copies)
        with editing(*[c.pane for c in copies]):
            for copy in copies:
                for plot in copy.plots:
                    plot.set_large(self.display.expanded)

    def chosen_rois(self) -> list[tuple[str, str]]:
        """(frame id, ROI id) of the shapes chosen with a click in any rendering."""
        frame_id = self.state.context.frame_id
        if frame_id is None:
            return []
        for copy in self._copies:
            chosen = [roi for plot in copy.plots for roi in plot.chosen_rois()]
            if chosen:
                return [(frame_id, roi) for roi in dict.fromkeys(chosen)]
        return []

    def __panel__(self) -> pn.viewable.Viewable:
        copy, new = self._copies.take()
        if new:
            self._draw()
        return pn.Column(
            self.notice,
            self.fields,
            self.badges,
            self.placeholder,
            copy.pane,
            sizing_mode="stretch_width",
        )
