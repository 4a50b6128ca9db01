"""Stepping and playing through the open context, with a timeline of its frames.

Buttons, the play controls and the arrow keys (shift: to the previous/next matching frame;
workbench.ui.keys) move through the context's frames in timestamp order.

The timeline shows every frame of the context as a tick (at its position in timestamp
order), the frames matching the query in colour, and the current frame as a moving line;
clicking a tick jumps there.

A frame step is one message from the server: the viewer's frame, which carries the player's
position (frame_view.py). Once the viewer has drawn it, the page hands the position to the
label, the play controls and the timeline (player.js), which hold no position of their own
on the server. Playing runs in the page (player.js asks for the frame due at each tick).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import panel as pn
import param

from workbench.ui.context import ContextState
from workbench.ui.frame_view import FrameCanvas, new_channel
from workbench.ui.keys import Keys
from workbench.ui.media import MediaUrls
from workbench.ui.modules import ServedModule
from workbench.ui.playback import ReadAhead, player_interval
from workbench.ui.timeline import MATCH_COLOR, OTHER_COLOR, Timeline, following, frames_json

__all__ = ["MATCH_COLOR", "OTHER_COLOR", "FrameLabel", "PlayControl", "PlayerView"]

_HERE = Path(__file__).parent
# Hands a position to the parts following `channel` (as frame_view.js does once drawn).
_ANNOUNCE_JS = """
export function render({ model }) {
  function announce() {
    let pos;
    try { pos = JSON.parse(model.position_json); } catch { pos = {}; }
    const detail = { channel: String(model.channel ?? ""), i: Math.trunc(Number(pos.i) || 0),
                     n: Math.trunc(Number(pos.n) || 0), t: String(pos.t ?? "") };
    (window.__wbPositions ??= new Map()).set(detail.channel, detail);
    document.dispatchEvent(new CustomEvent("wb-position", { detail }));
  }
  model.on("position_json", announce);
  announce();
  return document.createElement("span");
}
"""


class PlayControl(ServedModule, pn.custom.JSComponent):
    """Play (forwards or backwards), pause, slower and faster, run in the page
    (player.js); it asks for the frame due at each tick with a message: `on_go(position)`."""

    channel = param.String(default="", doc="Where the viewer announces the drawn position.")
    interval = param.Integer(default=100, bounds=(1, None), doc="Milliseconds per frame.")
    direction = param.Integer(default=0, bounds=(-1, 1), doc="1 playing, -1 backwards, 0 paused.")

    _esm = following((_HERE / "player.js").read_text())
    _stylesheets = ["player.css"]  # noqa: RUF012 - Panel's attribute (a file: linked when served)

    def __init__(self, **params: Any) -> None:
        params.setdefault("css_classes", ["wb-player"])
        params.setdefault("width", 220)
        params.setdefault("height", 34)
        super().__init__(**params)
        self.on_go: Callable[[int], object] = lambda position: None

    def _handle_msg(self, data: Any) -> None:
        go = data.get("go") if isinstance(data, dict) else None
        if isinstance(go, int) and not isinstance(go, bool):
            self.on_go(go)


class FrameLabel(ServedModule, pn.custom.JSComponent):
    """The player's label ("frame i / n · id") as the page shows it: the position the viewer
    announced last. `text` is what it reads now, from the server's side."""

    channel = param.String(default="", doc="Where the viewer announces the drawn position.")

    _esm = following("""
    export function render({ model }) {
      const root = document.createElement("span");
      root.className = "wb-live-text";
      follow(model, (position) => { root.textContent = String(position.t ?? ""); });
      return root;
    }
    """)

    def __init__(self, text: Callable[[], str] = str, **params: Any) -> None:
        params.setdefault("css_classes", ["wb-frame-label"])
        super().__init__(**params)
        self._text = text

    @property
    def text(self) -> str:
        return self._text()


class PositionFeed(ServedModule, pn.custom.JSComponent):
    """Announces the player's position when no viewer does (a player shown on its own)."""

    channel = param.String(default="")
    position_json = param.String(default="{}")

    _esm = _ANNOUNCE_JS

    def __init__(self, **params: Any) -> None:
        params.update(width=0, height=0, margin=0)
        super().__init__(**params)


