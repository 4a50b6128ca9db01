"""The thumbnail grid: one custom component holding every tile of a page as data.

One component with a list of tile dicts costs about a fiftieth of one pane per tile to build
and update (DESIGN.md), and it still reports clicks: the browser sends
`{"event": "click", "id", "shift", "ctrl"}` or `{"event": "open", "id"}`, which reach the
handlers registered with `on_tile`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import panel as pn
import param

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class TileEvent:
    """A click on a tile: `open` is a double click; shift/ctrl are the modifier keys held."""

    id: str
    shift: bool = False
    ctrl: bool = False
    open: bool = False


class TileGrid(pn.custom.JSComponent):
    """Tiles of one page; see `workbench.ui.tiles` for the fields of a tile dict."""

    tiles = param.List(default=[], doc="The page's tiles, in display order.")
    selected = param.List(default=[], doc="Ids of the tiles drawn as selected.")
    active = param.String(default="", doc="Id of the tile open in the viewer.")
    mode: param.Selector[str] = param.Selector(default="contexts", objects=["contexts", "frames"])
    page = param.Integer(default=0)
    total = param.Integer(default=0, doc="How many tiles match, over all pages.")
    empty_text = param.String(default="Nothing matches the query.")

    _esm = _HERE / "grid.js"
    _stylesheets = [(_HERE / "grid.css").read_text()]  # noqa: RUF012 - Panel's class attribute

    def __init__(self, **params: Any) -> None:
        params.setdefault("css_classes", ["wb-grid"])
        params.setdefault("sizing_mode", "stretch_width")
        super().__init__(**params)
        self._handlers: list[Callable[[TileEvent], None]] = []

    def on_tile(self, handler: Callable[[TileEvent], None]) -> None:
        self._handlers.append(handler)

    def _handle_msg(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return
        event = TileEvent(
            id=data["id"],
            shift=bool(data.get("shift")),
            ctrl=bool(data.get("ctrl")),
            open=data.get("event") == "open",
        )
        for handler in self._handlers:
            handler(event)


class GridView(pn.viewable.Viewer):
    """The grid with its pager, contexts/frames toggle and selection buttons."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.grid = TileGrid(mode=state.mode, page=state.page, total=state.total, tiles=state.tiles)
        self.grid.on_tile(state.tile_click)
        self.mode = pn.widgets.RadioButtonGroup.from_param(
            state.param.mode, css_classes=["wb-grid-mode"], color="default", label=""
        )
        self.prev_page = pn.widgets.Button(label="‹ prev", css_classes=["wb-page-prev"], width=70)
        self.next_page = pn.widgets.Button(label="next ›", css_classes=["wb-page-next"], width=70)
        self.page_label = pn.pane.HTML("", css_classes=["wb-page-label"], margin=(8, 6))
        self.count = pn.pane.HTML("", css_classes=["wb-selection-count"], margin=(8, 12))
        self.select_all = pn.widgets.Button(
            label="Select all that match", css_classes=["wb-select-all"]
        )
        self.clear = pn.widgets.Button(label="Clear selection", css_classes=["wb-clear-selection"])
        # The spinner sets its own CSS classes: the hook goes on a box around it.
        self.spinner = pn.indicators.LoadingSpinner(value=False, size=24)
        self.busy = pn.Row(self.spinner, css_classes=["wb-busy"], visible=False, margin=(8, 6))
        self.prev_page.on_click(lambda _: state.previous_page())
        self.next_page.on_click(lambda _: state.next_page())
        self.select_all.on_click(lambda _: state.select_all())
        self.clear.on_click(lambda _: state.clear_selection())
        state.param.watch(self._show_page, ["tiles", "page", "total", "mode", "error"])
        state.param.watch(self._show_selection, ["selected_tiles", "selection"])
        state.context.param.watch(self._show_active, ["context_id", "index"])
        state.param.watch(self._show_busy, ["busy"])
        self._show_page()
        self._show_selection()

    def _show_page(self, *events: Any) -> None:
        state = self.state
        empty = (
            "The query failed: see the message above."
            if state.error
            else "Nothing matches the query."
        )
        self.grid.param.update(
            mode=state.mode,
            page=state.page,
            total=state.total,
            empty_text=empty,
            tiles=state.tiles,
            selected=list(state.selected_tiles),
            active=state.active_tile,
        )
        what = "contexts" if state.mode == "contexts" else "frames"
        self.page_label.object = f"page {state.page + 1} / {state.pages} · {state.total} {what}"
        self.prev_page.disabled = state.page <= 0
        self.next_page.disabled = state.page >= state.pages - 1

    def _show_selection(self, *events: Any) -> None:
        self.grid.selected = list(self.state.selected_tiles)
        self.count.object = html.escape(self.state.selection.summary())

    def _show_active(self, *events: Any) -> None:
        self.grid.active = self.state.active_tile

    def _show_busy(self, *events: Any) -> None:
        self.spinner.value = self.busy.visible = self.state.busy

    def __panel__(self) -> pn.viewable.Viewable:
        pager = pn.Row(self.prev_page, self.page_label, self.next_page, css_classes=["wb-pager"])
        header = pn.Row(self.mode, pager, self.busy, self.count, self.select_all, self.clear)
        return pn.Column(header, self.grid, sizing_mode="stretch_width")
