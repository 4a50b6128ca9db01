"""A session's tags and saved views: writes through the service (workbench.services'
curation), on the action pool when served (workbench.ui.background).

Part of the session's state (workbench.ui.state.WorkbenchState, which mixes it in). One write
runs at a time: `acting` says what runs meanwhile, `action_error` why the last one failed,
`message` what it did; in a notebook a write is done when the call returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import param

from workbench.errors import QueryError, WorkbenchError
from workbench.services import RoiRef, SavedViewInfo, TagReport
from workbench.ui.background import run_action
from workbench.ui.wording import plural

if TYPE_CHECKING:
    from workbench.services import WorkbenchService
    from workbench.store.catalog import Catalog
    from workbench.ui.context import ContextState
    from workbench.ui.query_state import QueryState
    from workbench.ui.selection import Selection


class CurationState(param.Parameterized):
    """Tags and saved views of one session (mixed into WorkbenchState)."""

    message = param.String(default="", doc="What the last action did, for a person to read.")
    saved_views = param.List(default=[], doc="Names of the catalog's saved views.")
    acting = param.String(
        default="", doc="The tag or saved-view action running ('' when none), for a person."
    )
    action_error = param.String(default="", doc="Why the last tag or saved-view action failed.")

    if TYPE_CHECKING:  # what the session's state (WorkbenchState) gives this part of it
        catalog: Catalog
        service: WorkbenchService
        query: QueryState
        context: ContextState
        selection: Selection
        error: str

        def refresh(self, query_changed: bool = True, first_page: bool = False) -> None: ...

        def refresh_facets(self) -> None: ...

        def refresh_marks(self) -> None: ...

    # -- tags ----------------------------------------------------------------------------
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

    # -- saved views ---------------------------------------------------------------------
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
