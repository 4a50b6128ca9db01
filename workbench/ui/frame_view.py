"""The viewer's picture and ROIs drawn by one component of our own (frame_view.js).

A frame goes to the browser as one JSON string: per source (camera) its picture's URL, its
size in source pixels and on screen, and its ROIs (polygons with their holes, polylines,
points and keypoints with their skeleton lines, masks as pictures, label texts), each with
its hover rows as plain strings. A frame step is then one small message and one redraw of a
canvas, instead of a change per ColumnDataSource that Bokeh applies and draws one by one
(docs/benchmarks.md, "The viewer drawn by a component of its own").

The browser draws on a canvas (the picture, masks, then shapes, lines, points and label
texts), zooms with the wheel, pans with a drag, resets on a double click, shows the ROI under
the mouse in a tooltip built with textContent, and sends back the ids of the shapes chosen
with a click (shift-click for more) in `chosen`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeGuard

import panel as pn
import param

from workbench.ui.display import empty_text_columns
from workbench.ui.glyphs import Badge, Columns, SourceGlyphs, empty_columns
from workbench.ui.modules import ServedModule
from workbench.ui.notebook import in_kernel

_HERE = Path(__file__).parent
PLOT_HEIGHT = 520
MAX_ROW_WIDTH = 1100
# The sample view (the viewer taking the screen) draws larger.
LARGE_PLOT_HEIGHT = 640
LARGE_ROW_WIDTH = 1400
# In a notebook: a JupyterLab cell beside the file browser is about 560 px wide.
NOTEBOOK_ROW_WIDTH = 500
# The hover rows, in order: each a column of the glyphs, shown as text.
HOVER_ROWS = ("label", "field", "confidence", "attributes", "outcome", "point", "id")
EMPTY_FRAME = '{"frame":"","badges":[],"sources":[]}'
# The player's position as the page shows it (workbench/ui/player.py): where it is, out of
# how many frames, and the label's text.
NO_POSITION: dict[str, Any] = {"i": 0, "n": 0, "t": "no frame"}


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


class SourceView:
    """What one source (camera) of the open frame shows: its picture and the column data of
    its ROIs as the viewer styled them (the same columns `workbench.ui.glyphs` makes)."""

    def __init__(self) -> None:
        self.id = ""
        self.image: Columns = {"url": [], "x": [], "y": [], "w": [], "h": []}
        self.masks: Columns = empty_columns("url", "x", "y", "w", "h")
        self.shapes: Columns = empty_columns("xs", "ys", "line_dash")
        self.lines: Columns = empty_columns("xs", "ys", "line_dash")
        self.points: Columns = empty_columns("x", "y")
        self.texts: Columns = empty_text_columns()
        self.size = (0, 0)
        self.sources = 1
        self.large = False

    @property
    def frame_width(self) -> int:
        return plot_size(*self.size, self.sources, self.large)[0]

    @property
    def frame_height(self) -> int:
        return plot_size(*self.size, self.sources, self.large)[1]

    def show(
        self,
        source: Mapping[str, Any],
        glyphs: SourceGlyphs,
        url: str,
        sources: int,
        texts: Columns | None,
    ) -> None:
        width, height = int(source.get("width") or 0), int(source.get("height") or 0)
        self.id = str(source.get("id", ""))
        self.image = {
            "url": [url] if url else [],
            "x": [0] if url else [],
            "y": [0] if url else [],
            "w": [width] if url else [],
            "h": [height] if url else [],
        }
        self.masks, self.shapes = glyphs.masks, glyphs.shapes
        self.lines, self.points = glyphs.lines, glyphs.points
        self.texts = texts if texts is not None else empty_text_columns()
        self.size, self.sources = (width, height), sources

    def payload(self, hover: bool = True) -> dict[str, Any]:
        """This source as frame_view.js reads it (`hover`: with each ROI's hover rows)."""
        width, height = self.size
        screen_w, screen_h = plot_size(width or 1, height or 1, self.sources, self.large)
        return {
            "id": self.id,
            "url": self.image["url"][0] if self.image["url"] else "",
            "w": width or 1,
            "h": height or 1,
            "dw": screen_w,
            "dh": screen_h,
            "shapes": _rows(self.shapes, _shape, hover),
            "lines": _rows(self.lines, _line, hover),
            "points": _rows(self.points, _point, hover),
            "masks": [
                {"url": str(u), "a": _alpha(self.masks, i)}
                for i, u in enumerate(self.masks.get("url", []))
            ],
            "texts": [
                {
                    "x": _num(self.texts["x"][i]),
                    "y": _num(self.texts["y"][i]),
                    "t": str(self.texts["text"][i]),
                    "c": str(self.texts["color"][i]),
                    "a": _num(self.texts["alpha"][i], 1.0),
                }
                for i in range(len(self.texts.get("text", [])))
            ],
        }


def frame_content(
    frame_id: str,
    views: Sequence[SourceView],
    badges: Sequence[Badge] = (),
    position: Mapping[str, Any] | None = None,
    ahead: Sequence[str] = (),
    hover: bool = True,
) -> dict[str, Any]:
    """The open frame as frame_view.js reads it: its sources, its classifications as badges
    (text, field, colour), and the player's position (which the page hands to the player's
    label, controls and timeline once the frame is drawn: a frame step is one message).
    Without `hover` the ROIs come without their hover rows (frames played from the page's
    buffer: the page asks for them, `tips_json`, when the mouse is over one)."""
    content = {
        "frame": frame_id,
        "badges": [{"t": b.text, "f": b.field, "c": b.color} for b in badges],
        "sources": [view.payload(hover) for view in views],
        "pos": dict(position or NO_POSITION),
    }
    if ahead:  # the next frames' pictures, to fetch and decode ahead
        content["ahead"] = list(ahead)
    return content


def frame_json(
    frame_id: str,
    views: Sequence[SourceView],
    badges: Sequence[Badge] = (),
    position: Mapping[str, Any] | None = None,
    ahead: Sequence[str] = (),
    follow: bool = False,
    near: Mapping[str, Mapping[str, Any] | str] | None = None,
) -> str:
    """The open frame as one string for FrameCanvas.frame_json (`frame_content`).

    `follow`: the server moved to where the page's playback is (the page drew the frame
    from its buffer already, and does not draw it again). `near`: the frames a step goes
    to (`frame_content`, without hover rows; or the key of another entry holding the same
    frame): the previous ("-1") and next ("1") frames, the previous ("m-1") and next ("m1")
    matching frames, which the page draws at once on a step (the player's buttons, the
    arrow keys) while the server's step follows."""
    content = frame_content(frame_id, views, badges, position, ahead)
    if follow:
        content["follow"] = 1
    if near:
        content["near"] = dict(near)
    return to_json(content)


def batch_json(seq: int, frames: Sequence[Mapping[str, Any]]) -> str:
    """The next frames while playing (`frame_content` each), for FrameCanvas.batch_json;
    `seq` makes each batch a change of its own."""
    return to_json({"seq": seq, "frames": list(frames)})


def tips_json(seq: int, frame_id: str, views: Sequence[SourceView]) -> str:
    """The hover rows of a frame's ROIs, for FrameCanvas.tips_json: per source, those of its
    shapes, lines and points in the order of `frame_content`'s; `seq` makes each answer a
    change of its own."""
    sources = []
    for view in views:
        kinds = {"shapes": view.shapes, "lines": view.lines, "points": view.points}
        sources.append({k: _rows(c, _hover_rows) for k, c in kinds.items()})
    return to_json({"seq": seq, "frame": frame_id, "sources": sources})


def to_json(content: Mapping[str, Any]) -> str:
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False, default=str)


