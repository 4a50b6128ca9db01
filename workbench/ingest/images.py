"""Folders of images: one frame per image file; export copies (or draws on) the view's images.

Import reads only each file's header (`Image.open` decodes no pixels): size, format and EXIF.
Sizes are as displayed, after the EXIF orientation (orientations 5-8 swap width and height),
because ROIs are drawn on the displayed picture. EXIF DateTimeOriginal becomes the frame's
timestamp in milliseconds since the Unix epoch (UTC unless the file records its offset).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PIL import ExifTags, Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from workbench.errors import IngestError, MediaError, RecordError
from workbench.ingest._budget import held_to_budget
from workbench.ingest.export import ExportReport
from workbench.ingest.imports import recorded
from workbench.ingest.views import (
    DrawnRoi,
    ExportFrame,
    ExportSource,
    ViewLike,
    frame_rois,
    view_frames,
)
from workbench.ingest.writer import CatalogWriter, IngestReport
from workbench.media.images import bomb_error, check_pixel_count
from workbench.model.records import Frame, Source

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# The source id of every single-image frame, whatever format it came from.
SOURCE_ID = "image"
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
     ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".qoi", ".avif"}
)  # fmt: skip
_SWAPPED_ORIENTATIONS = frozenset({5, 6, 7, 8})

FrameIdRule = Literal["relative", "absolute", "content"] | Callable[[Path], str]


@dataclass(frozen=True, slots=True)
class ImageInfo:
    width: int
    height: int
    content_type: str | None
    orientation: int
    timestamp: int | None


def image_info(path: str | os.PathLike[str]) -> ImageInfo:
    """Displayed size, MIME type, EXIF orientation and capture time, from the header only."""
    try:
        with warnings.catch_warnings():
            # Sizes between Pillow's warning and error limits are checked below, by our limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            check_pixel_count(img.size, str(path))
            exif = img.getexif()
            orientation = int(exif.get(ExifTags.Base.Orientation, 1) or 1)
            width, height = img.size
            if orientation in _SWAPPED_ORIENTATIONS:
                width, height = height, width
            return ImageInfo(
                width=width,
                height=height,
                content_type=Image.MIME.get(img.format or ""),
                orientation=orientation,
                timestamp=_exif_timestamp(exif),
            )
    except Image.DecompressionBombError as exc:
        raise bomb_error(exc, str(path)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        # PIL raises SyntaxError for some malformed headers (PNG chunks, EPS).
        raise MediaError(f"{path}: cannot read the image: {exc}") from exc


def _exif_timestamp(exif: Image.Exif) -> int | None:
    """EXIF DateTimeOriginal (+ sub-seconds and offset when recorded) as ms since the epoch."""
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    raw = ifd.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTimeOriginal)
    if not isinstance(raw, str):
        return None
    try:
        taken = datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None  # cameras write "0000:00:00 00:00:00" or blanks when the clock is unset
    taken = taken.replace(tzinfo=_exif_offset(ifd.get(ExifTags.Base.OffsetTimeOriginal)))
    subsec = str(ifd.get(ExifTags.Base.SubsecTimeOriginal) or "").strip("\x00 ")
    millis = int((subsec + "000")[:3]) if subsec.isdigit() else 0
    return int(taken.timestamp()) * 1000 + millis


def _exif_offset(raw: Any) -> timezone:
    text = str(raw or "").strip("\x00 ")
    if len(text) == 6 and text[0] in "+-" and text[3] == ":":
        try:
            hours, minutes = int(text[1:3]), int(text[4:6])
        except ValueError:
            return UTC
        sign = -1 if text[0] == "-" else 1
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    return UTC


# -- import -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    path: Path
    root: Path  # the folder given by the user (or the file's own folder)


def _as_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _find(paths: list[Path], recursive: bool) -> tuple[list[_Found], list[RecordError]]:
    found: list[_Found] = []
    missing: list[RecordError] = []
    for given in paths:
        if given.is_dir():
            root = given.resolve()
            walk = root.rglob("*") if recursive else root.iterdir()
            files = [p for p in walk if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
            found.extend(_Found(p, root) for p in sorted(files))
        elif given.is_file():
            # A file named on purpose is tried whatever its extension.
            found.append(_Found(given.resolve(), given.resolve().parent))
        else:
            missing.append(RecordError(str(given), "no such file or folder"))
    return found, missing


def _frame_id(found: _Found, rule: FrameIdRule) -> str:
    if callable(rule):
        return str(rule(found.path))
    if rule == "absolute":
        return found.path.as_posix()
    if rule == "content":
        with found.path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    # "relative": keep the root folder's own name so cam_a/0001.jpg and cam_b/0001.jpg differ.
    return found.path.relative_to(found.root.parent).as_posix()


def _folder_positions(found: list[_Found]) -> dict[Path, tuple[int, int]]:
    """Each image's (index, count) within its folder, in file name order."""
    by_folder: dict[Path, list[Path]] = {}
    for item in found:
        by_folder.setdefault(item.path.parent, []).append(item.path)
    positions: dict[Path, tuple[int, int]] = {}
    for files in by_folder.values():
        for index, path in enumerate(sorted(files)):
            positions[path] = (index, len(files))
    return positions