class PlayerView(pn.viewable.Viewer):
    """Previous/next, previous/next match, play, the frame label and the timeline.

    `canvas` is the viewer's component: its frames carry the player's position, and it
    fetches the next frames' pictures ahead. Without it, the player sends its position
    itself (one more message per step)."""

    def __init__(
        self,
        context: ContextState,
        media: MediaUrls | None = None,
        canvas: FrameCanvas | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.context = ctx = context
        # Records and pictures of the next frames, fetched ahead (with a media strategy); the
        # pictures by the viewer's component when given.
        self.read_ahead = ReadAhead(ctx, media, canvas) if media is not None else None
        channel = canvas.channel if canvas is not None else new_channel()
        self.feed = PositionFeed(channel=channel) if canvas is None else None
        # One component each: Panel keeps every rendering of it (a notebook's copies) in step.
        self.timeline = Timeline(channel=channel)
        self.player = PlayControl(channel=channel, interval=player_interval(ctx.fps))
        # The viewer's page draws the frame a click on these (or an arrow key) steps to at
        # once (frame_view.js, which finds them by the channel's class), before the
        # server's frame comes.
        steps = f"wb-step-{channel}"
        self.prev_button = pn.widgets.Button(
            label="◀ frame", css_classes=["wb-prev", steps], width=80
        )
        self.next_button = pn.widgets.Button(
            label="frame ▶", css_classes=["wb-next", steps], width=80
        )
        self.prev_match = pn.widgets.Button(
            label="◀ match", css_classes=["wb-prev-match", steps], width=80
        )
        self.next_match = pn.widgets.Button(
            label="match ▶", css_classes=["wb-next-match", steps], width=80
        )
        self.label = FrameLabel(lambda: ctx.position_text, channel=channel, margin=(8, 10))
        self.keys = Keys(channel=channel if canvas is not None else "")
        self.keys.on("ArrowLeft", lambda shift: self.step(-1, shift))
        self.keys.on("ArrowRight", lambda shift: self.step(1, shift))
        self.keys.on(" ", lambda shift: self.toggle_play())
        self.prev_button.on_click(lambda _: self.step(-1))
        self.next_button.on_click(lambda _: self.step(1))
        self.prev_match.on_click(lambda _: self.step(-1, match=True))
        self.next_match.on_click(lambda _: self.step(1, match=True))
        self.timeline.on_tap = self.go
        self.player.on_go = self.go
        ctx.param.watch(self._on_frames, ["frame_ids", "matching", "timestamps"])
        ctx.param.watch(self._on_fps, ["fps"])
        if self.feed is not None:
            ctx.param.watch(self._feed, ["index", "frame_ids"])
            self._feed()
        self._on_frames()

    def toggle_play(self) -> None:
        """Play from the current frame at the footage's rate, or pause (space)."""
        self.player.direction = 0 if self.player.direction else 1

    def step(self, delta: int, match: bool = False) -> None:
        """To the next (delta > 0) or previous frame; `match`: matching frame."""
        with pn.io.hold():  # what follows the frame (the grid's active tile...) in its message
            if match:
                self.context.step_match(delta)
            else:
                self.context.step(delta)

    def go(self, position: int) -> None:
        """Show the frame at `position` (a click on the timeline, or playing)."""
        if position != self.context.index and 0 <= position < len(self.context.frame_ids):
            with pn.io.hold():
                self.context.index = position

    def _on_frames(self, *events: param.parameterized.Event) -> None:
        ctx = self.context
        self.timeline.frames_json = frames_json(ctx.frame_ids, ctx.matching, ctx.timestamps)

    def _on_fps(self, *events: param.parameterized.Event) -> None:
        self.player.interval = player_interval(self.context.fps)

    def _feed(self, *events: param.parameterized.Event) -> None:
        if self.feed is not None:
            self.feed.position_json = json.dumps(self.context.position)

    def __panel__(self) -> pn.viewable.Viewable:
        buttons = pn.Row(
            self.prev_match,
            self.prev_button,
            self.player,
            self.next_button,
            self.next_match,
            self.label,
            self.keys,
            *([self.feed] if self.feed is not None else []),
            *(
                [self.read_ahead.prefetch]
                if self.read_ahead and self.read_ahead.own_prefetch
                else []
            ),
            styles={"flex-wrap": "wrap"},  # wraps in a narrow page or notebook cell
        )
        return pn.Column(buttons, self.timeline, sizing_mode="stretch_width")
