"""kwcoco's videos and tracks in the columnar COCO import (workbench.ingest._coco_columnar).

The staged images (`_wb_images`) that may name a video are mapped in Python by the per-record
path's own KwcocoVideos (workbench.ingest._kwcoco_videos), from their metadata's text:
`_wb_vframes` holds each video frame's video number, context, frame index, time, count of
frames and metadata, and whether the catalog can hold them (when it cannot, the write refuses
the frame with the per-record path's error). The videos' records are those of the document
outside its three arrays (parsed once when it was cut), else of a pass of the file's own.

The annotations' track ids are noted as the per-record path notes them: those of the rows SQL
takes (their `track_id`'s JSON text, `track`) as each batch is converted, the others as the
per-record functions read them, each named track at the number of the first record giving
it. Once all are read, `_wb_tracks` numbers each video's named tracks as
_kwcoco_videos.Tracks does, and ROIS gives each ROI of a video frame its track index.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from workbench.errors import RecordError
from workbench.ingest._coco_annotations import is_coco_id
from workbench.ingest._coco_images import key as _key
from workbench.ingest._coco_pieces import Member, outside
from workbench.ingest._kwcoco_videos import (
    MEMBER,
    TRACKS,
    KwcocoVideos,
    Tracks,
    int_within,
    json_value,
    video_counts,
    with_record,
)
from workbench.ingest.jsonread import read_members
from workbench.ingest.writer import CatalogWriter
from workbench.model.limits import MAX_INT32, MAX_JSON_DEPTH, MAX_JSON_FIELD_BYTES
from workbench.model.records import Roi
from workbench.model.validation import check_text

# The images whose metadata's text holds this may name a video.
_NAMED = "contains({column}, '\"video_id\":')"
_VFRAMES = pa.schema(
    [("o", pa.int64()), ("video", pa.int32()), ("context_id", pa.string()),
     ("frame_index", pa.int32()), ("timestamp", pa.int64()), ("num_frames", pa.int32()),
     ("metadata", pa.string()), ("ok", pa.bool_())]
)  # fmt: skip
# The track ids of the rows SQL took of one batch (`{table}`, its rows numbered from $since):
# each video's highest integer id within 32 bits, and each named one's first record.
_HIGHEST = f"""
SELECT v.video, max(int_of(a.track)) FROM {{table}} a JOIN _wb_vframes v ON v.o = a.o
WHERE a.ok AND a.i >= $since AND is_int(a.track)
    AND int_of(a.track) BETWEEN {-MAX_INT32 - 1} AND {MAX_INT32}
GROUP BY v.video
"""
_NAMED_TRACKS = """
SELECT v.video, a.track->>'$', min(a.i) FROM {table} a JOIN _wb_vframes v ON v.o = a.o
WHERE a.ok AND a.i >= $since AND is_str(a.track) GROUP BY ALL
"""


def names_videos(con: Any) -> bool:
    """Whether an image's text (`_wb_image_items`) may name a video."""
    query = f"SELECT 1 FROM _wb_image_items WHERE {_NAMED.format(column='x')} LIMIT 1"
    return bool(con.execute(query).fetchall())


class StagedVideos:
    """The video frames staged (`_wb_vframes`) and their annotations' tracks."""

    def __init__(self, video_of: dict[int, int], records: dict[Any, dict[str, Any]]) -> None:
        self._video_of = video_of  # image ordinal -> video number
        self._records = records  # the `tracks` records, by id
        self._highest: dict[int, int] = {}
        self._first: dict[tuple[int, str], int] = {}  # (video, track name) -> first record
        self._tracks: dict[int, Tracks] = {}

    def converted(self, con: Any, table: str, since: int) -> None:
        """Note the track ids of the rows SQL took of one batch (see _coco_staged.Converted)."""
        for video, highest in con.execute(
            _HIGHEST.format(table=table), {"since": since}
        ).fetchall():
            self._highest[video] = max(self._highest.get(video, -1), highest)
        for video, name, first in con.execute(
            _NAMED_TRACKS.format(table=table), {"since": since}
        ).fetchall():
            self._first[(video, name)] = min(self._first.get((video, name), first), first)

    def note(self, i: int, value: Any, keys: dict[str, tuple[Any, ...]]) -> None:
        """Note the track id of record `i`, read by the per-record functions (`keys`: the
        staged images it may name, by key)."""
        if not isinstance(value, dict) or not is_coco_id(value.get("image_id")):
            return
        image = keys.get(_key(value["image_id"]))
        video = None if image is None else self._video_of.get(image[0])
        if video is None:
            return
        track = value.get("track_id")
        if isinstance(track, int) and int_within(track, -MAX_INT32 - 1, MAX_INT32):
            self._highest[video] = max(self._highest.get(video, -1), track)
        elif isinstance(track, str):
            self._first[(video, track)] = min(self._first.get((video, track), i), i)

    def finish(self, con: Any) -> None:
        """Number each video's named tracks (`_wb_tracks`), every record's noted."""
        for (video, name), _ in sorted(self._first.items(), key=lambda item: item[1]):
            named = self._tracks.setdefault(video, Tracks()).named
            named[name] = len(named)
        for video, highest in self._highest.items():
            self._tracks.setdefault(video, Tracks()).highest = highest
        rows = [
            (video, name, tracks.index(name))
            for video, tracks in self._tracks.items()
            for name in tracks.named
            if tracks.index(name) is not None
        ]
        columns = list(zip(*rows, strict=True)) if rows else [(), (), ()]
        types = [pa.int32(), pa.string(), pa.int32()]
        names = ["video", "name", "number"]
        table = pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})
        con.register("_wb_t", table)
        con.execute("CREATE OR REPLACE TEMP TABLE _wb_tracks AS SELECT * FROM _wb_t")
        con.unregister("_wb_t")

    def tracked(self, o: int, roi: Roi) -> Roi:
        """The ROI made in Python of image `o`, on its track when the image is a video's
        (with its track's record, if any, either way)."""
        video = self._video_of.get(o)
        if video is None:
            return with_record(roi, self._records)
        return self._tracks.get(video, Tracks()).tracked(roi, self._records)


