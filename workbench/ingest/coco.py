"""COCO instances files (and detection results files): import into frames and ROIs, export a view.

An instances file `{"images", "annotations", "categories", ...}` becomes one frame per image
(source `image`) holding its annotations as ROIs of one label field; a results file (a plain
list of annotations with `image_id` and `score`) adds a label field to frames imported before.
See docs/formats/coco.md for the mapping of every key. This module reads files; one
annotation becomes one ROI in workbench.ingest._coco_annotations, and export_files is
workbench.ingest._coco_export's.

Big files are streamed a record at a time (workbench.ingest.jsonread), never loaded whole. Categories and images are read first
(one pass each: they are small, and categories usually come last in the file). Annotations are
then read in one more pass and grouped by image, because a frame must be written with all its
ROIs at once and COCO does not order annotations by image. Grouping in memory would hold every
annotation of the file; instead, files larger than `partition_bytes` spill their annotations to
temporary NDJSON files partitioned by a hash of the image id, and frames are built one
partition at a time, so memory holds the images and one partition, whatever the file size.
"""

from __future__ import annotations

import json
import math
import mimetypes
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from workbench.errors import IngestError, RecordError
from workbench.ingest._coco_annotations import (
    IMAGE_KEYS,
    Category,
    default_images_dir,
    id_problem,
    is_coco_id,
    keypoint_labels,
    read_categories,
    roi_from_annotation,
)
from workbench.ingest._coco_columnar import import_instances
from workbench.ingest._coco_export import export_files
from workbench.ingest._coco_kwcoco import KwcocoPoints
from workbench.ingest._columnar import ROWS_PER_WRITE
from workbench.ingest._kwcoco_videos import MEMBER as VIDEOS
from workbench.ingest._kwcoco_videos import TRACKS, KwcocoVideos
from workbench.ingest.imports import option_folders, recorded
from workbench.ingest.jsonread import BOM, Unreadable, read_members
from workbench.ingest.writer import CatalogWriter, IngestReport, is_record_failure, record_error
from workbench.model.records import Frame, Roi, Source
from workbench.model.validation import check_roi
from workbench.store.keypoints import keypoint_labels as keypoint_labels_of

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["export_files", "import_files"]

DEFAULT_PARTITION_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Image:
    id: Any
    file_name: str
    width: int | None
    height: int | None
    extra: dict[str, Any] = field(default_factory=dict)


@recorded("coco", roots=option_folders("images_dir"))
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    progress: bool = True,
    field: str | None = None,
    id_prefix: str | None = None,
    images_dir: str | os.PathLike[str] | None = None,
    labels_only: bool = False,
    dataset: str | None = None,
    version: str | None = None,
    categories: str | os.PathLike[str] | Sequence[Mapping[str, Any]] | None = None,
    partition_bytes: int = DEFAULT_PARTITION_BYTES,
    batch_size: int = ROWS_PER_WRITE,
    engine_memory: str | None = None,
) -> IngestReport:
    """Import COCO instances files (frames and ROIs) or results files (ROIs of existing frames).

    Frame ids are `id_prefix` + image id, the prefix defaulting to the file's stem and ':'
    (for a results file: the one prefix of that shape in the catalog). Instances files go to
    field `ground_truth` and results files to `predictions` unless `field` is given. An
    instances file replaces its frames whole, unless `labels_only`: then it only replaces the
    ROIs of `field` on frames already in the catalog, as a results file does. A results file
    takes its category names from `categories` (a COCO file or a list of category dicts), else
    from the category ids kept on ROIs already in the catalog. The images an instances file's
    SQL converts are stored `batch_size` per transaction; records converted one at a time, at
    most 20,000 per transaction. `engine_memory` (such as "4GB"): the memory of the engine
    that stages an instances file (by default 1GB; beyond it, it spills to disk); a file that
    does not fit in it even in smaller batches stops with an error saying so.
    """
    if engine_memory is not None and not re.fullmatch(r"[0-9]+[KMGT]B", engine_memory):
        raise ValueError(f"engine_memory: a size such as '4GB', not {engine_memory!r}")
    files = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    with CatalogWriter(
        catalog, batch_size=min(batch_size, 20_000), progress=progress, desc="coco import"
    ) as writer:
        for path in files:
            if not path.is_file():
                raise IngestError(f"{path}: no such file")
            if _is_results_file(path):
                prefix = id_prefix if id_prefix is not None else _catalog_prefix(catalog, path)
                cats = _load_categories(catalog, categories, prefix, writer)
                _import_results(path, writer, cats, prefix, field or "predictions", partition_bytes)
                continue
            folder = Path(images_dir) if images_dir is not None else default_images_dir(path)
            options = _Instances(
                prefix=id_prefix if id_prefix is not None else f"{path.stem}:",
                field=field or "ground_truth",
                images_dir=folder.resolve(),
                labels_only=labels_only,
                dataset=dataset,
                version=version,
                partition_bytes=partition_bytes,
                engine_memory=engine_memory,
            )
            if options.labels_only or not import_instances(path, writer, options, batch_size):
                _import_instances(path, writer, options)
    return writer.report


