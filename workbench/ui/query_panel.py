"""The query panel: the WHERE box, filters with facet counts, and the confidence histogram.

Widgets write the query's parameters; the facets computed for the query feed back into the
widgets' options (with counts), never into their values, so updating counts cannot change
the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import panel as pn
import param

from workbench.model.records import PROMOTED_KEYS
from workbench.ui.bars import FacetBars, SparkBars, bars_json, toggled
from workbench.ui.choices import CountedChoice
from workbench.ui.facets import Facets
from workbench.ui.filters import FilterChips, RangeFilters
from workbench.ui.state import WorkbenchState
from workbench.ui.text import Html, TextAlert, TextPane, html, text
from workbench.ui.wording import agree, nouns

ALL_FIELDS = "(all fields)"
# Rows of count bars under each metadata key (labels and tags show more).
METADATA_ROWS = 6


def counted_options(counts: Sequence[tuple[Any, int]], keep: Sequence[str]) -> dict[str, str]:
    """MultiChoice options "value (count)" -> value; chosen values stay even at no count.
    The labels are text: CountedChoice shows them as such."""
    options = {f"{value} ({n})": str(value) for value, n in counts if value is not None}
    present = set(options.values())
    options.update({f"{value} (0)": value for value in keep if value not in present})
    return options


class QueryPanel(pn.viewable.Viewer):
    """WHERE box, Apply, error alert, filters and facets of `state.query`.

    The labels, confidence and tags widgets are made from their query parameters
    (`from_param`, both ways); their options, the counts and the error follow the state
    through references. Explicit watchers are left where the widget and the parameter hold
    different values (the label field's "(all fields)" is the query's "", the metadata
    widgets share one dict), or where only some changes of the widget may reach the query
    (the WHERE box runs on Enter or Apply, not as it is typed or when it loses focus).
    """

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        query = self.state.query
        facets = state.param.facets
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
            pn.bind(text, state.param.error),
            alert_type="danger",
            css_classes=["wb-query-error"],
            visible=pn.bind(bool, state.param.error),
        )
        counting = state.param.counting
        self.summary = TextPane(
            pn.bind(_summary_html, facets, counting), css_classes=["wb-match-count"]
        )
        self.label_field = pn.widgets.Select(
            label="Label field",
            options=[ALL_FIELDS, *self.state.fields],
            value=query.label_field or ALL_FIELDS,
        )
        self.labels = CountedChoice.from_param(
            query.param.labels,
            label="Labels",
            options=pn.bind(_label_options, facets, query.param.label_field, query.param.labels),
            css_classes=["wb-labels"],
        )
        self.confidence = pn.widgets.RangeSlider.from_param(
            query.param.confidence,
            throttled=True,  # the query runs when the slider is let go
            label="Confidence",
            step=0.05,
            css_classes=["wb-confidence"],
        )
        self.chips = FilterChips(query)
        # Count bars a click adds to the filter (or takes out of it).
        self.label_bars = FacetBars(
            rows_json=pn.bind(_label_bars, facets, query.param.label_field, query.param.labels),
            empty_text=pn.bind(_empty_text, counting, "no labels"),
            css_classes=["wb-label-counts"],
        )  # fmt: skip
        self.label_bars.on_pick(lambda v: query.param.update(labels=toggled(query.labels, v)))
        # Counts of the ROIs' confidence in bins from 0 to 1, as bars drawn by the browser.
        self.histogram = SparkBars(css_classes=["wb-confidence-histogram"])
        self.histogram.set_counts([n for _, _, n in state.facets.confidence])

        self.apply_button.on_click(lambda _: self.apply())
        self.where.param.watch(lambda _: self.apply(), ["enter_pressed"])
        # A query set from Python (or a reopened view) shows in the WHERE box.
        query.param.watch(self._show_where, ["where"])
        # "(all fields)" in the widget is "" in the query; each side writes the other only
        # when they differ, so neither echoes the other back.
        self.label_field.param.watch(self._pick_field, ["value"])
        query.param.watch(self._show_field, ["label_field"])
        state.param.watch(self._show_histograms, ["facets"])

    # The Metadata, Numbers and Tags cards' widgets and the reset button are made when the
    # cards are (served: once the page is on screen), not with the first document.
    @cached_property
    def metadata(self) -> dict[str, CountedChoice]:
        return {key: self._metadata_choice(key) for key in PROMOTED_KEYS}

    @cached_property
    def metadata_bars(self) -> dict[str, FacetBars]:
        return {key: self._metadata_bars(key) for key in PROMOTED_KEYS}

    @cached_property
    def tags(self) -> CountedChoice:
        query = self.state.query
        return CountedChoice.from_param(
            query.param.tags,
            label="Tags",
            options=pn.bind(_tag_options, self.state.param.facets, query.param.tags),
            css_classes=["wb-tags"],
        )

    @cached_property
    def tag_bars(self) -> FacetBars:
        query = self.state.query
        bars = FacetBars(
            rows_json=pn.bind(_tag_bars, self.state.param.facets, query.param.tags),
            empty_text="no tags", css_classes=["wb-tag-counts"],
        )  # fmt: skip
        bars.on_pick(lambda v: query.param.update(tags=toggled(query.tags, v)))
        return bars

    @cached_property
    def ranges(self) -> RangeFilters:
        return RangeFilters(self.state)

    @cached_property
    def reset_button(self) -> pn.widgets.Button:
        button = pn.widgets.Button(label="Reset filters", css_classes=["wb-reset"])
        button.on_click(lambda _: self.state.query.reset())
        return button

    def _metadata_choice(self, key: str) -> CountedChoice:
        """The choice of one metadata key: its values in the query's `metadata` dict."""
        query = self.state.query
        widget = CountedChoice(
            label=key.replace("_", " "),
            options=pn.bind(_metadata_options, self.state.param.facets, query.param.metadata, key),
            value=_chosen(query.metadata, key),
            css_classes=[f"wb-meta-{key}"],
        )

        def picked(event: param.parameterized.Event) -> None:
            chosen = {k: list(v) for k, v in query.metadata.items() if k != key and v}
            if event.new:
                chosen[key] = list(event.new)
            if chosen != query.metadata:
                query.metadata = chosen

        def shown(event: param.parameterized.Event) -> None:
            values = _chosen(event.new, key)
            if values != widget.value:
                widget.value = values

        widget.param.watch(picked, ["value"])
        query.param.watch(shown, ["metadata"])
        return widget

    def _metadata_bars(self, key: str) -> FacetBars:
        query = self.state.query
        bars = FacetBars(
            rows_json=pn.bind(_metadata_bars, self.state.param.facets, query.param.metadata, key),
            empty_text="no values", css_classes=[f"wb-meta-counts-{key}"],
        )  # fmt: skip

        def picked(value: str) -> None:
            chosen = toggled(_chosen(query.metadata, key), value)
            query.metadata = {k: v for k, v in {**query.metadata, key: chosen}.items() if v}

        bars.on_pick(picked)
        return bars

    def _numbers_card(self) -> pn.Card:
        """The range filters, folded until opened: opening it first finds the numeric keys
        and builds them (unless a saved view's ranges ask for them at once)."""
        # Its content is built in the page when first opened, not with the page.
        card = _card("Numbers", collapsed=not self.state.query.ranges)

        def opened(*events: param.parameterized.Event) -> None:
            if not card.collapsed:
                if not card.objects:
                    card[:] = [self.ranges]
                self.state.load_numeric_keys()

        card.param.watch(opened, ["collapsed"])
        opened()
        return card

    def apply(self) -> None:
        """Run the text in the WHERE box (Enter or Apply); also re-runs an unchanged query."""
        text = self.where.value_input or ""
        if text == self.state.query.where:
            self.state.refresh()
        else:
            self.state.query.where = text

    def _show_where(self, event: param.parameterized.Event) -> None:
        self.where.value = event.new

    def _pick_field(self, event: param.parameterized.Event) -> None:
        field = "" if event.new == ALL_FIELDS else event.new
        if field != self.state.query.label_field:
            self.state.query.label_field = field

    def _show_field(self, event: param.parameterized.Event) -> None:
        shown = event.new or ALL_FIELDS
        if shown != self.label_field.value:
            self.label_field.value = shown

    def _show_histograms(self, *events: param.parameterized.Event) -> None:
        self.histogram.set_counts([n for _, _, n in self.state.facets.confidence])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.main_part(), self.more_filters(), sizing_mode="stretch_width")

    def main_part(self) -> pn.viewable.Viewable:
        """The WHERE box, the active filters, the count and the Labels card (with the
        confidence histogram)."""
        return pn.Column(
            pn.Row(self.where, self.apply_button, sizing_mode="stretch_width"),
            self.error,
            self.chips,
            self.summary,
            _card(
                "Labels",
                self.label_field,
                self.labels,
                self.label_bars,
                self.confidence,
                self.histogram,
            ),
            sizing_mode="stretch_width",
            margin=0,
        )

    def more_filters(self) -> pn.viewable.Viewable:
        """The Metadata, Numbers and Tags cards and the reset button (widgets only: the
        served app adds them once the page is on screen)."""
        metadata = [
            item for key in PROMOTED_KEYS
            for item in (self.metadata[key], self.metadata_bars[key])
        ]  # fmt: skip
        return pn.Column(
            _card("Metadata", *metadata),
            self._numbers_card(),
            _card("Tags", self.tags, self.tag_bars),
            self.reset_button,
            sizing_mode="stretch_width",
            margin=0,
        )