def kwcoco_members(
    con: Any, path: Path, found: dict[str, Member] | None
) -> dict[str, list[tuple[int, Any]]] | None:
    """The file's `videos` and `tracks` records (see _records) when an image's text
    (`_wb_image_items`) may name a video or the file holds a `tracks` record; else None."""
    if names_videos(con):
        return _records(path, found)
    if found is None and b'"tracks"' not in path.read_bytes():
        return None  # (a document not cut: the file is read by a Python pass only if so)
    members = _records(path, found)
    return members if members[TRACKS] else None


def stage_videos(
    con: Any,
    path: Path,
    members: dict[str, list[tuple[int, Any]]],
    writer: CatalogWriter,
    prefix: str,
    left_out: Counter[Any] | None = None,
) -> StagedVideos | None:
    """Stage `_wb_vframes` from `_wb_images` and the track records (`members`: the file's
    `videos` and `tracks`, kwcoco_members); None when no image is a video's and the file
    holds no track record. `left_out`: the images of each video an update left unconverted
    (whole videos: whole_videos), counted as the file's images with the staged ones."""
    rows = con.execute(
        f"SELECT o, metadata FROM _wb_images WHERE {_NAMED.format(column='metadata')} ORDER BY o"
    ).fetchall()
    metas = [(o, json_value(text)) for o, text in rows]
    counts = video_counts(meta for _, meta in metas if isinstance(meta, dict))
    counts.update(left_out or {})
    videos = KwcocoVideos(path, members[MEMBER], counts, prefix, writer.reject, members[TRACKS])
    if not videos:
        return None
    _stage_track_records(con, videos.track_records)
    numbers = videos.number()
    indexes = videos.numbered(metas)
    contexts: dict[str, bool] = {}
    made: list[tuple[Any, ...]] = []
    for o, meta in metas:
        placed = videos.placed(meta, indexes.get(o)) if isinstance(meta, dict) else None
        if placed is None:
            continue
        if placed.context_id not in contexts:
            contexts[placed.context_id] = _text_ok(placed.context_id)
        text, fits = _text(placed.metadata)
        ok = contexts[placed.context_id] and fits
        made.append((o, numbers[placed.video], placed.context_id, placed.frame_index,
                     placed.timestamp, placed.num_frames, text, ok))  # fmt: skip
    columns = list(zip(*made, strict=True)) if made else [() for _ in _VFRAMES]
    table = pa.table([pa.array(c, f.type) for c, f in zip(columns, _VFRAMES, strict=True)],
                     schema=_VFRAMES)  # fmt: skip
    con.register("_wb_t", table)
    con.execute("CREATE OR REPLACE TEMP TABLE _wb_vframes AS SELECT * FROM _wb_t")
    con.unregister("_wb_t")
    return StagedVideos({row[0]: row[1] for row in made}, videos.track_records)


def _stage_track_records(con: Any, records: dict[Any, dict[str, Any]]) -> None:
    """`_wb_track_records`: each track's record as the writer writes it, keyed as ROIS_TRACKED
    keys a track id ('i' or 's' then the integer's or string's text)."""
    keys = [f"i{k}" if isinstance(k, int) else f"s{k}" for k in records]
    texts = [_text(record)[0] for record in records.values()]
    table = pa.table({"key": pa.array(keys, pa.string()), "record": pa.array(texts, pa.string())})
    con.register("_wb_t", table)
    con.execute("CREATE OR REPLACE TEMP TABLE _wb_track_records AS SELECT * FROM _wb_t")
    con.unregister("_wb_t")


