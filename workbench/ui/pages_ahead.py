"""Pages of tiles read ahead: while a page is on screen, its neighbours are read in the
background (as the player reads the next frames ahead), so "next" and "previous" only send
tiles read already.

Reading a page of 48 frame tiles (the query, then thinning every ROI ring) costs the server
about 100 ms of CPU, most of a page change's (docs/benchmarks.md, "The served app: a page of
tiles"). A page read ahead is used only for the view it was read from, at the catalog
version it was read at: a new query, a new mode or page size, or any write to the catalog
(a merge's labels) makes it read again. A page asked for while its read ahead runs waits
for that read (at most WAIT seconds) instead of reading it a second time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.ui.background import run_in_background
from workbench.ui.shared import catalog_version

if TYPE_CHECKING:
    from workbench.query import View
    from workbench.store.catalog import Catalog

Tiles = list[dict[str, Any]]
# Pages kept for the view on screen: the two neighbours and the pages just left.
KEEP = 4
# Seconds a page change waits for the read ahead of its page that has started: a page's
# read takes about a tenth of that.
WAIT = 0.5
# Seconds a served session waits before reading ahead: its page goes to the browser first.
PAUSE = 0.1


class _Read:
    """A page read ahead: `tiles` once `done` (None when it failed or was not needed)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.done = threading.Event()
        self.tiles: Tiles | None = None


class PagesAhead:
    """The pages read ahead for one view (compared by identity: a new query is a new View)
    and one `shape` (mode, page size, media), at one catalog version. `on_read` hears of
    each page read ahead (its pictures can be fetched ahead too)."""

    def __init__(self, catalog: Catalog, on_read: Callable[[Tiles], None] | None = None) -> None:
        self.catalog = catalog
        self.on_read = on_read
        self._view: View | None = None
        self._shape: Hashable = None
        self._version = -1
        self._generation = 0  # moves on whenever what was read ahead is forgotten
        self._pages: dict[int, Tiles] = {}
        self._reads: dict[int, _Read] = {}

    def _follow(self, view: View, shape: Hashable) -> None:
        """Forget what was read for another view, shape or catalog version."""
        version = catalog_version(self.catalog)
        if view is not self._view or shape != self._shape or version != self._version:
            self._view, self._shape, self._version = view, shape, version
            self._pages, self._reads = {}, {}
            self._generation += 1

    def take(self, view: View, shape: Hashable, page: int) -> Tiles | None:
        """The tiles of `page` read ahead for this view and shape, or None."""
        self._follow(view, shape)
        if page in self._pages:
            return self._pages[page]
        running = self._reads.get(page)
        if running is not None and running.started.is_set() and running.done.wait(WAIT):
            del self._reads[page]  # its answer, on its way to `store`, is not needed again
            return running.tiles
        return None

    def keep(self, view: View, shape: Hashable, page: int, tiles: Tiles) -> None:
        """Keep a page read now (the one on screen): going back to it reads nothing."""
        self._follow(view, shape)
        self._store(page, tiles)

    def _store(self, page: int, tiles: Tiles) -> None:
        self._pages.pop(page, None)
        self._pages[page] = tiles
        while len(self._pages) > KEEP:
            self._pages.pop(next(iter(self._pages)))

    def read_around(
        self,
        view: View,
        shape: Hashable,
        page: int,
        pages: int,
        read: Callable[[int], Tiles],
        delay: float = PAUSE,
    ) -> None:
        """Read the pages beside `page` (of `pages`) not read yet, in the background after
        `delay` seconds; `read(n)` reads page n's tiles. A page read for a view left
        meanwhile is dropped."""
        self._follow(view, shape)
        for near in (page + 1, page - 1):
            if 0 <= near < pages and near not in self._pages and near not in self._reads:
                self._reads[near] = _Read()
                self._start(near, read, delay)

    def _start(self, near: int, read: Callable[[int], Tiles], delay: float) -> None:
        running, generation = self._reads[near], self._generation

        def wanted() -> bool:  # read on a pool thread: a stale answer costs only a read
            return generation == self._generation and near not in self._pages

        def work() -> Tiles | None:
            try:
                if wanted():
                    running.started.set()
                    running.tiles = read(near)
                return running.tiles
            finally:
                running.done.set()

        def store(tiles: Tiles | None) -> None:
            if generation != self._generation or self._reads.get(near) is not running:
                return
            del self._reads[near]
            if tiles is not None:
                self._store(near, tiles)
                if self.on_read is not None:
                    self.on_read(tiles)

        def failed(exc: WorkbenchError) -> None:
            if self._reads.get(near) is running:
                del self._reads[near]  # read when asked for, which reports the error

        run_in_background(work, store, failed, delay=delay)
