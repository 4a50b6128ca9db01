"""Writing frame tags (the query layer reads them: match_tags, exclude_tags, tag_counts).

Tags are the person's own curation: importers never touch them, and re-importing a frame
keeps its tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from workbench.errors import QueryError

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

MAX_TAG_LENGTH = 200


def check_tag(tag: str) -> str:
    text = tag.strip() if isinstance(tag, str) else ""
    if not text:
        raise QueryError("a tag needs some text")
    if len(text) > MAX_TAG_LENGTH:
        raise QueryError(f"a tag is at most {MAX_TAG_LENGTH} characters, got {len(text)}")
    return text


def tag_frames(catalog: Catalog, frame_ids: Sequence[str], tag: str) -> int:
    """Add the frame tag `tag` to every frame in `frame_ids` not already carrying it; returns
    how many frames were tagged."""
    tag = check_tag(tag)
    if not frame_ids:
        return 0
    with catalog.transaction() as con:
        before = con.execute(
            "SELECT count(*) FROM tags WHERE tag = ? AND roi_id IS NULL", [tag]
        ).fetchall()[0][0]
        con.execute(
            "INSERT INTO tags (frame_id, roi_id, tag) SELECT s.id, NULL, ? "
            "FROM (SELECT DISTINCT unnest(?::VARCHAR[]) AS id) s "
            "WHERE s.id IN (SELECT id FROM frames) AND NOT EXISTS (SELECT 1 FROM tags t "
            "WHERE t.frame_id = s.id AND t.roi_id IS NULL AND t.tag = ?)",
            [tag, list(frame_ids), tag],
        )
        after = con.execute(
            "SELECT count(*) FROM tags WHERE tag = ? AND roi_id IS NULL", [tag]
        ).fetchall()[0][0]
    return int(after - before)


def untag_frames(catalog: Catalog, frame_ids: Sequence[str], tag: str) -> int:
    """Remove the frame tag `tag` from the frames; returns how many frames lost it."""
    tag = check_tag(tag)
    if not frame_ids:
        return 0
    with catalog.transaction() as con:
        rows = con.execute(
            "DELETE FROM tags WHERE roi_id IS NULL AND tag = ? "
            "AND frame_id IN (SELECT unnest(?::VARCHAR[])) RETURNING frame_id",
            [tag, list(frame_ids)],
        ).fetchall()
    return len({r[0] for r in rows})
