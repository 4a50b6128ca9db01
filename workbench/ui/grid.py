"""The thumbnail grid: one custom component holding every tile of a page as data.

One component with the page's tiles as data costs about a fiftieth of one pane per tile to
build and update (DESIGN.md), and it still reports clicks: the browser sends
`{"event": "click", "id", "shift", "ctrl"}` or `{"event": "open", "id"}`, which reach the
handlers registered with `on_tile`.

The page goes to the browser as one JSON string (a `GridPage`), parsed in grid.js. A list of
tile dicts as a parameter costs far more on every page: param deep-compares the old and new
lists, Bokeh walks every nested value looking for model references, and its serialiser
encodes every number on its own (docs/benchmarks.md, "Browsing"). A string is compared and
sent as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from workbench.ui.later import wrapping_row
from workbench.ui.modules import ServedModule
from workbench.ui.selection import Selection
from workbench.ui.text import Html, LiveText, TextPane, text
from workbench.ui.tiles import tiles_css, tiles_esm
from workbench.ui.wording import plural

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState

_HERE = Path(__file__).parent
# A row of controls that wraps in a narrow page or notebook cell instead of running off it.
WRAP = {"flex-wrap": "wrap"}
NOTHING_MATCHES = "Nothing matches the query."
TILE_SIZE = 168
NO_SORT = "(no sort)"
QUERY_FAILED = "The query failed: see the message above."


@dataclass(frozen=True)
class TileEvent:
    """A click on a tile: `open` is a double click; shift/ctrl are the modifier keys held."""

    id: str
    shift: bool = False
    ctrl: bool = False
    open: bool = False

    @classmethod
    def of_message(cls, data: Any) -> TileEvent | None:
        """The event a component's message from the browser names, or None when it names no
        tile (messages are input from the page: anything else is ignored)."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return None
        return cls(
            id=data["id"],
            shift=bool(data.get("shift")),
            ctrl=bool(data.get("ctrl")),
            open=data.get("event") == "open",
        )


@dataclass(frozen=True)
class GridPage:
    """What the grid draws: one page of tiles (see `workbench.ui.tiles` for their fields),
    where it is among all pages, and the text shown when there are no tiles."""

    tiles: Sequence[Mapping[str, Any]] = ()
    mode: str = "contexts"
    page: int = 0
    total: int = 0
    empty_text: str = NOTHING_MATCHES

    def to_json(self) -> str:
        """The page as grid.js reads it."""
        content = {
            "mode": self.mode,
            "page": self.page,
            "total": self.total,
            "empty_text": self.empty_text,
            "tiles": list(self.tiles),
        }
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False)


class TileGrid(ServedModule, pn.custom.JSComponent):
    """Tiles of one page, drawn by grid.js; change them with `set_page`."""

    page_json = param.String(
        default=GridPage().to_json(), doc="The page on screen, as `GridPage.to_json` wrote it."
    )
    selected = param.List(default=[], doc="Ids of the tiles drawn as selected.")
    active = param.String(default="", doc="Id of the tile open in the viewer.")
    marks_json = param.String(
        default="{}", doc="Tile id -> [{t: text, k: tag | run | invalid}], as JSON."
    )
    tile_size = param.Integer(default=TILE_SIZE, bounds=(80, 480), doc="Least tile width, px.")
    channel = param.String(
        default="", doc="The viewer's announcements: in frames mode the drawn frame is active."
    )

    _esm = tiles_esm("grid.js")
    _stylesheets = tiles_css("grid.css")

    def __init__(self, page: GridPage | None = None, **params: Any) -> None:
        params.setdefault("css_classes", ["wb-grid"])
        params.setdefault("sizing_mode", "stretch_width")
        if page is None:
            # Panel's clone() passes the parameters back, page_json among them.
            page = (
                GridPage(**json.loads(params["page_json"])) if "page_json" in params else GridPage()
            )
        self._page = page
        params["page_json"] = page.to_json()
        super().__init__(**params)
        self._handlers: list[Callable[[TileEvent], None]] = []

    @property
    def page(self) -> GridPage:
        """The page on screen."""
        return self._page

    @property
    def tiles(self) -> Sequence[Mapping[str, Any]]:
        """The tiles on screen, in display order."""
        return self._page.tiles

    def set_page(self, page: GridPage) -> bool:
        """Draw `page`: one message to the browser, none when it is what is on screen.
        Returns whether it was sent."""
        if page == self._page:
            return False
        self._page = page
        self.page_json = page.to_json()
        return True

    def on_tile(self, handler: Callable[[TileEvent], None]) -> None:
        self._handlers.append(handler)

    def _handle_msg(self, data: Any) -> None:
        event = TileEvent.of_message(data)
        if event is None:
            return
        for handler in self._handlers:
            handler(event)


