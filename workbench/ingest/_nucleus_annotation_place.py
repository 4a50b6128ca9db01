"""A chunk of Nucleus annotations placed by SQL (workbench.ingest._nucleus_placing): the
frames found, the annotation_ids given twice refused, the tracks numbered by first appearance
and the ids of annotations without one made, set-based, with what `Placing`'s loop over the
annotations gives: the same ids, track indexes, errors (text, line and order) and rows, in
the same order.

It takes a chunk holding rows SQL read (and annotations the per-record path read among
them, placed by the same statements, their ROIs made by the caller): no scene's category,
no keypoints label whose names the import met in another order, a field the catalog can
hold (those are left to the loop). The rules, as the loop applies them, one annotation after
the other:
- an annotation of no frame is refused (`no frame ...`), in chunk order with the ids given
  twice;
- an annotation_id is refused as given twice when an id it takes (its own, and a
  segmentation's its segments' `<id>/<n>`) is one the frame holds: an ROI's id or a
  segmentation's, stored by an earlier chunk of the import or taken by an earlier annotation
  of the chunk that was placed;
- a track is numbered, among the rows placed, by the first appearance of its (scene, name)
  in the import: `Placing.tracks` carries the numbers from chunk to chunk;
- a row without an annotation_id is `<type>-<n>`, the n-th such of its type on the frame,
  skipping those whose ids the frame holds (stored, or given in the chunk); a segmentation's
  segments `<id>/<segment>`;
- the frames come in the order the catalog gave them (`Placing._look_up`), each one's rows in
  line order; a frame past MAX_ROIS_PER_FRAME is refused whole, after the rows' errors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.ingest._nucleus_annotation_rows import Rows
from workbench.ingest._nucleus_payloads import Annotation
from workbench.model.limits import MAX_ROIS_PER_FRAME

__all__ = ["free_id", "held", "no_frame", "place_rows", "take", "twice"]

# Each annotation of the chunk (`o`: its place in the chunk; `r`: its first row's among the
# rows SQL read, none for one the per-record path read) beside its frame: whether it is
# refused as of no frame or as an id given twice, and the place of each id-less one among the
# frame's annotations of its type without one. An annotation given an id takes it, and a
# segmentation its segments' ids too (`given`, a row each, `own` the first); one taking an
# id the frame held before the chunk is refused (`held`), and of the others taking one id the
# first is placed and the rest refused, when each of them takes that id as its own: a frame
# where a segment's id is also taken by another annotation of the chunk is `tangled`, its
# refusals made one by one (`_untangle`). (A group by and a join find the ids given twice: a window over every row
# cost 2.5 times more.)
_PLACED = """
CREATE OR REPLACE TEMP TABLE _np_placed AS
WITH found AS (
    SELECT w.o, w.r, w.ref, w.type, w.annotation_id, w.track, w.parts, f.pos, f.context,
        f.pos IS NULL AS missing
    FROM _np_rows w LEFT JOIN _np_frames f ON f.id = w.ref WHERE w.part = 0),
given AS (
    SELECT o, ref, annotation_id AS id, true AS own FROM found
    WHERE annotation_id IS NOT NULL AND NOT missing
    UNION ALL
    SELECT o, ref, annotation_id || '/' || s.k, false FROM found, unnest(range(parts)) s(k)
    WHERE type = 'mask' AND annotation_id IS NOT NULL AND NOT missing),
held AS (
    SELECT DISTINCT g.o FROM given g JOIN _np_stored s ON s.frame_id = g.ref AND s.id = g.id),
again AS (
    SELECT ref, id, min(o) AS first, bool_and(own) AS own FROM given
    WHERE o NOT IN (SELECT o FROM held) GROUP BY ALL HAVING count(*) > 1),
free AS (
    SELECT o, row_number() OVER (PARTITION BY ref, type ORDER BY o) - 1 AS free FROM found
    WHERE annotation_id IS NULL AND NOT missing)
