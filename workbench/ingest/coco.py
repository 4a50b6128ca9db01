"""COCO instances files (and detection results files): import into frames and ROIs, export a view.

An instances file `{"images", "annotations", "categories", ...}` becomes one frame per image
(source `image`) holding its annotations as ROIs of one label field; a results file (a plain
list of annotations with `image_id` and `score`) adds a label field to frames imported before.
See docs/formats/coco.md for the mapping of every key.

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
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.errors import IngestError, RecordError
from workbench.ingest.export import ExportReport, written_atomically
from workbench.ingest.imports import option_folders, recorded
from workbench.ingest.jsonread import Unreadable, read_members
from workbench.ingest.views import ViewLike
from workbench.ingest.writer import CatalogWriter, IngestReport, is_record_failure, record_error
from workbench.model import rle
from workbench.model.geometry import box_ring, polygon_area
from workbench.model.records import Frame, Roi, Source
from workbench.model.validation import check_roi

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["export_files", "import_files"]

# Annotation keys with a place of their own; every other key is kept in the ROI's attributes.
_ANNOTATION_KEYS = frozenset({"id", "image_id", "category_id", "bbox", "segmentation", "score"})
_IMAGE_KEYS = frozenset({"id", "file_name", "width", "height"})
_NUMBER_TYPES = frozenset({int, float})
DEFAULT_PARTITION_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Category:
    id: Any
    name: str
    supercategory: str | None = None


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
    batch_size: int = 20_000,
) -> IngestReport:
    """Import COCO instances files (frames and ROIs) or results files (ROIs of existing frames).

    Frame ids are `id_prefix` + image id, the prefix defaulting to the file's stem and ':'
    (for a results file: the one prefix of that shape in the catalog). Instances files go to
    field `ground_truth` and results files to `predictions` unless `field` is given. An
    instances file replaces its frames whole, unless `labels_only`: then it only replaces the
    ROIs of `field` on frames already in the catalog, as a results file does. A results file
    takes its category names from `categories` (a COCO file or a list of category dicts), else
    from the category ids kept on ROIs already in the catalog.
    """
    files = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    with CatalogWriter(
        catalog, batch_size=batch_size, progress=progress, desc="coco import"
    ) as writer:
        for path in files:
            if not path.is_file():
                raise IngestError(f"{path}: no such file")
            if _is_results_file(path):
                prefix = id_prefix if id_prefix is not None else _catalog_prefix(catalog, path)
                cats = _load_categories(catalog, categories, prefix, writer)
                _import_results(path, writer, cats, prefix, field or "predictions", partition_bytes)
                continue
            folder = Path(images_dir) if images_dir is not None else _default_images_dir(path)
            options = _Instances(
                prefix=id_prefix if id_prefix is not None else f"{path.stem}:",
                field=field or "ground_truth",
                images_dir=folder.resolve(),
                labels_only=labels_only,
                dataset=dataset,
                version=version,
                partition_bytes=partition_bytes,
            )
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


# -- reading ---------------------------------------------------------------------------------
def _is_results_file(path: Path) -> bool:
    with path.open("rb") as f:
        while chunk := f.read(4096):
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


def _key(value: Any) -> bool:
    """Whether a value can be a COCO id: an integer or a string (not a list, object or bool)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _default_images_dir(path: Path) -> Path:
    sibling = path.parent / "images"
    return sibling if sibling.is_dir() else path.parent


def read_categories(
    items: Iterable[tuple[int, Any]],
    where: str,
    reject: Callable[[RecordError], None] | None = None,
) -> dict[Any, Category]:
    """Categories by id from (number, COCO category object); bad ones go to `reject` (else
    raise)."""
    found: dict[Any, Category] = {}
    for number, cat in items:
        try:
            if not isinstance(cat, dict) or cat.get("id") is None:
                raise RecordError(f"{where}, category #{number + 1}", "a category needs an id")
            if not _key(cat["id"]):
                raise RecordError(
                    f"{where}, category #{number + 1}",
                    "a category id must be an integer or a string",
                )
            name, sup = cat.get("name"), cat.get("supercategory")
            if not isinstance(name, str) or not name:
                raise RecordError(f"{where}, category {cat['id']}", "a category needs a name")
            if cat["id"] in found:
                raise RecordError(f"{where}, category {cat['id']}", "the id appears twice")
        except RecordError as err:
            if reject is None:
                raise
            reject(err)
            continue
        found[cat["id"]] = Category(cat["id"], name, sup if isinstance(sup, str) else None)
    return found


