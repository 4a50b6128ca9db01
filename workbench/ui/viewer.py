"""The frame viewer: each source (camera) of the current frame with its ROIs drawn on it.

The picture is drawn by the browser from a URL (of the media route, or a data URI in a
notebook), never sent as pixels: the browser fetches and caches the bytes instead of the
websocket carrying megabytes. Coordinates are source pixels with y pointing down. A frame
step sends the whole frame as one small JSON string to one component (`FrameCanvas`,
workbench/ui/frame_view.js), which draws it on a canvas: one message and one redraw per
step, whatever the number of kinds of ROIs.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from typing import Any

import panel as pn
import param

from workbench.model.keypoints import KeypointLabel
from workbench.store.keypoints import keypoint_labels
from workbench.ui.display import label_texts, styled
from workbench.ui.frame_view import (
    FrameCanvas,
    MoreFrames,
    SourceView,
    batch_json,
    frame_content,
    frame_json,
    tips_json,
)
from workbench.ui.glyphs import Badge, SourceGlyphs, frame_glyphs
from workbench.ui.masks import MaskPainter
from workbench.ui.outcomes import frame_outcomes
from workbench.ui.playback import MAX_BATCH, batch_size
from workbench.ui.state import WorkbenchState
from workbench.ui.text import TextAlert, TextPane, text

# The hover rows of an ROI (label, field...), each a column of the glyphs shown as text.
TOOLTIPS = [
    ("label", "@label"),
    ("field", "@field"),
    ("confidence", "@confidence"),
    ("attributes", "@attributes"),
    ("outcome", "@outcome"),
    ("point", "@point"),
    ("id", "@id"),
]


def frame_keypoints(catalog: Any, frame: Mapping[str, Any]) -> dict[str, KeypointLabel]:
    """The point names and skeleton of the labels of the frame's keypoints ROIs."""
    rois = frame.get("rois") or []
    labels = sorted(
        {str(r["label"]) for r in rois if r.get("kind") == "keypoints" and r.get("label")}
    )
    if not labels:
        return {}
    con = catalog.cursor()
    try:
        return keypoint_labels(con, labels)
    finally:
        con.close()


