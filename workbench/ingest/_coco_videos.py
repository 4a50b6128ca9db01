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
    track_records,
    video_counts,
    video_records,
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
    (whole_videos), counted as the file's images with the staged ones."""
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
# A video frame is made from its video's record (as the checks keep it: `stage_records`) and
# its count of images (`num_frames`), and, when the video's frames are numbered from one
# another (`ordered`: one of them has no frame index, numbered in the file's order after the
# video's highest, or one of its annotations is on a named track, numbered in the order of
# their first records across the video's annotations), from its other images too. So each
# such image's digest takes its video's part: a hash of the video's record and of its count of
# images or, for a video whose frames are numbered from one another, of its images' own
# digests' terms and of where their first annotations stand from the video's first, in the
# file's order. An update leaves out the images of such a video all or none (`whole_videos`),
# so that those it converts are all of its images (the numbers are made from the images and
# annotations converted); a frame of another video is converted alone, its video's count of
# frames given by the images left out (`left_out_videos`; checked against the count its
# frames left out hold once the images are checked: `counts_changed`). A track's record is
# taken by the hash of each annotation naming it (`tracked_hash`), so that it reaches the
# images it is on.
#
# An image's columns (_coco_digests' `_IMAGES`), from one JSON path list `k` of its text:
# - `key`, its id's JSON text;
# - `video`, its video as the per-record path reads it (an integer or a string `video_id`, and
#   no `video` key of its own), as the JSON text of the id (`-0` and `0` alike, a string's
#   escapes undone, as Python's parse gives them);
# - `ordered`, whether its video's other frames are numbered from it: it has no frame index
#   (none, or null: numbered in the file's order after the video's highest) or may give one
#   twice (the engine keeps the first, Python the last);
# - `ambiguous`, whether the engine's parse could read its video otherwise than Python's:
#   `video_id` given twice, a key written with escapes (which a key given twice could hide
#   behind), or an id neither an integer nor a string that may be one to Python (an integer
#   past 64 bits, a float to the engine). A file holding one keeps no digests.
_ESCAPED_KEY = (
    r"""(contains({x}, '\u') AND regexp_matches({x}, '\\u[0-9A-Fa-f]{{4}}(?:[^"\\]|\\.)*"\s*:'))"""
)
IMAGE_COLUMNS = {
    "source": "(SELECT *, try(json_extract(x, ['$.id', '$.video_id', '$.video', "
    "'$.frame_index'])) AS k FROM _wb_image_items)",
    "key": "k[1]::VARCHAR",
    "more": f""",
    CASE WHEN json_type(k[2]) IN ('UBIGINT', 'BIGINT', 'VARCHAR') AND k[3] IS NULL
        THEN k[2]::VARCHAR END AS video,
    coalesce(k[4] IS NULL OR k[4]::VARCHAR = 'null'
        OR x LIKE '%"frame_index"%"frame_index"%', true) AS ordered,
    coalesce(x LIKE '%"video_id"%"video_id"%' OR {_ESCAPED_KEY.format(x="x")}
        OR json_type(k[2])
            NOT IN ('UBIGINT', 'BIGINT', 'VARCHAR', 'NULL', 'BOOLEAN', 'OBJECT', 'ARRAY'),
        false) AS ambiguous""",
}
# The records the checks keep (the first good one of each id: _kwcoco_videos), each one's
# hash by the JSON text of its id, as the engine reads an image's video (`video` above) or an
# annotation's `track_id`.
VIDEO_RECORDS = "_wb_dig_videos"
TRACK_RECORDS = "_wb_dig_tracks"
# The keys of the images with an annotation on a named track (a string id, numbered across its
# video's annotations), or that may be: their videos' frames are numbered from them.
NAMED = "_wb_dig_named"
_RECORDS = """
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT try(json(k))::VARCHAR AS key, hash(t) AS h FROM _wb_t
"""
# Each video's part (`parts`), from the images' hashes (`{images}`: i, h, video) and their
# annotations' sums (`{sums}`: i, h, n, w, lo), by any image's digest's terms (`{terms}`),
# and its record's hash (none when no record of its id is kept: its images are of no video).
_VIDEO_PARTS = f"""
WITH placed AS (
    SELECT m.video, m.i, coalesce(m.ordered OR m.key IN (FROM {NAMED}), true) AS ordered,
        hash({{terms}}, coalesce(s.lo - min(s.lo) OVER (PARTITION BY m.video), -1)) AS e
    FROM {{images}} m LEFT JOIN {{sums}} s ON s.i = m.i WHERE m.video IS NOT NULL
), placings AS (
    SELECT video, bool_or(ordered) AS ordered, count(*) AS n,
        string_agg(e::VARCHAR, ',' ORDER BY i) AS s
    FROM placed GROUP BY video
), parts AS (
    SELECT g.video, g.ordered,
        hash(CASE WHEN g.ordered THEN g.s ELSE g.n::VARCHAR END, coalesce(r.h, 0::UBIGINT)) AS part
    FROM placings g LEFT JOIN {VIDEO_RECORDS} r ON r.key = g.video
)
"""
# An annotation's `track_id` the engine's parse could read otherwise than Python's (given
# twice: the engine keeps the first, Python the last; or perhaps twice, behind an escape).
_TRACK_TWICE = f"""coalesce({{x}} LIKE '%"track_id"%"track_id"%' OR {_ESCAPED_KEY}, false)"""
# Whether an annotation (its text `{x}`, its `track_id`'s JSON text `{track}`) is on a named
# track or may be.
_ON_NAMED = f"""(json_type({{track}}) = 'VARCHAR' OR {_TRACK_TWICE})"""
# An update's annotations (`{keys}` as _coco_digests makes it: its `_ANN_KEYS` with the track
# id read too), each hash with its track's record (`{h}`, `{join}`: tracked_hash of `a.h`,
# `a.x`, `a.track`), and whether it is on a named track.
_ANN_KEYS = """
CREATE OR REPLACE TEMP TABLE {keys} AS
SELECT a.i, a.key, {h} AS h, {named} AS named,
    CASE WHEN a.x LIKE '%"image_id"%"image_id"%' THEN a.x END AS twice FROM (
    SELECT i, x, k[1]::VARCHAR AS key, k[3]::VARCHAR AS track,
        CASE WHEN is_null(k[2]) THEN hash(x, i) ELSE hash(x) END AS h
    FROM (SELECT i, x, try(json_extract(x, ['$.image_id', '$.id', '$.track_id'])) AS k
        FROM _wb_items)) a {join}
"""
_NAMED_KEYS = (
    f"INSERT INTO {NAMED} SELECT DISTINCT key FROM {{keys}} WHERE named AND key IS NOT NULL"
)
# The same of a batch as the conversion took it (`{table}`, its rows numbered from $since),
# by the images' keys: when it read no track ids (no video's record kept, no track's record),
# every image with an annotation.
_NAMED_CONVERTED = f"""
INSERT INTO {NAMED} SELECT DISTINCT m.key FROM {{table}} a
JOIN (SELECT o, key FROM _wb_images) m ON m.o = a.o
WHERE a.i >= $since AND m.key IS NOT NULL AND {{named}}
"""


