"""COCO export: a view's frames and its ROIs of one label field as one instances file."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.errors import IngestError
from workbench.ingest import narrow
from workbench.ingest._budget import held_to_budget
from workbench.ingest._coco_annotations import (
    IMAGE_KEYS,
    default_images_dir,
)
from workbench.ingest._coco_export_rois import (
    categories_with_points,
    category_json,
    ids_their_numbers,
    numbered,
    roi_numbers,
    unique_numbers,
    write_annotations,
    write_joined,
)
from workbench.ingest._coco_export_sql import IMAGES, ROI_COLUMNS, annotation_lines
from workbench.ingest._coco_export_tracks import FRAMES as TRACK_FRAMES
from workbench.ingest._coco_export_tracks import FRAMES_SCHEMA as TRACK_FRAMES_SCHEMA
from workbench.ingest._coco_export_tracks import IDS as TRACK_IDS
from workbench.ingest._coco_export_tracks import IDS_SCHEMA as TRACK_IDS_SCHEMA
from workbench.ingest._coco_export_tracks import any_tracked, export_tracks
from workbench.ingest._kwcoco_videos import video_images
from workbench.ingest.export import ExportReport, written_atomically
from workbench.ingest.views import ViewLike
from workbench.store.arrow import registered

MediaMode = Literal["refer", "copy", "link"]
_BATCH = 65_536  # images or ROIs held at once


@held_to_budget
def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    field: str = "ground_truth",
    images_dir: str | os.PathLike[str] | None = None,
    rle_format: str = "compressed",
    info: Mapping[str, Any] | None = None,
    media: MediaMode = "refer",
) -> ExportReport:
    """Write the view's frames and its ROIs of `field` to one COCO instances file at `dest`.

    Boxes, polygons, RLE masks and keypoints become annotations (masks as compressed RLE
    strings, or as count lists with rle_format="uncompressed"; keypoints as [x, y, v]
    triplets, their label's point names and skeleton on its category); other kinds are
    counted in `skipped`. Image
    file names are relative to `images_dir` (default: an `images/` folder next to `dest`, else
    dest's folder), never absolute (tools such as datumaro refuse absolute names): an image
    outside that folder is named by a relative path that climbs out of it (`../...`), unless
    `media` is "copy" or "link", which copies (or symlinks) such images into the folder
    (`images/` next to `dest` by default) under their own names. Importing the file back with
    the same folder finds the same images.
    """
    if media not in ("refer", "copy", "link"):
        raise IngestError(f"media must be 'refer', 'copy' or 'link', got {media!r}")
    if rle_format not in ("compressed", "uncompressed"):
        raise IngestError(f"rle_format must be 'compressed' or 'uncompressed', got {rle_format!r}")
    target = Path(dest)
    if target.is_dir():
        target = target / f"{field}.json"
    if images_dir is None and media != "refer":
        images_dir = target.parent / "images"
    folder = (Path(images_dir) if images_dir is not None else default_images_dir(target)).resolve()
    placer = _MediaPlacer(folder, media)
    report = ExportReport(dest=target, files=[target])
    skipped: dict[str, int] = defaultdict(int)
    _write(view, target, field, info, rle_format, placer, report, skipped, progress)
    if placer.failed:
        done = {"copy": "copied", "link": "linked"}[media]
        skipped[f"images not {done} (missing or unreadable), named where they are"] = placer.failed
    report.skipped = [f"{count} {reason}" for reason, count in sorted(skipped.items())]
    return report


def _write(
    view: ViewLike,
    target: Path,
    field: str,
    info: Mapping[str, Any] | None,
    rle_format: str,
    placer: _MediaPlacer,
    report: ExportReport,
    skipped: dict[str, int],
    progress: bool,
) -> None:
    """Write the file: the images a batch at a time, then the annotations of the ROIs of
    `field` (their counts in `report`, what is not written counted in `skipped`)."""
    con = view.catalog.cursor()
    try:
        tracked = any_tracked(con, field)  # the frames' contexts are read only then
        wanted = ["id", "metadata", "frame_index", "timestamp"]
        frames = view.frames(columns=[*wanted, "context_id"] if tracked else wanted)
        frame_ids = frames["id"].combine_chunks()
        image_ids = pa.table({"id": frame_ids, "image_id": _image_numbers(frame_ids)})
        contexts = _contexts(frames) if tracked else TRACK_FRAMES_SCHEMA.empty_table()
        columns = ("frame_id", "id", *ROI_COLUMNS, "track_index")
        with (
            narrow.field_rois(con, view, field, columns) as (rois, params),
            registered(con, TRACK_FRAMES, contexts),
            written_atomically(target) as out,
        ):
            tracks = export_tracks(con, rois, params) if tracked else None
            frames, videos = video_images(frames, tracks.contexts if tracks else frozenset())
            count = ids_their_numbers(con, rois, params)
            numbers = roi_numbers(con, rois, params) if count is None else count
            categories = categories_with_points(con, rois, params)
            out.write('{"info": ' + json.dumps(dict(info or _default_info(view))))
            out.write(', "licenses": [], ')
            if videos:  # kwcoco's (workbench.ingest._kwcoco_videos)
                out.write('"videos": ' + _dumps(videos) + ", ")
            out.write('"images": [')
            frames = frames.append_column("image_id", image_ids["image_id"])
            report.frames = _write_images(con, out, frames, placer, progress)
            del frames
            out.write('\n], "annotations": [')
            named = {
                "label": pa.array(list(categories), pa.string()),
                "category_id": pa.array([c.id for c in categories.values()], pa.int64()),
            }
            ids = tracks.ids if tracks else TRACK_IDS_SCHEMA.empty_table()
            kept: dict[Any, dict[str, Any]] = {}  # the track records the annotations hold
            with (
                registered(con, "_wb_image_ids", image_ids),
                registered(con, "_wb_category_ids", pa.table(named)),
                registered(con, TRACK_IDS, ids),
            ):
                lines = annotation_lines(rois, count is not None, tracks is not None)
                ordered = con.sql(lines, params=params)
                report.rois = write_annotations(
                    out,
                    ordered.to_arrow_reader(_BATCH),
                    numbers,
                    categories,
                    (rle_format, skipped, progress),
                    kept,
                )
            out.write("\n]")
            records = _track_records(tracks.records if tracks else [], kept)
            if records:  # workbench.ingest._coco_export_tracks
                out.write(', "tracks": ' + _dumps(records))
            cats = sorted((category_json(n, c) for n, c in categories.items()), key=_by_id)
            out.write(', "categories": ' + json.dumps(cats) + "}\n")
    finally:
        con.close()


def _contexts(frames: pa.Table) -> pa.Table:
    """The frames' ids and contexts (TRACK_FRAMES)."""
    columns = [frames[c].combine_chunks() for c in TRACK_FRAMES_SCHEMA.names]
    return pa.table(columns, schema=TRACK_FRAMES_SCHEMA)


def _track_records(
    records: list[dict[str, Any]], kept: Mapping[Any, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The `tracks` of the ROIs on tracks (`records`), then the records the annotations held
    (`kept`, by id) that are none of theirs."""
    ids = {record["id"] for record in records}
    return records + [record for key, record in kept.items() if key not in ids]


def _by_id(category: Mapping[str, Any]) -> Any:
    return category["id"]


def _write_images(
    con: Any, out: IO[str], frames: pa.Table, placer: _MediaPlacer, progress: bool
) -> int:
    """Write the images of frames (id, metadata, image_id), comma-separated, a batch at a
    time: their JSON text made by the engine (workbench.ingest._coco_export_sql) or, where it
    does not, here."""
    count = frames.num_rows
    positions = pa.array(np.arange(count, dtype=np.int64))
    start = 0
    with (
        registered(con, "_wb_frames", frames.append_column("q", positions)),
        tqdm(
            total=count, desc="coco images", unit="image", disable=not progress, leave=False
        ) as bar,
    ):
        for batch in con.sql(IMAGES).to_arrow_reader(_BATCH):
            rows = pa.Table.from_batches([batch])  # one a frame, in order
            texts = _image_texts(rows, frames.slice(start, rows.num_rows), placer)
            start = write_joined(out, texts, start)
            bar.update(rows.num_rows)
    return count


def _image_texts(rows: pa.Table, frames: pa.Table, placer: _MediaPlacer) -> pa.ChunkedArray:
    """The images' text of IMAGES's `rows` of `frames`: the engine's, else made here."""
    lines = rows["line"].combine_chunks()
    missing = pc.is_null(lines)
    python = np.flatnonzero(missing.to_numpy(zero_copy_only=False))
    if not len(python):
        return pa.chunked_array([lines], pa.string())
    at = pa.array(python)
    places = zip(*(rows[c].take(at).to_pylist() for c in ("uri", "width", "height")), strict=True)
    made = [
        _dumps(_export_image(frame, frame["image_id"], place, placer))
        for frame, place in zip(frames.take(at).to_pylist(), places, strict=True)
    ]
    sql = np.flatnonzero(~missing.to_numpy(zero_copy_only=False))
    order = np.argsort(np.concatenate([sql, python]), kind="stable")
    return pa.chunked_array([lines.filter(pc.invert(missing)), pa.array(made, pa.string())]).take(
        order
    )


def _default_info(view: ViewLike) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "description": f"exported from {view.catalog.path.name}",
        "version": "1.0",
        "year": now.year,
        "date_created": now.isoformat(),
    }


def _export_image_ids(frame_ids: Sequence[str]) -> dict[str, int]:
    """COCO needs integer image ids: the number after the frame id's last ':' when unique."""
    parsed = {}
    for frame_id in frame_ids:
        tail = frame_id.rsplit(":", 1)[-1]
        if tail.isdigit() and int(tail) < 2**63:  # past 64 bits (signed): a new number
            parsed[frame_id] = int(tail)
    return unique_numbers(frame_ids, parsed)


def _image_numbers(frame_ids: pa.Array) -> np.ndarray:
    """The numbers `_export_image_ids` gives the frames, in order, computed on the column
    (that loop itself when an id is not ASCII or its tail is 19 digits or more long)."""
    if not len(frame_ids):
        return np.zeros(0, dtype=np.int64)
    tails = pc.extract_regex(frame_ids, r"(?P<tail>[^:]*)$").field("tail")
    if (
        not pc.all(pc.string_is_ascii(frame_ids)).as_py()
        or pc.any(pc.match_substring_regex(tails, "[0-9]{19}")).as_py()
    ):
        numbers = _export_image_ids(frame_ids.to_pylist())
        return np.array(list(numbers.values()), dtype=np.int64)
    return numbered(tails)


def _export_image(
    frame: Mapping[str, Any],
    image_id: int,
    source: tuple[str | None, int | None, int | None],
    placer: _MediaPlacer,
) -> dict[str, Any]:
    uri, width, height = source
    image: dict[str, Any] = {"id": image_id, "file_name": placer.file_name(uri or frame["id"])}
    image["width"], image["height"] = width, height
    metadata = _loads(frame["metadata"]) if frame["metadata"] else {}
    image.update((k, v) for k, v in metadata.items() if k not in IMAGE_KEYS)
    return image


class _MediaPlacer:
    """Image file names relative to the export's images folder; with copy or link, images
    outside the folder are placed in it first (a name taken by another image gets a number)."""

    def __init__(self, folder: Path, media: MediaMode) -> None:
        self.folder = folder
        self.media = media
        self.placed: dict[str, str] = {}
        self.taken: set[str] = set()
        self.failed = 0

    def file_name(self, uri: str) -> str:
        if "://" in uri and not uri.startswith("file://"):
            return uri
        path = Path(uri.removeprefix("file://"))
        if not path.is_absolute():
            return path.as_posix()
        try:
            return path.relative_to(self.folder).as_posix()
        except ValueError:
            pass
        relative = Path(os.path.relpath(path, self.folder)).as_posix()
        if self.media == "refer":
            return relative
        if uri not in self.placed:
            if not path.is_file():
                self.failed += 1
                self.placed[uri] = relative
            else:
                self.placed[uri] = self._place(path)
        return self.placed[uri]

    def _place(self, path: Path) -> str:
        name, n = path.name, 1
        while name in self.taken or (self.folder / name).exists():
            name, n = f"{path.stem}-{n}{path.suffix}", n + 1
        self.taken.add(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            if self.media == "copy":
                shutil.copy2(path, self.folder / name)
            else:
                (self.folder / name).symlink_to(path)
        except OSError as exc:
            raise IngestError(f"cannot {self.media} {path} into {self.folder}: {exc}") from exc
        return name


def _dumps(value: Any) -> str:
    """JSON text of an image (orjson's; Python's for what orjson refuses, such as integers
    past 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
