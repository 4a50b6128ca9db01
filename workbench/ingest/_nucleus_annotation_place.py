"""A chunk of Nucleus annotation rows that SQL read placed by SQL (workbench.ingest.
_nucleus_placing): the frames found, the annotation_ids given twice refused, the tracks
numbered by first appearance and the ids of annotations without one made, set-based, with
what `Placing`'s per-annotation loop gives: the same ids, track indexes, errors (text, line
and order) and rows, in the same order.

It takes a chunk of `Rows` alone, every row of a frame or of no frame or scene (a scene's
category, a keypoints label whose names the import has not met in that order, and a field
the catalog cannot hold are left to the loop). The rules, as the loop applies them, one
annotation after the other:
- a row of no frame is refused (`no frame ...`), in line order with the ids given twice;
- an annotation_id the frame holds (stored by an earlier chunk of the import, or given by an
  earlier row of the chunk that was placed) is refused as given twice;
- a track is numbered, among the rows placed, by the first appearance of its (scene, name)
  in the import: `Placing.tracks` carries the numbers from chunk to chunk;
- a row without an annotation_id is `<type>-<n>`, the n-th such of its type on the frame,
  skipping ids the frame holds (stored, or given in the chunk); a segmentation's segments
  `<id>/<segment>`;
- the frames come in the order the catalog gave them (`Placing._look_up`), each one's rows in
  line order; a frame past MAX_ROIS_PER_FRAME is refused whole, after the rows' errors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.ingest._nucleus_annotation_rows import Rows
from workbench.model.limits import MAX_ROIS_PER_FRAME

__all__ = ["Placed", "free_id", "no_frame", "place_rows", "twice"]

# Each annotation of the chunk (`r`: the place of its first row among the chunk's rows) beside
# its frame: whether it is refused as of no frame or as an id given twice (one the frame held,
# or an earlier row's of the chunk), and the place of each id-less row among the frame's rows
# of its type without one. (A group by and a join find the ids given twice: a window over
# every row cost 2.5 times more.)
_PLACED = """
CREATE OR REPLACE TEMP TABLE _np_placed AS
WITH found AS (
    SELECT w.r, w.ref, w.type, w.annotation_id, w.track, f.pos, f.context,
        f.pos IS NULL AS missing
    FROM _np_rows w LEFT JOIN _np_frames f ON f.id = w.ref WHERE w.part = 0),
again AS (
    SELECT ref, annotation_id, min(r) AS first FROM found
    WHERE annotation_id IS NOT NULL AND NOT missing GROUP BY ALL HAVING count(*) > 1),
free AS (
    SELECT r, row_number() OVER (PARTITION BY ref, type ORDER BY r) - 1 AS free FROM found
    WHERE annotation_id IS NULL AND NOT missing)
SELECT found.*, NOT missing AND annotation_id IS NOT NULL
        AND (s.id IS NOT NULL OR coalesce(found.r > a.first, false)) AS twice, free.free
FROM found LEFT JOIN again a USING (ref, annotation_id)
    LEFT JOIN _np_stored s ON s.frame_id = found.ref AND s.id = found.annotation_id
    LEFT JOIN free USING (r)
"""
_ERRORS = "SELECT r, missing FROM _np_placed WHERE missing OR twice ORDER BY r"
_TRACKS = """
SELECT context, track FROM _np_placed WHERE NOT missing AND NOT twice AND track IS NOT NULL
GROUP BY context, track ORDER BY min(r)
"""
# The ids a frame holds (stored, or given and placed), and the (frame, type) of id-less rows
# whose made ids `<type>-<n>` one of them may be.
_TAKEN = """
CREATE OR REPLACE TEMP TABLE _np_taken AS
SELECT frame_id AS ref, id FROM _np_stored
UNION ALL
SELECT ref, annotation_id FROM _np_placed
WHERE NOT missing AND NOT twice AND annotation_id IS NOT NULL
"""
_CLASHES = """
SELECT p.r, p.ref, p.type FROM _np_placed p
WHERE NOT p.missing AND p.annotation_id IS NULL AND EXISTS (
    SELECT 1 FROM _np_taken t WHERE t.ref = p.ref AND starts_with(t.id, p.type || '-')
        AND regexp_full_match(substr(t.id, strlen(p.type) + 2), '0|[1-9][0-9]*'))
