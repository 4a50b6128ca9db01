"""The open context: its frames in timestamp order, which of them match, and the current one.

Only ids and timestamps of the context's frames are held; full frame records (sources and
ROIs) are read in small chunks around the current position and kept in a bounded cache, so
stepping to the next frame usually needs no query at all, and a context of 100k frames costs
a few megabytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import param

from workbench.query import View
from workbench.ui.playback import frame_rate

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

CHUNK = 16
CACHE_FRAMES = 256


class FrameLoader:
    """Frame records (with sources and ROIs) by id, read through `base_view` in chunks.

    Playback reads ahead from a background thread (workbench.ui.playback) while the session
    reads what it shows: the cache is guarded by a lock, and a read started before `clear()`
    (the filter changed) does not put its records back."""

    def __init__(self, base_view: Callable[[], View], cache_size: int = CACHE_FRAMES) -> None:
        self._base_view = base_view
        self.cache_size = cache_size
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self.queries = 0  # how many reads went to the catalog (tests and tuning look at it)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def peek(self, frame_id: str) -> dict[str, Any] | None:
        """The record of `frame_id` if it is read already (never reads)."""
        with self._lock:
            return self._cache.get(frame_id)

    def read(self, frame_ids: list[str]) -> None:
        """Read the records of `frame_ids` (those not read yet) into the cache."""
        with self._lock:
            wanted = [i for i in frame_ids if i not in self._cache]
            generation = self._generation
        if not wanted:
            return
        self.queries += 1
        records = self._base_view().select(wanted).page(0, len(wanted)).to_pylist()
        with self._lock:
            if generation != self._generation:
                return
            for record in records:
                self._cache[record["id"]] = record
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def get(self, ids: list[str], index: int) -> dict[str, Any] | None:
        """The record of `ids[index]`, reading it and the next few missing ones if needed."""
        frame_id = ids[index]
        with self._lock:
            found = self._cache.get(frame_id)
            if found is not None:
                self._cache.move_to_end(frame_id)
                return found
        self.read(ids[max(0, index - 2) : index + CHUNK])
        return self.peek(frame_id)


class ContextState(param.Parameterized):
    """The context open in the viewer and the position of the player in it."""

    context_id = param.String(default=None, allow_None=True)
    frame_ids = param.List(default=[], doc="The context's frames in timestamp order.")
    timestamps = param.List(default=[], doc="Their timestamps (None where unknown).")
    matching = param.List(default=[], doc="Positions (in frame_ids) of frames that match.")
    index = param.Integer(default=0, bounds=(0, None))
    frame = param.Dict(default=None, allow_None=True, doc="The current frame's record.")
    fps = param.Number(default=10.0, bounds=(1.0, 30.0), doc="The footage's frame rate.")
    matching_rois_only = param.Boolean(
        default=False, doc="Draw only the ROIs that pass the query's label filters."
    )

    def __init__(
        self, catalog: Catalog, roi_filter: Callable[[], Mapping[str, Any] | None], **params: Any
    ):
        super().__init__(**params)
        self._catalog = catalog
        self._roi_filter = roi_filter
        self.loader = FrameLoader(self._frames_view)

    def _frames_view(self) -> View:
        view = View(self._catalog)
        rois = self._roi_filter() if self.matching_rois_only else None
        if rois:
            view = view.filter_rois(**rois, only_matches=False)
        return view

    @property
    def frame_id(self) -> str | None:
        return self.frame_ids[self.index] if self.frame_ids else None

    @property
    def position_text(self) -> str:
        return self.position_text_at(self.index)

    def position_text_at(self, index: int) -> str:
        if not self.frame_ids:
            return "no frame"
        return f"frame {index + 1} / {len(self.frame_ids)} · {self.frame_ids[index]}"

    @property
    def position(self) -> dict[str, Any]:
        """Where the player is, as the page's player shows it: the position, the number of
        frames and the label's text."""
        return self.position_at(self.index)

    def position_at(self, index: int) -> dict[str, Any]:
        """The player's position at `index` (what `position` says once there)."""
        return {"i": index, "n": len(self.frame_ids), "t": self.position_text_at(index)}

    def records(self, positions: list[int]) -> list[dict[str, Any]]:
        """The records of the frames at `positions`, read in one query where missing; the
        list stops before a frame that could not be read."""
        ids = [self.frame_ids[p] for p in positions]
        self.loader.read(ids)
        found = []
        for frame_id in ids:
            record = self.loader.peek(frame_id)
            if record is None:
                break
            found.append(record)
        return found

    def open(self, context_id: str, query_view: View, frame_id: str | None = None) -> None:
        """Open a context at `frame_id` (default: its first frame matching `query_view`)."""
        table = (
            View(self._catalog)
            .select_contexts([context_id])
            .sort_by("frame_index")
            .sort_by("timestamp")
            .frames(columns=["id", "timestamp"])
        )
        ids = [str(v) for v in table.column("id").to_pylist()]
        matches = set(query_view.select_contexts([context_id]).frame_ids())
        matching = [i for i, fid in enumerate(ids) if fid in matches]
        start = ids.index(frame_id) if frame_id in ids else matching[0] if matching else 0
        self.loader.clear()
        timestamps = table.column("timestamp").to_pylist()
        self.param.update(
            context_id=context_id,
            frame_ids=ids,
            timestamps=timestamps,
            matching=matching,
            fps=frame_rate(timestamps),
        )
        if self.index == start:
            self._load()
        else:
            self.index = start

    def close(self) -> None:
        self.param.update(
            context_id=None, frame_ids=[], timestamps=[], matching=[], index=0, frame=None
        )

    def step(self, delta: int) -> None:
        if self.frame_ids:
            self.index = min(max(self.index + delta, 0), len(self.frame_ids) - 1)

    def step_match(self, delta: int) -> None:
        """Go to the next (delta > 0) or previous matching frame, if there is one."""
        later = [i for i in self.matching if (i - self.index) * delta > 0]
        if later:
            self.index = min(later) if delta > 0 else max(later)

    def refresh_matches(self, query_view: View) -> None:
        if self.context_id is None:
            return
        matches = set(query_view.select_contexts([self.context_id]).frame_ids())
        self.matching = [i for i, fid in enumerate(self.frame_ids) if fid in matches]
        if self.matching_rois_only:
            self.loader.clear()
            self._load()

    @param.depends("index", watch=True)
    def _load(self) -> None:
        if not self.frame_ids:
            self.frame = None
            return
        self.index = min(self.index, len(self.frame_ids) - 1)
        self.frame = self.loader.get(self.frame_ids, self.index)

    @param.depends("matching_rois_only", watch=True)
    def _reload(self) -> None:
        self.loader.clear()
        self._load()