def new_channel() -> str:
    """A name of its own for one app's position announcements in the page."""
    return uuid.uuid4().hex


def _rows(columns: Columns, row: Any, *args: Any) -> list[Any]:
    return [row(columns, i, *args) for i in range(len(columns.get("id", [])))]


def _hover_rows(columns: Columns, i: int) -> list[list[str]]:
    """The hover rows of row `i` (rows with nothing to say are left out, but the label and
    id always show)."""
    hover = []
    for name in HOVER_ROWS:
        value = columns.get(name, [""] * (i + 1))[i]
        text = "" if value is None else str(value)
        if text or name in ("label", "id"):
            hover.append([name, text])
    return hover


def _common(columns: Columns, i: int, hover: bool) -> dict[str, Any]:
    """Colour, alpha and (with `hover`) hover rows of row `i`."""
    common = {"i": str(columns["id"][i]), "c": str(columns["color"][i]), "a": _alpha(columns, i)}
    if hover:
        common["hv"] = _hover_rows(columns, i)
    return common


def _shape(columns: Columns, i: int, hover: bool) -> dict[str, Any]:
    # multi_polygons: polygons, each a list of rings (the first its outline, the others holes)
    rings = [
        _flat_ring(xs, ys)
        for poly_x, poly_y in zip(columns["xs"][i], columns["ys"][i], strict=False)
        for xs, ys in zip(poly_x, poly_y, strict=False)
    ]
    dashed = bool(columns["line_dash"][i]) if "line_dash" in columns else False
    return {**_common(columns, i, hover), "p": rings, "d": int(dashed)}


