"""Writing frame and ROI tags (the query layer reads frame tags: match_tags, exclude_tags,
tag_counts).

Tags are the person's own curation: importers never touch them, and re-importing a frame
keeps its tags. A frame tag is a `tags` row whose `roi_id` is NULL; an ROI tag names the ROI
by its frame and its id (ROI ids are unique within their frame).

Every function here works on the connection it is handed, inside the caller's transaction:
the service (`Workbench.tag_frames` and friends) writes its audit row in the same one. Ids
travel as registered Arrow tables, so tagging a million selected frames is one statement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from workbench.errors import QueryError

MAX_TAG_LENGTH = 200
_FRAMES = "_wb_tag_frames"
_ROIS = "_wb_tag_rois"


def check_tag(tag: str) -> str:
    """The tag as it is stored (stripped); QueryError when it is empty or too long."""
    text = tag.strip() if isinstance(tag, str) else ""
    if not text:
        raise QueryError("a tag needs some text")
    if len(text) > MAX_TAG_LENGTH:
        raise QueryError(f"a tag is at most {MAX_TAG_LENGTH} characters, got {len(text)}")
    return text


@contextmanager
def _frames(con: duckdb.DuckDBPyConnection, frame_ids: Sequence[str]) -> Iterator[None]:
    table = pa.table({"id": pa.array(list(dict.fromkeys(frame_ids)), pa.string())})
    con.register(_FRAMES, table)
    try:
        yield
    finally:
        con.unregister(_FRAMES)


@contextmanager
def _rois(con: duckdb.DuckDBPyConnection, rois: Sequence[tuple[str, str]]) -> Iterator[None]:
    unique = list(dict.fromkeys(rois))
    table = pa.table(
        {
            "frame_id": pa.array([f for f, _ in unique], pa.string()),
            "roi_id": pa.array([r for _, r in unique], pa.string()),
        }
    )
    con.register(_ROIS, table)
    try:
        yield
    finally:
        con.unregister(_ROIS)


def unknown_frames(con: duckdb.DuckDBPyConnection, frame_ids: Sequence[str]) -> list[str]:
    """The ids that name no frame of the catalog."""
    with _frames(con, frame_ids):
        found = con.execute(
            f"SELECT id FROM {_FRAMES} WHERE id NOT IN (SELECT id FROM frames)"
        ).fetchall()
    return [r[0] for r in found]


def unknown_rois(
    con: duckdb.DuckDBPyConnection, rois: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The (frame id, ROI id) pairs that name no ROI of the catalog."""
    with _rois(con, rois):
        found = con.execute(
            f"SELECT s.frame_id, s.roi_id FROM {_ROIS} s WHERE NOT EXISTS "
            "(SELECT 1 FROM rois r WHERE r.frame_id = s.frame_id AND r.id = s.roi_id)"
        ).fetchall()
    return [(str(f), str(r)) for f, r in found]


def tag_frames(con: duckdb.DuckDBPyConnection, frame_ids: Sequence[str], tag: str) -> int:
    """Add the frame tag `tag` to every frame in `frame_ids` not already carrying it (ids
    naming no frame are passed over); returns how many frames were tagged."""
    tag = check_tag(tag)
    if not frame_ids:
        return 0
    with _frames(con, frame_ids):
        found = con.execute(
            f"INSERT INTO tags (frame_id, roi_id, tag) SELECT s.id, NULL, ? FROM {_FRAMES} s "
            "WHERE s.id IN (SELECT id FROM frames) AND NOT EXISTS (SELECT 1 FROM tags t "
            "WHERE t.frame_id = s.id AND t.roi_id IS NULL AND t.tag = ?) RETURNING frame_id",
            [tag, tag],
        ).fetchall()
    return len(found)


def untag_frames(con: duckdb.DuckDBPyConnection, frame_ids: Sequence[str], tag: str) -> int:
    """Remove the frame tag `tag` from the frames; returns how many frames lost it."""
    tag = check_tag(tag)
    if not frame_ids:
        return 0
    with _frames(con, frame_ids):
        found = con.execute(
            f"DELETE FROM tags WHERE roi_id IS NULL AND tag = ? "
            f"AND frame_id IN (SELECT id FROM {_FRAMES}) RETURNING frame_id",
            [tag],
        ).fetchall()
    return len({r[0] for r in found})


def tag_rois(con: duckdb.DuckDBPyConnection, rois: Sequence[tuple[str, str]], tag: str) -> int:
    """Add the ROI tag `tag` to every ROI (frame id, ROI id) not already carrying it (pairs
    naming no ROI are passed over); returns how many ROIs were tagged."""
    tag = check_tag(tag)
    if not rois:
        return 0
    with _rois(con, rois):
        found = con.execute(
            f"INSERT INTO tags (frame_id, roi_id, tag) SELECT s.frame_id, s.roi_id, ? "
            f"FROM {_ROIS} s WHERE EXISTS (SELECT 1 FROM rois r "
            "WHERE r.frame_id = s.frame_id AND r.id = s.roi_id) AND NOT EXISTS (SELECT 1 "
            "FROM tags t WHERE t.frame_id = s.frame_id AND t.roi_id = s.roi_id AND t.tag = ?) "
            "RETURNING frame_id",
            [tag, tag],
        ).fetchall()
    return len(found)


def untag_rois(con: duckdb.DuckDBPyConnection, rois: Sequence[tuple[str, str]], tag: str) -> int:
    """Remove the ROI tag `tag` from the ROIs; returns how many ROIs lost it."""
    tag = check_tag(tag)
    if not rois:
        return 0
    with _rois(con, rois):
        found = con.execute(
            f"DELETE FROM tags t USING {_ROIS} s WHERE t.tag = ? AND t.frame_id = s.frame_id "
            "AND t.roi_id = s.roi_id RETURNING t.frame_id, t.roi_id",
            [tag],
        ).fetchall()
    return len(set(found))