@dataclass(frozen=True)
class _Instances:
    prefix: str
    field: str
    images_dir: Path
    labels_only: bool
    dataset: str | None
    version: str | None
    partition_bytes: int
    engine_memory: str | None = None


# -- reading ---------------------------------------------------------------------------------
def _is_results_file(path: Path) -> bool:
    with path.open("rb") as f:
        first = True
        while chunk := f.read(4096):
            if first:  # a UTF-8 byte order mark is not the document's first character
                chunk, first = chunk.removeprefix(BOM), False
            stripped = chunk.lstrip()
            if stripped:
                return stripped[:1] == b"["
    raise IngestError(f"{path}: the file is empty")


def _items(
    path: Path, member: str | None, what: str, reject: Callable[[RecordError], None] | None
) -> Iterator[tuple[int, Any]]:
    """(index, value) of the records of array `member` (None: the top-level array).

    A record that cannot be read (too deep, too large, not JSON) goes to `reject`, naming
    `what` and its number; a file whose structure is broken is an IngestError.
    """
    for _, index, value in read_members(path, {member} if member else ()):
        if isinstance(value, Unreadable):
            if value.fatal or index is None or reject is None:
                raise IngestError(f"{path}: not valid JSON ({value.problem})")
            reject(RecordError(f"{path}, {what} #{index + 1}", value.problem))
            continue
        if index is not None:
            yield index, value


def _small_members(
    path: Path, whats: Mapping[str, str], reject: Callable[[RecordError], None]
) -> dict[str, list[tuple[int, Any]]]:
    """(index, value) of the records of small top-level arrays (`whats`: member -> what a
    record is called), read in one pass; as `_items` rejects and raises, but the records of
    `videos` and `tracks` that cannot be read are kept (Unreadable): a video's once an image
    names it, a track's always, each refused with the others (workbench.ingest._kwcoco_videos)."""
    found: dict[str, list[tuple[int, Any]]] = {member: [] for member in whats}
    for member, index, value in read_members(path, set(whats)):
        if isinstance(value, Unreadable):
            if value.fatal or index is None or member is None:
                raise IngestError(f"{path}: not valid JSON ({value.problem})")
            if member in (VIDEOS, TRACKS):
                found[member].append((index, value))
                continue
            reject(RecordError(f"{path}, {whats[member]} #{index + 1}", value.problem))
        elif index is not None and member is not None:
            found[member].append((index, value))
    return found


def _read_images(path: Path, writer: CatalogWriter) -> dict[Any, _Image]:
    images: dict[Any, _Image] = {}
    frame_ids: set[str] = set()  # 1 and "1" make one frame id: the later is refused
    for number, image in _items(path, "images", "image", writer.reject):
        try:
            parsed = _image(image, path, number)
            if str(parsed.id) in frame_ids:
                raise RecordError(f"{path}, image {parsed.id}", "the id appears twice")
        except RecordError as err:
            writer.reject(err)
            continue
        images[parsed.id] = parsed
        frame_ids.add(str(parsed.id))
    return images


def _image(image: Any, path: Path, number: int) -> _Image:
    if not isinstance(image, dict) or image.get("id") is None:
        raise RecordError(f"{path}, image #{number + 1}", "an image needs an id")
    if not is_coco_id(image["id"]):
        raise RecordError(
            f"{path}, image #{number + 1}",
            f"an image id must be an integer or a string, got {type(image['id']).__name__}"
            + id_problem(image["id"]),
        )
    where = f"{path}, image {image['id']}"
    file_name = image.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        several = " (kwcoco's images of several files, `auxiliary`/`assets`, are not imported)"
        raise RecordError(
            where,
            "an image needs a file_name"
            + (several if {"auxiliary", "assets"} & set(image) else ""),
        )
    dims = []
    for key in ("width", "height"):
        value = image.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value <= 0
        ):
            raise RecordError(where, f"{key} must be a positive integer, got {value!r}")
        dims.append(value)
    extra = {k: v for k, v in image.items() if k not in IMAGE_KEYS}
    return _Image(image["id"], file_name, dims[0], dims[1], extra)


