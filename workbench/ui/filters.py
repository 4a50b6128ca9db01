"""The active filters as removable chips, and the range filters of numeric keys.

`filter_chips(query)` lists what narrows the query, one chip per value (a label, a metadata
value, a tag, a range, the WHERE text, the sort); `remove_chip(query, key)` takes that one
away. The chips are drawn by a small component from one JSON string, as text. A range filter is a slider
over the key's values in the whole catalog with the histogram of the current query's values
under it; leaving it at its full range removes the filter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from workbench.query.ranges import NumericKey
from workbench.ui.bars import SparkBars
from workbench.ui.facets import Facets
from workbench.ui.modules import ServedModule
from workbench.ui.query_state import FULL_RANGE, QUERY_PARAMS, QueryState
from workbench.ui.text import TextPane, css_class, html

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState

MAX_CHIP_TEXT = 40
SEP = "\x1f"  # between the parts of a chip's key (never in a label, key or tag one types)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CHIP_TEXT else text[: MAX_CHIP_TEXT - 1] + "…"


def _number(value: float | None) -> str:
    return "…" if value is None else f"{value:g}"


def filter_chips(query: QueryState) -> list[tuple[str, str]]:
    """(key, text) of every active filter, in the order the query applies them."""
    chips: list[tuple[str, str]] = []
    if query.base:
        chips.append(("base", "saved view's stages"))
    if query.where.strip():
        chips.append(("where", "WHERE " + _short(query.where)))
    for key, values in sorted(query.metadata.items()):
        chips += [(SEP.join(("metadata", key, str(v))), f"{key}: {v}") for v in values]
    for key, (low, high) in sorted(query.ranges.items()):
        chips.append((SEP.join(("range", key)), f"{key} {_number(low)} – {_number(high)}"))
    chips += [(SEP.join(("tag", t)), f"tag: {t}") for t in query.tags]
    field = query.label_field
    chips += [(SEP.join(("label", v)), f"{field or 'label'}: {v}") for v in query.labels]
    if tuple(query.confidence) != FULL_RANGE:
        low, high = query.confidence
        chips.append(("confidence", f"confidence {low:g} – {high:g}"))
    if query.sort_by:
        order = "↓" if query.sort_reverse else "↑"
        chips.append(("sort", f"sorted by {query.sort_by} {order}"))
    return chips


def remove_chip(query: QueryState, key: str) -> None:
    """Take away the filter a chip stands for."""
    kind, *parts = key.split(SEP)
    if kind == "base":
        query.base = None
    elif kind == "where":
        query.where = ""
    elif kind == "metadata":
        name, value = parts
        rest = [v for v in query.metadata.get(name, []) if str(v) != value]
        query.metadata = {k: v for k, v in {**query.metadata, name: rest}.items() if v}
    elif kind == "range":
        query.ranges = {k: v for k, v in query.ranges.items() if k != parts[0]}
    elif kind == "tag":
        query.tags = [t for t in query.tags if t != parts[0]]
    elif kind == "label":
        query.labels = [v for v in query.labels if v != parts[0]]
    elif kind == "confidence":
        query.confidence = FULL_RANGE
    elif kind == "sort":
        query.param.update(sort_by="", sort_reverse=False)


class FilterChips(ServedModule, pn.custom.JSComponent):
    """One chip per active filter (a click removes it), and "clear all": drawn from one JSON
    string (no widget is built per chip, so a new query sends one string)."""

    chips_json = param.String(default="[]", doc="[[key, text], ...] of the active filters.")

    _esm = """
    export function render({ model }) {
      const root = document.createElement("div");
      root.className = "wb-chips-root";
      Object.assign(root.style, { display: "flex", flexWrap: "wrap", gap: "4px" });
      function chip(text, key, className) {
        const button = document.createElement("button");
        button.className = className;
        button.textContent = text;
        button.dataset.key = key;
        Object.assign(button.style, { border: "1px solid #0072b5", borderRadius: "12px",
          background: className === "wb-chip" ? "#e8f1f8" : "#fff", color: "#0b4f7c",
          fontSize: "12px", padding: "1px 8px", cursor: "pointer", maxWidth: "100%",
          overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" });
        return button;
      }
      function draw() {
        const chips = JSON.parse(model.chips_json);
        const nodes = chips.map(([key, text]) => chip(`${text} ✕`, key, "wb-chip"));
        if (chips.length > 1) nodes.push(chip("clear all", "", "wb-chips-clear"));
        root.replaceChildren(...nodes);
      }
      root.addEventListener("click", (event) => {
        const button = event.target.closest("button");
        if (button) model.send_msg({ key: button.dataset.key });
      });
      model.on("chips_json", draw);
      draw();
      return root;
    }
    """

    def __init__(self, query: QueryState, **params: Any) -> None:
        params.setdefault("css_classes", ["wb-chips"])
        params.setdefault("sizing_mode", "stretch_width")
        super().__init__(**params)
        self.query = query
        query.param.watch(self._show, list(QUERY_PARAMS))
        self._show()

    @property
    def chips(self) -> list[tuple[str, str]]:
        """(key, text) of the chips on screen."""
        return [(key, text) for key, text in json.loads(self.chips_json)]

    def _show(self, *events: param.parameterized.Event) -> None:
        self.chips_json = json.dumps(filter_chips(self.query), ensure_ascii=False)

    def click(self, key: str) -> None:
        """What a click on a chip does ('': clear all)."""
        if key:
            remove_chip(self.query, key)
        else:
            self.query.reset()

    def _handle_msg(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("key"), str):
            self.click(data["key"])


class RangeFilter(pn.viewable.Viewer):
    """The slider and histogram of one numeric key, bound to `query.ranges[key]`."""

    def __init__(self, query: QueryState, key: NumericKey, **params: Any) -> None:
        super().__init__(**params)
        self.query, self.key = query, key
        low, high = key.low, key.high
        step = _step(low, high)
        self.slider = pn.widgets.RangeSlider(
            label=key.key.removeprefix("metadata."), start=low, end=high, step=step,
            value=self._value(),
            css_classes=[css_class("wb-range-", key.key)], sizing_mode="stretch_width",
        )  # fmt: skip
        self.histogram = SparkBars(css_classes=[css_class("wb-range-bins-", key.key)])
        self.slider.param.watch(self._picked, ["value_throttled"])
        query.param.watch(self._shown, ["ranges"])

    def _value(self) -> tuple[float, float]:
        low, high = self.query.ranges.get(self.key.key, (None, None))
        return (
            self.key.low if low is None else float(low),
            self.key.high if high is None else float(high),
        )

    def _picked(self, event: param.parameterized.Event) -> None:
        low, high = event.new
        ranges = {k: v for k, v in self.query.ranges.items() if k != self.key.key}
        if low > self.key.low or high < self.key.high:
            ranges[self.key.key] = (
                low if low > self.key.low else None,
                high if high < self.key.high else None,
            )
        if ranges != self.query.ranges:
            self.query.ranges = ranges

    def _shown(self, event: param.parameterized.Event) -> None:
        value = self._value()
        if tuple(self.slider.value) != value:
            self.slider.value = value

    def show_counts(self, facets: Facets) -> None:
        self.histogram.set_counts([n for _, _, n in facets.ranges.get(self.key.key, ())])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.slider, self.histogram, sizing_mode="stretch_width", margin=0)


def _step(low: float, high: float) -> float:
    span = high - low
    if span <= 0:
        return 1.0
    if float(low).is_integer() and float(high).is_integer() and span >= 20:
        return max(1.0, float(int(span / 200)))
    return span / 200


class RangeFilters(pn.viewable.Viewer):
    """A RangeFilter per numeric key of the state, built once the keys are known."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.filters: dict[str, RangeFilter] = {}
        self.box = pn.Column(css_classes=["wb-ranges"], sizing_mode="stretch_width", margin=0)
        state.param.watch(self._keys, ["numeric_keys"])
        state.param.watch(self._facets, ["facets"])
        self._keys()

    def _keys(self, *events: param.parameterized.Event) -> None:
        # A key with one value throughout has nothing to filter.
        keys: Sequence[NumericKey] = [k for k in self.state.numeric_keys if k.high > k.low]
        self.filters = {k.key: RangeFilter(self.state.query, k) for k in keys}
        for item in self.filters.values():
            item.show_counts(self.state.facets)
        shown: list[Any] = list(self.filters.values())
        self.box[:] = shown or [TextPane(html("<i>no numeric keys</i>"))]

    def _facets(self, *events: param.parameterized.Event) -> None:
        for item in self.filters.values():
            item.show_counts(self.state.facets)

    def __panel__(self) -> pn.viewable.Viewable:
        return self.box
