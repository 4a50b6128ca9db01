"""The state of one workbench session: query, page of tiles, facets, selection, open context.

Views bind to these parameters and call these methods; nothing here knows about widgets, so
everything a person can do in the app can be done (and tested) from Python. All data comes
through the View API (workbench.query); a page of tiles is read with two queries whatever the
size of the catalog. Scenes, inputs and annotation runs come from the service layer
(`workbench.services.Workbench`, or any `WorkbenchService`), which the actions, the runs
panel and the annotator share; every write goes through it (tags and saved views too), on
the action pool when served (workbench.ui.background).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import panel as pn
import param
from panel.io import hold

from workbench.errors import QueryError, WorkbenchError
from workbench.query import View
from workbench.query.ranges import NumericKey, numeric_keys
from workbench.services import RoiRef, SavedViewInfo, TagReport, Workbench, WorkbenchService
from workbench.ui.background import run_action, run_in_background
from workbench.ui.context import ContextState
from workbench.ui.display import DisplayOptions
from workbench.ui.facets import Facets, Outdated, compute_facets
from workbench.ui.grid import TileEvent
from workbench.ui.marks import Marks, tile_marks
from workbench.ui.media import InlineMediaUrls, MediaUrls
from workbench.ui.query_state import QUERY_PARAMS, QueryState
from workbench.ui.selection import Pick, Selection, SelectionBuilder, click_range
from workbench.ui.shared import PAGES, kept_read, served_session, shared_read
from workbench.ui.tiles import context_tiles, frame_tiles
from workbench.ui.wording import plural

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

PAGE_SIZE = 48
NOTHING_MATCHES = "Nothing matches the query: there is no frame to show."
# Seconds a served session waits before counting the facets of a new query (see
# refresh_facets).
FACETS_PAUSE = 0.3


class WorkbenchState(param.Parameterized):
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
    selection = param.ClassSelector(class_=Selection, default=Selection(), instantiate=False)
    selected_tiles = param.List(default=[], doc="Ids of this page's selected tiles.")
    busy = param.Boolean(default=False)
    message = param.String(default="", doc="What the last action did, for a person to read.")
    saved_views = param.List(default=[], doc="Names of the catalog's saved views.")
    acting = param.String(
        default="", doc="The tag or saved-view action running ('' when none), for a person."
    )
    action_error = param.String(default="", doc="Why the last tag or saved-view action failed.")
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
        self._picks = SelectionBuilder()
        self._selected_frames: frozenset[str] = frozenset()
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
        return max(1, -(-self.total // self.page_size))

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
        view, asked = self.view, self.page if page is None else page
        contexts, size, media = self.mode == "contexts", self.page_size, self.media
        build = context_tiles if contexts else frame_tiles

        def read() -> tuple[int, int, list[dict[str, Any]]]:
            total = view.count_contexts() if contexts else view.count()
            pages = max(1, -(-total // size))
            at = min(asked, pages - 1)
            return total, at, build(view, at * size, size, media)

        # The same for every session (the media's URLs too): a query's first read, and any
        # other page (kept apart: the first screen's reads stay kept however much is paged).
        def first_read(at: int) -> tuple[Hashable, ...]:
            return ("page", self._query_key(), self.mode, size, at, id(media))

        if count:
            total, page, tiles = shared_read(
                self.catalog, first_read(asked), read, served=self.served
            )
        else:
            total, page = self.total, min(asked, max(1, -(-self.total // size)) - 1)
            first = kept_read(self.catalog, first_read(page), served=self.served)
            if isinstance(first, tuple) and first[:2] == (total, page):  # back to the first
                tiles = first[2]
            else:
                tiles = shared_read(
                    self.catalog,
                    ("tiles", self._query_key(), self.mode, size, page, total, id(media)),
                    lambda: build(view, page * size, size, media),
                    served=self.served,
                    kind=PAGES,
                )
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

    # -- tiles and selection -----------------------------------------------------------------
    def tile_click(self, event: TileEvent) -> None:
        """A click on a tile: plain selects it alone and opens it, shift adds the range from
        the last clicked tile, ctrl (cmd) toggles it; a double click only opens."""
        self.viewer_notice = ""
        if event.open:
            self.open_tile(event.id)
            return
        order = [t["id"] for t in self.tiles]
        if event.shift:
            self._pick(click_range(order, self._picks.anchor, event.id))
        elif event.ctrl:
            key = self._key(event.id)
            if key in self._picks:
                self._picks.remove(key)
            else:
                self._pick([event.id])
        else:
            self._picks.clear()
            self._pick([event.id])
            self.open_tile(event.id)
        self._picks.anchor = event.id
        self._publish_selection()

    def _key(self, tile_id: str) -> str:
        return ("c:" if self.mode == "contexts" else "f:") + tile_id

    def _pick(self, tile_ids: list[str]) -> None:
        if self.mode == "frames":
            contexts = {t["id"]: t.get("context_id", "") for t in self.tiles}
            picks = [Pick(self._key(i), contexts.get(i, ""), (i,)) for i in tile_ids]
        else:
            members = self._context_members(self.view.select_contexts(tile_ids))
            picks = [Pick(self._key(c), c, tuple(members.get(c, ()))) for c in tile_ids]
        self._picks.add(picks)

    @staticmethod
    def _context_members(view: View) -> dict[str, list[str]]:
        table = view.frames(columns=["id", "context_id"])
        grouped = table.group_by("context_id", use_threads=False).aggregate([("id", "list")])
        return dict(
            zip(
                grouped.column("context_id").to_pylist(),
                grouped.column("id_list").to_pylist(),
                strict=True,
            )
        )

    def select_all(self) -> None:
        """Select every frame that matches the query (grouped by context)."""
        if self.error:
            return
        with self._busy():
            members = self._context_members(self.view)
            self._picks.clear()
            self._picks.add(Pick("c:" + c, c, tuple(ids)) for c, ids in members.items())
            self._publish_selection()

    def pick(self, picks: Iterable[Pick], *, add: bool = False) -> None:
        """Select what another view picked (patches, a plot): each Pick a key of its own
        (`"p:" + roi`), its context and frames; `add` keeps what is selected already."""
        if not add:
            self._picks.clear()
        self._picks.add(picks)
        self._publish_selection()

    def unpick(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._picks.remove(key)
        self._publish_selection()

    def is_picked(self, key: str) -> bool:
        return key in self._picks

    def clear_selection(self) -> None:
        self._picks.clear()
        self._publish_selection()

    def _publish_selection(self) -> None:
        self.selection = self._with_scenes(self._picks.snapshot())
        # Kept for marking tiles page after page (a selection can hold a million frames).
        self._selected_frames = frozenset(self.selection.frame_ids)
        self._mark_selected()

    def _with_scenes(self, selection: Selection) -> Selection:
        """The selection with the uuids of the live (not invalidated) scenes holding any of
        its frames: what "invalidate scenes" and "delete inputs" act on."""
        if not selection.frame_ids:
            return selection
        scenes = self.service.find_scenes(frame_ids=selection.frame_ids)
        uuids = tuple(s.uuid for s in scenes if not s.invalidated)
        return dataclasses.replace(selection, scene_uuids=uuids)

    def refresh_selection_scenes(self) -> None:
        """Ask the service again which scenes hold the selection (after an action)."""
        self.selection = self._with_scenes(self.selection)

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

    def _mark_selected(self) -> None:
        if self.mode == "contexts":
            selected = [t["id"] for t in self.tiles if "c:" + t["id"] in self._picks]
        else:
            selected = [t["id"] for t in self.tiles if t["id"] in self._selected_frames]
        self.selected_tiles = selected

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

    # -- tags and saved views ----------------------------------------------------------------
    # Writes, so they run on the action pool when served (`acting` says what runs meanwhile,
    # `action_error` why it failed); in a notebook they are done when the call returns.
    def tag_selection(self, tag: str) -> None:
        """Tag every selected frame with `tag` (`message` then says how many got it)."""
        frame_ids = list(self.selection.frame_ids)

        def tagged(report: TagReport) -> None:
            self.message = f"tagged {report.changed} frames {report.tag!r}"
            self._after_tags()

        self._act("tagging", lambda: self.service.tag_frames(frame_ids, tag), tagged)

    def untag_selection(self, tag: str) -> None:
        frame_ids = list(self.selection.frame_ids)

        def untagged(report: TagReport) -> None:
            self.message = f"removed tag {report.tag!r} from {report.changed} frames"
            self._after_tags()

        self._act("untagging", lambda: self.service.untag_frames(frame_ids, tag), untagged)

    def tag_rois(self, rois: list[tuple[str, str]], tag: str) -> None:
        """Tag ROIs, each a (frame id, ROI id) pair (the sample view's chosen labels)."""
        refs = [RoiRef(frame_id, roi_id) for frame_id, roi_id in rois]

        def tagged(report: TagReport) -> None:
            self.message = f"tagged {plural(report.changed, 'ROI')} {report.tag!r}"

        self._act("tagging ROIs", lambda: self.service.tag_rois(refs, tag), tagged)

    def untag_rois(self, rois: list[tuple[str, str]], tag: str) -> None:
        refs = [RoiRef(frame_id, roi_id) for frame_id, roi_id in rois]

        def untagged(report: TagReport) -> None:
            self.message = f"removed tag {report.tag!r} from {plural(report.changed, 'ROI')}"

        self._act("untagging ROIs", lambda: self.service.untag_rois(refs, tag), untagged)

    def tag_frame(self, tag: str) -> None:
        """Tag the frame open in the viewer (the sample view's `t`)."""
        frame_id = self.context.frame_id
        if frame_id is None:
            self.action_error = "open a frame to tag it"
            return

        def tagged(report: TagReport) -> None:
            done = "tagged" if report.changed else "already tagged"
            self.message = f"{frame_id}: {done} {report.tag!r}"
            self._after_tags()

        self._act("tagging the frame", lambda: self.service.tag_frames([frame_id], tag), tagged)

    def _after_tags(self) -> None:
        # Tag filters, tag counts and the tiles' tag marks depend on what was just written.
        if self.query.tags:
            self.refresh()
        else:
            self.refresh_facets()
            self.refresh_marks()

    def save_view(self, name: str) -> None:
        """Save the current query under `name` (replacing a view of that name)."""
        if self.error:
            raise QueryError(f"the query fails, fix it before saving it: {self.error}")
        spec = self.query.view(self.catalog).to_dict()

        def save() -> tuple[SavedViewInfo, list[str]]:
            saved = self.service.save_view(name.strip(), spec)
            return saved, [v.name for v in self.service.get_saved_views()]

        def saved(result: tuple[SavedViewInfo, list[str]]) -> None:
            info, names = result
            self.param.update(message=f"saved view {info.name!r}", saved_views=names)

        self._act("saving the view", save, saved)

    def rename_view(self, name: str, new_name: str) -> None:
        """Rename a saved view (refused if the new name is taken)."""

        def rename() -> tuple[SavedViewInfo, list[str]]:
            renamed = self.service.rename_view(name, new_name.strip())
            return renamed, [v.name for v in self.service.get_saved_views()]

        def renamed(result: tuple[SavedViewInfo, list[str]]) -> None:
            info, names = result
            self.param.update(message=f"renamed view {name!r} to {info.name!r}", saved_views=names)

        self._act("renaming the view", rename, renamed)

    def delete_view(self, name: str) -> None:
        """Delete a saved view (the app asks first; the service records it)."""

        def delete() -> list[str]:
            self.service.delete_view(name, confirm=True)
            return [v.name for v in self.service.get_saved_views()]

        def deleted(names: list[str]) -> None:
            self.param.update(message=f"deleted view {name!r}", saved_views=names)

        self._act("deleting the view", delete, deleted)

    def open_view(self, name: str) -> None:
        """Show a saved view's query in the filters (and run it)."""
        views = {v.name: v for v in self.service.get_saved_views()}
        if name not in views:
            known = ", ".join(views) or "none"
            raise QueryError(f"no saved view named {name!r} (saved: {known})")
        self.query.apply_spec(views[name].spec)
        self.param.update(message=f"opened view {name!r}", action_error="")

    def _act[T](self, what: str, work: Callable[[], T], then: Callable[[T], None]) -> None:
        if self.acting:
            self.action_error = f"{self.acting} is not finished yet"
            return
        self.param.update(acting=what, action_error="")

        def done(result: T) -> None:
            self.acting = ""
            then(result)

        def failed(exc: WorkbenchError) -> None:
            self.param.update(acting="", action_error=str(exc))

        run_action(what, work, done, failed)


def _served_pause() -> float:
    """Seconds a served session's background reads wait so the page is drawn first (none in
    a notebook or a script)."""
    doc = pn.state.curdoc
    return FACETS_PAUSE if doc is not None and doc.session_context is not None else 0.0