ORDER BY p.r
"""
# Every row placed (a segmentation's segments with their first row), frames in their order,
# with the count of the frame's ROIs when it may be past the limit.
_BASE = "coalesce(p.annotation_id, x.id, p.type || '-' || p.free)"
_JOINS = """
    LEFT JOIN _np_tracks t ON t.context IS NOT DISTINCT FROM p.context AND t.track = p.track
    LEFT JOIN _np_made x ON x.r = p.r"""
_OUT = f"""
SELECT p.r, p.ref, {_BASE} AS id, t.n AS track, p.pos
FROM _np_placed p {_JOINS}
WHERE NOT p.missing AND NOT p.twice
"""
_OUT_PARTS = f"""
SELECT w.r, p.ref, CASE WHEN p.type = 'mask' THEN {_BASE} || '/' || w.part ELSE {_BASE} END
    AS id, t.n AS track, p.pos
FROM _np_rows w JOIN _np_placed p ON p.r = w.r - w.part {_JOINS}
WHERE NOT p.missing AND NOT p.twice
"""
_COUNTED = """
SELECT o.*, f.stored + count(*) OVER (PARTITION BY o.pos) AS count
FROM ({out}) o JOIN _np_frames f USING (pos) ORDER BY o.pos, o.r
"""


@dataclass(frozen=True)
class Placed:
    """The rows placed, in the order made: each one's place among the chunk's rows, its frame,
    id and track index."""

    at: pa.Array
    frame_ids: pa.Array
    ids: pa.Array
    tracks: pa.Array


def place_rows(
    con: duckdb.DuckDBPyConnection,
    stretches: list[Rows],
    frames: pa.Table,
    stored: pa.Table,
    tracks: dict[tuple[str | None, str], int],
    reject: Callable[[RecordError], None],
) -> Placed:
    """Place the chunk's `stretches` on `frames` (id, context, pos: the order of output,
    stored: the ROIs an earlier chunk stored), `stored` (frame_id, id: their ids), numbering
    new tracks in `tracks`; each refusal goes to `reject`, in the loop's order."""
    rows = _rows(stretches)
    registered: list[str] = []

    def register(name: str, table: pa.Table) -> None:
        con.register(name, table)
        registered.append(name)

    try:
        register("_np_rows", rows)
        register("_np_frames", frames)
        register("_np_stored", stored)
        con.execute(_PLACED)
        _refuse(con.execute(_ERRORS).fetchall(), stretches, rows, reject)
        register("_np_tracks", _numbered(con.execute(_TRACKS).fetchall(), tracks))
        clashes: list[tuple[int, str, str]] = []
        if rows["annotation_id"].null_count:  # ids to make: which may clash with ids held
            con.execute(_TAKEN)
            clashes = con.execute(_CLASHES).fetchall()
        register("_np_made", _made(con, clashes))
        out = con.sql(_out(rows, frames)).to_arrow_table()
    finally:
        for name in registered:
            con.unregister(name)
    return _output(out, reject)


def _out(rows: pa.Table, frames: pa.Table) -> str:
    """The statement of the rows placed: segmentations' ids only when there are, the frames' counts
    only when one may be past the limit."""
    out = _OUT_PARTS if pc.any(pc.equal(rows["type"], "mask")).as_py() else _OUT
    stored = pc.max(frames["stored"]).as_py() or 0
    if stored + rows.num_rows > MAX_ROIS_PER_FRAME:
        return _COUNTED.format(out=out)
    return f"SELECT * FROM ({out}) ORDER BY pos, r"


def _rows(stretches: list[Rows]) -> pa.Table:
    """The placing's columns of the chunk's rows, `r` their place among them."""
    columns = ("ref", "type", "annotation_id", "track", "part")
    tables = [part.table.select(columns) for part in stretches]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return table.append_column("r", pa.array(np.arange(table.num_rows, dtype=np.int64)))


