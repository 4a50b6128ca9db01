"""Facet counts as bars a person clicks: a label, a metadata value or a tag per row.

One custom component per facet draws its rows from one JSON string (like the grid): a bar
as long as the count, the count, and the row marked when its value is in the filter. A click
sends the value back, and the query panel adds it to the filter or takes it out. Values
come from data, so the rows are built with textContent, never markup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import panel as pn
import param

from workbench.ui.modules import ServedModule

MAX_ROWS = 12


def bars_json(
    counts: Sequence[tuple[str, int]], chosen: Sequence[str], limit: int = MAX_ROWS
) -> str:
    """The rows (the `limit` commonest, chosen ones kept), and how many more there are."""
    shown = list(counts[:limit])
    present = {value for value, _ in shown}
    shown += [(value, 0) for value in chosen if value not in present]
    rows = [{"v": value, "n": n, "on": value in chosen} for value, n in shown]
    more = max(len(counts) - limit, 0)
    top = max((n for _, n in shown), default=0)
    return json.dumps({"rows": rows, "more": more, "top": top}, ensure_ascii=False)


class FacetBars(ServedModule, pn.custom.JSComponent):
    """Clickable count bars; `on_pick(handler)` hears the value clicked."""

    rows_json = param.String(default='{"rows": [], "more": 0, "top": 0}')
    empty_text = param.String(default="none")

    _esm = """
    function el(tag, text) {
      const node = document.createElement(tag);
      if (text !== undefined) node.textContent = String(text);
      return node;
    }
    export function render({ model }) {
      const root = el("div");
      root.className = "wb-bars-root";
      function draw() {
        const data = JSON.parse(model.rows_json);
        const rows = data.rows || [];
        root.replaceChildren();
        if (!rows.length) {
          const none = el("i", model.empty_text);
          none.style.fontSize = "12px";
          root.append(none);
        }
        const top = Math.max(Number(data.top) || 0, 1);
        for (const row of rows) {
          const line = el("div");
          line.className = "wb-bar" + (row.on ? " wb-bar-on" : "");
          line.dataset.value = String(row.v);
          line.title = String(row.v);
          Object.assign(line.style, { display: "flex", gap: "6px", fontSize: "12px",
            cursor: "pointer", alignItems: "center", padding: "1px 2px", borderRadius: "3px",
            background: row.on ? "#dcecf8" : "" });
          const name = el("span", row.v);
          Object.assign(name.style, { width: "96px", overflow: "hidden",
            textOverflow: "ellipsis", whiteSpace: "nowrap", fontWeight: row.on ? "600" : "" });
          const bar = el("span");
          Object.assign(bar.style, { background: "#0072b5", height: "10px",
            width: `${Math.round(110 * (Number(row.n) || 0) / top)}px` });
          line.append(name, bar, el("span", row.n));
          root.append(line);
        }
        if (data.more > 0) {
          const more = el("i", `and ${data.more} more`);
          more.style.fontSize = "12px";
          root.append(more);
        }
      }
      root.addEventListener("click", (event) => {
        const line = event.target.closest(".wb-bar");
        if (line) model.send_msg({ value: line.dataset.value });
      });
      model.on(["rows_json", "empty_text"], draw);
      draw();
      return root;
    }
    """

    def __init__(self, **params: Any) -> None:
        params.setdefault("sizing_mode", "stretch_width")
        super().__init__(**params)
        self._handlers: list[Callable[[str], object]] = []

    def on_pick(self, handler: Callable[[str], object]) -> None:
        self._handlers.append(handler)

    def pick(self, value: str) -> None:
        """What a click on the row of `value` does."""
        for handler in self._handlers:
            handler(value)

    def _handle_msg(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("value"), str):
            self.pick(data["value"])

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows on screen: {"v": value, "n": count, "on": chosen}."""
        return list(json.loads(self.rows_json)["rows"])


def toggled(values: Sequence[str], value: str) -> list[str]:
    """`values` with `value` added, or taken out when it is there."""
    return [v for v in values if v != value] if value in values else [*values, value]


class SparkBars(ServedModule, pn.custom.JSComponent):
    """A small histogram (counts per bin, drawn as bars), shown under a range slider."""

    counts_json = param.String(default="[]", doc="Counts per bin, low to high, as JSON.")

    _esm = """
    export function render({ model }) {
      const root = document.createElement("div");
      root.className = "wb-spark";
      Object.assign(root.style, { display: "flex", alignItems: "flex-end", gap: "1px",
        height: "28px", padding: "0 10px" });
      function draw() {
        const counts = JSON.parse(model.counts_json).map((n) => Number(n) || 0);
        const top = Math.max(...counts, 1);
        root.replaceChildren(...counts.map((n) => {
          const bar = document.createElement("div");
          Object.assign(bar.style, { flex: "1 1 0", background: n ? "#0072b5" : "#dde",
            height: `${Math.max(Math.round(28 * n / top), 1)}px` });
          bar.title = String(n);
          return bar;
        }));
      }
      model.on("counts_json", draw);
      draw();
      return root;
    }
    """

    def __init__(self, **params: Any) -> None:
        params.setdefault("sizing_mode", "stretch_width")
        params.setdefault("height", 30)
        super().__init__(**params)

    def set_counts(self, counts: Sequence[int]) -> None:
        self.counts_json = json.dumps([int(n) for n in counts])