class _Partitions:
    """Annotations grouped by image id: in memory, or spilled to temporary files by hash."""

    def __init__(self, count: int, folder: str) -> None:
        self.count = count
        self._memory: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        self._files: list[IO[str]] = []
        if count > 1:
            paths = [Path(folder) / f"{i}.ndjson" for i in range(count)]
            self._files = [p.open("w+") for p in paths]

    def __enter__(self) -> _Partitions:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._files:
            f.close()

    def part(self, image_id: Any) -> int:
        return hash(image_id) % self.count

    def add(self, image_id: Any, annotation: dict[str, Any]) -> None:
        if self._files:
            self._files[self.part(image_id)].write(json.dumps(annotation) + "\n")
        else:
            self._memory[image_id].append(annotation)

    def groups(self) -> Iterator[tuple[int, dict[Any, list[dict[str, Any]]]]]:
        """(partition, annotations by image id), one partition at a time."""
        if not self._files:
            yield 0, self._memory
            return
        for number, f in enumerate(self._files):
            f.seek(0)
            grouped: dict[Any, list[dict[str, Any]]] = defaultdict(list)
            for line in f:
                annotation = json.loads(line)
                grouped[annotation["image_id"]].append(annotation)
            yield number, grouped


def _spill(
    path: Path,
    items: Iterable[tuple[int, Any]],
    parts: _Partitions,
    writer: CatalogWriter,
    known: Any,
) -> None:
    """Partition the annotations by image; ones naming an unknown image are rejected here."""
    for number, annotation in items:
        if not isinstance(annotation, dict):
            writer.reject(RecordError(f"{path}, annotation #{number + 1}", "not a JSON object"))
            continue
        # Results files carry no ids: number them from 1 in file order, as pycocotools does.
        annotation.setdefault("id", number + 1)
        if not is_coco_id(annotation["id"]) or not is_coco_id(annotation.get("image_id", 0)):
            where = f"{path}, annotation #{number + 1}"
            problem = id_problem(annotation["id"], annotation.get("image_id"))
            writer.reject(
                RecordError(where, "id and image_id must be integers or strings" + problem)
            )
            continue
        image_id = annotation.get("image_id")
        if image_id is None or (known is not None and image_id not in known):
            where = f"{path}, annotation {annotation['id']}"
            writer.reject(RecordError(where, f"unknown image_id {image_id!r}"))
            continue
        parts.add(image_id, annotation)


def _partition_count(path: Path, partition_bytes: int) -> int:
    return max(1, math.ceil(path.stat().st_size / max(1, int(partition_bytes))))


# -- instances and results -------------------------------------------------------------------
def _import_instances(path: Path, writer: CatalogWriter, options: _Instances) -> None:
    # The videos and tracks (kwcoco's) in the categories' pass: all are small.
    whats = {"categories": "category", VIDEOS: "video", TRACKS: "track"}
    small = _small_members(path, whats, writer.reject)
    categories = read_categories(small["categories"], str(path), writer.reject)
    writer.add_keypoint_labels(keypoint_labels(categories))
    categories.kwcoco = KwcocoPoints(path, writer.reject, writer.add_keypoint_labels)
    images = _read_images(path, writer)
    videos = KwcocoVideos.of_images(path, small[VIDEOS], {i.id: i.extra for i in images.values()},
                                    options.prefix, writer.reject, small[TRACKS])  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="workbench-coco-") as folder,
        _Partitions(_partition_count(path, options.partition_bytes), folder) as parts,
    ):
        annotations = videos.seen(_items(path, "annotations", "annotation", writer.reject))
        _spill(path, annotations, parts, writer, images)
        for number, grouped in parts.groups():
            for image in images.values():
                if parts.count > 1 and parts.part(image.id) != number:
                    continue
                found = grouped.get(image.id, ())
                rois = _rois(path, found, categories, options.field, image, writer)
                frame_id, where = f"{options.prefix}{image.id}", f"{path}, image {image.id}"
                if options.labels_only:
                    rois = videos.rois(image.extra, rois)
                    writer.add_labels(frame_id, options.field, rois, where=where)
                    continue
                frame = Frame(
                    id=frame_id,
                    sources=[_source(image, options.images_dir)],
                    rois=rois,
                    metadata=image.extra,
                    dataset=options.dataset,
                    version=options.version,
                )
                writer.add(videos.frame(frame), where=where)


