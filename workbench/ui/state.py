"""The state of one workbench session: query, page of tiles, facets, selection, open context.

Views bind to these parameters and call these methods; nothing here knows about widgets, so
everything a person can do in the app can be done (and tested) from Python. All data comes
through the View API (workbench.query); a page of tiles is read with two queries whatever the
size of the catalog. Scenes, inputs and annotation runs come from the service layer
(`workbench.services.Workbench`, or any `WorkbenchService`), which the actions, the runs
panel and the annotator share; every write goes through it (tags and saved views too), on
the action pool when served (workbench.ui.background).

Here: the query's view, its pages of tiles, their facets and marks, and the viewer that
follows them. The selection (workbench.ui.selection_state) and the tags and saved views
(workbench.ui.curation_state) are parts of the same state, mixed into `WorkbenchState`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import param
from panel.io import hold

from workbench.errors import QueryError, WorkbenchError
from workbench.query import View
from workbench.query.ranges import NumericKey, numeric_keys
from workbench.services import Workbench, WorkbenchService
from workbench.ui.background import run_in_background
from workbench.ui.context import ContextState
from workbench.ui.curation_state import CurationState
from workbench.ui.display import DisplayOptions
from workbench.ui.facets import Facets, Outdated, compute_facets
from workbench.ui.marks import Marks, tile_marks
from workbench.ui.media import InlineMediaUrls, MediaUrls
from workbench.ui.query_state import QUERY_PARAMS, QueryState
from workbench.ui.selection_state import SelectionState
from workbench.ui.shared import PAGES, kept_read, served_session, shared_read
from workbench.ui.tiles import context_tiles, frame_tiles

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

PAGE_SIZE = 48
NOTHING_MATCHES = "Nothing matches the query: there is no frame to show."
# Seconds a served session waits before counting the facets of a new query (see
# refresh_facets).
FACETS_PAUSE = 0.3


class WorkbenchState(SelectionState, CurationState):
    """One session's state. Create with the catalog and a MediaUrls strategy.

    `query` (the filters) and `context` (the open context and player position) are
    Parameterized objects of their own, so views can watch just the part they show.
    `service` is the Workbench every action goes through (default: one on `catalog`).
    """

    mode: param.Selector[str] = param.Selector(default="contexts", objects=["contexts", "frames"])
    page = param.Integer(default=0, bounds=(0, None))
    page_size = param.Integer(default=PAGE_SIZE, bounds=(1, 1000))
    total = param.Integer(default=0, doc="Tiles over all pages (contexts or frames).")
    tiles = param.List(default=[], doc="This page's tile dicts (see workbench.ui.tiles).")
    error = param.String(default="", doc="Why the last query failed; empty when it ran.")
    facets = param.ClassSelector(class_=Facets, default=Facets(), instantiate=False)
    counting = param.Boolean(default=False, doc="The facets of the query are being counted.")
    fields = param.List(default=[], doc="Label fields in the catalog.")
    visible_fields = param.List(default=[], doc="Label fields the viewer draws.")
    busy = param.Boolean(default=False)
    changes = param.Integer(
        default=0, doc="Counts actions that changed scenes, inputs, runs or labels."
    )
    tile_marks = param.Dict(
        default={}, doc="Tile id -> its marks (tags, runs, invalidated scenes; ui.marks)."
    )
    numeric_keys = param.List(
        default=[], doc="NumericKey per numeric column or metadata key (the range filters)."
    )
    viewer_notice = param.String(
        default="", doc="Why the viewer shows what it shows after a query moved it ('' if not)."
    )
    outcome_key = param.String(
        default="", doc="The evaluation whose outcomes (tp, fp, fn) colour the viewer's ROIs."
    )

    def __init__(
        self,
        catalog: Catalog,
        media: MediaUrls | None = None,
        query: QueryState | None = None,
        *,
        service: WorkbenchService | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.catalog = catalog
        self.service: WorkbenchService = service if service is not None else Workbench(catalog)
        self.query = query if query is not None else QueryState()
        self.media: MediaUrls = media if media is not None else InlineMediaUrls()
        self.context = ContextState(catalog, self.query.roi_filter)
        self.display = DisplayOptions()
        self._view: View | None = None
        self._shown_page = -1  # the page whose tiles `tiles` holds
        self._facets_wanted = 0
        self._marks_wanted = 0
        self._closed_by_query = False  # the viewer was emptied because nothing matched
        self.query.param.watch(self._on_query, list(QUERY_PARAMS))
        # A served session's reads that do not depend on it are shared (workbench.ui.shared).
        self.served = served_session()
        self.fields = shared_read(
            catalog, ("fields",), lambda: View(catalog).fields(), served=self.served
        )
        self.visible_fields = list(self.fields)
        self.saved_views = [v.name for v in self.service.get_saved_views()]
        self._numeric_keys_asked = False
        self.refresh()

    # -- reading -----------------------------------------------------------------------------
    @property
    def view(self) -> View:
        """The View of the current query (what the grid pages through)."""
        if self._view is None:
            self._view = self.query.view(self.catalog)
        return self._view

    @property
    def pages(self) -> int:
        return _pages(self.total, self.page_size)

    @contextmanager
    def _busy(self) -> Iterator[None]:
        self.busy = True
        try:
            yield
        finally:
            self.busy = False

    @contextmanager
    def _new_page(self) -> Iterator[None]:
        # Served, what a new page changes (tiles, pager label and buttons) is held and sent
        # together once the page is read. The busy spinner is not switched on and off
        # around it: nothing reaches the browser before the read ends, so the browser
        # would only get two more messages and lay the page out twice more for nothing.
        with hold():
            yield

    def refresh(self, query_changed: bool = True, first_page: bool = False) -> None:
        """Read the current page of tiles (the first one with `first_page`) and, when the
        query changed, soon after the facets and the open context's matching frames."""
        with self._new_page():
            try:
                self._view = self.query.view(self.catalog)
                self._load_page(count=True, page=0 if first_page else None)
            except QueryError as exc:
                self._view = None
                first = {"page": 0} if first_page else {}
                self.param.update(error=str(exc), tiles=[], total=0, facets=Facets(), **first)
                return
            self.error = ""
        if query_changed:
            self.refresh_facets()
            self._follow_query()

    def _follow_query(self) -> None:
        """The viewer follows a new query: the open context stays while some of its frames
        match (in frames mode: while the open frame does); otherwise the first tile opens,
        or, when nothing matches, the viewer empties. `viewer_notice` says which happened."""
        context = self.context
        if not self.tiles:
            if context.context_id is not None:
                context.close()
                self._closed_by_query = True
            self.viewer_notice = NOTHING_MATCHES if self._closed_by_query else ""
            return
        if context.context_id is None:
            if self._closed_by_query:
                self._closed_by_query = False
                self.open_tile(self.tiles[0]["id"])
            self.viewer_notice = ""
            return
        context.refresh_matches(self.view)
        contexts = self.mode == "contexts"
        if context.matching and (contexts or context.index in context.matching):
            self.viewer_notice = ""
            return
        gone = (context.context_id if contexts else context.frame_id) or ""
        first = self.tiles[0]["id"]
        self.open_tile(first)
        what = "context" if contexts else "frame"
        self.viewer_notice = (
            f"The open {what} {gone} does not match the query any more: showing {first}, "
            f"the first {what} that does."
        )

    def refresh_facets(self) -> None:
        """Count the facets of the current query: in the background when served (the page
        of tiles is already on its way), at once otherwise. Results of an older query that
        arrive late are dropped."""
        if self.error:
            return
        self._facets_wanted += 1
        wanted = self._facets_wanted
        view, field_name = self.view, self.query.label_field or None
        numeric = list(self.numeric_keys)
        # Served, counting waits a moment: the browser draws the new page of tiles without
        # the facet queries competing for the CPU, and a query changed again meanwhile
        # (a second query right after the first) is never counted at all.
        pause = _served_pause()

        key = ("facets", self._query_key(), field_name, tuple(numeric))
        known = kept_read(self.catalog, key, served=self.served)
        if isinstance(known, Facets):  # counted for another session: no wait, no message
            self.param.update(facets=known, counting=False)
            return
        self.counting = True

        def current() -> bool:
            return wanted == self._facets_wanted

        def show(facets: Facets | None) -> None:
            if facets is not None and current():
                self.param.update(facets=facets, counting=False)

        def failed(exc: WorkbenchError) -> None:
            if current():
                self.param.update(error=str(exc), counting=False)

        def counted() -> Facets:
            return compute_facets(view, field_name, current, numeric)

        served, catalog = self.served, self.catalog

        def count() -> Facets | None:
            try:
                return shared_read(catalog, key, counted, served=served)
            except Outdated:
                return None

        run_in_background(count, show, failed, delay=pause)

    def _query_key(self) -> tuple[object, ...]:
        """The query as a value: what shared reads of the same query agree on."""
        values = {name: getattr(self.query, name) for name in QUERY_PARAMS}
        return (json.dumps(values, sort_keys=True, default=repr),)

    def load_numeric_keys(self) -> None:
        """Find the numeric keys, once (in the background when served), when the range
        filters are first shown: they cost a query per key over every frame, which a
        session that never filters by a range does not pay. The facets are counted again
        once they are known, with the keys' histograms."""
        if self._numeric_keys_asked:
            return
        self._numeric_keys_asked = True

        def found(keys: list[NumericKey]) -> None:
            self.numeric_keys = keys
            if self._facets_wanted and any(k.high > k.low for k in keys):
                self.refresh_facets()

        def failed(exc: WorkbenchError) -> None:
            self.error = self.error or f"numeric keys could not be read: {exc}"

        run_in_background(lambda: numeric_keys(View(self.catalog)), found, failed)

    def _load_page(self, count: bool, page: int | None = None) -> None:
        """Show the page asked for (`page`, else `self.page`), the tiles counted again first
        when `count` (a new query or mode), with one look at what the catalog's served
        sessions keep (workbench.ui.shared): a query's first read (its count and page) under
        the page asked for, every page's tiles under their page; a first read keeps its
        page's tiles too, so turning back to that page reads nothing."""
        view, size, media, served = self.view, self.page_size, self.media, self.served
        asked, contexts = self.page if page is None else page, self.mode == "contexts"
        build = context_tiles if contexts else frame_tiles
        # The same for every session (the media's URLs too).
        query = (self._query_key(), self.mode, size, id(media))

        def tiles_of(at: int) -> list[dict[str, Any]]:
            def read() -> list[dict[str, Any]]:
                return build(view, at * size, size, media)

            return shared_read(self.catalog, ("tiles", *query, at), read, served=served, kind=PAGES)

        def first_read() -> tuple[int, int, list[dict[str, Any]]]:
            total = view.count_contexts() if contexts else view.count()
            at = min(asked, _pages(total, size) - 1)
            return total, at, tiles_of(at)

        if count:
            key = ("page", *query, asked)
            total, page, tiles = shared_read(self.catalog, key, first_read, served=served)
        else:
            total, page = self.total, min(asked, self.pages - 1)
            tiles = tiles_of(page)
        tiles = list(tiles)
        self._shown_page = page  # `_on_page` then knows this page is read already
        self.param.update(total=total, page=page, tiles=tiles)
        self._mark_selected()
        self.refresh_marks()

    def refresh_marks(self) -> None:
        """Read the marks of the page's tiles: in the background when served (the tiles are
        on their way already), at once otherwise; marks of a page left meanwhile are
        dropped. Marks kept from another session (or this one's earlier visit) of the page
        go with the page. Served, the read starts at once (no pause as the facets have):
        it costs a few milliseconds, and started later it came in the way of the next
        input when pages are turned quickly."""
        self._marks_wanted += 1
        wanted = self._marks_wanted
        view, tiles, mode, service = self.view, list(self.tiles), self.mode, self.service
        served, catalog = self.served, self.catalog
        key = ("marks", self._query_key(), mode, tuple(str(t["id"]) for t in tiles))
        known = kept_read(catalog, key, served=served, kind=PAGES)
        if isinstance(known, dict):
            self.tile_marks = known
            return

        def show(marks: Marks | None) -> None:
            if marks is not None and wanted == self._marks_wanted:
                self.tile_marks = marks

        def failed(exc: WorkbenchError) -> None:
            if wanted == self._marks_wanted:
                self.tile_marks = {}

        def read() -> Marks | None:
            if wanted != self._marks_wanted:
                return None  # another page is on screen already
            return shared_read(
                catalog,
                key,
                lambda: tile_marks(view, service, tiles, mode),
                served=served,
                kind=PAGES,
            )

        run_in_background(read, show, failed)

    def _on_query(self, *events: param.parameterized.Event) -> None:
        self.refresh(first_page=True)

    @param.depends("page", watch=True)
    def _on_page(self) -> None:
        """A page asked for (next, previous, or `page` set from Python) is read."""
        if self.page == self._shown_page or self.error:
            return
        with self._new_page():
            self._load_page(count=False)

    @param.depends("mode", watch=True)
    def _on_mode(self) -> None:
        self._picks.anchor = None
        self.refresh(query_changed=False, first_page=True)

    def next_page(self) -> None:
        self.page = min(self.page + 1, self.pages - 1)

    def previous_page(self) -> None:
        self.page = max(self.page - 1, 0)

    # -- after actions ------------------------------------------------------------------
    def after_action(self, labels_changed: bool = False) -> None:
        """An action changed what the service knows: refresh what depends on it. When it
        changed labels too (a merge), re-read the page, the facets and the open frame."""
        self.refresh_selection_scenes()
        if not labels_changed:
            self.refresh_marks()  # runs and invalidated scenes
        else:
            self.refresh()
            context = self.context
            context.loader.clear()
            if context.frame_ids:
                context.frame = context.loader.get(context.frame_ids, context.index)
        self.changes += 1

    # -- viewer ------------------------------------------------------------------------------
    def open_tile(self, tile_id: str) -> None:
        """Open a context tile at its first matching frame, or a frame tile at that frame."""
        # Without the busy spinner, as a new page (see _new_page).
        with hold():
            if self.mode == "contexts":
                self.context.open(tile_id, self.view)
                return
            tile = next((t for t in self.tiles if t["id"] == tile_id), None)
            context_id = tile.get("context_id") if tile else None
            if context_id is None:
                rows = View(self.catalog).select([tile_id]).frames(columns=["context_id"])
                if rows.num_rows == 0:
                    return
                context_id = str(rows.column("context_id")[0].as_py())
            self.context.open(context_id, self.view, frame_id=tile_id)

    def step_tile(self, delta: int) -> None:
        """Open the next (delta > 0) or previous tile, across pages (the sample view's n/p)."""
        ids = [t["id"] for t in self.tiles]
        if not ids:
            return
        here = ids.index(self.active_tile) if self.active_tile in ids else -1
        target = here + delta if here >= 0 else 0
        if 0 <= target < len(ids):
            self.open_tile(ids[target])
        elif target >= len(ids) and self.page < self.pages - 1:
            self.next_page()
            self.open_tile(self.tiles[0]["id"])
        elif target < 0 and self.page > 0:
            self.previous_page()
            self.open_tile(self.tiles[-1]["id"])
        self.viewer_notice = ""

    @property
    def active_tile(self) -> str:
        if self.mode == "contexts":
            return self.context.context_id or ""
        return self.context.frame_id or ""


def _pages(total: int, size: int) -> int:
    """Pages of `size` tiles that `total` tiles fill (one when there is none)."""
    return max(1, -(-total // size))


def _served_pause() -> float:
    """Seconds a served session's background reads wait so the page is drawn first (none in
    a notebook or a script)."""
    return FACETS_PAUSE if served_session() else 0.0
