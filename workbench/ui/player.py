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
from bokeh.models import BasicTicker, ColumnDataSource, HoverTool, Range1d, TapTool
from bokeh.models.annotations import Span
from bokeh.plotting import figure

from workbench.ui.bokeh_edit import PerRender, editing
from workbench.ui.context import ContextState
from workbench.ui.keys import Keys
from workbench.ui.media import MediaUrls
from workbench.ui.playback import ReadAhead, player_interval
from workbench.ui.text import Html, TextPane, text

MATCH_COLOR = "#0072b5"
OTHER_COLOR = "#c8c8c8"


class Timeline:
    """A small Bokeh plot of the context's frames; updated in place."""

    def __init__(self, context: ContextState) -> None:
        self.context = context
        self.source = ColumnDataSource(
            data={"x": [], "top": [], "color": [], "frame_id": [], "timestamp": []}
        )
        fig = figure(
            height=70,
            sizing_mode="stretch_width",
            tools="xpan,xwheel_zoom,reset",
            active_scroll="xwheel_zoom",
            toolbar_location=None,
            y_range=Range1d(start=0, end=1.05),
            css_classes=["wb-timeline"],
            min_border=4,
        )
        fig.yaxis.visible = False
        fig.ygrid.visible = False
        fig.xaxis.ticker = BasicTicker(min_interval=1)  # positions are whole frames
        bars = fig.vbar(x="x", top="top", width=0.8, color="color", source=self.source)
        fig.add_tools(
            HoverTool(
                renderers=[bars], tooltips=[("frame", "@frame_id"), ("timestamp", "@timestamp")]
            ),
            TapTool(renderers=[bars]),
        )
        self.cursor = Span(location=0, dimension="height", line_color="#d62728", line_width=2)
        fig.add_layout(self.cursor)
        self.figure = fig
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        self.source.selected.on_change("indices", self._on_tap)

    def update_frames(self) -> None:
        ids = self.context.frame_ids
        matching = set(self.context.matching)
        self.source.data = {
            "x": list(range(len(ids))),
            "top": [1.0 if i in matching else 0.5 for i in range(len(ids))],
            "color": [MATCH_COLOR if i in matching else OTHER_COLOR for i in range(len(ids))],
            "frame_id": list(ids),
            "timestamp": ["" if t is None else str(t) for t in self.context.timestamps],
        }
        end = max(len(ids) - 0.5, 0.5)
        self.figure.x_range.update(start=-0.5, end=end)
        self.update_cursor()

    def update_cursor(self) -> None:
        self.cursor.location = self.context.index

    def _on_tap(self, attr: str, old: Any, new: list[int]) -> None:
        if new:
            self.context.index = int(new[0])
            with editing():
                self.source.selected.indices = []


class PlayerView(pn.viewable.Viewer):
    """Previous/next, previous/next match, play, the frame label and the timeline."""

    def __init__(
        self, context: ContextState, media: MediaUrls | None = None, **params: Any
    ) -> None:
        super().__init__(**params)
        self.context = ctx = context
        # Records and pictures of the next frames, fetched ahead (with a media strategy).
        self.read_ahead = ReadAhead(ctx, media) if media is not None else None
        self._timelines = PerRender(lambda: Timeline(ctx))
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
        self.label = TextPane(
            pn.bind(self._position, ctx.param.index, frames),
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
        # The timelines are Bokeh figures, one per rendering, whose data are edited in place.
        ctx.param.watch(self._on_frames, ["frame_ids", "matching"])
        ctx.param.watch(self._on_index, ["index"])

    def toggle_play(self) -> None:
        """Play from the current frame at the footage's rate, or pause (space)."""
        self.player.direction = 0 if self.player.direction else 1

    def _position(self, index: int, frame_ids: list[str]) -> Html:
        return text(self.context.position_text)

    def _on_frames(self, *events: param.parameterized.Event) -> None:
        for timeline in self._timelines:
            with editing(timeline.pane):
                timeline.update_frames()
        self._on_index()

    def _on_index(self, *events: param.parameterized.Event) -> None:
        for timeline in self._timelines:
            with editing(timeline.pane):
                timeline.update_cursor()

    @property
    def timeline(self) -> Timeline:
        """The timeline of the first rendering."""
        return self._timelines.first

    def __panel__(self) -> pn.viewable.Viewable:
        buttons = pn.Row(
            self.prev_match,
            self.prev_button,
            self.player,
            self.next_button,
            self.next_match,
            self.label,
            self.keys,
            *([self.read_ahead.prefetch] if self.read_ahead else []),
            styles={"flex-wrap": "wrap"},  # wraps in a narrow page or notebook cell
        )
        timeline, new = self._timelines.take()
        if new:
            timeline.update_frames()
        return pn.Column(buttons, timeline.pane, sizing_mode="stretch_width")


def _last_position(frame_ids: list[str]) -> int:
    return max(len(frame_ids) - 1, 1)


def _too_few(frame_ids: list[str]) -> bool:
    return len(frame_ids) < 2