def hash_annotations(con: Any, keys: str, tracked: tuple[str, str]) -> None:
    """Stage `keys` (_coco_digests' `_KEYS`) from an update's batch of annotations, each
    hash with its track's record (`tracked`: tracked_hash's), and note the images on a named
    track."""
    h, join = tracked
    named = _ON_NAMED.format(x="a.x", track="a.track")
    con.execute(_ANN_KEYS.format(keys=keys, h=h, join=join, named=named))
    con.execute(_NAMED_KEYS.format(keys=keys))


def named_converted(con: Any, table: str, since: int) -> None:
    """Note the images of the batch's annotations (`table`'s rows from `since`) on a named
    track, or that may be."""
    columns = [c[0] for c in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    named = _ON_NAMED.format(x="a.x", track="a.track") if "track" in columns else "true"
    con.execute(_NAMED_CONVERTED.format(table=table, named=named), {"since": since})


# A video frame's digest: any image's terms (`{terms}`) and its video's part.
_VIDEO_DIGEST = "CASE WHEN p.part IS NULL THEN hash({terms}) ELSE hash({terms}, p.part) END"
# The images (`{digests}`: i, video) found unchanged (`{same}`: n) of a video not all of whose
# images were: put back to be converted.
_WHOLE = """
DELETE FROM {same} WHERE n IN (SELECT i FROM {digests} WHERE whole AND video IN (
    SELECT d.video FROM {digests} d ANTI JOIN {same} s ON s.n = d.i WHERE d.whole))
"""
# The videos converted in part (not `whole`: some of their images left out, some not), each
# with one of its frames left out and the count of those: the stored count of frames that
# frame holds is the one the update's frames are to hold.
_PARTIAL = """
SELECT d.video, min(s.frame_key), count(*) FROM {digests} d JOIN {same} s ON s.n = d.i
WHERE NOT d.whole AND d.video IN (
    SELECT e.video FROM {digests} e ANTI JOIN {same} t ON t.n = e.i WHERE e.video IS NOT NULL)
GROUP BY d.video
"""
# The images staged (those converted) of each of the videos `$videos`.
_STAGED = """
SELECT d.video, count(*) FROM _wb_images w JOIN {digests} d ON d.i = w.i
WHERE d.video IN (SELECT unnest($videos::VARCHAR[])) GROUP BY d.video
"""
_LEFT_OUT = """
SELECT d.video, count(*) FROM {digests} d SEMI JOIN {same} s ON s.n = d.i
WHERE d.video IS NOT NULL GROUP BY d.video
"""


def stage_records(con: Any, path: Path, members: dict[str, list[tuple[int, Any]]]) -> bool:
    """Stage the hashes of the `videos` and `tracks` records the checks keep (`members`, as
    read: kwcoco_members); False when an id's text cannot be read by the engine (the file
    then keeps no digests)."""
    kept = {
        VIDEO_RECORDS: video_records(path, members[MEMBER], _ignore),
        TRACK_RECORDS: track_records(path, members[TRACKS], _ignore),
    }
    for table, records in kept.items():
        rows = pa.table({
            "k": pa.array([json.dumps(key) for key in records], pa.string()),
            "t": pa.array([json.dumps(record, default=str) for record in records.values()],
                          pa.string()),
        })  # fmt: skip
        con.register("_wb_t", rows)
        con.execute(_RECORDS.format(table=table))
        con.unregister("_wb_t")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {NAMED} (key VARCHAR)")
    unread = f"SELECT count(*) FROM (FROM {VIDEO_RECORDS} UNION ALL FROM {TRACK_RECORDS})"
    return con.execute(unread + " WHERE key IS NULL").fetchall()[0][0] == 0


def _ignore(err: RecordError) -> None:
    """A record the checks refuse (reported by stage_videos, not here)."""


def drop_records(con: Any) -> None:
    for table in (VIDEO_RECORDS, TRACK_RECORDS, NAMED):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def tracked_hash(con: Any, h: str, x: str, track: str) -> tuple[str, str]:
    """An annotation's hash `h` (of its text `x`, or NULL for a record SQL took, naming the
    track whose id's JSON text is `track`) with the record of that track, if kept, or with
    every track's record when the engine could read its track otherwise than Python: the
    expression and the join it needs (alias `r`); `h` itself when no track's record is
    kept."""
    every = con.execute(
        f"SELECT hash(string_agg(h::VARCHAR, ',' ORDER BY key)), count(*) FROM {TRACK_RECORDS}"
    ).fetchall()[0]
    if not every[1]:
        return h, ""
    expression = (
        f"CASE WHEN {_TRACK_TWICE.format(x=x)} THEN hash({h}, {every[0]}::UBIGINT) "
        f"WHEN r.h IS NULL THEN {h} ELSE hash({h}, r.h) END"
    )
    return expression, f"LEFT JOIN {TRACK_RECORDS} r ON r.key = {track}"


def counts_changed(con: Any, catalog: Any, digests: str, same: str) -> list[int]:
    """The keys of frames left out of videos converted in part whose count of frames (their
    images staged, `_wb_images`, and those left out) is not the count their stored frames
    hold: an image of the video refused now and stored before, or the reverse (the frames left
    out were made with another count). `catalog`: the catalog's cursor."""
    partial = con.execute(_PARTIAL.format(digests=digests, same=same)).fetchall()
    if not partial:
        return []
    videos = {key: (video, left) for video, key, left in partial}
    staged = dict(
        con.execute(
            _STAGED.format(digests=digests), {"videos": [video for video, _, _ in partial]}
        ).fetchall()
    )
    stored = catalog.execute(
        "SELECT frame_key, num_frames FROM frames WHERE frame_key IN (SELECT unnest(?))",
        [list(videos)],
    ).fetchall()
    return [key for key, count in stored if staged.get(videos[key][0], 0) + videos[key][1] != count]


def video_digests(images: str, sums: str, terms: str) -> dict[str, str]:
    """The digests' statement's parts for a kwcoco file (`terms`: any image's digest's
    terms): the videos' parts, each image's digest and the join giving it its video's part."""
    parts = _VIDEO_PARTS.format(images=images, sums=sums, terms=terms)
    join = "LEFT JOIN parts p ON p.video = m.video"
    digest = _VIDEO_DIGEST.format(terms=terms)
    return {"parts": parts, "digest": digest, "join": join, "whole": "coalesce(p.ordered, false)"}


def whole_videos(con: Any, digests: str, same: str) -> Counter[Any]:
    """Leave out (of the images found unchanged, `same`) the images of a video converted
    whole (`whole`: its frames numbered from one another) only when all of them were found;
    the images of each video left out, by its id."""
    tables = {"digests": digests, "same": same}
    con.execute(_WHOLE.format(**tables))
    rows = con.execute(_LEFT_OUT.format(**tables)).fetchall()
    return Counter({json_value(video): count for video, count in rows})