SELECT found.*, NOT missing AND annotation_id IS NOT NULL
        AND (h.o IS NOT NULL OR coalesce(found.o > a.first, false)) AS twice, free.free,
    found.ref IN (SELECT ref FROM again WHERE NOT own) AS tangled
FROM found LEFT JOIN again a ON a.ref = found.ref AND a.id = found.annotation_id
    LEFT JOIN held h USING (o)
    LEFT JOIN free USING (o)
"""
_TANGLED = """
SELECT o, ref, type, annotation_id, parts FROM _np_placed
WHERE tangled AND annotation_id IS NOT NULL ORDER BY o
"""
_ERRORS = """
SELECT o, missing, ref, annotation_id FROM _np_placed WHERE missing OR twice ORDER BY o
"""
_TRACKS = """
SELECT context, track FROM _np_placed WHERE NOT missing AND NOT twice AND track IS NOT NULL
GROUP BY context, track ORDER BY min(o)
"""
# The ids a frame holds (stored, or taken by an annotation given one and placed), and the
# id-less annotations whose made ids `<type>-<n>` (a segmentation's `<type>-<n>/<k>`) one of
# them may be.
_TAKEN = """
CREATE OR REPLACE TEMP TABLE _np_taken AS
SELECT frame_id AS ref, id FROM _np_stored
UNION ALL
SELECT ref, annotation_id FROM _np_placed
WHERE NOT missing AND NOT twice AND annotation_id IS NOT NULL
UNION ALL
SELECT ref, annotation_id || '/' || s.k FROM _np_placed, unnest(range(parts)) s(k)
WHERE type = 'mask' AND NOT missing AND NOT twice AND annotation_id IS NOT NULL
"""
_CLASHES = """
SELECT p.o, p.ref, p.type FROM _np_placed p
WHERE NOT p.missing AND p.annotation_id IS NULL AND EXISTS (
    SELECT 1 FROM _np_taken t WHERE t.ref = p.ref AND starts_with(t.id, p.type || '-')
        AND regexp_full_match(substr(t.id, strlen(p.type) + 2),
            '(0|[1-9][0-9]*)(/(0|[1-9][0-9]*))?'))
ORDER BY p.o
"""
# Every annotation placed (a segmentation's segments SQL read with their first row), frames
# in their order, with the count of the frame's rows when it may be past the limit.
_BASE = "coalesce(p.annotation_id, x.id, p.type || '-' || p.free)"
_JOINS = """
    LEFT JOIN _np_tracks t ON t.context IS NOT DISTINCT FROM p.context AND t.track = p.track
    LEFT JOIN _np_made x ON x.o = p.o"""
_OUT = f"""
SELECT p.r, p.o, p.ref, {_BASE} AS id, t.n AS track, p.pos
FROM _np_placed p {_JOINS}
WHERE NOT p.missing AND NOT p.twice
"""
_OUT_PARTS = f"""
SELECT w.r, w.o, p.ref, CASE WHEN p.type = 'mask' AND w.r IS NOT NULL
    THEN {_BASE} || '/' || w.part ELSE {_BASE} END AS id, t.n AS track, p.pos