def _read_images(path: Path, writer: CatalogWriter) -> dict[Any, _Image]:
    images: dict[Any, _Image] = {}
    for number, image in _items(path, "images", "image", writer.reject):
        try:
            parsed = _image(image, path, number)
            if parsed.id in images:
                raise RecordError(f"{path}, image {parsed.id}", "the id appears twice")
        except RecordError as err:
            writer.reject(err)
            continue
        images[parsed.id] = parsed
    return images


def _image(image: Any, path: Path, number: int) -> _Image:
    if not isinstance(image, dict) or image.get("id") is None:
        raise RecordError(f"{path}, image #{number + 1}", "an image needs an id")
    if not _key(image["id"]):
        raise RecordError(
            f"{path}, image #{number + 1}",
            f"an image id must be an integer or a string, got {type(image['id']).__name__}",
        )
    where = f"{path}, image {image['id']}"
    file_name = image.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        raise RecordError(where, "an image needs a file_name")
    dims = []
    for key in ("width", "height"):
        value = image.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value <= 0
        ):
            raise RecordError(where, f"{key} must be a positive integer, got {value!r}")
        dims.append(value)
    extra = {k: v for k, v in image.items() if k not in _IMAGE_KEYS}
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
        if not _key(annotation["id"]) or not _key(annotation.get("image_id", 0)):
            where = f"{path}, annotation #{number + 1}"
            writer.reject(RecordError(where, "id and image_id must be integers or strings"))
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
    categories = read_categories(
        _items(path, "categories", "category", writer.reject), str(path), writer.reject
    )
    images = _read_images(path, writer)
    with (
        tempfile.TemporaryDirectory(prefix="workbench-coco-") as folder,
        _Partitions(_partition_count(path, options.partition_bytes), folder) as parts,
    ):
        annotations = _items(path, "annotations", "annotation", writer.reject)
        _spill(path, annotations, parts, writer, images)
        for number, grouped in parts.groups():
            for image in images.values():
                if parts.count > 1 and parts.part(image.id) != number:
                    continue
                found = grouped.get(image.id, ())
                rois = _rois(path, found, categories, options.field, image, writer)
                frame_id, where = f"{options.prefix}{image.id}", f"{path}, image {image.id}"
                if options.labels_only:
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
                writer.add(frame, where=where)


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
    uri = image.file_name if "://" in image.file_name else str(images_dir / image.file_name)
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


# -- one annotation --------------------------------------------------------------------------
def roi_from_annotation(
    annotation: Mapping[str, Any],
    categories: Mapping[Any, Category],
    field: str,
    size: tuple[int, int] | None,
    where: str,
) -> Roi:
    """The ROI of one COCO annotation; RecordError (naming `where`) when it is malformed."""
    category_id = annotation.get("category_id")
    category = categories.get(category_id) if _key(category_id) else None
    if category is None:
        raise RecordError(where, f"unknown category_id {annotation.get('category_id')!r}")
    box = _bbox(annotation.get("bbox"), where)
    attributes: dict[str, Any] = {"category_id": category.id}
    if category.supercategory is not None:
        attributes["supercategory"] = category.supercategory
    attributes.update((k, v) for k, v in annotation.items() if k not in _ANNOTATION_KEYS)
    attributes.setdefault("iscrowd", 0)
    segmentation = annotation.get("segmentation")
    common: dict[str, Any] = {
        "id": str(annotation["id"]),
        "labels": [category.name],
        "field": field,
        "confidence": _score(annotation.get("score"), where),
    }
    if isinstance(segmentation, list) and segmentation:
        rings = [_ring(ring, number, where) for number, ring in enumerate(segmentation)]
        attributes.setdefault("area", polygon_area(rings))
        roi = Roi(
            kind="polygon", geometry=rings, attributes=attributes, bbox=_corners(box), **common
        )
    elif isinstance(segmentation, dict):
        mask = _rle(segmentation, size, where)
        if box is None:
            x, y, w, h = rle.bbox(mask["counts"], mask["size"])
            box = (float(x), float(y), float(w), float(h))
        attributes.setdefault("area", float(rle.area(mask["counts"])))
        roi = Roi(
            kind="mask", mask={"rle": mask}, attributes=attributes, bbox=_corners(box), **common
        )
    elif segmentation is None or segmentation == []:
        if box is None:
            raise RecordError(where, "an annotation needs a bbox or a segmentation")
        attributes.setdefault("area", box[2] * box[3])
        roi = Roi(kind="box", geometry=[box_ring(*box)], attributes=attributes, **common)
    else:
        raise RecordError(where, "segmentation must be a list of polygons or an RLE object")
    # The checks above cover everything the writer validates, so one bad annotation never
    # makes the writer refuse the whole frame.
    return roi