class FrameViewer(pn.viewable.Viewer):
    """The current frame of `state.context`, one plot per source, ROIs by visible field."""

    def __init__(self, state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self._paint = MaskPainter(state.media.local_file)
        # One component: Panel keeps every rendering of it (a notebook's copies) in step.
        self.canvas = FrameCanvas()
        self.views: list[SourceView] = []
        self.badges: list[Badge] = []
        # More of what the page shows about the position, sent with each frame (the sample
        # view's title): name -> what it is at a frame id.
        self.position_extras: dict[str, Callable[[str], Any]] = {}
        # The next frames' pictures to fetch ahead, sent with the frame when there are new
        # ones (set by the player's read-ahead).
        self.ahead: Callable[[], list[str]] | None = None
        self.placeholder = TextPane(
            "Click a tile to look at its frames.", css_classes=["wb-viewer-empty"]
        )
        notice = state.param.viewer_notice
        self.notice = TextAlert(
            pn.bind(text, notice),
            alert_type="warning",
            visible=pn.bind(bool, notice),
            css_classes=["wb-viewer-notice"],
        )
        self.fields = pn.widgets.CheckButtonGroup.from_param(
            self.state.param.visible_fields,
            options=list(self.state.fields),
            css_classes=["wb-fields"],
            color="primary",
            variant="outline",
            label="",
        )
        self.display = state.display
        # Playing, the page draws the next frames from a buffer (FrameCanvas.batch_json);
        # the server follows it once a batch, with a frame the page does not draw again.
        self._following = False
        self._batches = 0
        self._tips = 0
        self.canvas.on_more = self.more
        self.canvas.on_tips = self.tips
        self.state.context.param.watch(self._draw, ["frame"])
        # Other matches: the frames ◀ match / match ▶ go to (sent with the frame) change.
        self.state.context.param.watch(self._rematched, ["matching"])
        self.state.param.watch(self._draw, ["visible_fields", "outcome_key"])
        self.display.param.watch(self._draw, ["hidden_classes", "opacity", "label_text"])
        self.display.param.watch(self._resize, ["expanded"])
        self._draw()

    @property
    def plots(self) -> list[SourceView]:
        """What each source (camera) of the open frame shows."""
        return self.views

    @property
    def badge_texts(self) -> list[str]:
        """The classifications shown as badges above the picture."""
        return [b.text for b in self.badges]

    def _draw(self, *events: param.parameterized.Event) -> None:
        frame = self.state.context.frame
        if not frame or not frame.get("sources"):
            self.views, self.badges = [], []
            self._send("", chosen=[])
            self.placeholder.visible = True
            return
        self.placeholder.visible = False
        self.views, self.badges = self._look(frame, self.views)
        self._send(str(frame.get("id", "")), chosen=[])

    def _look(
        self, frame: Mapping[str, Any], views: list[SourceView] | None = None
    ) -> tuple[list[SourceView], list[Badge]]:
        """What each source of `frame` shows (in `views` when there are as many), and the
        frame's badges."""
        sources = list(frame.get("sources") or [])
        drawn = frame_glyphs(
            frame,
            fields=self.state.visible_fields,
            paint_mask=self._paint,
            outcomes=frame_outcomes(self.state.catalog, self.state.outcome_key, frame),
            keypoints=frame_keypoints(self.state.catalog, frame),
        )
        glyphs = {sid: styled(g, self.display) for sid, g in drawn.items()}
        if views is None or len(views) != len(sources):
            views = [SourceView() for _ in sources]
        for view, source in zip(views, sources, strict=True):
            shown = glyphs.get(str(source["id"]), SourceGlyphs())
            texts = label_texts(shown) if self.display.label_text else None
            uri = source.get("uri") or ""
            view.large = self.display.expanded
            view.show(
                source, shown, self.state.media.image(uri) if uri else "", len(sources), texts
            )
        badges = [b for s in sources for b in glyphs.get(str(s["id"]), SourceGlyphs()).badges]
        return views, badges

    def _position(self, index: int, frame_id: str) -> dict[str, Any]:
        position = self.state.context.position_at(index)
        position.update({name: extra(frame_id) for name, extra in self.position_extras.items()})
        return position

    def _send(self, frame_id: str, **changes: Any) -> None:
        position = self._position(self.state.context.index, frame_id)
        ahead = self.ahead() if self.ahead is not None and frame_id else []
        near = self._near() if frame_id and not self._following else None
        payload = frame_json(
            frame_id, self.views, self.badges, position, ahead, self._following, near
        )
        self.canvas.param.update(frame_json=payload, **changes)

    def _near(self) -> dict[str, dict[str, Any] | str]:
        """The frames a step from here goes to, which the page draws at once when the
        player steps there (a button or an arrow key), before the server's frame comes:
        the previous and next frames ("-1", "1"), those whose records are read already (the
        next ones are read ahead, the previous one was shown), and the previous and next
        matching frames ("m-1", "m1"; the key of the same frame when it is a neighbour),
        read here in one query when they are not (a match may be far off)."""
        context = self.state.context
        index, count = context.index, len(context.frame_ids)
        steps: dict[str, int] = {str(s): index + s for s in (-1, 1) if 0 <= index + s < count}
        matching = context.matching  # positions, in order
        after, before = bisect_right(matching, index), bisect_left(matching, index)
        matches = {
            "m1": matching[after] if after < len(matching) else None,
            "m-1": matching[before - 1] if before > 0 else None,
        }
        missing = [
            context.frame_ids[i]
            for i in matches.values()
            if i is not None and i not in steps.values()
        ]
        if missing and any(context.loader.peek(f) is None for f in missing):
            context.loader.read(missing)
        near: dict[str, dict[str, Any] | str] = {}
        for step, at in [*steps.items(), *matches.items()]:
            if at is None:
                continue
            same = next((k for k, i in steps.items() if i == at and k in near), None)
            if same is not None and step.startswith("m"):
                near[step] = same  # the neighbour's frame, sent once
                continue
            record = context.loader.peek(context.frame_ids[at])
            if record is None or not record.get("sources"):
                continue
            frame_id = str(record.get("id", ""))
            views, badges = self._look(record)
            near[step] = frame_content(
                frame_id, views, badges, self._position(at, frame_id), hover=False
            )
        return near

    def more(self, request: MoreFrames) -> None:
        """Playing in the page: move to the frame the page shows and send it the frames
        asked for (at most MAX_BATCH; default half a second of the footage) as one message
        (`FrameCanvas.batch_json`). A request about another context than the one open (it
        crossed a change) is dropped: the page plays on from the new frame."""
        context = self.state.context
        frames, at, direction = len(context.frame_ids), request.at, request.direction
        if not (0 <= at < frames and 0 <= request.start < frames):
            return
        if context.frame_ids[at] != request.frame:
            return
        size = min(request.number, MAX_BATCH) if request.number else batch_size(context.fps)
        stop = request.start + direction * size
        positions = list(range(request.start, min(max(stop, -1), frames), direction))
        with pn.io.hold():
            if at != context.index:
                self._following = True
                try:
                    context.index = at
                finally:
                    self._following = False
            batch = []
            for index, record in zip(positions, context.records(positions), strict=False):
                frame_id = str(record.get("id", ""))
                views, badges = self._look(record)
                position = self._position(index, frame_id)
                # Without hover rows (half of a frame's JSON): asked for on hover (`tips`).
                batch.append(frame_content(frame_id, views, badges, position, hover=False))
            self._batches += 1
            self.canvas.batch_json = batch_json(self._batches, batch)

    def tips(self, frame_id: str) -> None:
        """The hover rows of a frame of the open context drawn from the page's buffer (the
        mouse is over one of its ROIs), as one message; another context's frame is
        ignored."""
        context = self.state.context
        if frame_id not in context.frame_ids:
            return
        position = context.frame_ids.index(frame_id)
        for record in context.records([position]):
            views, _ = self._look(record)
            self._tips += 1
            self.canvas.tips_json = tips_json(self._tips, frame_id, views)

    def _rematched(self, *events: param.parameterized.Event) -> None:
        # Only when the frame held is the one at the position (opening another context
        # changes the matches before the position and its frame).
        frame_id, frame = self.state.context.frame_id, self.state.context.frame
        if self.views and frame_id and frame is not None and str(frame.get("id")) == frame_id:
            self._send(frame_id)

    def _resize(self, *events: param.parameterized.Event) -> None:
        for view in self.views:
            view.large = self.display.expanded
        if self.views:
            self._send(self.state.context.frame_id or "")

    def chosen_rois(self) -> list[tuple[str, str]]:
        """(frame id, ROI id) of the shapes chosen with a click."""
        frame_id = self.state.context.frame_id
        if frame_id is None:
            return []
        return [(frame_id, roi) for roi in self.canvas.chosen_ids()]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.notice,
            self.fields,
            self.placeholder,
            self.canvas,
            sizing_mode="stretch_width",
        )
