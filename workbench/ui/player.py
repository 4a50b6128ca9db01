"""Stepping and playing through the open context, with a timeline of its frames.

Buttons, the player widget and the arrow keys (shift: to the previous/next matching frame;
workbench.ui.keys) move through the context's frames in timestamp order.

The timeline shows every frame of the context as a tick (at its position in timestamp
order), the frames matching the query in colour, and the current frame as a moving line;
clicking a tick jumps there.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from workbench.ui.context import ContextState
from workbench.ui.keys import Keys
from workbench.ui.media import MediaUrls
from workbench.ui.playback import ReadAhead, player_interval
from workbench.ui.text import LiveText
from workbench.ui.timeline import MATCH_COLOR, OTHER_COLOR, Timeline, frames_json

__all__ = ["MATCH_COLOR", "OTHER_COLOR", "PlayerView"]


class PlayerView(pn.viewable.Viewer):
    """Previous/next, previous/next match, play, the frame label and the timeline."""

    def __init__(
        self,
        context: ContextState,
        media: MediaUrls | None = None,
        prefetch: param.Parameterized | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.context = ctx = context
        # Records and pictures of the next frames, fetched ahead (with a media strategy); the
        # pictures by `prefetch` (the viewer's component) when given.
        self.read_ahead = ReadAhead(ctx, media, prefetch) if media is not None else None
        # One component: Panel keeps every rendering of it (a notebook's copies) in step.
        self.timeline = Timeline()
        frames = ctx.param.frame_ids
        # The player is made from `index` (both ways): playing moves through the frames,
        # and stepping elsewhere moves the player.
        self.player = pn.widgets.Player.from_param(
            ctx.param.index,
            start=0,
            end=pn.bind(_last_position, frames),
            disabled=pn.bind(_too_few, frames),
            interval=pn.bind(player_interval, ctx.param.fps),
            loop_policy="once",
            show_value=False,
            show_loop_controls=False,
            css_classes=["wb-player"],
            width=340,
            label="",
            visible_buttons=["slower", "previous", "reverse", "pause", "play", "next", "faster"],
        )
        self.prev_button = pn.widgets.Button(label="◀ frame", css_classes=["wb-prev"], width=80)
        self.next_button = pn.widgets.Button(label="frame ▶", css_classes=["wb-next"], width=80)
        self.prev_match = pn.widgets.Button(
            label="◀ match", css_classes=["wb-prev-match"], width=80
        )
        self.next_match = pn.widgets.Button(
            label="match ▶", css_classes=["wb-next-match"], width=80
        )
        self.label = LiveText(
            text=pn.bind(self._position, ctx.param.index, frames),
            css_classes=["wb-frame-label"],
            margin=(8, 10),
        )
        self.keys = Keys()
        self.keys.on("ArrowLeft", lambda shift: ctx.step_match(-1) if shift else ctx.step(-1))
        self.keys.on("ArrowRight", lambda shift: ctx.step_match(1) if shift else ctx.step(1))
        self.keys.on(" ", lambda shift: self.toggle_play())
        self.prev_button.on_click(lambda _: ctx.step(-1))
        self.next_button.on_click(lambda _: ctx.step(1))
        self.prev_match.on_click(lambda _: ctx.step_match(-1))
        self.next_match.on_click(lambda _: ctx.step_match(1))
        ctx.param.watch(self._on_frames, ["frame_ids", "matching", "timestamps"])
        ctx.param.watch(self._on_index, ["index"])
        self.timeline.param.watch(self._on_tap, ["index"])
        self._on_frames()

    def toggle_play(self) -> None:
        """Play from the current frame at the footage's rate, or pause (space)."""
        self.player.direction = 0 if self.player.direction else 1

    def _position(self, index: int, frame_ids: list[str]) -> str:
        return self.context.position_text

    def _on_frames(self, *events: param.parameterized.Event) -> None:
        ctx = self.context
        self.timeline.param.update(
            frames_json=frames_json(ctx.frame_ids, ctx.matching, ctx.timestamps), index=ctx.index
        )

    def _on_index(self, *events: param.parameterized.Event) -> None:
        self.timeline.index = self.context.index

    def _on_tap(self, event: param.parameterized.Event) -> None:
        """A click on the timeline (the timeline follows `index` too: then nothing moves)."""
        if event.new != self.context.index and 0 <= event.new < len(self.context.frame_ids):
            self.context.index = event.new

    def __panel__(self) -> pn.viewable.Viewable:
        buttons = pn.Row(
            self.prev_match,
            self.prev_button,
            self.player,
            self.next_button,
            self.next_match,
            self.label,
            self.keys,
            *(
                [self.read_ahead.prefetch]
                if self.read_ahead and self.read_ahead.own_prefetch
                else []
            ),
            styles={"flex-wrap": "wrap"},  # wraps in a narrow page or notebook cell
        )
        return pn.Column(buttons, self.timeline, sizing_mode="stretch_width")


def _last_position(frame_ids: list[str]) -> int:
    return max(len(frame_ids) - 1, 1)


def _too_few(frame_ids: list[str]) -> bool:
    return len(frame_ids) < 2
