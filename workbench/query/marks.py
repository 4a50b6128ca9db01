"""Frame tags per tile of a page: grouped by frame or by context, over a view's frames.

The grid marks each tile with the tags its frames carry; one query per page (the page's
frames or contexts as a list), never one per tile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from workbench.errors import QueryError
from workbench.query._sql import in_list

if TYPE_CHECKING:
    from workbench.query.view import View

GROUPS = ("id", "context_id")


def tags_by(view: View, column: str, keys: Sequence[str]) -> list[tuple[str, str, int]]:
    """(key, tag, frames): how many of the view's frames with `column` (id or context_id)
    in `keys` carry each frame tag."""
    if column not in GROUPS:
        raise QueryError(f"tags_by() groups by {' or '.join(GROUPS)}, got {column!r}")
    if not keys:
        return []
    # The page's keys filter the view's frames from outside: a view with skip/limit keeps
    # its own window.
    frames = (
        "SELECT * FROM ("
        + view.plan.select("f.id, f." + column + " AS key")
        + ") WHERE "
        + in_list("key", list(keys), "VARCHAR")
    )
    query = (
        "SELECT v.key, t.tag, count(DISTINCT t.frame_id) AS n FROM tags t JOIN ("
        + frames
        + ") v ON v.id = t.frame_id WHERE t.roi_id IS NULL GROUP BY v.key, t.tag"
        " ORDER BY v.key, n DESC, t.tag"
    )
    return [(str(k), str(tag), int(n)) for k, tag, n in view.rows(query)]