FROM _np_rows w JOIN _np_placed p ON p.o = w.o - w.part {_JOINS}
WHERE NOT p.missing AND NOT p.twice
"""
_COUNTED = """
SELECT o.*, f.stored + count(*) OVER (PARTITION BY o.pos) AS count
FROM ({out}) o JOIN _np_frames f USING (pos) ORDER BY o.pos, o.o
"""


def place_rows(
    con: duckdb.DuckDBPyConnection,
    chunk: list[Rows | Annotation],
    frames: pa.Table,
    stored: pa.Table,
    tracks: dict[tuple[str | None, str], int],
    reject: Callable[[RecordError], None],
) -> pa.Table:
    """Place the chunk's annotations on `frames` (id, context, pos: the order of output,
    stored: the ROIs an earlier chunk stored), `stored` (frame_id, id: their ids), numbering
    new tracks in `tracks`; each refusal goes to `reject`, in the loop's order. The rows
    placed (r: among the rows SQL read, none for an annotation the per-record path read; o:
    the annotation's place in the chunk; ref, id, track, pos; count: the frame's rows, when
    one may be past the limit), frames in order, each one's in chunk order."""
    rows, starts = _rows(chunk)
    registered: list[str] = []

    def register(name: str, table: pa.Table) -> None:
        con.register(name, table)
        registered.append(name)

    try:
        register("_np_rows", rows)
        register("_np_frames", frames)
        register("_np_stored", stored)
        con.execute(_PLACED)
        if pc.any(
            pc.and_(pc.equal(rows["type"], "mask"), pc.is_valid(rows["annotation_id"]))
        ).as_py():
            _untangle(con)  # segmentations given ids: their segments' ids may be others' too
        _refuse(con.execute(_ERRORS).fetchall(), chunk, starts, reject)
        register("_np_tracks", _numbered(con.execute(_TRACKS).fetchall(), tracks))
        clashes: list[tuple[int, str, str]] = []
        if rows["annotation_id"].null_count:  # ids to make: which may clash with ids held
            con.execute(_TAKEN)
            clashes = con.execute(_CLASHES).fetchall()
        register("_np_made", _made(con, clashes))
        return con.sql(_out(rows, frames)).to_arrow_table()
    finally:
        for name in registered:
            con.unregister(name)


def _out(rows: pa.Table, frames: pa.Table) -> str:
    """The statement of the rows placed: segmentations' ids only when there are, the frames' counts
    only when one may be past the limit."""
    out = _OUT_PARTS if pc.any(pc.equal(rows["type"], "mask")).as_py() else _OUT
    stored = pc.max(frames["stored"]).as_py() or 0
    if stored + rows.num_rows > MAX_ROIS_PER_FRAME:
        return _COUNTED.format(out=out)
    return f"SELECT * FROM ({out}) ORDER BY pos, o"


def _rows(chunk: list[Rows | Annotation]) -> tuple[pa.Table, np.ndarray]:
    """The placing's columns of the chunk's annotations (a row each, a segmentation's
    segments SQL read one each), `o` their place in the chunk, `r` their place among the rows
    SQL read; and each part's first `o`."""
    columns = ("ref", "type", "annotation_id", "track", "part", "parts")
    tables, counts, before, starts, o = [], [], [], [], 0
    each: list[tuple[str, str, str | None, str | None, int, int]] = []  # the per-record path's
    for part in chunk:
        starts.append(o)
        if isinstance(part, Rows):
            tables.append(part.table.select(columns))
            counts.append(part.table.num_rows)
            before.append(len(each))  # annotations of the per-record path before the stretch
            o += part.table.num_rows
        else:
            parts = len(part.rois) if part.type == "mask" else 1
            each.append((part.reference_id, part.type, part.annotation_id, part.track, o, parts))
            o += 1
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    r = np.arange(table.num_rows, dtype=np.int64)
    table = table.append_column("r", pa.array(r))
    table = table.append_column("o", pa.array(r + np.repeat(np.array(before, np.int64), counts)))
    if each:
        values = list(zip(*each, strict=True))
        table = pa.concat_tables([table, pa.table({
            **{c: pa.array(v, pa.string()) for c, v in zip(columns[:4], values, strict=False)},
            "part": pa.array(np.zeros(len(each), np.int32)),
            "parts": pa.array(values[5], pa.int32()),
            "r": pa.nulls(len(each), pa.int64()),
            "o": pa.array(values[4], pa.int64()),
        })])  # fmt: skip
    return table, np.array(starts)


def _refuse(errors: list[tuple[int, bool, str, str | None]], chunk: list[Rows | Annotation],
            starts: np.ndarray, reject: Callable[[RecordError], None]) -> None:  # fmt: skip
    """The annotations of no frame and the ids given twice, refused in chunk order."""
    for o, missing, ref, given in errors:
        at = int(starts.searchsorted(o, side="right")) - 1
        part = chunk[at]
        where = part.where(o - int(starts[at])) if isinstance(part, Rows) else part.where
        reject(RecordError(where, no_frame(ref) if missing else twice(str(given))))


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


