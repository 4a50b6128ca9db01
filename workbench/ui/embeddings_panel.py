"""The embeddings panel: the current view as a 2-D scatter, lasso to a view, find similar.

`EmbeddingsState` reads the projection of the app's view (`View.projection`: computed once
per key and method, then stored) and keeps its points as arrays. A lasso or box drawn on the
plot (`select_region`, fed by Bokeh's SelectionGeometry event) is tested against *every*
point on the server and becomes a query stage (`select(frame_ids)`, or `select_rois` for ROI
embeddings) under the panel's name, so the grid, the facets, the patches and the actions
follow; the plot itself keeps showing the view without its own stage. The app's selection
is drawn over the points (rings), so a grid selection shows in the plot and the other way
round. "Find similar" sorts the view by similarity to the open frame or the selection
(`sort_by_similarity`, k nearest). "Embed the view" stores the built-in descriptor of the
view's frames (or of its ROIs with a box) that have none yet, in the background when served.

A million points do not go to the browser: at most `max_points` do (WebGL), a fixed random
sample of the points inside the visible ranges, drawn again after each zoom or pan, so
zooming in shows every point of a small region.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import panel as pn
import param
import pyarrow as pa
import pyarrow.compute as pc
from bokeh.events import RangesUpdate, Reset, SelectionGeometry
from bokeh.models import (
    BoxSelectTool,
    ColumnDataSource,
    LassoSelectTool,
    LinearColorMapper,
    WheelZoomTool,
)
from bokeh.plotting import figure

from workbench.errors import WorkbenchError
from workbench.query import View
from workbench.query.region_stage import SelectRegion, simplify
from workbench.query.region_stage import inside as region_inside
from workbench.ui.background import run_in_background
from workbench.ui.bokeh_edit import PerRender, editing
from workbench.ui.palette import OUTCOME_COLOURS, label_color
from workbench.ui.query_state import QUERY_PARAMS
from workbench.ui.text import Html, TextAlert, TextPane, html, join, text

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState

PANEL = "embeddings"
SIMILAR = "similarity"
MAX_POINTS = 60_000
MAX_CATEGORIES = 20
NO_VALUE = "#bbbbbb"
PLAIN = "#1f77b4"  # every point, when nothing colours them
OTHER = "#888888"
FRAME_COLOURINGS = ["", "weather", "time_of_day", "camera", "location", "tag", "uniqueness"]
COLOURINGS = [*FRAME_COLOURINGS, "label", "outcome"]
# The key "Embed the view" stores the built-in descriptor under, by target.
EMBED_KEYS = {"frames": "descriptor", "rois": "roi_descriptor"}
VIRIDIS = (
    "#440154", "#482878", "#3e4989", "#31688e", "#26828e",
    "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725",
)  # fmt: skip


class Points:
    """A projection's points as arrays: ids, positions, colour codes, a fixed sample order."""

    def __init__(self, table: pa.Table) -> None:
        self.frame_ids = table.column("frame_id").combine_chunks()
        self.roi_ids = (
            table.column("roi_id").combine_chunks() if "roi_id" in table.column_names else None
        )
        self.x = _floats(table.column("x"))
        self.y = _floats(table.column("y"))
        self.colours, self.palette, self.legend = colour_codes(table.column("colour"))
        # Each point's rank in one random order: a sample is the lowest ranks in view, so
        # the same points stay on screen from one zoom to the next.
        self.rank = np.random.default_rng(0).permutation(len(self.x))

    def __len__(self) -> int:
        return len(self.x)

    def inside(self, polygon: tuple[Sequence[float], Sequence[float]]) -> np.ndarray:
        """Indices of the points inside a polygon (xs, ys), as select_region tests them."""
        return np.flatnonzero(region_inside(self.x, self.y, *polygon))

    def sample(self, ranges: tuple[float, float, float, float] | None, limit: int) -> np.ndarray:
        """At most `limit` point indices inside `ranges` (x0, x1, y0, y1; None: all)."""
        if ranges is None:
            idx = np.arange(len(self.x))
        else:
            x0, x1, y0, y1 = ranges
            mask = (self.x >= x0) & (self.x <= x1) & (self.y >= y0) & (self.y <= y1)
            idx = np.flatnonzero(mask)
        if len(idx) > limit:
            idx = np.sort(idx[np.argpartition(self.rank[idx], limit)[:limit]])
        return idx

    def selected(self, frame_ids: Sequence[str]) -> np.ndarray:
        """Indices of the points of these frames."""
        if not frame_ids or len(self.x) == 0:
            return np.empty(0, dtype=np.int64)
        found = pc.is_in(self.frame_ids, value_set=pa.array(list(frame_ids), pa.string()))
        return np.flatnonzero(found.to_numpy(zero_copy_only=False))


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    # Without nulls the buffer is read as it is (a copy goes through pandas, slow to import).
    values = pc.fill_null(column.combine_chunks(), float("nan"))
    return np.asarray(values.to_numpy(zero_copy_only=True), dtype=np.float32)