def _numbers(values: Any) -> bool:
    """A list of finite ints and floats (not bools); fast, as polygons hold many of them."""
    return (
        isinstance(values, list)
        and set(map(type, values)) <= _NUMBER_TYPES
        and math.isfinite(sum(values))
    )


def _bbox(value: Any, where: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if not _numbers(value) or len(value) != 4:
        raise RecordError(where, f"bbox must be four numbers [x, y, w, h], got {value!r}")
    x, y, w, h = (float(v) for v in value)
    if w < 0 or h < 0:
        raise RecordError(where, f"bbox has a negative width or height: {value!r}")
    return x, y, w, h


def _corners(
    box: tuple[float, float, float, float] | None,
) -> tuple[float, float, float, float] | None:
    return None if box is None else (box[0], box[1], box[0] + box[2], box[1] + box[3])


def _score(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if not _numbers([value]) or not 0.0 <= value <= 1.0:
        raise RecordError(where, f"score must be a number in [0, 1], got {value!r}")
    return float(value)


def _ring(ring: Any, number: int, where: str) -> list[float]:
    if not _numbers(ring):
        raise RecordError(where, f"polygon {number} must be a flat list of finite numbers")
    if len(ring) % 2 or len(ring) < 6:
        raise RecordError(where, f"polygon {number} has {len(ring)} coordinates, needs 3 points")
    return list(map(float, ring))


def _rle(segmentation: dict[str, Any], size: tuple[int, int] | None, where: str) -> dict[str, Any]:
    try:
        mask = rle.compress(segmentation)
    except ValueError as exc:
        raise RecordError(where, f"bad RLE segmentation: {exc}") from exc
    if size is not None and tuple(mask["size"]) != size:
        raise RecordError(
            where, f"RLE size {mask['size']} differs from the image's [h, w] {list(size)}"
        )
    return mask


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


# -- export ----------------------------------------------------------------------------------
# Attributes the exporter writes in their own places rather than as extra annotation keys.
_EXPORT_OWN = frozenset({"category_id", "supercategory", "area", "iscrowd"})
_EXPORTED_KINDS = frozenset({"box", "polygon", "mask"})


def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    field: str = "ground_truth",
    images_dir: str | os.PathLike[str] | None = None,
    rle_format: str = "compressed",
    info: Mapping[str, Any] | None = None,
) -> ExportReport:
    """Write the view's frames and its ROIs of `field` to one COCO instances file at `dest`.

    Boxes, polygons and RLE masks become annotations (masks as compressed RLE strings, or as
    count lists with rle_format="uncompressed"); other kinds are counted in `skipped`. Image
    file names are relative to `images_dir` (default: an `images/` folder next to `dest`, else
    dest's folder) when the image is under it, else absolute, so importing the file back finds
    the same images.
    """
    if rle_format not in ("compressed", "uncompressed"):
        raise IngestError(f"rle_format must be 'compressed' or 'uncompressed', got {rle_format!r}")
    target = Path(dest)
    if target.is_dir():
        target = target / f"{field}.json"
    folder = (Path(images_dir) if images_dir is not None else _default_images_dir(target)).resolve()
    frames = view.frames(columns=["id", "metadata"]).to_pylist()
    image_ids = _export_image_ids([f["id"] for f in frames])
    rois = view.rois()
    rois = rois.filter(pc.equal(rois["field"], field))
    categories = _export_categories(rois)
    report = ExportReport(dest=target, files=[target])
    skipped: dict[str, int] = defaultdict(int)
    with written_atomically(target) as out:
        out.write('{"info": ' + json.dumps(dict(info or _default_info(view))))
        out.write(', "licenses": [], "images": [')
        sources = _export_sources(view)
        images = tqdm(frames, desc="coco images", unit="image", disable=not progress, leave=False)
        for number, frame in enumerate(images):
            image = _export_image(frame, image_ids[frame["id"]], sources.get(frame["id"]), folder)
            out.write((",\n" if number else "\n") + json.dumps(image))
            report.frames += 1
        out.write('\n], "annotations": [')
        report.rois = _write_annotations(
            out, rois, image_ids, categories, rle_format, skipped, progress
        )
        cats = [_category_json(name, cat) for name, cat in categories.items()]
        out.write('\n], "categories": ' + json.dumps(sorted(cats, key=lambda c: c["id"])) + "}\n")
    report.skipped = [f"{count} {reason}" for reason, count in sorted(skipped.items())]
    return report


def _write_annotations(
    out: IO[str],
    rois: pa.Table,
    image_ids: Mapping[str, int],
    categories: Mapping[str, Category],
    rle_format: str,
    skipped: dict[str, int],
    progress: bool,
) -> int:
    """Write the annotations of ROI rows, comma-separated; count what cannot be written."""
    numbers = _export_annotation_ids(rois)
    written = 0
    with tqdm(
        total=rois.num_rows, desc="coco annotations", disable=not progress, leave=False
    ) as bar:
        for batch in rois.to_batches():
            for row in batch.to_pylist():
                ids = numbers[(row["frame_id"], row["id"])], image_ids[row["frame_id"]]
                annotation = _export_annotation(row, ids, categories, rle_format)
                if isinstance(annotation, str):
                    skipped[annotation] += 1
                    continue
                out.write((",\n" if written else "\n") + json.dumps(annotation))
                written += 1
            bar.update(batch.num_rows)
    return written


def _default_info(view: ViewLike) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "description": f"exported from {view.catalog.path.name}",
        "version": "1.0",
        "year": now.year,
        "date_created": now.isoformat(),
    }


