"""COCO export's tracks: every tracked ROI (a track index) written with a `track_id`, and the
file's kwcoco `tracks` list.

A ROI imported from kwcoco keeps its `track_id` (an attribute) and its track's record
(attribute `track`: workbench.ingest._kwcoco_videos). Any other ROI on a track (ClearML's,
CVAT's, Labelbox's, ...) is given its track's id: the `track_id` another ROI of the same track
(context and track index) holds, else its track index when no other track of the file has
that id, else a number past the highest (and past the kept records' ids). The `tracks` list
holds, for each track id written, its kept record, else `{"id", "name"}` (the id as text) for
an integer id (kwcoco's schema has no other: a string id, kwcoco's names and UUIDs, is written
on its annotations only); then the records kept by ROIs on no track index (kwcoco's tracks
used by still images: in an export with no ROI on a track, gathered as the annotations are
written, workbench.ingest._coco_export_rois.write_annotations). The frames of a tracked
context with a frame index that are no kwcoco video's are written as frames of a video named after the
context (_kwcoco_videos.video_images), so that an import of the file puts their ROIs on the
same tracks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from workbench.ingest._coco_annotations import is_coco_id
from workbench.ingest._kwcoco_videos import TRACK_KEY, json_value

# The registered tables annotation_lines joins (frames: id, context_id; tracks: ids).
FRAMES = "_wb_track_frames"
FRAMES_SCHEMA = pa.schema([("id", pa.string()), ("context_id", pa.string())])
IDS = "_wb_track_ids"
IDS_SCHEMA = pa.schema(
    [("context_id", pa.string()), ("track_index", pa.int32()), ("track_id", pa.string())]
)
# The view's tracks of the field: each (context, track index) in the order of its first ROI,
# with the first `track_id` its ROIs hold.
_TRACKS = f"""
SELECT f.context_id, r.track_index, min(r.o) AS first,
    arg_min(r.attributes->'$.track_id', r.o)
        FILTER (WHERE (r.attributes->'$.track_id') IS NOT NULL)::VARCHAR AS given
FROM ({{rois}}) r JOIN {FRAMES} f ON f.id = r.frame_id
WHERE r.track_index IS NOT NULL AND f.context_id IS NOT NULL GROUP BY ALL ORDER BY first
"""
# Whether any ROI of the field in the catalog is on a track.
_ANY = "SELECT 1 FROM rois WHERE field = ? AND track_index IS NOT NULL LIMIT 1"
# The track records the ROIs hold (a still image's too), the first of each text (the text
# test first: the paths' extraction costs on every ROI otherwise).
_RECORDS = f"""
SELECT (r.attributes->'$.{TRACK_KEY}')::VARCHAR AS record, min(r.o) AS first
FROM ({{rois}}) r WHERE contains(r.attributes, '"{TRACK_KEY}"')
    AND (r.attributes->'$.{TRACK_KEY}.id') = (r.attributes->'$.track_id')
GROUP BY ALL ORDER BY first
"""


@dataclass(frozen=True, slots=True)
class ExportTracks:
    """The tracks of an export: their ids (IDS: context_id, track_index, track_id as JSON
    text), the `tracks` list, and the contexts holding them."""

    ids: pa.Table
    records: list[dict[str, Any]]
    contexts: frozenset[str]


def any_tracked(con: Any, field: str) -> bool:
    """Whether any ROI of `field` in the catalog is on a track (else the export reads neither
    the frames' contexts nor the view's ROIs again)."""
    return bool(con.execute(_ANY, [field]).fetchall())


def export_tracks(con: Any, rois: str, params: Any) -> ExportTracks | None:
    """The tracks of the ROIs `rois` (with frame_id, track_index, attributes and `o`: the
    view's of a field any_tracked), their frames' contexts registered as FRAMES; None when
    none of them is on a track or holds a track's record."""
    rows = con.execute(_TRACKS.format(rois=rois), list(params)).fetchall()
    kept: dict[Any, dict[str, Any]] = {}
    for text, _ in con.execute(_RECORDS.format(rois=rois), list(params)).fetchall():
        record = json_value(text)
        if isinstance(record, dict) and is_coco_id(record.get("id")):
            kept.setdefault(record["id"], record)
    if not rows and not kept:
        return None
    given = [_given(text) for _, _, _, text in rows]
    used = {g for g in given if g is not None} | set(kept)
    numbers = [g for g in used if isinstance(g, int)] + [index for _, index, _, _ in rows]
    after = max(numbers, default=-1) + 1
    ids: list[Any] = []
    for (_, index, _, _), mine in zip(rows, given, strict=True):
        if mine is None:
            if index in used:
                mine, after = after, after + 1
            else:
                mine = index
            used.add(mine)
        ids.append(mine)
    records: dict[Any, dict[str, Any]] = {}
    for track_id in ids:
        if track_id in kept:
            records.setdefault(track_id, kept[track_id])
        elif isinstance(track_id, int):  # kwcoco's tracks table holds integer ids only
            records.setdefault(track_id, {"id": track_id, "name": str(track_id)})
    for track_id, record in kept.items():  # the tracks of still images' ROIs alone
        records.setdefault(track_id, record)
    columns = [[r[0] for r in rows], [r[1] for r in rows], [orjson.dumps(i).decode() for i in ids]]
    table = pa.table(columns, schema=IDS_SCHEMA)
    return ExportTracks(table, list(records.values()), frozenset(r[0] for r in rows))


def _given(text: str | None) -> Any:
    value = json_value(text) if text is not None else None
    return value if is_coco_id(value) else None
