"""The player's timeline: every frame of the open context, drawn by timeline.js.

The frames (ids, which match the query, timestamps) go to the browser as one JSON string
when the context or its matches change; the current position comes with the viewer's frame
(frame_view.js announces it in the page once the frame is drawn), so a frame step sends
nothing here and redraws one small canvas (a Bokeh figure would lay out and draw a whole
plot). A click on a bar comes back as a message: `on_tap(position)` is called.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import panel as pn
import param

from workbench.ui.modules import ServedModule

_HERE = Path(__file__).parent
MATCH_COLOR = "#0072b5"
OTHER_COLOR = "#c8c8c8"


def following(js: str) -> str:
    """The module `js` with position.js's `follow(model, show)` in front (one module, no
    import to resolve in the page): what follows the position the viewer announces."""
    return (_HERE / "position.js").read_text() + "\n" + js


def frames_json(
    frame_ids: Sequence[str], matching: Sequence[int], timestamps: Sequence[Any]
) -> str:
    """The context's frames as timeline.js reads them."""
    content = {
        "ids": [str(i) for i in frame_ids],
        "matching": sorted({int(i) for i in matching}),
        "timestamps": ["" if t is None else str(t) for t in timestamps],
    }
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False)


class Timeline(ServedModule, pn.custom.JSComponent):
    """The frames of the open context as bars, the current one marked."""

    frames_json = param.String(default=frames_json([], [], []), doc="As `frames_json` wrote it.")
    channel = param.String(default="", doc="Where the viewer announces the drawn position.")

    _esm = following((_HERE / "timeline.js").read_text())
    _stylesheets = ["timeline.css"]  # noqa: RUF012 - Panel's attribute (a file: linked when served)

    def __init__(self, **params: Any) -> None:
        params.setdefault("css_classes", ["wb-timeline"])
        params.setdefault("sizing_mode", "stretch_width")
        params.setdefault("height", 56)
        super().__init__(**params)
        self.on_tap: Callable[[int], object] = lambda index: None

    def _handle_msg(self, data: Any) -> None:
        """A click on a bar: its position (anything else from the page is ignored)."""
        index = data.get("index") if isinstance(data, dict) else None
        if isinstance(index, int) and not isinstance(index, bool):
            self.on_tap(index)

    @property
    def colors(self) -> list[str]:
        """Each frame's bar colour: matching frames in colour."""
        content = json.loads(self.frames_json)
        matching = set(content["matching"])
        return [MATCH_COLOR if i in matching else OTHER_COLOR for i in range(len(content["ids"]))]