def _text(metadata: dict[str, Any]) -> tuple[str, bool]:
    """The metadata's text as the catalog's writer makes it, and whether it may hold it."""
    try:
        text = orjson.dumps(metadata, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an integer past 64 bits: the writer refuses the frame
        return json.dumps(metadata), False
    return text, len(text) <= MAX_JSON_FIELD_BYTES


def _text_ok(context_id: str) -> bool:
    try:
        check_text(context_id, "context_id", "")
    except RecordError:
        return False
    return True


def _records(path: Path, found: dict[str, Member] | None) -> dict[str, list[tuple[int, Any]]]:
    """(index, value) of the file's `videos` and `tracks` records: from the document outside
    its three arrays when it was cut within the records' depth, else read as the per-record
    path reads them (a record that cannot be read an Unreadable, refused with the others)."""
    wanted = (MEMBER, TRACKS)
    got: dict[str, list[tuple[int, Any]]] = {member: [] for member in wanted}
    if found is not None and found["images"].deepest <= MAX_JSON_DEPTH:
        rest = outside(path, found)
        for key in wanted:
            value = rest.get(key)
            got[key] = list(enumerate(value)) if isinstance(value, list) else []
        return got
    for member, index, record in read_members(path, set(wanted)):
        if member is not None and member in got and index is not None:
            got[member].append((index, record))
    return got


# -- the digests of a kwcoco file's video frames (workbench.ingest._coco_digests) ------------
# A video frame is made from its video's other images too: their count (`num_frames`), their
# order (the frames without a `frame_index` numbered in it) and their annotations (named
# tracks numbered in the order of their first records across the video's annotations). So
# each such image's digest takes its video's part: a hash of its images' own digests' terms
# and of where their first annotations stand from the video's first, in the file's order; and
# an update leaves out a video's images all or none (`whole_videos`), so that the video's
# images converted are always all of its images.
#
# An image's video as the per-record path reads it (an integer or a string `video_id`, and no
# `video` key of its own), as the JSON text of the id (`-0` and `0` alike, a string's escapes
# undone, as Python's parse gives them).
VIDEO_KEY = """CASE WHEN try(json_type(x, '$.video_id')) IN ('UBIGINT', 'BIGINT', 'VARCHAR')
    AND NOT try(json_exists(x, '$.video')) THEN json_extract(x, '$.video_id')::VARCHAR END"""
# Images whose video the engine's parse could read otherwise than Python's: `video_id` given
# twice (the engine keeps the first, Python the last), a key written with escapes (which a
# `"video_id"` twice could hide behind), or an id neither an integer nor a string that may be
# one to Python (an integer past 64 bits, a float to the engine). A file holding one keeps no
# digests.
AMBIGUOUS = r"""
SELECT count(*) FROM _wb_image_items
WHERE x LIKE '%"video_id"%"video_id"%'
    OR (contains(x, '\u') AND regexp_matches(x, '\\u[0-9A-Fa-f]{4}(?:[^"\\]|\\.)*"\s*:'))
    OR try(json_type(x, '$.video_id'))
        NOT IN ('UBIGINT', 'BIGINT', 'VARCHAR', 'NULL', 'BOOLEAN', 'OBJECT', 'ARRAY')
"""
# Each video's part (`parts`), from the images' hashes (`{images}`: i, h, video) and their
# annotations' sums (`{sums}`: i, h, n, w, lo), by any image's digest's terms (`{terms}`).
_VIDEO_PARTS = """
WITH placed AS (
    SELECT m.video, m.i,
        hash({terms}, coalesce(s.lo - min(s.lo) OVER (PARTITION BY m.video), -1)) AS e
    FROM {images} m LEFT JOIN {sums} s ON s.i = m.i WHERE m.video IS NOT NULL
), parts AS (
    SELECT video, hash(string_agg(e::VARCHAR, ',' ORDER BY i)) AS part FROM placed GROUP BY video
)
"""
# A video frame's digest: any image's terms (`{terms}`) and its video's part.
_VIDEO_DIGEST = "CASE WHEN p.part IS NULL THEN hash({terms}) ELSE hash({terms}, p.part) END"
# The images (`{digests}`: i, video) found unchanged (`{same}`: n) of a video not all of whose
# images were: put back to be converted.
_WHOLE = """
DELETE FROM {same} WHERE n IN (SELECT i FROM {digests} WHERE video IN (
    SELECT d.video FROM {digests} d ANTI JOIN {same} s ON s.n = d.i WHERE d.video IS NOT NULL))
"""
_LEFT_OUT = """
SELECT d.video, count(*) FROM {digests} d SEMI JOIN {same} s ON s.n = d.i
WHERE d.video IS NOT NULL GROUP BY d.video
"""


def video_digests(images: str, sums: str, terms: str) -> dict[str, str]:
    """The digests' statement's parts for a kwcoco file (`terms`: any image's digest's
    terms): the videos' parts, each image's digest and the join giving it its video's part."""
    parts = _VIDEO_PARTS.format(images=images, sums=sums, terms=terms)
    join = "LEFT JOIN parts p ON p.video = m.video"
    return {"parts": parts, "digest": _VIDEO_DIGEST.format(terms=terms), "join": join}


def whole_videos(con: Any, digests: str, same: str) -> Counter[Any]:
    """Leave out (of the images found unchanged, `same`) only videos all of whose images were
    found; the images of each video left out, by its id."""
    tables = {"digests": digests, "same": same}
    con.execute(_WHOLE.format(**tables))
    rows = con.execute(_LEFT_OUT.format(**tables)).fetchall()
    return Counter({json_value(video): count for video, count in rows})
