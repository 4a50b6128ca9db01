"""What a session has selected: tiles clicked, everything matching, or what another view
picked (patches, a plot), and the tiles of the page that show it.

Part of the session's state (workbench.ui.state.WorkbenchState, which mixes it in): the
selection is built from picks (workbench.ui.selection), each a key of its own with its
context and frames, and published as a frozen `Selection` with the live scenes holding its
frames, what the actions on the selection act on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import param

from workbench.ui.selection import Pick, Selection, SelectionBuilder, click_range

if TYPE_CHECKING:
    from workbench.query import View
    from workbench.services import WorkbenchService
    from workbench.ui.grid import TileEvent


class SelectionState(param.Parameterized):
    """The selection of one session (mixed into WorkbenchState)."""

    selection = param.ClassSelector(class_=Selection, default=Selection(), instantiate=False)
    selected_tiles = param.List(default=[], doc="Ids of this page's selected tiles.")

    if TYPE_CHECKING:  # what the session's state (WorkbenchState) gives this part of it
        mode: str
        tiles: list[dict[str, Any]]
        error: str
        viewer_notice: str
        service: WorkbenchService

        @property
        def view(self) -> View: ...

        def _busy(self) -> AbstractContextManager[None]: ...

        def open_tile(self, tile_id: str) -> None: ...

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._picks = SelectionBuilder()
        # The selection's frames, kept for marking tiles page after page (a selection can
        # hold a million frames).
        self._selected_frames: frozenset[str] = frozenset()

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
            members = _context_members(self.view.select_contexts(tile_ids))
            picks = [Pick(self._key(c), c, tuple(members.get(c, ()))) for c in tile_ids]
        self._picks.add(picks)

    def select_all(self) -> None:
        """Select every frame that matches the query (grouped by context)."""
        if self.error:
            return
        with self._busy():
            members = _context_members(self.view)
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

    def _mark_selected(self) -> None:
        if self.mode == "contexts":
            selected = [t["id"] for t in self.tiles if "c:" + t["id"] in self._picks]
        else:
            selected = [t["id"] for t in self.tiles if t["id"] in self._selected_frames]
        self.selected_tiles = selected


def _context_members(view: View) -> dict[str, list[str]]:
    """The view's frame ids by context."""
    table = view.frames(columns=["id", "context_id"])
    grouped = table.group_by("context_id", use_threads=False).aggregate([("id", "list")])
    return dict(
        zip(
            grouped.column("context_id").to_pylist(),
            grouped.column("id_list").to_pylist(),
            strict=True,
        )
    )
