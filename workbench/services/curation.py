"""The person's own curation of the catalog: frame and ROI tags, saved views.

Each write is an action like the others: checked, one transaction with its audit row, a dry
run that does the work and rolls it back, and `confirm=True` for what cannot be undone
(deleting a saved view). The rows are written by the store and query functions
(workbench.store.tags, workbench.query.saved) on the action's own connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from workbench.errors import QueryError
from workbench.query import saved
from workbench.query.view import View
from workbench.services.arguments import confirmed
from workbench.services.context import AUDIT_MAX_IDS, Action, ServiceContext, id_list, parse
from workbench.services.errors import ConfirmationRequired, Conflict, InvalidArgument, UnknownIds
from workbench.services.models import RemovalReport, RoiRef, SavedViewInfo, TagReport
from workbench.store import tags


class SupportsViewSpec(Protocol):
    """A view that can say what it is as a spec (workbench.query's View does)."""

    def to_dict(self) -> dict[str, Any]: ...


ViewSource = SupportsViewSpec | Mapping[str, Any]


def _tag_text(tag: str) -> str:
    try:
        return tags.check_tag(tag)
    except QueryError as exc:
        raise InvalidArgument(str(exc), argument="tag") from None


# -- tags -----------------------------------------------------------------------------------


def change_frame_tags(
    ctx: ServiceContext, frame_ids: Sequence[str], tag: str, *, add: bool, dryrun: bool
) -> TagReport:
    """tag_frames (add) / untag_frames: every frame must exist (UnknownIds otherwise)."""
    action = "tag_frames" if add else "untag_frames"
    ids = list(dict.fromkeys(frame_ids))
    with Action(ctx, action, {"tag": tag, "frames": id_list(ids)}, dryrun=dryrun) as act:
        text = _tag_text(tag)
        with act.transaction() as con:
            unknown = tags.unknown_frames(con, ids)
            if unknown:
                raise UnknownIds("frames", unknown)
            write = tags.tag_frames if add else tags.untag_frames
            changed = write(con, ids, text)
            report = TagReport(action, act.dryrun, text, targets=len(ids), changed=changed)
            act.done(changed)
    return report


def change_roi_tags(
    ctx: ServiceContext,
    rois: Sequence[RoiRef | Mapping[str, Any]],
    tag: str,
    *,
    add: bool,
    dryrun: bool,
) -> TagReport:
    """tag_rois (add) / untag_rois: every ROI must exist (UnknownIds otherwise)."""
    action = "tag_rois" if add else "untag_rois"
    refs = [parse(RoiRef, r, f"rois[{i}]", argument="rois") for i, r in enumerate(rois)]
    pairs = list(dict.fromkeys((r.frame_id, r.roi_id) for r in refs))
    target = {
        "tag": tag,
        "rois": [list(p) for p in pairs[:AUDIT_MAX_IDS]],
        "count": len(pairs),
        **({"truncated": True} if len(pairs) > AUDIT_MAX_IDS else {}),
    }
    with Action(ctx, action, target, dryrun=dryrun) as act:
        text = _tag_text(tag)
        with act.transaction() as con:
            unknown = tags.unknown_rois(con, pairs)
            if unknown:
                raise UnknownIds("rois", [f"{f}/{r}" for f, r in unknown])
            write = tags.tag_rois if add else tags.untag_rois
            changed = write(con, pairs, text)
            report = TagReport(action, act.dryrun, text, targets=len(pairs), changed=changed)
            act.done(changed)
    return report


# -- saved views ----------------------------------------------------------------------------


def _view_name(name: str, argument: str) -> str:
    text = name.strip()
    if not text:
        raise InvalidArgument(f"{argument}: a saved view needs a non-empty name", argument=argument)
    return text


def _spec(ctx: ServiceContext, view: ViewSource) -> dict[str, Any]:
    """The view's spec, checked by reading it as a View and compiling its query (a spec
    from elsewhere may name stages or arguments the query layer does not take)."""
    spec = dict(view) if isinstance(view, Mapping) else view.to_dict()
    try:
        View.from_dict(ctx.catalog, spec).compile()
    except QueryError as exc:
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise InvalidArgument(f"the view cannot be read: {problem}", argument="view") from exc
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidArgument(
            f"the view spec cannot be read: {type(exc).__name__}", argument="view"
        ) from exc
    return spec


def get_saved_views(ctx: ServiceContext) -> list[SavedViewInfo]:
    return [SavedViewInfo(v.name, v.spec, v.created) for v in saved.view_rows(ctx.catalog.cursor())]


def save_view(
    ctx: ServiceContext, name: str, view: ViewSource, *, dryrun: bool = False
) -> SavedViewInfo:
    """Store the view's spec under `name` (stripped), replacing a saved view of that name."""
    with Action(ctx, "save_view", {"name": name}, dryrun=dryrun) as act:
        text = _view_name(name, "name")
        spec = _spec(ctx, view)
        with act.transaction() as con:
            replaced = saved.store_view(con, text, spec)
            (row,) = saved.view_rows(con, text)
            info = SavedViewInfo(text, row.spec, row.created, replaced=replaced, dryrun=act.dryrun)
            act.done(1, {"stages": info.stages, "replaced": replaced})
    return info


def _stored(con: Any, name: str) -> saved.StoredView:
    found = saved.view_rows(con, name)
    if not found:
        raise UnknownIds("saved views", [name])
    return found[0]


def rename_view(
    ctx: ServiceContext, name: str, new_name: str, *, dryrun: bool = False
) -> SavedViewInfo:
    target = {"name": name, "new_name": new_name}
    with Action(ctx, "rename_view", target, dryrun=dryrun) as act:
        text = _view_name(new_name, "new_name")
        with act.transaction() as con:
            _stored(con, name)
            if text != name and saved.view_rows(con, text):
                raise Conflict(f"a saved view {text!r} exists")
            saved.rename_stored_view(con, name, text)
            row = _stored(con, text)
            info = SavedViewInfo(text, row.spec, row.created, dryrun=act.dryrun)
            act.done(1)
    return info


def delete_view(
    ctx: ServiceContext, name: str, *, confirm: bool = False, dryrun: bool = False
) -> RemovalReport:
    """Remove a saved view (needs confirm=True; the dry run says what goes)."""
    confirm = confirmed(confirm)
    with (
        Action(ctx, "delete_view", {"name": name}, dryrun=dryrun) as act,
        act.transaction() as con,
    ):
        _stored(con, name)
        report = RemovalReport(action="delete_view", dryrun=act.dryrun, views=1)
        if not confirm and not act.dryrun:
            raise ConfirmationRequired(report)
        saved.remove_view(con, name)
        act.done(1, report.to_dict())
    return report