def _import_results(
    path: Path,
    writer: CatalogWriter,
    categories: dict[Any, Category],
    prefix: str,
    field: str,
    partition_bytes: int,
) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="workbench-coco-") as folder,
        _Partitions(_partition_count(path, partition_bytes), folder) as parts,
    ):
        _spill(path, _items(path, None, "annotation", writer.reject), parts, writer, None)
        for _, grouped in parts.groups():
            for image_id, annotations in grouped.items():
                rois = _rois(path, annotations, categories, field, None, writer)
                writer.add_labels(
                    f"{prefix}{image_id}", field, rois, where=f"{path}, image {image_id}"
                )


def _source(image: _Image, images_dir: Path) -> Source:
    # A URL stays as it is; a relative name is under images_dir; an absolute path stays.
    uri = (
        image.file_name
        if "://" in image.file_name
        else os.path.normpath(images_dir / image.file_name)  # `../x.jpg` climbs out of it
    )
    return Source(
        id="image",
        uri=uri,
        width=image.width,
        height=image.height,
        content_type=mimetypes.guess_type(image.file_name)[0],
    )


def _rois(
    path: Path,
    annotations: Sequence[dict[str, Any]],
    categories: Mapping[Any, Category],
    field: str,
    image: _Image | None,
    writer: CatalogWriter,
) -> list[Roi]:
    rois: list[Roi] = []
    seen: set[str] = set()
    sizes = {} if image is None else {"image": (image.width or 0, image.height or 0)}
    for annotation in annotations:
        where = f"{path}, annotation {annotation['id']}"
        try:
            roi = roi_from_annotation(annotation, categories, field, _image_size(image), where)
            if roi.id in seen:
                raise RecordError(where, "the id appears twice for this image")
            # The writer's own checks, here: one bad annotation never costs its whole frame.
            check_roi(roi, where, sizes)
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            writer.reject(record_error(exc, where))
            continue
        seen.add(roi.id)
        rois.append(roi)
    return rois


def _image_size(image: _Image | None) -> tuple[int, int] | None:
    if image is None or image.width is None or image.height is None:
        return None
    return image.height, image.width


# -- results files: categories and frame ids from the catalog --------------------------------
def _load_categories(
    catalog: Catalog,
    categories: str | os.PathLike[str] | Sequence[Mapping[str, Any]] | None,
    prefix: str,
    writer: CatalogWriter,
) -> dict[Any, Category]:
    if isinstance(categories, str | os.PathLike):
        path = Path(categories)
        cats = _items(path, "categories", "category", writer.reject)
        return read_categories(cats, str(path), writer.reject)
    if categories is not None:
        return read_categories(enumerate(categories), "categories option", writer.reject)
    # Instances imports keep each ROI's category id, so the catalog knows the mapping.
    query = (
        "SELECT DISTINCT attributes->>'$.category_id', label, attributes->>'$.supercategory' "
        "FROM rois WHERE attributes->>'$.category_id' IS NOT NULL AND starts_with(frame_id, ?)"
    )
    found: dict[Any, Category] = {}
    for raw_id, name, sup in catalog.cursor().execute(query, [prefix]).fetchall():
        key = int(raw_id) if raw_id.lstrip("-").isdigit() else raw_id
        if key in found and found[key].name != name:
            raise IngestError(
                f"category {key} is both {found[key].name!r} and {name!r} in the catalog: "
                "pass categories= (a COCO file or a list of categories)"
            )
        found[key] = Category(key, name, sup)
    # Keypoint predictions are checked against the point names the catalog keeps per label.
    points = keypoint_labels_of(catalog.cursor(), sorted({c.name for c in found.values()}))
    for key, cat in found.items():
        if (kp := points.get(cat.name)) is not None:
            skeleton = [list(p) for p in kp.skeleton]
            found[key] = Category(key, cat.name, cat.supercategory, list(kp.names), skeleton)
    return found


def _catalog_prefix(catalog: Catalog, path: Path) -> str:
    rows = (
        catalog.cursor()
        .execute(
            r"SELECT DISTINCT regexp_extract(id, '^(.*:)\d+$', 1) FROM frames "
            r"WHERE regexp_matches(id, '^.*:\d+$')"
        )
        .fetchall()
    )
    if len(rows) != 1:
        found = ", ".join(repr(r[0]) for r in rows[:10]) or "none"
        raise IngestError(
            f"{path}: a results file names images by id only; pass id_prefix= to say which "
            f"frames they are (prefixes in the catalog: {found})"
        )
    return str(rows[0][0])
