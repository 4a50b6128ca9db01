"""The patches view: one tile per ROI of the current view, the crop around it.

Patches page through the ROIs of the app's view (what the query, the filters and the
analysis panels keep: an evaluation's false positives, a confusion-matrix cell, a lasso...)
the way the grid pages through frames: one query picks the page's ROIs first and then joins
their frames and sources (workbench.query.roi_pages), whatever the number of ROIs. The crop
is the frame's thumbnail (the same cached picture the grid shows) scaled and moved by the
browser, so patches of one frame share one download.

Selecting patches selects their frames, with the grid's selection model: click selects one,
shift-click the range from the last click, ctrl-click adds or removes one; each patch is a
pick of its own (`"p:" + frame id + "/" + ROI id`), so the actions bar acts on the frames
(and scenes) of the picked ROIs. A double click opens the ROI's frame in the viewer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from workbench.errors import WorkbenchError
from workbench.query.roi_pages import count_patches, patch_page
from workbench.ui.grid import TileEvent
from workbench.ui.modules import ServedModule
from workbench.ui.palette import outcome_color
from workbench.ui.query_state import QUERY_PARAMS
from workbench.ui.selection import Pick, click_range
from workbench.ui.text import TextPane
from workbench.ui.tiles import THUMB_SIZE, short_id, thin_ring, tiles_css, tiles_esm

if TYPE_CHECKING:
    from workbench.ui.state import WorkbenchState

_HERE = Path(__file__).parent
PAGE_SIZE = 60
MARGIN = 0.15  # of the ROI's larger side, around it
MIN_CROP = 24  # pixels of the source: tiny ROIs keep some context
KEY_SEP = "\x1f"


@dataclass(frozen=True)
class PatchPage:
    patches: Sequence[Mapping[str, Any]] = ()
    page: int = 0
    total: int = 0
    empty_text: str = "No ROIs in the view."

    def to_json(self) -> str:
        content = {
            "page": self.page,
            "total": self.total,
            "empty_text": self.empty_text,
            "patches": list(self.patches),
        }
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False)


class PatchGrid(ServedModule, pn.custom.JSComponent):
    """Patches of one page, drawn by patches.js."""

    page_json = param.String(default=PatchPage().to_json())
    selected = param.List(default=[], doc="Ids of the patches drawn as selected.")

    _esm = tiles_esm("patches.js")
    _stylesheets = tiles_css("patches.css")

    def __init__(self, **params: Any) -> None:
        params.setdefault("css_classes", ["wb-patches"])
        params.setdefault("sizing_mode", "stretch_width")
        super().__init__(**params)
        self._handlers: list[Callable[[TileEvent], None]] = []

    def on_patch(self, handler: Callable[[TileEvent], None]) -> None:
        self._handlers.append(handler)

    def _handle_msg(self, data: Any) -> None:
        event = TileEvent.of_message(data)
        if event is None:
            return
        for handler in self._handlers:
            handler(event)


def crop_box(roi: Mapping[str, Any], width: int, height: int) -> list[float]:
    """A square `[x, y, side, side]` around the ROI's box with a margin, inside the picture
    where it fits."""
    x0, y0 = float(roi["x_min"]), float(roi["y_min"])
    x1, y1 = float(roi["x_max"]), float(roi["y_max"])
    side = max(x1 - x0, y1 - y0) * (1 + 2 * MARGIN)
    side = max(side, float(MIN_CROP))
    if width and height:
        side = min(side, float(max(width, height)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x, y = cx - side / 2, cy - side / 2
    if width and side <= width:
        x = min(max(x, 0.0), width - side)
    if height and side <= height:
        y = min(max(y, 0.0), height - side)
    return [round(x, 1), round(y, 1), round(side, 1), round(side, 1)]


def patch_key(frame_id: str, roi_id: str) -> str:
    return f"{frame_id}{KEY_SEP}{roi_id}"


def patch_dicts(
    rows: Sequence[Mapping[str, Any]], thumbnail: Callable[[str], str]
) -> list[dict[str, Any]]:
    """The patches of a page of ROI rows (see roi_pages.patch_page) as patches.js draws them."""
    out = []
    for roi in rows:
        width, height = int(roi.get("width") or 0), int(roi.get("height") or 0)
        uri = roi.get("preview_uri") or roi.get("uri") or ""
        rings = [thin_ring(r) for r in roi.get("geometry") or [] if r]
        if not rings or roi.get("kind") == "mask":
            x0, y0, x1, y1 = (round(float(roi[k])) for k in ("x_min", "y_min", "x_max", "y_max"))
            rings = [[x0, y0, x1, y0, x1, y1, x0, y1]]
        confidence = roi.get("confidence")
        detail = roi.get("field") or ""
        if confidence is not None:
            detail += f" · {confidence:.2f}"
        out.append(
            {
                "id": patch_key(str(roi["frame_id"]), str(roi["id"])),
                "frame_id": roi["frame_id"],
                "context_id": roi.get("context_id") or "",
                "title": roi.get("label") or "(no label)",
                "lines": [detail, short_id(str(roi["frame_id"]), 24)],
                "tooltip": f"{roi['frame_id']} · ROI {roi['id']}",
                "thumb": thumbnail(uri) if uri else "",
                "width": width or 1,
                "height": height or 1,
                "crop": crop_box(roi, width, height),
                "rings": rings,
                "color": outcome_color(roi.get("outcome"), roi.get("label")),
                "outcome": roi.get("outcome") or "",
            }
        )
    return out


class PatchesState(param.Parameterized):
    """A page of patches of the app's view, and which are picked."""

    field: param.Selector[str] = param.Selector(
        default="", objects=[""], doc="Label field ('': every field)."
    )
    page = param.Integer(default=0, bounds=(0, None))
    page_size = param.Integer(default=PAGE_SIZE, bounds=(1, 1000))
    total = param.Integer(default=0)
    patches = param.List(default=[])
    selected = param.List(default=[], doc="Ids of this page's picked patches.")
    active = param.Boolean(default=False, doc="Shown: only then are pages read.")
    error = param.String(default="")

    def __init__(self, app_state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.app_state = app_state
        self.param.field.objects = ["", *app_state.fields]
        self._anchor: str | None = None
        self._stale = True
        self._picked: dict[str, tuple[str, str]] = {}  # patch id -> (frame id, ROI id)
        app_state.query.param.watch(self._on_query, list(QUERY_PARAMS))
        app_state.param.watch(self._on_selection, ["selection"])
        app_state.param.watch(self._on_query, ["outcome_key"])

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def _on_query(self, *events: Any) -> None:
        self._stale = True
        if self.active:
            self.refresh(first_page=True)

    @param.depends("active", watch=True)
    def _on_active(self) -> None:
        if self.active and self._stale:
            self.refresh(first_page=True)

    @param.depends("field", watch=True)
    def _on_field(self) -> None:
        self.refresh(first_page=True)

    @param.depends("page", watch=True)
    def _on_page(self) -> None:
        self._read(count=False)

    def refresh(self, first_page: bool = False) -> None:
        """Count the view's patches and read the current page (the first with `first_page`)."""
        if first_page and self.page != 0:
            self._stale = True  # so the page read next counts too
            self.page = 0  # read by _on_page
            return
        self._read(count=True)

    def _read(self, count: bool) -> None:
        fields = [self.field] if self.field else None
        try:
            view = self.app_state.view
            total = count_patches(view, fields) if count or self._stale else self.total
            rows = patch_page(
                view,
                self.page * self.page_size,
                self.page_size,
                fields=fields,
                eval_key=self.app_state.outcome_key or None,
            ).to_pylist()
        except WorkbenchError as exc:
            self.param.update(error=str(exc), patches=[], total=0)
            return
        media = self.app_state.media
        patches = patch_dicts(rows, lambda uri: media.thumbnail(uri, THUMB_SIZE))
        self._stale = False
        self.param.update(error="", total=total, patches=patches)
        self._mark()

    def next_page(self) -> None:
        self.page = min(self.page + 1, self.pages - 1)

    def previous_page(self) -> None:
        self.page = max(self.page - 1, 0)

    # -- selection -------------------------------------------------------------------------------
    def click(self, event: TileEvent) -> None:
        """Select patches like grid tiles; their frames become the app's selection."""
        by_id = {p["id"]: p for p in self.patches}
        if event.id not in by_id:
            return
        if event.open:
            self._open(by_id[event.id])
            return
        state = self.app_state
        if event.shift:
            ids = click_range(list(by_id), self._anchor, event.id)
            state.pick([self._pick(by_id[i]) for i in ids], add=True)
        elif event.ctrl:
            key = "p:" + event.id
            if state.is_picked(key):
                state.unpick([key])
            else:
                state.pick([self._pick(by_id[event.id])], add=True)
        else:
            state.pick([self._pick(by_id[event.id])])
            self._open(by_id[event.id])
        self._anchor = event.id

    def _pick(self, patch: Mapping[str, Any]) -> Pick:
        self._picked[patch["id"]] = (patch["frame_id"], patch["id"].split(KEY_SEP, 1)[1])
        return Pick("p:" + patch["id"], patch["context_id"], (patch["frame_id"],))

    def picked_rois(self) -> list[tuple[str, str]]:
        """(frame id, ROI id) of the patches in the app's selection, in the order picked."""
        state = self.app_state
        return [roi for key, roi in self._picked.items() if state.is_picked("p:" + key)]

    def _open(self, patch: Mapping[str, Any]) -> None:
        state = self.app_state
        state.context.open(patch["context_id"], state.view, frame_id=patch["frame_id"])

    def _on_selection(self, *events: Any) -> None:
        self._mark()

    def _mark(self) -> None:
        state = self.app_state
        self.selected = [p["id"] for p in self.patches if state.is_picked("p:" + p["id"])]


class PatchesView(pn.viewable.Viewer):
    """The patches with a pager and a field picker."""

    def __init__(self, app_state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = PatchesState(app_state)
        s = self.state
        self.grid = PatchGrid(selected=s.param.selected)
        self.grid.on_patch(s.click)
        s.param.watch(self._show, ["patches"], onlychanged=False)
        s.param.watch(self._show, ["total", "error"])
        self.field = pn.widgets.Select.from_param(
            s.param.field, options={"every field": "", **{f: f for f in app_state.fields}},
            name="field", css_classes=["wb-patches-field"], width=180,
        )  # fmt: skip
        self.prev_page = pn.widgets.Button(
            label="‹ prev", css_classes=["wb-patches-prev"], width=70
        )
        self.next_page = pn.widgets.Button(
            label="next ›", css_classes=["wb-patches-next"], width=70
        )
        self.prev_page.on_click(lambda _: s.previous_page())
        self.next_page.on_click(lambda _: s.next_page())
        self.label = TextPane(
            pn.bind(self._label, s.param.page, s.param.total), css_classes=["wb-patches-label"],
            margin=(8, 6),
        )  # fmt: skip

    def _label(self, page: int, total: int) -> str:
        return f"page {page + 1} / {self.state.pages} · {total} ROIs"

    def _show(self, *events: Any) -> None:
        s = self.state
        empty = f"The query failed: {s.error}" if s.error else "No ROIs in the view."
        page = PatchPage(s.patches, s.page, s.total, empty)
        self.grid.page_json = page.to_json()

    def __panel__(self) -> pn.viewable.Viewable:
        header = pn.Row(
            self.field, self.prev_page, self.label, self.next_page, styles={"flex-wrap": "wrap"}
        )
        return pn.Column(header, self.grid, sizing_mode="stretch_width")