@recorded("images")
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    progress: bool = True,
    recursive: bool = True,
    context_by: Literal["file", "folder"] = "file",
    dataset: str | None = None,
    version: str | None = None,
    frame_id: FrameIdRule = "relative",
) -> IngestReport:
    """Import image files and folders of images, one frame per image.

    `context_by="file"` makes every image its own context; `"folder"` groups the images of a
    folder into one context, ordered by file name. `frame_id` picks the frame ids: the path
    relative to the parent of the folder given ("relative"), the absolute path, the SHA-256
    of the content, or a function of the path. Unreadable files are rejected one by one.
    """
    if context_by not in ("file", "folder"):
        raise IngestError(f"context_by must be 'file' or 'folder', got {context_by!r}")
    if not callable(frame_id) and frame_id not in ("relative", "absolute", "content"):
        raise IngestError(
            f"frame_id must be 'relative', 'absolute', 'content' or a function, got {frame_id!r}"
        )
    found, missing = _find(_as_paths(paths), recursive)
    with CatalogWriter(catalog, progress=progress, total=len(found), desc="images") as writer:
        for err in missing:
            writer.reject(err)
        positions = _folder_positions(found) if context_by == "folder" else {}
        used: dict[str, Path] = {}
        for item in found:
            with writer.record(str(item.path)):
                frame = _image_frame(item, frame_id, positions, dataset, version)
                if frame.id in used:
                    problem = f"frame id {frame.id!r} is already used by {used[frame.id]}"
                    raise RecordError(str(item.path), problem)
                used[frame.id] = item.path
                writer.add(frame, where=str(item.path))
    return writer.report


def _image_frame(
    item: _Found,
    rule: FrameIdRule,
    positions: dict[Path, tuple[int, int]],
    dataset: str | None,
    version: str | None,
) -> Frame:
    where = str(item.path)
    try:
        info = image_info(item.path)
        fid = _frame_id(item, rule)
    except (MediaError, OSError) as exc:
        raise RecordError(where, str(exc).removeprefix(f"{where}: ")) from exc
    uri = item.path.as_posix()
    index, count = positions.get(item.path, (0, 1))
    return Frame(
        id=fid,
        sources=[
            Source(SOURCE_ID, uri, info.width, info.height, info.content_type, info.timestamp)
        ],
        context_id=item.path.parent.as_posix() if positions else None,
        timestamp=info.timestamp,
        frame_index=index,
        num_frames=count,
        dataset=dataset,
        version=version,
    )


# -- drawing and naming exported images (shared with the video exporter) -----------------

_PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
)  # fmt: skip


def _color(label: str | None) -> tuple[int, int, int]:
    # A stable colour per label across frames and runs (hash() is salted per process).
    digest = hashlib.md5((label or "").encode(), usedforsecurity=False).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]


def draw_rois(image: Image.Image, rois: Iterable[DrawnRoi]) -> Image.Image:
    """A copy of `image` with each ROI outlined in its label's colour and labelled."""
    picture = image.convert("RGB")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    width = max(1, round(max(picture.size) / 300))
    classes: list[str] = []
    for roi in rois:
        color = _color(roi.label)
        for ring in roi.geometry:
            points = list(zip(ring[0::2], ring[1::2], strict=True))
            if roi.kind in ("box", "polygon") and len(points) > 2:
                draw.polygon(points, outline=color, width=width)
            elif roi.kind in ("point", "keypoints") or len(points) == 1:
                for x, y in points:
                    draw.ellipse(
                        (x - 2 * width, y - 2 * width, x + 2 * width, y + 2 * width), fill=color
                    )
            else:
                draw.line(points, fill=color, width=width)
        if roi.kind == "mask" and roi.bbox is not None:
            draw.rectangle(roi.bbox, outline=color, width=width)
        if roi.kind == "classification":
            classes.append(roi.label or "")
        elif roi.label and roi.bbox is not None:
            # Above the ROI when it fits, so the label hides nothing inside it.
            text_height = draw.textbbox((0, 0), roi.label, font=font)[3] + width
            top = roi.bbox[1] - text_height if roi.bbox[1] >= text_height else roi.bbox[1] + width
            draw.text((roi.bbox[0], top), roi.label, fill=color, font=font)
    if classes:
        draw.text((4, 4), ", ".join(classes), fill=(255, 255, 255), font=font)
    return picture


_UNSAFE = re.compile(r"[^\w.\-]+")