def _line(columns: Columns, i: int, hover: bool) -> dict[str, Any]:
    dashed = bool(columns["line_dash"][i]) if "line_dash" in columns else False
    ring = _flat_ring(columns["xs"][i], columns["ys"][i])
    return {**_common(columns, i, hover), "p": [ring], "d": int(dashed)}


def _point(columns: Columns, i: int, hover: bool) -> dict[str, Any]:
    return {**_common(columns, i, hover), "x": _num(columns["x"][i]), "y": _num(columns["y"][i])}


def _flat_ring(xs: Sequence[Any], ys: Sequence[Any]) -> list[float]:
    out: list[float] = []
    for x, y in zip(xs, ys, strict=False):
        out.append(_num(x))
        out.append(_num(y))
    return out


def _alpha(columns: Columns, i: int) -> float:
    values = columns.get("alpha")
    return _num(values[i], 1.0) if values else 1.0


def _num(value: Any, default: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number == number and abs(number) != float("inf") else default


class MoreFrames(NamedTuple):
    """The playing page's request for frames ahead: it shows position `at` (the frame
    `frame`), and wants `number` frames (0: as many as the server sends at once) from
    position `start` on in `direction` (1 or -1)."""

    at: int
    frame: str
    start: int
    direction: int
    number: int


class FrameCanvas(ServedModule, pn.custom.JSComponent):
    """The open frame's sources drawn by frame_view.js; change it with `frame_json`.

    Once a frame is drawn, the page announces its position (`pos`) on `channel`: the
    player's label, controls and timeline of the same app follow it (player.js). While
    playing, the page keeps the next frames (`batch_json`, asked for with a message:
    `on_more`) and draws each at its time without asking the server."""

    frame_json = param.String(default=EMPTY_FRAME, doc="The frame, as `frame_json` wrote it.")
    chosen = param.List(default=[], doc="Ids of the shapes chosen with a click (from the page).")
    urls_json = param.String(
        default="[]", doc="Pictures of the next frames to fetch and decode ahead, as JSON."
    )

    batch_json = param.String(
        default="", doc="The next frames while playing, drawn from the page's buffer."
    )
    tips_json = param.String(
        default="", doc="Hover rows of a frame drawn from the buffer, as `tips_json` wrote them."
    )

    channel = param.String(default="", doc="Where the page announces the drawn position.")

    _esm = _HERE / "frame_view.js"
    # files beside this module: served as links, inlined in a notebook (Panel's resolution)
    _stylesheets = ["frame_view.css"]  # noqa: RUF012 - Panel's attribute

    def __init__(self, **params: Any) -> None:
        params.setdefault("channel", new_channel())
        params.setdefault("css_classes", ["wb-viewer"])
        params.setdefault("sizing_mode", "stretch_width")
        super().__init__(**params)
        # Playing, the page asks for the next frames (`on_more`), and for the hover rows of
        # a frame drawn from its buffer when the mouse is over one of its ROIs (`on_tips`).
        self.on_more: Callable[[MoreFrames], object] = lambda request: None
        self.on_tips: Callable[[str], object] = lambda frame_id: None

    def _handle_msg(self, data: Any) -> None:
        tips = data.get("tips") if isinstance(data, dict) else None
        if isinstance(tips, str):  # {"tips": frame id}
            self.on_tips(tips)
            return
        more = data.get("more") if isinstance(data, dict) else None
        if isinstance(more, dict):  # {"more": {"at", "frame", "from", "dir", "count"}}
            request = _more_frames(more)
            if request is not None:
                self.on_more(request)

    def chosen_ids(self) -> list[str]:
        """The chosen shapes' ROI ids (the list comes from the page: anything but a string
        is ignored)."""
        return [c for c in dict.fromkeys(self.chosen) if isinstance(c, str)]


def _more_frames(message: dict[str, Any]) -> MoreFrames | None:
    """The page's request for frames ahead, or None when it is not one."""
    at, frame, start, direction, count = (
        message.get(k) for k in ("at", "frame", "from", "dir", "count")
    )
    if not (_is_int(at) and _is_int(start) and direction in (-1, 1) and isinstance(frame, str)):
        return None
    return MoreFrames(
        at, frame, start, int(direction), count if _is_int(count) and count > 0 else 0
    )


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
