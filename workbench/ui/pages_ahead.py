"""Pages of tiles read ahead: while a page is on screen, its neighbours are read in the
background (as the player reads the next frames ahead), so "next" and "previous" only send
tiles read already.

Reading a page of 48 frame tiles (the query, then thinning every ROI ring) costs the server
about 100 ms of CPU, most of a page change's (docs/benchmarks.md, "The served app: a page of
tiles"). A page read ahead is used only for the view it was read from, at the catalog
version it was read at: a new query, a new mode or page size, or any write to the catalog
(a merge's labels) makes it read again.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import partial
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


class PagesAhead:
    """The pages read ahead for one view (compared by identity: a new query is a new View)
    and one `shape` (mode, page size, media), at one catalog version."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._view: View | None = None
        self._shape: Hashable = None
        self._version = -1
        self._pages: dict[int, Tiles] = {}
        self._asked: set[int] = set()

    def _follow(self, view: View, shape: Hashable) -> None:
        """Forget what was read for another view, shape or catalog version."""
        version = catalog_version(self.catalog)
        if view is not self._view or shape != self._shape or version != self._version:
            self._view, self._shape, self._version = view, shape, version
            self._pages, self._asked = {}, set()

    def take(self, view: View, shape: Hashable, page: int) -> Tiles | None:
        """The tiles of `page` read ahead for this view and shape, or None."""
        self._follow(view, shape)
        return self._pages.get(page)

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
        delay: float,
    ) -> None:
        """Read the pages beside `page` (of `pages`) not read yet, in the background after
        `delay` seconds; `read(n)` reads page n's tiles. A page read for a view left
        meanwhile is dropped."""
        self._follow(view, shape)
        version = self._version
        for near in (page + 1, page - 1):
            if not 0 <= near < pages or near in self._pages or near in self._asked:
                continue
            self._asked.add(near)

            def store(tiles: Tiles, near: int = near) -> None:
                if view is self._view and shape == self._shape and version == self._version:
                    self._asked.discard(near)
                    self._store(near, tiles)

            def failed(exc: WorkbenchError, near: int = near) -> None:
                self._asked.discard(near)  # read when asked for, which reports the error

            run_in_background(partial(read, near), store, failed, delay=delay)