class GridView(pn.viewable.Viewer):
    """The grid with its pager, contexts/frames toggle and selection buttons, bound to the
    state: the toggle to `mode` (both ways), the pager, the count, the spinner, and the
    grid's selected and open tiles follow the state's parameters."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        context = state.context
        self.tile_size = pn.widgets.IntSlider(
            label="tile size", start=100, end=400, step=10, value=TILE_SIZE, width=140,
            css_classes=["wb-tile-size"],
        )  # fmt: skip
        self.grid = TileGrid(
            self._current_page(),
            selected=state.param.selected_tiles,
            # In frames mode the page marks the frame the viewer drew (grid.js, `channel`).
            active=pn.bind(self._active, state.param.mode, context.param.context_id),
            marks_json=pn.bind(_marks_json, state.param.tile_marks),
            tile_size=self.tile_size.param.value,
        )  # fmt: skip
        query = state.query
        self.sort = pn.widgets.Select(
            label="sort by", value=query.sort_by,
            options=pn.bind(self._sort_options, state.param.numeric_keys, query.param.sort_by),
            css_classes=["wb-sort"], width=150,
        )  # fmt: skip
        self.sort_order = pn.widgets.Toggle.from_param(
            query.param.sort_reverse, label="↓ largest first", css_classes=["wb-sort-reverse"],
            width=120,
        )  # fmt: skip
        self.sort.param.watch(self._sorted, ["value"])
        query.param.watch(self._show_sort, ["sort_by"])
        self.grid.on_tile(state.tile_click)
        self.mode = pn.widgets.RadioButtonGroup.from_param(
            state.param.mode, css_classes=["wb-grid-mode"], color="default", label=""
        )
        paging = (state.param.page, state.param.total, state.param.mode)
        self.prev_page = pn.widgets.Button(
            label="‹ prev", css_classes=["wb-page-prev"], width=70,
            disabled=pn.bind(_first_page, state.param.page),
        )  # fmt: skip
        self.next_page = pn.widgets.Button(
            label="next ›", css_classes=["wb-page-next"], width=70,
            disabled=pn.bind(self._last_page, state.param.page, state.param.total),
        )  # fmt: skip
        self.page_label = LiveText(
            text=pn.bind(self._page_text, *paging), css_classes=["wb-page-label"], margin=(8, 6)
        )
        self.count = TextPane(
            pn.bind(_summary, state.param.selection),
            css_classes=["wb-selection-count"],
            margin=(8, 12),
        )
        self.select_all = pn.widgets.Button(
            label="Select all that match", css_classes=["wb-select-all"]
        )
        self.clear = pn.widgets.Button(label="Clear selection", css_classes=["wb-clear-selection"])
        # The spinner sets its own CSS classes: the hook goes on a box around it.
        self.spinner = pn.indicators.LoadingSpinner(value=state.param.busy, size=24)
        self.busy = pn.Row(
            self.spinner, css_classes=["wb-busy"], visible=state.param.busy, margin=(8, 6)
        )
        self.prev_page.on_click(lambda _: state.previous_page())
        self.next_page.on_click(lambda _: state.next_page())
        self.select_all.on_click(lambda _: state.select_all())
        self.clear.on_click(lambda _: state.clear_selection())
        # An explicit watcher sends the page: it goes to the browser as one JSON string, and
        # only when it differs from what is on screen. The state sets a new page's tiles
        # together with its page number and total, so it follows `tiles`, not `page` (a new
        # query sets page 0 before it reads the tiles: following `page` would draw the old
        # tiles first). Every page is a new list: onlychanged=False spares param a deep
        # comparison of two pages of tiles.
        state.param.watch(self._show_page, ["tiles"], onlychanged=False)
        state.param.watch(self._show_page, ["total", "mode", "error"])

    def _sort_options(self, numeric: list[Any], sort_by: str) -> dict[str, str]:
        """Every frame column but the metadata JSON, then the numeric metadata keys."""
        columns = sorted(self.state.view.frame_columns - {"metadata"})
        keys = [k.key for k in numeric if k.key not in columns]
        chosen = [sort_by] if sort_by and sort_by not in (*columns, *keys) else []
        return {NO_SORT: "", **{c: c for c in (*columns, *keys, *chosen)}}

    def _sorted(self, event: param.parameterized.Event) -> None:
        if event.new != self.state.query.sort_by:
            self.state.query.sort_by = event.new

    def _show_sort(self, event: param.parameterized.Event) -> None:
        if event.new != self.sort.value:
            self.sort.value = event.new

    def _current_page(self) -> GridPage:
        state = self.state
        return GridPage(
            tiles=state.tiles,
            mode=state.mode,
            page=state.page,
            total=state.total,
            empty_text=QUERY_FAILED if state.error else NOTHING_MATCHES,
        )

    def _show_page(self, *events: Any) -> None:
        self.grid.set_page(self._current_page())

    def _active(self, mode: str, context_id: str | None) -> str:
        return self.state.active_tile

    def _last_page(self, page: int, total: int) -> bool:
        return page >= self.state.pages - 1

    def _page_text(self, page: int, total: int, mode: str) -> str:
        what = "context" if mode == "contexts" else "frame"
        return f"page {page + 1} / {self.state.pages} · {plural(total, what)}"

    def __panel__(self) -> pn.viewable.Viewable:
        pager = pn.Row(self.prev_page, self.page_label, self.next_page, css_classes=["wb-pager"])
        header = pn.Row(
            self.mode, pager, self.busy, self.count, self.select_all, self.clear, styles=WRAP
        )
        arranging = wrapping_row(self.sort, self.sort_order, self.tile_size)
        return pn.Column(header, arranging, self.grid, sizing_mode="stretch_width")


def _marks_json(marks: dict[str, Any]) -> str:
    return json.dumps(marks, separators=(",", ":"), ensure_ascii=False)


def _first_page(page: int) -> bool:
    return page <= 0


def _summary(selection: Selection) -> Html:
    return text(selection.summary())