def polygon_of(region: Mapping[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The polygon (xs, ys, at most 64 vertices) of Bokeh's selection geometry: a rectangle
    {"type": "rect", "x0", "x1", "y0", "y1"} or a lasso {"type": "poly", "x": [...], "y":
    [...]}; None when it encloses nothing."""
    if region.get("type") == "rect":
        x0, x1 = sorted((float(region["x0"]), float(region["x1"])))
        y0, y1 = sorted((float(region["y0"]), float(region["y1"])))
        return (x0, x1, x1, x0), (y0, y0, y1, y1)
    xs, ys = list(region.get("x") or []), list(region.get("y") or [])
    if len(xs) < 3 or len(xs) != len(ys):
        return None
    return simplify(xs, ys)


def colour_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
    """A colour index per point, the palette it indexes, and the legend (text, colour).

    Numbers (more than a dozen distinct values, all numeric) get a continuous scale; other
    values one colour each (the label's colour, as everywhere in the app), the most frequent
    first, the rest "other"; no value is grey.
    """
    values = column.combine_chunks()
    n = len(values)
    if n == 0 or values.null_count == n:
        return np.zeros(n, dtype=np.float32), [PLAIN], []
    numbers = _numbers(values)
    if numbers is not None:
        lo, hi = float(np.nanmin(numbers)), float(np.nanmax(numbers))
        scaled = (numbers - lo) / ((hi - lo) or 1.0) * (len(VIRIDIS) - 1)
        codes = np.where(np.isnan(scaled), len(VIRIDIS), np.round(scaled)).astype(np.float32)
        legend = [(f"{lo:.3g}", VIRIDIS[0]), (f"{hi:.3g}", VIRIDIS[-1])]
        return codes, [*VIRIDIS, NO_VALUE], legend
    counts = pc.value_counts(values.drop_null()).to_pylist()
    counts.sort(key=lambda c: (-c["counts"], str(c["values"])))
    top = [str(c["values"]) for c in counts[:MAX_CATEGORIES]]
    palette = [*_distinct([_category_colour(v) for v in top]), OTHER, NO_VALUE]
    index = pc.index_in(values, value_set=pa.array(top, pa.string())).to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(index.astype(np.float64)), len(top), index)
    codes = np.where(pc.is_null(values).to_numpy(zero_copy_only=False), len(top) + 1, codes)
    legend = [(v, palette[i]) for i, v in enumerate(top)]
    if len(counts) > MAX_CATEGORIES:
        legend.append((f"{len(counts) - MAX_CATEGORIES} more values", OTHER))
    return codes.astype(np.float32), palette, legend


def _distinct(colours: list[str]) -> list[str]:
    """The colours with repeats replaced by palette colours not used yet (a legend needs
    one colour per value; labels keep theirs where they can)."""
    from workbench.ui.palette import PALETTE

    used: set[str] = set()
    spare = [c for c in PALETTE if c not in colours]
    out = []
    for colour in colours:
        if colour in used and spare:
            colour = spare.pop(0)
        used.add(colour)
        out.append(colour)
    return out


def _category_colour(value: str) -> str:
    first = value.split("+")[0]
    return OUTCOME_COLOURS.get(first) or label_color(value)


def _numbers(values: pa.Array) -> np.ndarray | None:
    distinct = pc.count_distinct(values).as_py()
    if distinct <= 12:
        return None
    try:
        floats = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return floats.to_numpy(zero_copy_only=False).astype(np.float64)


class EmbeddingsState(param.Parameterized):
    """What the panel plots and what it adds to the app's view."""

    key: param.Selector[str | None] = param.Selector(default=None, objects=[], allow_None=True)
    method: param.Selector[str] = param.Selector(default="pca", objects=["pca", "umap", "tsne"])
    colour_by: param.Selector[str] = param.Selector(
        default="", objects=COLOURINGS, doc="A frame column, tag, score, label or outcome."
    )
    active = param.Boolean(default=False, doc="Shown: only then is the projection read.")
    ranges = param.Tuple(default=None, allow_None=True, length=4, doc="x0, x1, y0, y1 shown")
    max_points = param.Integer(default=MAX_POINTS, bounds=(100, None))
    k = param.Integer(default=50, bounds=(1, 10_000), doc="Neighbours 'find similar' keeps.")
    lassoed = param.Integer(default=0, doc="Points the plot's selection holds (0: none).")
    shown = param.Integer(default=0, doc="Points on screen (a sample past max_points).")
    total = param.Integer(default=0, doc="Points of the view.")
    version = param.Integer(default=0, doc="Counts the times the points were read.")
    working = param.String(default="")
    error = param.String(default="")
    embed_target: param.Selector[str] = param.Selector(default="frames", objects=list(EMBED_KEYS))
    embedded = param.String(default="", doc="What the last 'Embed the view' did.")

    def __init__(self, app_state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.app_state = app_state
        self.points: Points | None = None
        self.visible = np.empty(0, dtype=np.int64)
        self.highlight = np.empty(0, dtype=np.int64)
        self._plotted: dict[str, Any] | None = None
        self._projection: tuple[str, str, str] | None = None  # key, method, params_hash
        # The ROIs picked in the patches view, for "find similar" on ROI embeddings.
        self.roi_picks: Callable[[], list[tuple[str, str]]] = list
        self._target = "frames"
        self.refresh_keys()
        app_state.query.param.watch(self._on_query, list(QUERY_PARAMS))
        app_state.param.watch(self._on_selection, ["selection"])
        app_state.query.param.watch(self._on_panels, ["panels"])

    def _on_panels(self, *events: Any) -> None:
        if PANEL not in self.app_state.query.panels:
            self.lassoed = 0  # "Reset filters" or a saved view removed the lasso

    def refresh_keys(self) -> None:
        from workbench.analysis.embeddings import list_embeddings

        infos = list_embeddings(self.app_state.catalog)
        self._targets = {i.key: i.target for i in infos}
        keys = list(self._targets)
        self.param.key.objects = keys
        if self.key not in keys:
            self.key = "descriptor" if "descriptor" in keys else (keys[0] if keys else None)

    def embed(self) -> None:
        """Store the built-in descriptor of the view's frames (or ROIs with a box, by
        `embed_target`) under EMBED_KEYS; those the key holds already are left as they are.
        The plot then shows that key."""
        from workbench.analysis.embeddings import compute_embeddings

        target = self.embed_target
        key = EMBED_KEYS[target]
        view = self.plot_view()
        self.param.update(working=f"embedding the view's {target}", error="", embedded="")

        def done(report: Any) -> None:
            first = f"; first refused: {report.errors[0]}" if report.errors else ""
            self.param.update(working="", embedded=str(report).splitlines()[0] + first)
            self.refresh_keys()
            if self.key == key:
                self.reload(force=True)
            else:
                self.key = key

        def failed(exc: WorkbenchError) -> None:
            self.param.update(working="", error=str(exc))

        run_in_background(
            lambda: compute_embeddings(view, key, target=target, progress=False),
            done,
            failed,
            action=True,
        )

    # -- reading the points ------------------------------------------------------------------
    def plot_view(self) -> View:
        """The app's view without the panel's own lasso (which the plot shows as rings)."""
        return self.app_state.query.view(self.app_state.catalog, without=PANEL)

    def _colouring(self) -> str | None:
        if self.colour_by == "outcome":
            key = self.app_state.outcome_key
            return f"eval.{key}" if key else None
        return self.colour_by or None

    @param.depends("key", "method", "colour_by", "active", watch=True)
    def reload(self, force: bool = False) -> None:
        """Read the projection of the view again (when shown)."""
        if not self.active or self.key is None:
            if self.key is None:
                self.error = "No embeddings in the catalog: embed the view."
            return
        view = self.plot_view()
        wanted = {"view": view.to_dict(), "key": self.key, "method": self.method,
                  "colour": self._colouring()}  # fmt: skip
        if wanted == self._plotted and not force:
            return
        self._plotted = wanted
        key, method, colouring = self.key, self.method, self._colouring()
        self._target = self._targets.get(key, "frames")
        self.working = f"projecting {key} with {method}"

        def read() -> tuple[Points, tuple[str, str, str]]:
            from workbench.analysis.embeddings.projections import (
                compute_projection,
                projection_table,
            )

            made = compute_projection(view, key, method)
            table = projection_table(view, key, method, colour_by=colouring, ordered=False)
            points = Points(table)
            return points, (made.key, made.method, made.params_hash)

        def show(read: tuple[Points, tuple[str, str, str]]) -> None:
            points, self._projection = read
            self.points = points
            self.param.update(working="", error="", ranges=None, total=len(points))
            self._resample()
            self._on_selection()
            self.version += 1

        def failed(exc: WorkbenchError) -> None:
            self.param.update(working="", error=str(exc))

        run_in_background(read, show, failed)

    def _on_query(self, *events: Any) -> None:
        if self.active:
            self.reload()

    @param.depends("ranges", "max_points", watch=True)
    def _resample(self) -> None:
        if self.points is None:
            return
        self.visible = self.points.sample(self.ranges, self.max_points)
        self.shown = len(self.visible)

    def _on_selection(self, *events: Any) -> None:
        if self.points is not None:
            self.highlight = self.points.selected(self.app_state.selection.frame_ids)
            self.param.trigger("version")

    # -- the lasso -----------------------------------------------------------------------------
    def select_region(self, region: Mapping[str, Any] | None) -> None:
        """Keep the view's frames (or ROIs) whose points lie in `region` (Bokeh's selection
        geometry: {"type": "poly", "x": [...], "y": [...]} or {"type": "rect", "x0", "x1",
        "y0", "y1"}) as a `select_region` stage; None clears it."""
        polygon = polygon_of(region) if region is not None else None
        if polygon is None or self.points is None or self._projection is None:
            self.clear_region()
            return
        self.lassoed = len(self.points.inside(polygon))
        key, method, params_hash = self._projection
        stage = SelectRegion(key, method, params_hash, *polygon, rois=self._target == "rois")
        self.app_state.query.set_panel_stages(PANEL, (stage,))

    def clear_region(self) -> None:
        self.lassoed = 0
        self.app_state.query.set_panel_stages(PANEL, ())

    # -- find similar --------------------------------------------------------------------------
    def find_similar(self, source: str = "frame") -> None:
        """Sort the view by similarity to the open frame (`source="frame"`), the selected
        frames ("selection") or the ROIs picked in the patches ("rois": for ROI embeddings),
        keeping the k nearest."""
        state = self.app_state
        query: Any
        if source == "selection":
            query = list(state.selection.frame_ids)
        elif source == "rois":
            query = [{"frame_id": f, "roi_id": r} for f, r in self.roi_picks()]
        else:
            query = state.context.frame_id
        if not query:
            missing = {"selection": "selection", "rois": "picked patch"}.get(source, "open frame")
            self.error = f"nothing to compare with: no {missing}"
            return
        try:
            stages = View(state.catalog).sort_by_similarity(query, k=self.k, key=self.key).stages
        except WorkbenchError as exc:
            self.error = str(exc)
            return
        self.error = ""
        state.query.set_panel_stages(SIMILAR, stages)

    def clear_similar(self) -> None:
        self.app_state.query.set_panel_stages(SIMILAR, ())

    @property
    def status(self) -> str:
        if self.working:
            return self.working + "…"
        if self.points is None:
            return ""
        text_ = f"{self.total:,} points"
        if self.shown < self.total:
            text_ += f", {self.shown:,} drawn (zoom in for the rest)"
        if self.lassoed:
            text_ += f" · {self.lassoed:,} lassoed"
        return text_


def legend_html(points: Points | None) -> Html:
    if points is None or not points.legend:
        return Html()
    items = join(
        html(
            "<span class='wb-legend-item'><span style='background:{}' class='wb-swatch'>"
            "&nbsp;&nbsp;&nbsp;</span> {}</span> ",
            colour,
            label,
        )
        for label, colour in points.legend
    )
    return html("<div class='wb-emb-legend'>{}</div>", items)


class PlotCopy:
    """The Bokeh figure of one rendering of the panel (see PerRender)."""

    def __init__(self, state: EmbeddingsState) -> None:
        self.points = ColumnDataSource({"x": [], "y": [], "c": []})
        self.rings = ColumnDataSource({"x": [], "y": []})
        self.mapper = LinearColorMapper(palette=[NO_VALUE], low=-0.5, high=0.5)
        # The select tools hit-test no renderer (renderers=[]): the points they select are
        # worked out on the server over every point, not over the sample in the browser, and
        # hit-testing tens of thousands of points there would only delay the event.
        lasso = LassoSelectTool(renderers=[])
        fig = figure(
            tools=["pan", WheelZoomTool(), BoxSelectTool(renderers=[]), lasso, "reset"],
            active_scroll="auto",
            active_drag=lasso,
            output_backend="webgl",
            height=420,
            sizing_mode="stretch_width",
            css_classes=["wb-emb-plot"],
            toolbar_location="above",
        )
        fig.scatter("x", "y", source=self.points, size=5, line_alpha=0, fill_alpha=0.7,
                    color={"field": "c", "transform": self.mapper})  # fmt: skip
        fig.scatter("x", "y", source=self.rings, size=9, fill_alpha=0, line_color="#000000",
                    line_width=1.5)  # fmt: skip
        fig.grid.visible = False
        fig.on_event(SelectionGeometry, lambda event: self._selected(state, event))
        fig.on_event(RangesUpdate, lambda event: self._moved(state, event))
        fig.on_event(Reset, lambda event: self._reset(state))
        self.figure = fig
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width", css_classes=["wb-emb-view"])

    @staticmethod
    def _reset(state: EmbeddingsState) -> None:
        state.ranges = None

    def _selected(self, state: EmbeddingsState, event: SelectionGeometry) -> None:
        if not event.final:
            return
        geometry = cast(dict[str, Any], dict(event.geometry or {}))
        kind = geometry.get("type")
        if kind == "rect":
            region: dict[str, Any] = {
                "type": "rect",
                **{k: geometry[k] for k in ("x0", "x1", "y0", "y1")},
            }
        elif kind == "poly":
            region = {"type": "poly", "x": list(geometry["x"]), "y": list(geometry["y"])}
        else:
            return
        state.select_region(region)

    def _moved(self, state: EmbeddingsState, event: RangesUpdate) -> None:
        values = (event.x0, event.x1, event.y0, event.y1)
        if all(v is not None and math.isfinite(v) for v in values):
            state.ranges = tuple(float(v) for v in values)  # type: ignore[arg-type]

    def draw(self, state: EmbeddingsState) -> None:
        points = state.points
        if points is None:
            self.points.data = {"x": [], "y": [], "c": []}
            self.rings.data = {"x": [], "y": []}
            return
        idx = state.visible
        self.mapper.update(palette=points.palette, low=-0.5, high=len(points.palette) - 0.5)
        self.points.data = {"x": points.x[idx], "y": points.y[idx], "c": points.colours[idx]}
        rings = state.highlight[: state.max_points]
        self.rings.data = {"x": points.x[rings], "y": points.y[rings]}


class EmbeddingsPanel(pn.viewable.Viewer):
    """The scatter with its key, method and colouring pickers, and find similar."""

    def __init__(self, app_state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = EmbeddingsState(app_state)
        s = self.state
        self._copies = PerRender(lambda: PlotCopy(s))
        s.param.watch(self._draw, ["version", "shown"])
        self.key = pn.widgets.Select.from_param(s.param.key, name="embedding", width=150,
                                                css_classes=["wb-emb-key"])  # fmt: skip
        self.method = pn.widgets.Select.from_param(s.param.method, name="projection", width=100,
                                                   css_classes=["wb-emb-method"])  # fmt: skip
        colourings = {"nothing": "", **{c: c for c in FRAME_COLOURINGS[1:]},
                      "label (ROI keys)": "label", "evaluation outcome": "outcome"}  # fmt: skip
        self.colour = pn.widgets.Select.from_param(s.param.colour_by, options=colourings,
                                                   name="colour by", width=150,
                                                   css_classes=["wb-emb-colour"])  # fmt: skip
        self.similar_frame = pn.widgets.Button(label="Find similar to the open frame",
                                               css_classes=["wb-emb-similar"])  # fmt: skip
        self.similar_selection = pn.widgets.Button(label="…to the selection",
                                                   css_classes=["wb-emb-similar-selection"])  # fmt: skip
        self.similar_rois = pn.widgets.Button(label="…to the picked patches",
                                              css_classes=["wb-emb-similar-rois"])  # fmt: skip
        self.similar_rois.on_click(lambda _: s.find_similar("rois"))
        self.k = pn.widgets.IntInput.from_param(s.param.k, name="k", width=80)
        self.clear = pn.widgets.Button(label="Clear lasso and similarity",
                                       css_classes=["wb-emb-clear"])  # fmt: skip
        self.similar_frame.on_click(lambda _: s.find_similar("frame"))
        self.similar_selection.on_click(lambda _: s.find_similar("selection"))
        self.clear.on_click(self._clear)
        self.status = TextPane(
            pn.bind(lambda *_: text(s.status), s.param.version, s.param.shown, s.param.lassoed,
                    s.param.working),
            css_classes=["wb-emb-status"],
        )  # fmt: skip
        self.legend = TextPane(pn.bind(self._legend, s.param.version),
                               css_classes=["wb-emb-legend-pane"])  # fmt: skip
        self.error = TextAlert(s.param.error, alert_type="danger",
                               visible=pn.bind(bool, s.param.error), css_classes=["wb-emb-error"])  # fmt: skip
        self.embed_target = pn.widgets.Select.from_param(
            s.param.embed_target, options={"frames": "frames", "ROIs with a box": "rois"},
            name="embed", width=130, css_classes=["wb-emb-target"],
        )  # fmt: skip
        self.embed = pn.widgets.Button(
            label="Embed the view", css_classes=["wb-emb-embed"],
            disabled=pn.bind(bool, s.param.working),
        )  # fmt: skip
        self.embed.on_click(lambda _: s.embed())
        self.embedded = TextPane(pn.bind(text, s.param.embedded), css_classes=["wb-emb-embedded"])

    def _clear(self, *events: Any) -> None:
        self.state.clear_region()
        self.state.clear_similar()

    def _legend(self, *values: Any) -> Html:
        return legend_html(self.state.points)

    def _draw(self, *events: Any) -> None:
        copies = list(self._copies)
        with editing(*[c.pane for c in copies]):
            for copy in copies:
                copy.draw(self.state)

    def __panel__(self) -> pn.viewable.Viewable:
        copy, new = self._copies.take()
        if new:
            copy.draw(self.state)
        controls = pn.Row(self.key, self.method, self.colour, self.k, self.similar_frame,
                          self.similar_selection, self.similar_rois, self.clear,
                          styles={"flex-wrap": "wrap"})  # fmt: skip
        embedding = pn.Row(self.embed_target, self.embed, self.embedded,
                           styles={"flex-wrap": "wrap", "align-items": "flex-end"})  # fmt: skip
        return pn.Column(controls, embedding, self.status, self.error, copy.pane, self.legend,
                         css_classes=["wb-embeddings"], sizing_mode="stretch_width")  # fmt: skip
