"""The player's timeline: every frame of the open context, drawn by timeline.js.

The frames (ids, which match the query, timestamps) go to the browser as one JSON string
when the context or its matches change; the current position is one number, so a frame step
sends one small change and redraws one small canvas (a Bokeh figure would lay out and draw a
whole plot). A click on a bar comes back as a new `index`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import panel as pn
import param

_HERE = Path(__file__).parent
MATCH_COLOR = "#0072b5"
OTHER_COLOR = "#c8c8c8"


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


class Timeline(pn.custom.JSComponent):
    """The frames of the open context as bars, the current one marked."""

    frames_json = param.String(default=frames_json([], [], []), doc="As `frames_json` wrote it.")
    index = param.Integer(default=0, doc="The current position (a click sets it).")

    _esm = _HERE / "timeline.js"
    _stylesheets = [(_HERE / "timeline.css").read_text()]  # noqa: RUF012 - Panel's attribute

    def __init__(self, **params: Any) -> None:
        params.setdefault("css_classes", ["wb-timeline"])
        params.setdefault("sizing_mode", "stretch_width")
        params.setdefault("height", 56)
        super().__init__(**params)

    @property
    def colors(self) -> list[str]:
        """Each frame's bar colour: matching frames in colour."""
        content = json.loads(self.frames_json)
        matching = set(content["matching"])
        return [MATCH_COLOR if i in matching else OTHER_COLOR for i in range(len(content["ids"]))]
