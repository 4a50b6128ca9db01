"""Playing a context at the footage's own frame rate, with the next frames fetched ahead.

The rate comes from the context's timestamps (the median step between frames, timestamps in
milliseconds), between 1 and 30 frames per second. While a context is open, the records
(sources and ROIs) of the next frames are read ahead in the background (workbench.ui.context's
FrameLoader keeps them), and their pictures are handed to the browser to fetch into its cache
(`Prefetch`, or the viewer's component, which decodes them too): when the player reaches a
frame, its data is at hand and its picture is drawn from memory instead of the network.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from workbench.errors import WorkbenchError
from workbench.ui.background import run_in_background
from workbench.ui.modules import ServedModule

if TYPE_CHECKING:
    from workbench.ui.context import ContextState
    from workbench.ui.media import MediaUrls

DEFAULT_FPS = 10.0
MIN_FPS, MAX_FPS = 1.0, 30.0
# Frames whose pictures the browser fetches ahead; records are read (READ_AHEAD of them) once
# fewer than AHEAD are read ahead of the current frame. Faster footage reads further ahead:
# half a second of frames at least (`ReadAhead.ahead`), so a read in the background has
# that long to finish before playback needs its frames.
AHEAD = 8
READ_AHEAD = 16
AHEAD_SECONDS = 0.5
# Playing, the page draws from frames it holds, sent by the server in batches
# (workbench.ui.viewer's `more`): as many as the page asks for (half a second of playing,
# player.js), at most MAX_BATCH; BATCH_SECONDS of the footage when it does not say.
BATCH_SECONDS = 0.5
MIN_BATCH, MAX_BATCH = 4, 32


def frame_rate(timestamps: Sequence[int | None]) -> float:
    """Frames per second of footage whose timestamps are milliseconds (the median step
    between consecutive frames); DEFAULT_FPS when they cannot tell."""
    steps = [b - a for a, b in pairwise(timestamps) if a is not None and b is not None and b > a]
    if not steps:
        return DEFAULT_FPS
    return min(max(1000.0 / statistics.median(steps), MIN_FPS), MAX_FPS)


def player_interval(fps: float) -> int:
    """The player's milliseconds between frames at `fps`."""
    return max(round(1000.0 / max(fps, MIN_FPS)), int(1000 / MAX_FPS))


def batch_size(fps: float) -> int:
    """Frames the server sends the playing page at once: BATCH_SECONDS of the footage."""
    return min(max(round(fps * BATCH_SECONDS), MIN_BATCH), MAX_BATCH)


class Prefetch(ServedModule, pn.custom.JSComponent):
    """Pictures the browser fetches into its cache before they are shown."""

    urls_json = param.String(default="[]", doc="URLs to fetch, nearest first, as JSON.")

    _esm = """
    export function render({ model }) {
      const kept = new Map();  // url -> Image, the most recent last
      function fetchAhead() {
        for (const url of JSON.parse(model.urls_json)) {
          if (typeof url !== "string" || kept.has(url)) continue;
          const image = new Image();
          image.decoding = "async";
          image.src = url;
          kept.set(url, image);
        }
        while (kept.size > 96) kept.delete(kept.keys().next().value);
      }
      model.on("urls_json", fetchAhead);
      fetchAhead();
      return document.createElement("span");
    }
    """

    def __init__(self, **params: Any) -> None:
        params.setdefault("width", 0)
        params.setdefault("height", 0)
        params.setdefault("margin", 0)
        super().__init__(**params)


class ReadAhead:
    """Keeps the next frames of the open context read (records) and fetched (pictures).

    The pictures' URLs go to `prefetch.urls_json`: a `Prefetch` of its own, or the viewer's
    component, which then decodes them ahead into the pictures it draws from."""

    def __init__(
        self, context: ContextState, media: MediaUrls, prefetch: param.Parameterized | None = None
    ) -> None:
        self.context = context
        self.media = media
        self.own_prefetch = prefetch is None
        self.prefetch: Any = Prefetch() if prefetch is None else prefetch
        self._reading = False
        self._urls: dict[str, list[str]] = {}  # frame id -> its pictures' URLs, recent ones
        # The browser has the pictures of the positions in this range (of this context).
        self._handed: tuple[str | None, int, int] = (None, 0, -1)
        context.param.watch(self._moved, ["index", "frame_ids"])

    def _moved(self, *events: param.parameterized.Event) -> None:
        context = self.context
        ids, index = list(context.frame_ids), context.index
        self._hand_over()
        near = ids[index + 1 : index + 1 + self.ahead]
        if self._reading or all(context.loader.peek(i) is not None for i in near):
            return
        ahead = ids[index + 1 : index + 1 + max(READ_AHEAD, 2 * self.ahead)]
        self._read([i for i in ahead if context.loader.peek(i) is None])

    @property
    def ahead(self) -> int:
        """Frames kept ahead: AHEAD, or half a second of the footage if that is more."""
        return max(AHEAD, round(self.context.fps * AHEAD_SECONDS))

    def _hand_over(self) -> None:
        """Give the browser the pictures of the next frames whose records are read (a
        message of their own: after a read in the background)."""
        urls = self.urls_due()
        if urls:
            self.prefetch.urls_json = json.dumps(urls)

    def urls_due(self) -> list[str]:
        """The pictures the browser should fetch now ([] when it has them): the next
        2 x `ahead` frames' whose records are read, again once fewer than `ahead` are
        left ahead. The viewer sends them with the frame (one message per step)."""
        context = self.context
        index, ids = context.index, context.frame_ids
        context_id, first, last = self._handed
        end = min(index + self.ahead, len(ids) - 1)  # the browser should have up to here
        if context_id == context.context_id and first <= index + 1 and end <= last:
            return []
        ahead = ids[index + 1 : index + 1 + 2 * self.ahead]
        known = []
        for frame_id in ahead:  # up to the first frame not read yet
            if context.loader.peek(frame_id) is None:
                break
            known.append(frame_id)
        urls = [url for frame_id in known for url in self._urls_of(frame_id)]
        if known:
            self._handed = (context.context_id, index + 1, index + len(known))
        return urls

    def _urls_of(self, frame_id: str) -> list[str]:
        """The URLs of a frame's pictures, worked out once (a served URL checks the file)."""
        known = self._urls.get(frame_id)
        if known is not None:
            return known
        record = self.context.loader.peek(frame_id)
        if record is None:
            return []
        urls = self._urls[frame_id] = [self.media.image(u) for u in _uris(record)]
        if len(self._urls) > 4 * READ_AHEAD:
            del self._urls[next(iter(self._urls))]
        return urls

    def _read(self, frame_ids: list[str]) -> None:
        self._reading = True
        loader = self.context.loader

        def done(_: object) -> None:
            self._reading = False
            self._hand_over()

        def failed(exc: WorkbenchError) -> None:
            self._reading = False

        run_in_background(lambda: loader.read(frame_ids), done, failed)


def _uris(record: dict[str, Any]) -> list[str]:
    return [str(s["uri"]) for s in record.get("sources") or [] if s.get("uri")]