def _untangle(con: duckdb.DuckDBPyConnection) -> None:
    """The ids given twice on the frames where a segment's id is taken by another annotation
    of the chunk too: found one annotation after the other, as the loop finds them."""
    given = con.execute(_TANGLED).fetchall()
    if not given:
        return
    taken = _taken(con, "_np_stored", "frame_id", sorted({ref for _, ref, *_ in given}))
    refused = [o for o, ref, kind, annotation_id, parts in given
               if not take(annotation_id, kind, parts, taken[ref])]  # fmt: skip
    con.execute(
        "UPDATE _np_placed SET twice = o IN (SELECT unnest(?::BIGINT[])) "
        "WHERE tangled AND annotation_id IS NOT NULL",
        [refused],
    )


def _taken(
    con: duckdb.DuckDBPyConnection, table: str, column: str, frames: list[str]
) -> dict[str, set[str]]:
    """The ids `table` holds for each of `frames`."""
    taken: dict[str, set[str]] = {ref: set() for ref in frames}
    found = con.execute(
        f"SELECT {column}, id FROM {table} WHERE {column} IN (SELECT unnest(?))", [frames]
    ).fetchall()
    for ref, roi_id in found:
        taken[ref].add(roi_id)
    return taken


def _made(con: duckdb.DuckDBPyConnection, clashes: list[tuple[int, str, str]]) -> pa.Table:
    """The ids of id-less rows whose `<type>-<n>` a frame holds: made one by one as the loop
    makes them, skipping the ids taken."""
    made: list[tuple[int, str]] = []
    if clashes:
        frames = sorted({ref for _, ref, _ in clashes})
        taken = _taken(con, "_np_taken", "ref", frames)
        counts: dict[str, Counter[str]] = {ref: Counter() for ref in frames}
        free = con.execute(
            "SELECT o, ref, type, parts FROM _np_placed WHERE NOT missing "
            "AND annotation_id IS NULL AND ref IN (SELECT unnest(?)) ORDER BY o",
            [frames],
        ).fetchall()
        for o, ref, kind, parts in free:
            made.append((o, free_id(kind, counts[ref], taken[ref], parts)))
    return pa.table({
        "o": pa.array([o for o, _ in made], pa.int64()),
        "id": pa.array([i for _, i in made], pa.string()),
    })  # fmt: skip


def take(annotation_id: str, kind: str, parts: int, taken: set[str]) -> bool:
    """Whether the ids an annotation given `annotation_id` takes on its frame (that one, and
    a segmentation's its segments' `<annotation_id>/<n>` too) are free in `taken`; then
    they are taken."""
    if kind != "mask":
        if annotation_id in taken:
            return False
        taken.add(annotation_id)
        return True
    ids = [annotation_id, *(f"{annotation_id}/{n}" for n in range(parts))]
    if not taken.isdisjoint(ids):
        return False
    taken.update(ids)
    return True


def free_id(kind: str, counts: Counter[str], taken: set[str], parts: int = 1) -> str:
    """`<kind>-<n>` for the next n of the frame whose ids (a segmentation's segments' too)
    no id taken holds; then they are taken."""
    while not take(made := f"{kind}-{counts[kind]}", kind, parts, taken):
        counts[kind] += 1
    counts[kind] += 1
    return made


def held(stored: list[tuple[str, bool]]) -> list[str]:
    """The ids a frame holds given its ROIs' (id, whether a segment): each id, and a
    segmentation's own (its segments' `<id>/<n>` without `/<n>`)."""
    ids = [roi_id for roi_id, _ in stored]
    ids += [roi_id.rpartition("/")[0] for roi_id, segment in stored if segment]
    return list(dict.fromkeys(ids))
