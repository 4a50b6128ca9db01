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
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.models.annotations import Title
from bokeh.plotting import figure

from workbench.ui.bokeh_edit import PerRender, editing
from workbench.ui.glyphs import Badge, Columns, SourceGlyphs, empty_columns, frame_glyphs
from workbench.ui.masks import MaskPainter
from workbench.ui.media import MediaUrls
from workbench.ui.notebook import in_kernel
from workbench.ui.outcomes import frame_outcomes
from workbench.ui.state import WorkbenchState
from workbench.ui.text import Html, TextPane, html, join

PLOT_HEIGHT = 520
MAX_ROW_WIDTH = 1100
# In a notebook: a JupyterLab cell beside the file browser is about 560 px wide.
NOTEBOOK_ROW_WIDTH = 500
TOOLTIPS = [
    ("label", "@label"),
    ("field", "@field"),
    ("confidence", "@confidence"),
    ("attributes", "@attributes"),
    ("outcome", "@outcome"),
    ("id", "@id"),
]


def plot_size(width: int, height: int, sources: int) -> tuple[int, int]:
    """Frame width and height in screen pixels: keep the aspect, fit the row's width."""
    aspect = (width or 4) / (height or 3)
    row_width = NOTEBOOK_ROW_WIDTH if in_kernel() else MAX_ROW_WIDTH
    plot_height = min(PLOT_HEIGHT, int(row_width / max(sources, 1) / aspect))
    return max(int(plot_height * aspect), 80), max(plot_height, 60)


def set_data(source: ColumnDataSource, columns: Columns) -> None:
    """Replace all columns at once: one message to the browser, one redraw."""
    source.data = cast(Any, columns)


def new_source(columns: Columns) -> ColumnDataSource:
    return ColumnDataSource(data=cast(Any, columns))


class SourcePlot:
    """One figure for one source: picture, masks, shapes, lines and points."""

    def __init__(self) -> None:
        self.image = ColumnDataSource({"url": [], "x": [], "y": [], "w": [], "h": []})
        self.masks = new_source(empty_columns("url", "x", "y", "w", "h"))
        self.shapes = new_source(empty_columns("xs", "ys", "line_dash"))
        self.lines = new_source(empty_columns("xs", "ys", "line_dash"))
        self.points = new_source(empty_columns("x", "y"))
        self.size = (0, 0)
        self.title = Title(text="")
        fig = figure(
            title=self.title,
            x_range=Range1d(start=0, end=1),
            y_range=Range1d(start=1, end=0),  # y down, as in pixel coordinates
            tools="pan,wheel_zoom,box_zoom,reset,save",
            active_scroll="wheel_zoom",
            active_drag="pan",
            toolbar_location="above",
            css_classes=["wb-viewer-plot"],
            min_border=0,
            output_backend="canvas",
        )
        fig.grid.visible = False
        fig.axis.visible = False
        fig.background_fill_color = "#222222"
        fig.image_url(url="url", x="x", y="y", w="w", h="h", anchor="top_left", source=self.image)
        fig.image_url(url="url", x="x", y="y", w="w", h="h", anchor="top_left", source=self.masks)
        shapes = fig.multi_polygons(
            xs="xs",
            ys="ys",
            line_color="color",
            line_dash="line_dash",
            line_width=2,
            fill_color="color",
            fill_alpha=0.12,
            source=self.shapes,
        )
        lines = fig.multi_line(
            xs="xs",
            ys="ys",
            line_color="color",
            line_dash="line_dash",
            line_width=2,
            source=self.lines,
        )
        points = fig.scatter(
            x="x", y="y", size=8, fill_color="color", line_color="#000000", source=self.points
        )
        fig.add_tools(HoverTool(renderers=[shapes, lines, points], tooltips=TOOLTIPS))
        self.figure = fig

    def show(
        self, source: Mapping[str, Any], glyphs: SourceGlyphs, media: MediaUrls, sources: int
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
        self.title.text = str(source.get("id", ""))
        if (width, height) != self.size or sources != getattr(self, "_sources", 0):
            self._fit(width or 1, height or 1, sources)

    def _fit(self, width: int, height: int, sources: int) -> None:
        self.size = (width, height)
        self._sources = sources
        x, y = self.figure.x_range, self.figure.y_range
        x.update(start=0, end=width, reset_start=0, reset_end=width)
        y.update(start=height, end=0, reset_start=height, reset_end=0)
        self.figure.frame_width, self.figure.frame_height = plot_size(width, height, sources)

    def clear(self) -> None:
        for cds in (self.image, self.masks, self.shapes, self.lines, self.points):
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
        self, sources: list[Mapping[str, Any]], glyphs: dict[str, SourceGlyphs], media: MediaUrls
    ) -> None:
        if len(self.plots) != len(sources):
            # New figures only when the number of sources (cameras) changes.
            self.plots = [SourcePlot() for _ in sources]
            self.pane.object = row(*[p.figure for p in self.plots])
        for plot, source in zip(self.plots, sources, strict=True):
            plot.show(source, glyphs.get(str(source["id"]), SourceGlyphs()), media, len(sources))

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
        self.fields = pn.widgets.CheckButtonGroup.from_param(
            self.state.param.visible_fields,
            options=list(self.state.fields),
            css_classes=["wb-fields"],
            color="primary",
            variant="outline",
            label="",
        )
        self.state.context.param.watch(self._draw, ["frame"])
        self.state.param.watch(self._draw, ["visible_fields", "outcome_key"])
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
        glyphs = frame_glyphs(
            frame,
            fields=self.state.visible_fields,
            paint_mask=self._paint,
            outcomes=frame_outcomes(self.state.catalog, self.state.outcome_key, frame),
        )
        for copy in copies:
            copy.show(sources, glyphs, self.state.media)
        badges = [b for s in sources for b in glyphs.get(str(s["id"]), SourceGlyphs()).badges]
        self.badges.object = badges_html(badges)

    def __panel__(self) -> pn.viewable.Viewable:
        copy, new = self._copies.take()
        if new:
            self._draw()
        return pn.Column(
            self.fields, self.badges, self.placeholder, copy.pane, sizing_mode="stretch_width"
        )
