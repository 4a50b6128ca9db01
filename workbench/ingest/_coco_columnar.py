"""A COCO instances file imported column by column.

DuckDB parses the document's records, in pieces of about PIECE_BYTES cut from the file (in an
engine allowed that file only, held to ENGINE_MEMORY and spilling beyond), and the statements
of workbench.ingest._coco_sql check and convert every image and annotation at once; the
records SQL cannot vouch for go through the per-record path (workbench.ingest.coco and
_coco_annotations) and are stored or rejected with their usual errors (file, then image or
annotation id or number). Frames are written in the order of the file's images, whatever the
size of the file. The categories and images are staged first; then the annotations are
converted a batch of pieces at a time (ANNOTATION_BATCH_BYTES), so that their texts are never
held all at once. When the images take more than one write, the images are stored in their
order and each batch's annotations are kept by write (workbench.ingest._coco_staged), so
that each write reads its own rows only and costs the same whatever the size of the file.

The steps live beside this module: the records' texts (workbench.ingest._coco_texts), the
categories and images (_coco_images), the annotations kept by write (_coco_staged) and one
write (_coco_write); here, the order of the steps, the engine's budget, and the annotations
SQL does not take, which go through the per-record path's functions.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from workbench.errors import IngestError, RecordError
from workbench.ingest import _coco_sql as sql
from workbench.ingest._clearml_sql import MACROS
from workbench.ingest._coco_annotations import (
    Category,
    id_problem,
    is_coco_id,
    roi_from_annotation,
)
from workbench.ingest._coco_digests import ImageDigests, _ImagesChanged
from workbench.ingest._coco_images import key as _key
from workbench.ingest._coco_images import stage_categories as _categories
from workbench.ingest._coco_images import stage_images as _images
from workbench.ingest._coco_pieces import Member, members
from workbench.ingest._coco_staged import CHUNK, ByWrite, Converted, InEngine, Stored
from workbench.ingest._coco_texts import NOT_FOR_THE_ENGINE as _NOT_FOR_THE_ENGINE
from workbench.ingest._coco_texts import _ByRecord, annotation_batches
from workbench.ingest._coco_texts import read_texts as _read
from workbench.ingest._coco_videos import StagedVideos, kwcoco_members, stage_videos
from workbench.ingest._coco_write import Writes
from workbench.ingest._coco_write import write_images as _write
from workbench.ingest._columnar import MemoryEngine
from workbench.ingest.jsonread import Unreadable, loads
from workbench.ingest.report import is_record_failure, record_error
from workbench.ingest.writer import CatalogWriter, _roi_row
from workbench.model.validation import check_roi
from workbench.store.engine import IMPORT_MEMORY_LIMIT_ENV

if TYPE_CHECKING:
    from workbench.ingest.coco import _Instances

# DuckDB parses a document whole, with ten times its size or more: the records are parsed in
# runs of about this size (workbench.ingest._coco_pieces), whatever the size of the file,
# _coco_texts.AT_ONCE of them in one statement (one per thread).
PIECE_BYTES = 4 << 20
# The annotations' records are converted in batches of pieces of about this many bytes of
# text: the engine holds one batch's texts, not the file's.
ANNOTATION_BATCH_BYTES = 256 << 20
# A document that cannot be cut is read whole, within ENGINE_MEMORY, up to this size; past
# it, it is streamed a record at a time (memory stays flat either way).
MAX_WHOLE_BYTES = 64 << 20
# Files past this size are streamed a record at a time whatever their shape; None: no bound.
# (Only for comparing the two paths: 0 streams every file.)
MAX_DOCUMENT_BYTES: int | None = None
# The engine's own tables (every record's text, the annotations converted) spill beyond this.
ENGINE_MEMORY = "1GB"
# And, once the annotations are converted, this: each write reads back its own images' rows,
# which the engine would otherwise keep cached up to ENGINE_MEMORY.
WRITES_MEMORY = "256MB"
# A second plan's pieces and chunks, and its batches, are this many times smaller than the
# first's (see plans()).
SMALLER = 16
BATCHES_SMALLER = 4
# When the engine runs out of memory in both plans, a file whose images' array holds up to
# this many bytes goes record by record; a bigger one stops with an error. The per-record
# path holds every image in Python, about 500 bytes each (9.2 GB at 19M images), beside one
# partition of the annotations: 64 MB of images' text is about 600,000 images.
BY_RECORD_MAX_IMAGE_BYTES = 64 << 20
# Each write's rows stored in a thread of its own while the next write's rows are made
# (workbench.ingest._coco_write.Writes); False: one after the other, on the caller's thread.
# (Only for comparing the two: the catalog and the report end the same either way.)
OVERLAP_WRITES = True
# The kinds of warning of a file staged a second time, in smaller batches, and of a file read
# record by record, because the engine ran out of memory.
WARN_STAGED_AGAIN = "files staged again in smaller batches: the engine ran out of memory"
WARN_READ_BY_RECORD = "files read record by record: the engine ran out of memory"
# And of an update whose images' digests the catalog's engine ran out of memory looking up:
# the images not looked up are converted and compared with the stored frames.
WARN_NOT_LOOKED_UP = (
    "images converted and compared with the stored frames, not looked up by their digests: "
    "the catalog's engine ran out of memory"
)


@dataclass(frozen=True, slots=True)
class Plan:
    """How the staging spends the engine's budget: its threads (None: the cores), the bytes
    of a piece the engine parses at once, of the annotations' text converted at a time, and
    the rows fetched from it at a time."""

    threads: int | None
    piece_bytes: int
    batch_bytes: int
    chunk: int


def plans() -> tuple[Plan, Plan]:
    """The staging's first plan, then the one it is tried again with when the engine ran out
    of memory: one thread (a thread's buffers are its own), pieces and fetched chunks SMALLER
    times smaller (the engine parses a piece with several times its size) and batches
    BATCHES_SMALLER times smaller (a batch's conversion joins its rows with every staged
    image: its hash table is the batch's, but each batch reads the images again)."""
    first = Plan(None, PIECE_BYTES, ANNOTATION_BATCH_BYTES, CHUNK)
    piece, chunk = (max(1, n // SMALLER) for n in (first.piece_bytes, first.chunk))
    return first, Plan(1, piece, max(1, first.batch_bytes // BATCHES_SMALLER), chunk)


def import_instances(
    path: Path, writer: CatalogWriter, options: _Instances, frames_per_write: int
) -> bool:
    """Import an instances file (see _import), the images whose frames are stored as they
    make them left unconverted (workbench.ingest._coco_digests); when some of those changed
    before the write counting them, the file is imported again without them."""
    digests = ImageDigests(writer.catalog, path, options)
    before = writer.checkpoint()
    try:
        try:
            return _import(path, writer, options, frames_per_write, digests)
        except _ImagesChanged:
            writer.restore(before)
            digests.stop_looking()
            return _import(path, writer, options, frames_per_write, digests)
    finally:
        digests.close()


def _import(
    path: Path,
    writer: CatalogWriter,
    options: _Instances,
    frames_per_write: int,
    digests: ImageDigests,
) -> bool:
    """Import an instances file through SQL, `frames_per_write` images per transaction; False
    (nothing done) when DuckDB cannot read it as one document, so that the caller streams it
    record by record instead. When the engine runs out of memory staging it, the staging is
    tried again in smaller batches on one thread; should that run out too, a file whose
    images the per-record path can hold goes record by record (a warning in the report
    says why), a bigger one is an IngestError naming the file, the engine's message and the
    setting to raise. Any other failure of the engine stops the import (IngestError)."""
    size = path.stat().st_size
    if MAX_DOCUMENT_BYTES is not None and size > MAX_DOCUMENT_BYTES:
        return False
    found = members(path, PIECE_BYTES)
    if found is None and size > MAX_WHOLE_BYTES:
        return False
    memory = options.engine_memory or ENGINE_MEMORY
    before = writer.report.copy()
    failed: duckdb.OutOfMemoryException | None = None
    for plan in plans():
        if found is not None and plan.piece_bytes != PIECE_BYTES:
            found = members(path, plan.piece_bytes)  # not None: the same bytes
        # Allowed to read `path` only, held to `memory`, spilling to a folder of its own; a
        # new engine for a second plan, the first one's tables gone with its own.
        engine = MemoryEngine(
            MACROS,
            files=[str(path.resolve())],
            memory_limit=memory,
            spill="workbench-coco-",
            threads=plan.threads,
        )
        with engine as con, tempfile.TemporaryDirectory(prefix="workbench-coco-writes-") as folder:
            try:
                staged = _stage(
                    con, path, found, size, writer, options, frames_per_write, folder, plan,
                    digests,
                )  # fmt: skip
            except duckdb.OutOfMemoryException as exc:
                # The records the staging refused are refused again by the next try or the
                # per-record path: its errors are undone.
                writer.report, failed = before.copy(), exc
                continue
            except duckdb.Error as exc:
                if isinstance(exc, duckdb.InterruptException):
                    raise
                # An I/O error (the spill folder's disk full, the file unreadable): the
                # per-record path would meet the same disk or file, after many times the time.
                raise IngestError(
                    f"{path}: the import's engine failed: {_first_line(exc)}"
                ) from exc
            if staged is None:
                # The categories' and images' errors are given again by the per-record path.
                writer.report = before
                return False
            if failed is not None:
                writer.report.warn(WARN_STAGED_AGAIN, f"{path}: {_first_line(failed)}")
            if digests is not None and digests.not_looked_up is not None:
                first, images, message = digests.not_looked_up
                writer.report.warn(
                    WARN_NOT_LOOKED_UP,
                    f"{path}: images #{first + 1} to #{images} of {images:,} ({message}; the "
                    f"setting to raise: {IMPORT_MEMORY_LIMIT_ENV})",
                )
            total, stored = staged
            engine.hold_to(WRITES_MEMORY)
            _write_all(con, path, writer, options, stored, total, frames_per_write)
        return True
    assert failed is not None
    return _out_of_memory(path, found, size, writer, memory, failed)


def _out_of_memory(
    path: Path,
    found: dict[str, Member] | None,
    size: int,
    writer: CatalogWriter,
    memory: str,
    failed: duckdb.OutOfMemoryException,
) -> bool:
    """False (read it record by record, told in the report) when the per-record path can
    hold the file's images; else the IngestError saying what to do."""
    images = found["images"].end - found["images"].start if found is not None else size
    if images <= BY_RECORD_MAX_IMAGE_BYTES:
        # The per-record path holds the images and one partition of the annotations at a
        # time: slower, but it goes in, and the report says why.
        told = f"{path}: {_first_line(failed)}"
        if writer.catalog.has_frames():  # an update, or a file after others
            told += "; its frames written whole, each replacing the stored one with its id"
        writer.report.warn(WARN_READ_BY_RECORD, told)
        return False
    raise IngestError(
        f"{path}: the import's engine ran out of its {memory} of memory, also in smaller "
        f"batches on one thread ({_first_line(failed)}), and the file's images "
        f"({images / 1e6:,.0f} MB of text) are too many to be read record by record in "
        "bounded memory; nothing of it was stored. Import it with a larger engine_memory "
        "(coco.import_files(..., engine_memory='4GB'), or `workbench ingest coco ... -o "
        "engine_memory=4GB`), on a machine with that much memory free"
    ) from failed


def _write_all(
    con: Any,
    path: Path,
    writer: CatalogWriter,
    options: _Instances,
    stored: Stored,
    total: int,
    per_write: int,
) -> None:
    """Write the staged images, `per_write` at a time, each write stored while the next is
    made (OVERLAP_WRITES)."""
    writes = Writes(writer, OVERLAP_WRITES)
    try:
        for first in range(0, total, per_write):
            failed = partial(_write_failed, path, first, per_write, total)
            try:
                last = first + per_write - 1
                _write(con, path, writer, options, stored, first, last, writes, failed)
            except duckdb.OutOfMemoryException as exc:
                raise failed(exc, False) from exc
        writes.settle()
    except BaseException:
        writes.abandon()  # the write under way ends first, its own error raised over this
        raise
    if stored.digests is not None:  # the unchanged images past the writes made
        for beside in stored.digests.rest(con, -(-total // per_write), per_write):
            writer.write_rows(beside.batch())


def _write_failed(
    path: Path, first: int, per_write: int, total: int, exc: BaseException, storing: bool
) -> BaseException:
    """What the import stops with when the write of images #first.. raised `exc` (`storing`:
    in the catalog's engine, storing its rows; else in the import's, making them)."""
    if not isinstance(exc, duckdb.OutOfMemoryException):
        return exc
    last = min(first + per_write, total) - 1
    images = f"images #{first + 1} to #{last + 1} of {total:,} ({_first_line(exc)})"
    if storing:
        return IngestError(
            f"{path}: the catalog's engine ran out of the import's memory storing {images}; "
            f"the images before them are stored. Raise {IMPORT_MEMORY_LIMIT_ENV} (e.g. 1GB)"
        )
    return IngestError(
        f"{path}: the import's engine ran out of memory writing {images}; the images before "
        "them are stored"
    )


def _stage(
    con: Any,
    path: Path,
    found: dict[str, Member] | None,
    size: int,
    writer: CatalogWriter,
    options: _Instances,
    frames_per_write: int,
    folder: str,
    plan: Plan | None = None,
    digests: ImageDigests | None = None,
) -> tuple[int, Stored] | None:
    """Stage the categories, images and annotations (nothing written yet; past one write,
    the annotations in files of `folder`, one a write): the count of images to store and the
    ROIs made in Python; None when the document is not for the engine's parser (not JSON,
    not UTF-8, or holding what only that parser takes). `plan`: the first of plans()."""
    plan = plan or plans()[0]
    try:
        if not _read(con, path, found, size):
            return None
    except _NOT_FOR_THE_ENGINE:
        return None  # the per-record path names each record it refuses
    categories = _categories(con, path, writer)
    batches = partial(annotation_batches, con, path, found, plan.batch_bytes)
    try:
        kwcoco = kwcoco_members(con, path, found)  # kwcoco's videos and tracks, if any
        if digests is not None and kwcoco:
            digests.kwcoco(kwcoco)  # a video frame is made from its video's other images too
        if digests is not None:  # the unchanged images found, their texts dropped
            digests.before_images(con, batches)
        left_out = digests is not None and digests.unchanged > 0
        total = _images(con, path, writer, options, frames_per_write, left_out)
        left = None if digests is None else digests.left_out_videos
        videos = stage_videos(con, path, kwcoco, writer, options.prefix, left) if kwcoco else None
        many = total > frames_per_write
        tracks = videos is not None
        by_write = ByWrite(Path(folder), frames_per_write, plan.chunk, tracks)
        staged = by_write if many else InEngine(tracks)
        stored = Stored(staged=staged, digests=digests, videos=videos)
        converted = _converted(digests, videos)
        for _ in batches() if digests is None else digests.batches(con, batches):
            stored.staged.add(con, converted)
    except _ByRecord:
        return None
    con.execute("DROP TABLE _wb_items")
    _annotations(con, path, writer, options, categories, stored, total, frames_per_write)
    return total, stored


def _converted(digests: ImageDigests | None, videos: StagedVideos | None) -> Converted | None:
    """What each batch's converted rows are handed to: the digests' sums, the videos' tracks."""
    takers = [t.converted for t in (digests, videos) if t is not None]
    if len(takers) < 2:
        return takers[0] if takers else None

    def both(con: Any, table: str, since: int) -> None:
        for taker in takers:
            taker(con, table, since)

    return both


def _first_line(exc: BaseException) -> str:
    """The engine's message without its advice ("Possible solutions: ...")."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _annotations(
    con: Any,
    path: Path,
    writer: CatalogWriter,
    options: _Instances,
    categories: dict[Any, Category],
    stored: Stored,
    total: int,
    per_write: int,
) -> None:
    """The annotations SQL does not take (staged by `stored.staged`) converted here or
    rejected, and those whose id came before on their image (of the `total` images, written
    `per_write` at a time) refused."""
    rest = stored.staged.rest(con)
    values = [(i, loads(text.encode())) for i, text in rest]
    stored.keys = _images_named(con, values)
    if stored.videos is not None:  # every track id noted before any is numbered
        for i, value in values:
            stored.videos.note(i, value, stored.keys)
        stored.videos.finish(con)
    errors: list[tuple[int, RecordError]] = []
    ids: list[tuple[int, int, str]] = []
    warned: list[tuple[int, int, list[str]]] = []  # (o, i, warnings): kept unless refused
    for i, value in values:
        found = _annotation(path, i, value, options, categories, stored)
        if isinstance(found, RecordError):
            errors.append((i, found))
        else:
            ids.append((found[0], i, stored.rois[-1][1]))
            warned.append((found[0], i, found[1]))
    table = pa.table(
        {
            "o": pa.array([o for o, _, _ in ids], pa.int64()),
            "i": pa.array([i for _, i, _ in ids], pa.int64()),
            "id": pa.array([r for _, _, r in ids], pa.string()),
        }
    )
    con.register("_wb_t", table)
    # The annotations whose id came before on their image, a write's images at a time: each
    # range reads its own rows, and its aggregate fits in memory (one over a multi-GB file's
    # every annotation spilled).
    again = []
    for first in range(0, total, per_write):
        last = first + per_write - 1
        stored.staged.load(con, first, last, ["o", "i", "id", "ok"])
        again += con.execute(sql.AGAIN, {"first": first, "last": last}).fetchall()
        stored.staged.unload(con)
    con.unregister("_wb_t")
    repeated = {i for i, _ in again}
    stored.staged.refuse(con, repeated)
    stored.rois = sorted(
        (row for row in stored.rois if row[-1] not in repeated), key=lambda row: (row[-2], row[-1])
    )
    for o, i, warnings in warned:  # a repeated id is refused, not warned about
        if warnings and i not in repeated:
            stored.warnings.setdefault(o, []).extend(warnings)
    stored.ordinals = [row[-2] for row in stored.rois]
    for i, roi_id in again:
        where = f"{path}, annotation {roi_id}"
        errors.append((i, RecordError(where, "the id appears twice for this image")))
    for _, error in sorted(errors, key=lambda item: item[0]):
        writer.reject(error)


def _images_named(
    con: Any, values: list[tuple[int, Any]]
) -> dict[str, tuple[int, str, Any, int | None, int | None]]:
    """The stored images the annotations `values` name, by key: only those, so that what
    Python holds grows with the annotations SQL did not take, not with the file."""
    wanted = {
        _key(value.get("image_id"))
        for _, value in values
        if isinstance(value, dict) and is_coco_id(value.get("image_id", 0))
    }
    if not wanted:
        return {}
    con.register("_wb_t", pa.table({"key": pa.array(sorted(wanted), pa.string())}))
    rows = con.execute(
        "SELECT key, o, frame_id, id, width, height FROM _wb_images SEMI JOIN _wb_t USING (key)"
    ).fetchall()
    con.unregister("_wb_t")
    return {key: (o, frame_id, raw, width, height) for key, o, frame_id, raw, width, height in rows}


def _annotation(
    path: Path,
    i: int,
    value: Any,
    options: _Instances,
    categories: dict[Any, Category],
    stored: Stored,
) -> tuple[int, list[str]] | RecordError:
    """One annotation through the per-record path: its image's ordinal and its warnings, or
    its error."""
    if isinstance(value, Unreadable):
        return RecordError(f"{path}, annotation #{i + 1}", value.problem)
    if not isinstance(value, dict):
        return RecordError(f"{path}, annotation #{i + 1}", "not a JSON object")
    value.setdefault("id", i + 1)
    if not is_coco_id(value["id"]) or not is_coco_id(value.get("image_id", 0)):
        where = f"{path}, annotation #{i + 1}"
        problem = id_problem(value["id"], value.get("image_id"))
        return RecordError(where, "id and image_id must be integers or strings" + problem)
    where = f"{path}, annotation {value['id']}"
    image = stored.keys.get(_key(value.get("image_id")))
    if value.get("image_id") is None or image is None:
        return RecordError(where, f"unknown image_id {value.get('image_id')!r}")
    o, frame_id, _, width, height = image
    size = (height, width) if width is not None and height is not None else None
    try:
        roi = roi_from_annotation(value, categories, options.field, size, where)
        if stored.videos is not None:
            roi = stored.videos.tracked(o, roi)
        warnings = check_roi(roi, where, {"image": (width or 0, height or 0)})
        row = _roi_row(frame_id, roi)
    except Exception as exc:
        if not is_record_failure(exc):
            raise
        return record_error(exc, where)
    stored.rois.append((*row, o, i))
    return o, warnings
