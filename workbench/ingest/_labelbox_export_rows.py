"""A Labelbox export group's ROIs with their frame's number and what becomes of each, made by
Arrow and numpy rather than joined by the engine: the frames' numbers are computed on the
group's frames in order, each ROI finds its frame by a hash lookup, and what the attributes
say is read once per distinct text (`_labelbox_export_sql.ROWS` says the same in SQL).

The rows have the columns `ROWS` gives: o, frame_id, id, kind, label, confidence,
track_index, keyframe, geometry, attrs, context_id, number, pos, uuid, what, odd.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest._labelbox_contexts import changes
from workbench.ingest._labelbox_export_sql import ATTRIBUTES_SAY
from workbench.store.arrow import registered

# The group's frames in the order `_labelbox_contexts.Video` numbers them.
_FRAMES = """
SELECT context_id, id, frame_index FROM frames
WHERE context_id IN (SELECT context_id FROM _wb_lb_group)
ORDER BY context_id, frame_index NULLS LAST, timestamp NULLS LAST, id
"""
# What an attributes text says (as in ROWS), once per distinct text.
_TEXTS = (
    """
SELECT nullif(text, '') AS attrs,
    """
    + ATTRIBUTES_SAY
    + """
FROM _wb_lb_texts ORDER BY i
"""
)
# ROIs drawn on sources: those not on their frame's first source (the video's).
_OFF_SOURCE = """
SELECT r.o FROM _wb_lb_drawn r LEFT JOIN (
    SELECT frame_id, arg_min(id, rowid) AS source FROM sources
    WHERE frame_id IN (SELECT frame_id FROM _wb_lb_drawn) GROUP BY frame_id) s
    ON s.frame_id = r.frame_id
WHERE NOT coalesce(list_contains(r.source_ids, s.source), false)
"""
_WHAT = pa.array(["source", "label", "answer", "no answer", "object", "other"], pa.string())
_OBJECT_KINDS = pa.array(["box", "point", "polyline"], pa.string())


def group_rows(con: Any, rois: pa.Table) -> pa.Table:
    """The group's ROIs (`_wb_lb_group` registered; `rois` with their order `o`) on frames of
    its contexts, each with its frame's context, number, position and what becomes of it."""
    frames = _frames(con)
    at = pc.index_in(rois["frame_id"], value_set=frames["id"])
    if at.null_count:
        rois, at = rois.filter(pc.is_valid(at)), at.drop_null()
    at = at.to_numpy(zero_copy_only=False).astype(np.int64)
    attrs = _attributes(con, rois["attributes"])
    kind = rois["kind"]
    off_source = _off_source(con, rois)
    what = np.select(
        [
            off_source,
            pc.is_null(rois["label"]).to_numpy(zero_copy_only=False),
            pc.equal(kind, "classification").to_numpy(zero_copy_only=False),
            pc.is_in(kind, _OBJECT_KINDS).to_numpy(zero_copy_only=False),
        ],
        [0, 1, np.where(attrs["answered"], 2, 3), 4],
        5,
    )
    odd = pc.equal(kind, "keypoints").to_numpy(zero_copy_only=False)
    odd = odd | frames["same"][at] | attrs["odd"]
    take = pa.array(at)
    columns = {name: rois[name] for name in ("o", "frame_id", "id", "kind", "label")}
    columns.update({name: rois[name] for name in ("confidence", "track_index", "keyframe")})
    columns.update(
        geometry=rois["geometry"],
        attrs=attrs["attrs"],
        context_id=frames["context_id"].take(take),
        number=pa.array(frames["number"][at]),
        pos=pa.array(frames["pos"][at]),
        uuid=attrs["uuid"],
        what=_WHAT.take(pa.array(what)),
        odd=pa.array(odd),
    )
    return pa.table(columns)


def _frames(con: Any) -> dict[str, Any]:
    """The group's frames: id, context, Labelbox number and position in the context (both
    from 1), and whether another frame of the context has the same number."""
    frames = con.sql(_FRAMES).to_arrow_table()
    contexts = frames["context_id"].combine_chunks()
    count = len(contexts)
    new = changes(contexts)
    starts = np.flatnonzero(new)
    context = np.cumsum(new) - 1
    rank = np.arange(count, dtype=np.int64) - starts[context] + 1 if count else np.zeros(0, int)
    index = frames["frame_index"].combine_chunks()
    missing = index.is_null().to_numpy(zero_copy_only=False)
    indexed = ~np.logical_or.reduceat(missing, starts) if count else np.zeros(0, bool)
    given = index.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    number = np.where(indexed[context], given, rank)
    twice = (number[1:] == number[:-1]) & ~new[1:]  # numbers ascend within a context
    same = np.zeros(count, dtype=bool)
    same[1:] |= twice
    same[:-1] |= twice
    return {
        "id": frames["id"].combine_chunks(),
        "context_id": contexts,
        "number": number,
        "pos": rank,
        "same": same,
    }


def _attributes(con: Any, texts: pa.ChunkedArray) -> dict[str, Any]:
    """What each ROI's attributes text says, read once per distinct text."""
    encoded = pc.dictionary_encode(pc.fill_null(texts, "").combine_chunks())
    distinct = pa.table(
        {"i": pa.array(np.arange(len(encoded.dictionary))), "text": encoded.dictionary}
    )
    with registered(con, "_wb_lb_texts", distinct):
        said = con.sql(_TEXTS).to_arrow_table()
    codes = encoded.indices
    return {
        "attrs": said["attrs"].take(codes),
        "uuid": said["uuid"].take(codes),
        "answered": said["answered"].to_numpy()[codes.to_numpy(zero_copy_only=False)],
        "odd": said["odd"].to_numpy()[codes.to_numpy(zero_copy_only=False)],
    }


def _off_source(con: Any, rois: pa.Table) -> np.ndarray:
    """Whether each ROI names sources none of which is its frame's first (the video's)."""
    drawn = pc.greater(pc.list_value_length(rois["source_ids"]), 0).fill_null(False)
    flags = np.zeros(rois.num_rows, dtype=bool)
    if not pc.any(drawn).as_py():
        return flags
    named = rois.select(["o", "frame_id", "source_ids"]).filter(drawn)
    with registered(con, "_wb_lb_drawn", named):
        off = con.sql(_OFF_SOURCE).to_arrow_table()["o"]
    o = rois["o"].to_numpy()
    flags[np.isin(o, off.to_numpy())] = True
    return flags