def _export_sources(view: ViewLike) -> dict[str, tuple[str | None, int | None, int | None]]:
    """Each frame's image: source 'image', else its first source by id."""
    compiled = view.compile()
    query = (
        "SELECT frame_id, uri, width, height FROM sources "
        f"WHERE frame_id IN (SELECT id FROM ({compiled.sql})) ORDER BY frame_id, id <> 'image', id"
    )
    found: dict[str, tuple[str | None, int | None, int | None]] = {}
    for frame_id, uri, width, height in (
        view.catalog.cursor().execute(query, list(compiled.params)).fetchall()
    ):
        found.setdefault(frame_id, (uri, width, height))
    return found


def _export_image_ids(frame_ids: Sequence[str]) -> dict[str, int]:
    """COCO needs integer image ids: the number after the frame id's last ':' when unique."""
    parsed = {}
    for frame_id in frame_ids:
        tail = frame_id.rsplit(":", 1)[-1]
        if tail.isdigit():
            parsed[frame_id] = int(tail)
    return _unique_numbers(frame_ids, parsed)


def _export_annotation_ids(rois: pa.Table) -> dict[tuple[str, str], int]:
    keys = list(zip(rois["frame_id"].to_pylist(), rois["id"].to_pylist(), strict=True))
    parsed = {key: int(key[1]) for key in keys if key[1].isdigit()}
    return _unique_numbers(keys, parsed)


def _unique_numbers(keys: Sequence[Any], parsed: Mapping[Any, int]) -> dict[Any, int]:
    used: set[int] = set()
    next_free = max(parsed.values(), default=0) + 1
    numbers = {}
    for key in keys:
        value = parsed.get(key)
        if value is None or value in used:
            value, next_free = next_free, next_free + 1
        used.add(value)
        numbers[key] = value
    return numbers