def _refuse(errors: list[tuple[int, bool]], stretches: list[Rows], rows: pa.Table,
            reject: Callable[[RecordError], None]) -> None:  # fmt: skip
    """The rows of no frame and the ids given twice, refused in line order."""
    if not errors:
        return
    starts = np.cumsum([0] + [part.table.num_rows for part in stretches])
    given = rows["annotation_id"]
    for r, missing in errors:
        at = int(starts.searchsorted(r, side="right")) - 1
        i = r - int(starts[at])
        where = stretches[at].where(i)
        if missing:
            reject(RecordError(where, no_frame(rows["ref"][r].as_py())))
        else:
            reject(RecordError(where, twice(given[r].as_py())))


def no_frame(ref: str) -> str:
    return f"no frame (or scene) has reference_id {ref!r}"


def twice(annotation_id: str) -> str:
    return f"annotation_id {annotation_id!r} came earlier for this item"


def _numbered(
    keys: list[tuple[str | None, str]], tracks: dict[tuple[str | None, str], int]
) -> pa.Table:
    """The chunk's tracks (scene, name) with their numbers, new ones after the import's."""
    numbers = [tracks.setdefault((context, name), len(tracks)) for context, name in keys]
    return pa.table({
        "context": pa.array([c for c, _ in keys], pa.string()),
        "track": pa.array([t for _, t in keys], pa.string()),
        "n": pa.array(numbers, pa.int32()),
    })  # fmt: skip


def _made(con: duckdb.DuckDBPyConnection, clashes: list[tuple[int, str, str]]) -> pa.Table:
    """The ids of id-less rows whose `<type>-<n>` a frame holds: made one by one as the loop
    makes them, skipping the ids taken."""
    made: list[tuple[int, str]] = []
    if clashes:
        frames = sorted({ref for _, ref, _ in clashes})
        taken: dict[str, set[str]] = {ref: set() for ref in frames}
        found = con.execute(
            "SELECT ref, id FROM _np_taken WHERE ref IN (SELECT unnest(?))", [frames]
        ).fetchall()
        for ref, roi_id in found:
            taken[ref].add(roi_id)
        counts: dict[str, Counter[str]] = {ref: Counter() for ref in frames}
        free = con.execute(
            "SELECT r, ref, type FROM _np_placed WHERE NOT missing AND annotation_id IS NULL "
            "AND ref IN (SELECT unnest(?)) ORDER BY r",
            [frames],
        ).fetchall()
        for r, ref, kind in free:
            made.append((r, free_id(kind, counts[ref], taken[ref])))
    return pa.table({
        "r": pa.array([r for r, _ in made], pa.int64()),
        "id": pa.array([i for _, i in made], pa.string()),
    })  # fmt: skip


def free_id(kind: str, counts: Counter[str], taken: set[str]) -> str:
    """`<kind>-<n>` for the next n of the frame that no id taken holds."""
    while (made := f"{kind}-{counts[kind]}") in taken:
        counts[kind] += 1
    counts[kind] += 1
    taken.add(made)
    return made


def _output(out: pa.Table, reject: Callable[[RecordError], None]) -> Placed:
    """The rows of frames the catalog can hold; the others refused, in frame order."""
    if "count" not in out.column_names:
        return Placed(out["r"], out["ref"], out["id"], out["track"])
    over = pc.greater(out["count"], MAX_ROIS_PER_FRAME).to_numpy(zero_copy_only=False)
    kept = out
    if over.any():
        refused = out.filter(over)
        seen: set[str] = set()
        for frame_id, count in zip(refused["ref"].to_pylist(), refused["count"].to_pylist(),
                                   strict=True):  # fmt: skip
            if frame_id not in seen:
                seen.add(frame_id)
                text = f"the frame has {count:,} ROIs, more than {MAX_ROIS_PER_FRAME:,}"
                reject(RecordError(f"item {frame_id!r}", text))
        kept = out.filter(~over)
    return Placed(kept["r"], kept["ref"], kept["id"], kept["track"])