def _card(title: str, *objects: Any, collapsed: bool = False) -> pn.Card:
    return pn.Card(
        *objects, title=title, sizing_mode="stretch_width", margin=(4, 0),
        css_classes=["wb-filter-card"], collapsed=collapsed,
    )  # fmt: skip


def _chosen(metadata: dict[str, Any], key: str) -> list[str]:
    return [str(v) for v in metadata.get(key, [])]


def _label_options(facets: Facets, label_field: str, labels: list[str]) -> dict[str, str]:
    return counted_options(facets.labels_of(label_field or None), labels)


def _metadata_options(facets: Facets, metadata: dict[str, Any], key: str) -> dict[str, str]:
    return counted_options(facets.metadata.get(key, ()), _chosen(metadata, key))


def _tag_options(facets: Facets, tags: list[str]) -> dict[str, str]:
    return counted_options(facets.tags, tags)


def _empty_text(counting: bool, none: str) -> str:
    return "counting…" if counting else none


def _summary_html(facets: Facets, counting: bool = False) -> Html:
    if counting:  # the counts shown would be the last query's, or none yet
        return html('<span class="wb-counting">Counting the matches…</span>')
    return html(
        "<b>{}</b> {} in <b>{}</b> {} {}",
        facets.frames,
        nouns(facets.frames, "frame"),
        facets.contexts,
        nouns(facets.contexts, "context"),
        agree(facets.frames, "matches", "match"),
    )


def _label_bars(facets: Facets, label_field: str, labels: list[str]) -> str:
    return bars_json(facets.labels_of(label_field or None), labels)


def _tag_bars(facets: Facets, tags: list[str]) -> str:
    return bars_json(list(facets.tags), tags)


def _metadata_bars(facets: Facets, metadata: dict[str, Any], key: str) -> str:
    counts = [(str(v), n) for v, n in facets.metadata.get(key, ()) if v is not None]
    return bars_json(counts, _chosen(metadata, key), METADATA_ROWS)