def _export_image(
    frame: Mapping[str, Any],
    image_id: int,
    source: tuple[str | None, int | None, int | None] | None,
    folder: Path,
) -> dict[str, Any]:
    uri, width, height = source or (None, None, None)
    image: dict[str, Any] = {"id": image_id, "file_name": _file_name(uri or frame["id"], folder)}
    image["width"], image["height"] = width, height
    metadata = json.loads(frame["metadata"]) if frame["metadata"] else {}
    image.update((k, v) for k, v in metadata.items() if k not in _IMAGE_KEYS)
    return image


def _file_name(uri: str, folder: Path) -> str:
    if "://" in uri:
        return uri
    try:
        return Path(uri).relative_to(folder).as_posix()
    except ValueError:
        return uri


def _export_categories(rois: pa.Table) -> dict[str, Category]:
    """label -> category, keeping the category ids stored on ROIs when they do not clash."""
    wanted: dict[str, tuple[Any, str | None]] = {}
    columns = (rois[c].to_pylist() for c in ("label", "kind", "attributes"))
    for label, kind, text in zip(*columns, strict=True):
        if label is None or label in wanted or kind not in _EXPORTED_KINDS:
            continue
        attributes = json.loads(text) if text else {}
        wanted[label] = (attributes.get("category_id"), attributes.get("supercategory"))
    taken: dict[int, str] = {}
    for label, (cat_id, _) in wanted.items():
        if isinstance(cat_id, int) and not isinstance(cat_id, bool) and cat_id not in taken:
            taken[cat_id] = label
    by_label = {label: cat_id for cat_id, label in taken.items()}
    next_free = max(taken, default=0) + 1
    categories = {}
    for label, (_, sup) in wanted.items():
        if label not in by_label:
            by_label[label], next_free = next_free, next_free + 1
        categories[label] = Category(by_label[label], label, sup)
    return categories


def _category_json(name: str, category: Category) -> dict[str, Any]:
    out: dict[str, Any] = {"id": category.id, "name": name}
    if category.supercategory is not None:
        out["supercategory"] = category.supercategory
    return out


def _export_annotation(
    row: Mapping[str, Any],
    ids: tuple[int, int],
    categories: Mapping[str, Category],
    rle_format: str,
) -> dict[str, Any] | str:
    """The COCO annotation of one ROI row, or why it has none."""
    if row["label"] is None:
        return "ROIs without a label"
    attributes = json.loads(row["attributes"]) if row["attributes"] else {}
    kind, rings = row["kind"], row["geometry"] or []
    if kind == "box":
        segmentation: Any = []
    elif kind == "polygon":
        segmentation = [list(ring) for ring in rings]
    elif kind == "mask":
        mask = json.loads(row["mask"]) if row["mask"] else {}
        if not isinstance(mask.get("rle"), dict):
            return "mask ROIs stored as images rather than RLE"
        segmentation = rle.compress(mask["rle"])
        if rle_format == "uncompressed":
            segmentation["counts"] = rle.from_string(segmentation["counts"])
    else:
        return f"{kind} ROIs (COCO instances hold boxes, polygons and masks)"
    if row["x_min"] is None:
        return f"{kind} ROIs without a bounding box"
    x, y = row["x_min"], row["y_min"]
    bbox = [_clean(x), _clean(y), _clean(row["x_max"] - x), _clean(row["y_max"] - y)]
    annotation: dict[str, Any] = {
        "id": ids[0],
        "image_id": ids[1],
        "category_id": categories[row["label"]].id,
    }
    if segmentation != [] or kind == "box":
        annotation["segmentation"] = segmentation
    area = attributes.get("area")
    annotation["area"] = area if area is not None else _area(kind, rings, bbox, segmentation)
    annotation["bbox"] = bbox
    annotation["iscrowd"] = attributes.get("iscrowd", 0)
    if row["confidence"] is not None:
        annotation["score"] = row["confidence"]
    annotation.update((k, v) for k, v in attributes.items() if k not in _EXPORT_OWN)
    return annotation


def _area(kind: str, rings: Sequence[Sequence[float]], bbox: list[float], seg: Any) -> float:
    if kind == "polygon":
        return polygon_area(rings)
    if kind == "mask":
        return float(rle.area(seg["counts"]))
    return bbox[2] * bbox[3]


def _clean(value: float) -> float:
    """Drop the float noise of x_max - x_min so re-importing gives the very same numbers."""
    return float(f"{value:.12g}")
