"""kwcoco's videos and tracks as the catalog's sequences and track indexes, and back.

A kwcoco file's top-level `videos` (`{"id", "name", ...}`) group its images: an image whose
`video_id` names one of them is a frame of that video's context (`<prefix><video name>`), its
`frame_index` the frame's own number, its `timestamp` (a UNIX time in seconds, or ISO-8601
text) the frame's time in milliseconds since the Unix epoch, and the video's images in the
file its `num_frames`. The video's record is kept on each of its frames' metadata (`video`), in
place of the image's `video_id`; the frame index and time, once mapped, leave the metadata. An
annotation of a video frame with a `track_id` is an object of that track: an integer id is its
`track_index`, a string (kwcoco's names and UUIDs) is numbered after the video's highest
integer id in the order the file first gives each (noted as the annotations are read, so the
numbers do not depend on the order frames are made in), and `attributes.track_id` keeps it as
given (as Labelbox's `uuid` is kept beside its track index), with the record of the file's
`tracks` of that id, if any, as `attributes.track` (unless the annotation has a `track` of its
own). An image naming no video of the
file, a frame index that is not a non-negative 32-bit integer, a time that is neither form, or
a track id of another type stay what they were: metadata and attributes, and so does an image
with a `video` key of its own.

Export gives back the `videos` table (the records of the view's video frames, in the order of
their first frames) and each such frame's `video_id`, `frame_index` and `timestamp` (UNIX
seconds) from its columns; the frames of a context holding ROIs on tracks that have a frame
index and no video record are given a video of their context's
(workbench.ingest._coco_export_tracks writes the tracks).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.ingest._coco_annotations import is_coco_id
from workbench.ingest.jsonread import Unreadable
from workbench.model.limits import MAX_INT32, MAX_JSON_FIELD_BYTES, MAX_TIMESTAMP
from workbench.model.records import Frame, Roi

MEMBER = "videos"
TRACKS = "tracks"
# The frame metadata key holding its video's record, and the ROI attribute holding its track's.
KEY = "video"
TRACK_KEY = "track"
# A track's record is kept on each of its ROIs: at most this long, as JSON text.
MAX_TRACK_BYTES = MAX_JSON_FIELD_BYTES // 8


def names_a_video(extra: Mapping[str, Any]) -> bool:
    """Whether an image's own keys (those not COCO's) name a kwcoco video."""
    return is_coco_id(extra.get("video_id")) and KEY not in extra


class KwcocoVideos:
    """The videos of one file that its images name, keyed by id, with their contexts."""

    def __init__(
        self,
        path: Path,
        items: Iterable[tuple[int, Any]],
        counts: Mapping[Any, int],
        prefix: str,
        reject: Callable[[RecordError], None],
        tracks: Iterable[tuple[int, Any]] = (),
    ) -> None:
        """`items`: the file's `videos` records, (index, value: Unreadable for a record that
        cannot be read); `counts`: the images naming each video id (video_counts); `tracks`:
        the file's `tracks` records, as `items`."""
        records = video_records(path, items, reject) if counts else {}
        self._videos = {
            key: (record, f"{prefix}{record['name']}", counts[key])
            for key, record in records.items()
            if key in counts
        }
        self._video_of: dict[Any, Any] = {}
        self._tracks: dict[Any, Tracks] = {}
        # The frame indexes given to video frames without one, by frame id (of_images).
        self._numbers: dict[str, int] = {}
        # The `tracks` records by id (kept on the ROIs of still images too).
        self.track_records = track_records(path, tracks, reject)

    @classmethod
    def of_images(
        cls,
        path: Path,
        items: Iterable[tuple[int, Any]],
        images: Mapping[Any, Mapping[str, Any]],
        prefix: str,
        reject: Callable[[RecordError], None],
        tracks: Iterable[tuple[int, Any]] = (),
    ) -> KwcocoVideos:
        """The videos of `images`, each image's own keys (those not COCO's) by image id."""
        videos = cls(path, items, video_counts(images.values()), prefix, reject, tracks)
        videos._video_of = {
            image: extra["video_id"]
            for image, extra in images.items()
            if names_a_video(extra) and extra["video_id"] in videos._videos
        }
        numbers = videos.numbered(images.items())
        videos._numbers = {f"{prefix}{image}": number for image, number in numbers.items()}
        return videos

    def __bool__(self) -> bool:
        """Whether the file holds a video its images name, or a track record."""
        return bool(self._videos or self.track_records)

    def numbered(self, images: Iterable[tuple[Any, Any]]) -> dict[Any, int]:
        """The frame index of each video frame of `images` ((key, own keys), in the file's
        order) that has none (no `frame_index`, or null): its video's such frames numbered
        after the video's highest frame index, in the file's order. (kwcoco orders a video's
        images by `frame_index` alone: `add_image` refuses a video's image without one, and
        its index cannot be built from a file holding one.)"""
        highest: dict[Any, int] = {}
        missing: list[tuple[Any, Any]] = []
        for key, meta in images:
            if not isinstance(meta, Mapping) or not names_a_video(meta):
                continue
            video, index = meta["video_id"], meta.get("frame_index")
            if video not in self._videos:
                continue
            if index is None:
                missing.append((key, video))
            elif int_within(index, 0, MAX_INT32):
                highest[video] = max(highest.get(video, -1), index)
        numbers: dict[Any, int] = {}
        for key, video in missing:
            number = highest.get(video, -1) + 1
            if number <= MAX_INT32:
                numbers[key], highest[video] = number, number
        return numbers

    def number(self) -> dict[Any, int]:
        """Each video id its number, 0 up, in the order of the file's records."""
        return {key: n for n, key in enumerate(self._videos)}

    def placed(self, meta: Mapping[str, Any], number: int | None = None) -> Placed | None:
        """Where the image of own keys `meta` is in its video (None: it is of none); `number`:
        its frame index when it has none (`numbered`)."""
        found = self._videos.get(meta.get("video_id")) if names_a_video(meta) else None
        if found is None:
            return None
        record, context_id, count = found
        rest = {k: v for k, v in meta.items() if k != "video_id"}
        rest[KEY] = record
        index = meta.get("frame_index")
        if int_within(index, 0, MAX_INT32) or (index is None and number is not None):
            rest.pop("frame_index", None)
            index = number if index is None else index
        else:
            index = None
        stamp = _millis(meta.get("timestamp"))
        if stamp is not None:
            del rest["timestamp"]
        return Placed(meta["video_id"], context_id, index, stamp, count, rest)

    def frame(self, frame: Frame) -> Frame:
        """The frame as a frame of its video, its ROIs on tracks (unchanged if not a video's)."""
        placed = self.placed(frame.metadata, self._numbers.get(frame.id))
        if placed is None:
            if not self.track_records:
                return frame
            return replace(frame, rois=self.rois(frame.metadata, frame.rois))
        return replace(
            frame,
            context_id=placed.context_id,
            frame_index=placed.frame_index,
            timestamp=placed.timestamp,
            num_frames=placed.num_frames,
            metadata=placed.metadata,
            rois=self.rois(frame.metadata, frame.rois),
        )

    def seen(self, annotations: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        """The annotations, passed on, their videos' track ids noted on the way (the file's
        order, whatever the order its frames are then made in)."""
        if not self._videos:
            yield from annotations
            return
        for number, annotation in annotations:
            if isinstance(annotation, dict) and is_coco_id(annotation.get("image_id")):
                video = self._video_of.get(annotation["image_id"])
                if video is not None:
                    self._tracks.setdefault(video, Tracks()).note(annotation.get("track_id"))
            yield number, annotation

    def rois(self, extra: Mapping[str, Any], rois: Sequence[Roi]) -> list[Roi]:
        """The ROIs of an image with `extra`, each with a track id on its track (a still
        image's: with its track's record only)."""
        if not names_a_video(extra) or extra["video_id"] not in self._videos:
            return [with_record(roi, self.track_records) for roi in rois]
        tracks = self._tracks.get(extra["video_id"], Tracks())
        return [tracks.tracked(roi, self.track_records) for roi in rois]


@dataclass(frozen=True, slots=True)
class Placed:
    """An image's place in its video: the frame's columns and its metadata without them."""

    video: Any
    context_id: str
    frame_index: int | None
    timestamp: int | None
    num_frames: int
    metadata: dict[str, Any]


def video_counts(extras: Iterable[Mapping[str, Any]]) -> Counter[Any]:
    """The images naming each video id, of the images' own keys `extras`."""
    return Counter(extra["video_id"] for extra in extras if names_a_video(extra))


class Tracks:
    """The track ids of one video's annotations: an integer one is its own track index, a
    string (kwcoco's names and UUIDs) is numbered after the video's highest integer one, in
    the order the file first gives each."""

    def __init__(self) -> None:
        self.highest = -1
        self.named: dict[str, int] = {}

    def note(self, track: Any) -> None:
        if int_within(track, -MAX_INT32 - 1, MAX_INT32):
            self.highest = max(self.highest, track)
        elif isinstance(track, str):
            self.named.setdefault(track, len(self.named))

    def index(self, track: Any) -> int | None:
        """The track index of track id `track` (None: it is on none)."""
        if int_within(track, -MAX_INT32 - 1, MAX_INT32):
            return int(track)
        number = self.named.get(track) if isinstance(track, str) else None
        if number is None or self.highest + 1 + number > MAX_INT32:
            return None
        return self.highest + 1 + number

    def tracked(self, roi: Roi, records: Mapping[Any, dict[str, Any]]) -> Roi:
        """The ROI on its track, with the track's record (`records`, by id) unless its
        attributes hold a `track` of their own."""
        index = self.index(roi.attributes.get("track_id"))
        roi = with_record(roi, records)
        return roi if index is None else replace(roi, track_index=index)


def with_record(roi: Roi, records: Mapping[Any, dict[str, Any]]) -> Roi:
    """The ROI with the record (`records`, by id) of the track its `track_id` names, unless
    its attributes hold a `track` of their own."""
    track = roi.attributes.get("track_id")
    if not records or not is_coco_id(track) or TRACK_KEY in roi.attributes:
        return roi
    record = records.get(track)
    if record is None:
        return roi
    return replace(roi, attributes={**roi.attributes, TRACK_KEY: record})


def track_records(
    path: Path, items: Iterable[tuple[int, Any]], reject: Callable[[RecordError], None]
) -> dict[Any, dict[str, Any]]:
    """kwcoco's `tracks` records by id (an integer or a string), each refused alone (with
    its number) when it has no such id, one an earlier track has, or is longer than
    MAX_TRACK_BYTES as JSON."""
    tracks: dict[Any, dict[str, Any]] = {}
    for index, value in items:
        here = f"{path}, track #{index + 1}"
        try:
            if isinstance(value, Unreadable):
                raise RecordError(here, value.problem)
            if not isinstance(value, dict) or not is_coco_id(value.get("id")):
                raise RecordError(here, "a track needs an id (an integer or a string)")
            if value["id"] in tracks:
                raise RecordError(here, "its id is an earlier track's")
            size = len(_dumps(value).encode())
            if size > MAX_TRACK_BYTES:
                problem = f"its record is {size:,} bytes of JSON, more than {MAX_TRACK_BYTES:,}"
                raise RecordError(here, problem)
        except RecordError as err:
            reject(err)
            continue
        tracks[value["id"]] = value
    return tracks


def video_records(
    path: Path, items: Iterable[tuple[int, Any]], reject: Callable[[RecordError], None]
) -> dict[Any, dict[str, Any]]:
    """kwcoco's `videos` records by id, each refused alone (with its number) when it has no
    such id or no name, or an earlier video has its id or its name (its images are then of
    no video)."""
    videos: dict[Any, dict[str, Any]] = {}
    names: set[str] = set()
    for index, value in items:
        here = f"{path}, video #{index + 1}"
        try:
            if isinstance(value, Unreadable):
                raise RecordError(here, value.problem)
            if not isinstance(value, dict) or not is_coco_id(value.get("id")):
                raise RecordError(here, "a video needs an id (an integer or a string)")
            if not isinstance(value.get("name"), str) or not value["name"]:
                raise RecordError(here, "a video needs a name")
            if value["id"] in videos or value["name"] in names:
                raise RecordError(here, "its id or name is an earlier video's")
        except RecordError as err:
            reject(err)
            continue
        videos[value["id"]] = value
        names.add(value["name"])
    return videos


def int_within(value: Any, low: int, high: int) -> bool:
    """Whether `value` is an integer (not a bool) from `low` to `high`."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _millis(value: Any) -> int | None:
    """A kwcoco timestamp (UNIX seconds, or ISO-8601 text: UTC when it names no zone) in
    milliseconds, or None when it is neither or out of range."""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
        seconds = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        return None
    millis = seconds * 1000
    if not abs(millis) <= MAX_TIMESTAMP:  # NaN too
        return None
    return round(millis)


# -- export ----------------------------------------------------------------------------------
def video_images(
    frames: pa.Table, tracked: frozenset[str] = frozenset()
) -> tuple[pa.Table, list[Any]]:
    """The frames (id, metadata, frame_index, timestamp and, with `tracked`, context_id) as
    (id, metadata) with each video frame's `video` record replaced by its `video_id`,
    `frame_index` and `timestamp`; and the videos' records, in the order of their first
    frames. A frame of a context of `tracked` (holding ROIs on tracks) with no video record is
    a frame of a video of its own context's, `{"id", "name": context}` (the ids numbered past
    the records' highest integer one). A video's frames without a frame index (and none in
    their metadata) are numbered after its highest, in their order here: kwcoco orders a
    video's images by `frame_index` alone, and cannot index a file where one has none."""
    plain = frames.select(["id", "metadata"])
    texts = frames["metadata"]
    found = pc.fill_null(pc.match_substring(texts, f'"{KEY}"'), False)
    if tracked:
        named = pc.is_in(frames["context_id"], value_set=pa.array(sorted(tracked), pa.string()))
        found = pc.or_(found, pc.fill_null(named, False))
    maybe = found.combine_chunks() if isinstance(found, pa.ChunkedArray) else found
    rows = np.flatnonzero(maybe.to_numpy(zero_copy_only=False))
    if not len(rows):
        return plain, []
    at = pa.array(rows)
    columns = ("metadata", "frame_index", "timestamp", "context_id")
    picked = list(zip(*(_column(frames, c).take(at).to_pylist() for c in columns), strict=True))
    metas = [json_value(text) if text is not None else {} for text, _, _, _ in picked]
    records = [_record(meta) for meta in metas]
    after = max([r["id"] for r in records if r and int_within(r["id"], 0, 2**63)], default=0) + 1
    videos: dict[Any, Any] = {}  # by the record's id, or ("own", context)
    keys: list[Any] = []
    for (_, _, _, context), meta, record in zip(picked, metas, records, strict=True):
        if not isinstance(meta, dict) or (
            record is None and (context not in tracked or KEY in meta)
        ):
            keys.append(None)
        elif record is None:
            key = ("own", context)
            if key not in videos:
                videos[key], after = {"id": after, "name": context}, after + 1
            keys.append(key)
        else:
            videos.setdefault(record["id"], record)
            keys.append(record["id"])
    indexes = _frame_indexes(picked, metas, keys)
    made: list[str | None] = []
    for (text, _, stamp, _), meta, key, index in zip(picked, metas, keys, indexes, strict=True):
        if key is None:
            made.append(text)
            continue
        image: dict[str, Any] = {"video_id": videos[key]["id"]}
        if index is not None:
            image["frame_index"] = index
        if stamp is not None:
            image["timestamp"] = stamp // 1000 if stamp % 1000 == 0 else stamp / 1000
        image.update((k, v) for k, v in meta.items() if k != KEY and k not in image)
        made.append(_dumps(image))
    metadata = texts.combine_chunks()
    column = pc.replace_with_mask(metadata, maybe, pa.array(made, metadata.type))
    return plain.set_column(1, "metadata", column), list(videos.values())


def _frame_indexes(
    picked: Sequence[tuple[Any, ...]], metas: Sequence[Any], keys: Sequence[Any]
) -> list[int | None]:
    """Each frame's frame index (picked: metadata, frame_index, ...; keys: its video's, None
    for no video's): its own, else past its video's highest, in order (None when its
    metadata holds one of its own, or past 32 bits)."""
    highest: dict[Any, int] = {}
    for (_, index, _, _), key in zip(picked, keys, strict=True):
        if key is not None and index is not None:
            highest[key] = max(highest.get(key, -1), index)
    indexes: list[int | None] = []
    for (_, index, _, _), meta, key in zip(picked, metas, keys, strict=True):
        if key is None or index is not None or "frame_index" in meta:
            indexes.append(index)
            continue
        number = highest.get(key, -1) + 1
        if number > MAX_INT32:
            indexes.append(None)
            continue
        indexes.append(number)
        highest[key] = number
    return indexes


def _column(frames: pa.Table, name: str) -> pa.ChunkedArray:
    """The frames' column `name`, nulls when they have none (context_id, when not read)."""
    if name in frames.column_names:
        return frames[name]
    return pa.chunked_array([pa.nulls(frames.num_rows, pa.string())])


def _record(meta: Any) -> dict[str, Any] | None:
    """The video record a frame's metadata holds, if any."""
    record = meta.get(KEY) if isinstance(meta, dict) else None
    return record if isinstance(record, dict) and is_coco_id(record.get("id")) else None


def json_value(text: str) -> Any:
    """JSON text parsed (orjson, or Python's parser for integers past 64 bits)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # integers past 64 bits
        return json.loads(text)


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)
