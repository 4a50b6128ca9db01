"""The query panel: the WHERE box, filters with facet counts, and the confidence histogram.

Widgets write the query's parameters; the facets computed for the query feed back into the
widgets' options (with counts), never into their values, so updating counts cannot change
the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import panel as pn
import param
from bokeh.models import ColumnDataSource, Range1d
from bokeh.plotting import figure

from workbench.model.records import PROMOTED_KEYS
from workbench.ui.bokeh_edit import PerRender, editing
from workbench.ui.query_state import FULL_RANGE
from workbench.ui.state import WorkbenchState
from workbench.ui.text import Html, TextAlert, TextMultiChoice, TextPane, html, join, text

ALL_FIELDS = "(all fields)"
MAX_LABEL_ROWS = 12


def counted_options(counts: Sequence[tuple[Any, int]], keep: Sequence[str]) -> dict[str, str]:
    """MultiChoice options "value (count)" -> value; chosen values stay even at no count.
    The labels are text: TextMultiChoice shows them as such."""
    options = {f"{value} ({n})": str(value) for value, n in counts if value is not None}
    present = set(options.values())
    options.update({f"{value} (0)": value for value in keep if value not in present})
    return options


def labels_html(counts: Sequence[tuple[str, int]]) -> Html:
    """Label counts as rows of bars, commonest first."""
    if not counts:
        return html("<i>no labels</i>")
    top = max(n for _, n in counts) or 1
    rows = join(
        html(
            '<div style="display:flex;gap:6px;font-size:12px"><span title="{}" style="width:90px;'
            'overflow:hidden;text-overflow:ellipsis">{}</span>'
            '<span style="background:#0072b5;width:{}px"></span><span>{}</span></div>',
            label,
            label,
            int(100 * n / top),
            n,
        )
        for label, n in counts[:MAX_LABEL_ROWS]
    )
    more = len(counts) - MAX_LABEL_ROWS
    return rows + (html("<i>and {} more labels</i>", more) if more > 0 else Html())


class Histogram:
    """The confidence histogram of one rendering of the query panel (see PerRender)."""

    def __init__(self) -> None:
        self.source = ColumnDataSource(data={"x": [], "top": [], "width": []})
        fig = figure(
            height=110,
            sizing_mode="stretch_width",
            toolbar_location=None,
            tools="",
            x_range=Range1d(start=0, end=1),
            css_classes=["wb-confidence-histogram"],
            title="confidence",
        )
        fig.vbar(x="x", top="top", width="width", source=self.source, color="#0072b5")
        fig.yaxis.visible = False
        fig.ygrid.visible = False
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")

    def show(self, bins: Sequence[tuple[float, float, int]]) -> None:
        with editing(self.pane):
            self.source.data = {
                "x": [(lo + hi) / 2 for lo, hi, _ in bins],
                "top": [n for _, _, n in bins],
                "width": [(hi - lo) * 0.9 for lo, hi, _ in bins],
            }


class QueryPanel(pn.viewable.Viewer):
    """WHERE box, Apply, error alert, filters and facets of `state.query`."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        query = self.state.query
        self.where = pn.widgets.TextInput(
            value=query.where,
            placeholder="SQL over frames f, e.g. f.weather = 'rain'",
            css_classes=["wb-where"],
            sizing_mode="stretch_width",
            label="WHERE",
        )
        self.apply_button = pn.widgets.Button(
            label="Apply", color="primary", css_classes=["wb-apply"]
        )
        self.error = TextAlert(
            "", alert_type="danger", css_classes=["wb-query-error"], visible=False
        )
        self.summary = TextPane("", css_classes=["wb-match-count"])
        self.label_field = pn.widgets.Select(
            label="Label field",
            options=[ALL_FIELDS, *self.state.fields],
            value=query.label_field or ALL_FIELDS,
        )
        self.labels = TextMultiChoice(label="Labels", options={}, css_classes=["wb-labels"])
        self.confidence = pn.widgets.RangeSlider(
            label="Confidence",
            start=0.0,
            end=1.0,
            step=0.05,
            value=query.confidence,
            css_classes=["wb-confidence"],
        )
        self.metadata = {
            key: TextMultiChoice(
                label=key.replace("_", " "), options={}, css_classes=[f"wb-meta-{key}"]
            )
            for key in PROMOTED_KEYS
        }
        self.tags = TextMultiChoice(label="Tags", options={}, css_classes=["wb-tags"])
        self.reset_button = pn.widgets.Button(label="Reset filters", css_classes=["wb-reset"])
        self.label_bars = TextPane("", css_classes=["wb-label-counts"])
        self._histograms = PerRender(Histogram)
        self._syncing = False

        self.apply_button.on_click(lambda _: self.apply())
        self.where.param.watch(lambda _: self.apply(), ["enter_pressed"])
        self.reset_button.on_click(lambda _: self.state.query.reset())
        self.label_field.param.watch(self._widgets_changed, ["value"])
        self.labels.param.watch(self._widgets_changed, ["value"])
        self.confidence.param.watch(self._widgets_changed, ["value_throttled"])
        self.tags.param.watch(self._widgets_changed, ["value"])
        for widget in self.metadata.values():
            widget.param.watch(self._widgets_changed, ["value"])
        query.param.watch(
            self._query_changed,
            ["where", "label_field", "labels", "confidence", "metadata", "tags"],
        )
        self.state.param.watch(self._show_error, ["error"])
        self.state.param.watch(self._show_facets, ["facets"])
        self._show_error()
        self._show_facets()

    def apply(self) -> None:
        """Run the text in the WHERE box (Enter or Apply); also re-runs an unchanged query."""
        text = self.where.value_input or ""
        if text == self.state.query.where:
            self.state.refresh()
        else:
            self.state.query.where = text

    def _widgets_changed(self, *events: param.parameterized.Event) -> None:
        if self._syncing:
            return
        field = self.label_field.value
        self.state.query.param.update(
            label_field="" if field == ALL_FIELDS else field,
            labels=list(self.labels.value),
            confidence=tuple(self.confidence.value),
            metadata={k: list(w.value) for k, w in self.metadata.items() if w.value},
            tags=list(self.tags.value),
        )

    def _query_changed(self, *events: param.parameterized.Event) -> None:
        """Show a query set from Python (or a reopened view) in the widgets."""
        query = self.state.query
        self._syncing = True
        try:
            self.where.value = query.where
            self.label_field.value = query.label_field or ALL_FIELDS
            self.labels.param.update(options=self._label_options(), value=list(query.labels))
            self.confidence.value = tuple(query.confidence) if query.confidence else FULL_RANGE
            for key, widget in self.metadata.items():
                chosen = [str(v) for v in query.metadata.get(key, [])]
                widget.param.update(options=self._meta_options(key, chosen), value=chosen)
            self.tags.param.update(
                options=self._tag_options(list(query.tags)), value=list(query.tags)
            )
        finally:
            self._syncing = False

    def _label_options(self) -> dict[str, str]:
        counts = self.state.facets.labels_of(self.state.query.label_field or None)
        return counted_options(counts, self.state.query.labels)

    def _meta_options(self, key: str, chosen: list[str]) -> dict[str, str]:
        return counted_options(self.state.facets.metadata.get(key, ()), chosen)

    def _tag_options(self, chosen: list[str]) -> dict[str, str]:
        return counted_options(self.state.facets.tags, chosen)

    def _show_error(self, *events: param.parameterized.Event) -> None:
        self.error.object = text(self.state.error)
        self.error.visible = bool(self.state.error)

    def _show_facets(self, *events: param.parameterized.Event) -> None:
        facets = self.state.facets
        query = self.state.query
        self._syncing = True
        try:
            self.labels.options = self._label_options()
            for key, widget in self.metadata.items():
                widget.options = self._meta_options(key, list(widget.value))
            self.tags.options = self._tag_options(list(query.tags))
        finally:
            self._syncing = False
        self.summary.object = html(
            "<b>{}</b> frames in <b>{}</b> contexts match", facets.frames, facets.contexts
        )
        self.label_bars.object = labels_html(facets.labels_of(query.label_field or None))
        for histogram in self._histograms:
            histogram.show(facets.confidence)

    @property
    def histogram(self) -> ColumnDataSource:
        """The histogram's data source in the first rendering."""
        return self._histograms.first.source

    def __panel__(self) -> pn.viewable.Viewable:
        histogram, new = self._histograms.take()
        if new:
            histogram.show(self.state.facets.confidence)
        return pn.Column(
            pn.Row(self.where, self.apply_button, sizing_mode="stretch_width"),
            self.error,
            self.summary,
            self.label_field,
            self.labels,
            self.confidence,
            histogram.pane,
            *self.metadata.values(),
            self.tags,
            self.reset_button,
            TextPane(html("<b>Labels</b>"), margin=(10, 10, 0, 10)),
            self.label_bars,
            sizing_mode="stretch_width",
        )