def output_name(
    frame_id: str, source_id: str | None, uri: str, image_format: str | None, used: set[str]
) -> str:
    """A relative file path for one exported image, unique within `used` (which it updates).

    Slashes in frame ids become folders; '..' and other unsafe parts cannot leave `dest`.
    """
    parts = [_UNSAFE.sub("_", p) for p in re.split(r"[\\/]+", frame_id)]
    parts = [p for p in parts if p not in ("", ".", "..")] or ["frame"]
    ext = _extension(uri, image_format)
    stem = parts[-1]
    for suffix in {ext.lower(), Path(uri).suffix.lower()} - {""}:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)] or "frame"
            break
    if source_id is not None:
        stem += "__" + _UNSAFE.sub("_", source_id)
    folder = "/".join(parts[:-1])
    name, n = f"{stem}{ext}", 1
    while (key := f"{folder}/{name}".lower()) in used:
        n += 1
        name = f"{stem}-{n}{ext}"
    used.add(key)
    return f"{folder}/{name}" if folder else name


def _extension(uri: str, image_format: str | None) -> str:
    if image_format:
        fmt = image_format.upper()
        return ".jpg" if fmt in ("JPEG", "JPG") else "." + fmt.lower()
    suffix = Path(uri.split("?", 1)[0]).suffix
    return suffix if suffix else ".img"


# -- export -------------------------------------------------------------------------------


@held_to_budget
def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    draw_rois: bool = False,
    fields: Sequence[str] | None = None,
    source: str | None = None,
    image_format: str | None = None,
    quality: int = 90,
) -> ExportReport:
    """Copy the images of the view's frames into the folder `dest`.

    Files are copied byte for byte unless `draw_rois` (draw the ROIs of `fields`, default
    every field) or `image_format` (e.g. "JPEG", "PNG") asks for a re-encode. `source` picks
    one source per frame; by default every source is written. Remote or missing images are
    listed in the report's `skipped`.
    """
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    out = _ImageExport(ExportReport(dest=root), image_format, quality)
    ids = list(view.frame_ids())
    with tqdm(total=len(ids), desc="export images", unit="frame", disable=not progress) as bar:
        for chunk in view_frames(view.catalog, ids):
            rois = frame_rois(view, [f.id for f in chunk], fields) if draw_rois else None
            for frame in chunk:
                out.frame(frame, source, rois)
                bar.update(1)
    return out.report


@dataclass
class _ImageExport:
    report: ExportReport
    image_format: str | None
    quality: int
    names: set[str] = field(default_factory=set)

    def frame(
        self, frame: ExportFrame, source: str | None, rois: dict[str, list[DrawnRoi]] | None
    ) -> None:
        sources = [s for s in frame.sources if source is None or s.id == source]
        if not sources:
            self.report.skipped.append(f"frame {frame.id!r}: no source {source or ''}".rstrip())
        drawn = rois.get(frame.id, []) if rois is not None else None
        written = [self.source(frame.id, src, len(sources) > 1, drawn) for src in sources]
        self.report.frames += any(written)

    def source(
        self, frame_id: str, src: ExportSource, several: bool, rois: list[DrawnRoi] | None
    ) -> bool:
        """Write one image of one frame; a failure goes to the report's `skipped`."""
        fmt = self.image_format
        target = self.report.dest / output_name(
            frame_id, src.id if several else None, src.uri, fmt, self.names
        )
        drawn = None if rois is None else [r for r in rois if r.on_source(src.id)]
        try:
            _write_image(src.uri, target, drawn, fmt, self.quality)
        except MediaError as exc:
            self.report.skipped.append(f"frame {frame_id!r}, source {src.id!r}: {exc}")
            return False
        self.report.files.append(target)
        self.report.rois += len(drawn or ())
        return True


def _local_path(uri: str) -> Path:
    if "://" in uri and not uri.startswith("file://"):
        raise MediaError(f"{uri} is not a local file")
    path = Path(uri.removeprefix("file://"))
    if not path.is_file():
        raise MediaError(f"{uri} does not exist")
    return path


def _write_image(
    uri: str,
    target: Path,
    rois: list[DrawnRoi] | None,
    image_format: str | None,
    quality: int,
) -> None:
    path = _local_path(uri)
    if rois is None and image_format is None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        except OSError as exc:
            raise MediaError(f"{uri}: cannot copy to {target}: {exc.strerror or exc}") from exc
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as img:
            # ROIs are in displayed pixels: apply the EXIF orientation before drawing.
            picture = ImageOps.exif_transpose(img)
            fmt = image_format or img.format or "PNG"
            if rois:
                picture = draw_rois(picture, rois)
            if fmt.upper() in ("JPEG", "JPG"):
                picture.convert("RGB").save(target, "JPEG", quality=quality)
            else:
                picture.save(target, fmt)
    except (UnidentifiedImageError, OSError, ValueError, KeyError) as exc:
        raise MediaError(f"{uri}: cannot re-encode the image: {exc}") from exc
