"""Video files: every kept frame becomes a JPEG on disk and a frame in the catalog.

Import decodes with PyAV (workbench.media.video) and writes each kept frame as a JPEG, so a
browser can show it, under `<frames_dir>/<video stem>/`; `frames_dir` defaults to the folder
`<catalog file stem>.media/video` next to the catalog file. A frame's context is the video's
absolute path, its timestamp is pts * time_base in milliseconds, its frame_index the frame's
position in the video (so frame_step=5 keeps indexes 0, 5, 10, ...).

Export encodes each context of a view to an mp4, frames in timestamp order.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps
from tqdm.auto import tqdm

from workbench.errors import IngestError, MediaError, RecordError
from workbench.ingest._budget import held_to_budget
from workbench.ingest.export import ExportReport
from workbench.ingest.images import SOURCE_ID, draw_rois
from workbench.ingest.imports import given_files, option_folders, recorded
from workbench.ingest.views import (
    DrawnRoi,
    ExportFrame,
    ExportSource,
    ViewLike,
    frame_rois,
    view_frames,
)
from workbench.ingest.writer import CatalogWriter, IngestReport, is_record_failure, record_error
from workbench.media.video import VideoEncoder, VideoInfo, decode_frames, probe
from workbench.model.records import Frame, Source

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"}
)
JPEG_QUALITY = 90
# Written in each frame folder, so two videos with the same file name never share one.
_OWNER_FILE = ".video"


def default_frames_root(catalog: Catalog) -> Path:
    """`<catalog stem>.media/video` next to the catalog file."""
    return catalog.path.parent / f"{catalog.path.stem}.media" / "video"


def frames_folder(root: Path, name: str, owner: str) -> Path:
    """`root/name`, or `root/name-<hash>` when another video already owns `root/name`.

    Always absolute: the JPEGs' paths become source URIs, which must not depend on the
    working directory."""
    root = root.resolve()
    folder = root / name
    marker = folder / _OWNER_FILE
    if marker.is_file() and marker.read_text(encoding="utf-8") != owner:
        folder = root / f"{name}-{hashlib.sha1(owner.encode()).hexdigest()[:8]}"
        marker = folder / _OWNER_FILE
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(owner, encoding="utf-8")
    return folder


def video_frames(
    path: Path,
    out_dir: Path,
    *,
    context_id: str,
    id_prefix: str,
    frame_step: int = 1,
    max_frames: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    index_offset: int = 0,
) -> Iterator[Frame]:
    """Decode `path`, write the kept frames as JPEGs in `out_dir` and yield them as frames.

    Raises RecordError naming the file (and the frame, when it fails midway) after yielding
    every frame decoded before the failure, and when the video ends early.
    """
    where = str(path)
    try:
        info = probe(path)
        decoded = decode_frames(path, frame_step=frame_step, max_frames=max_frames)
        kept = 0
        for shot in decoded:
            jpeg = out_dir / f"{shot.index:06d}.jpg"
            shot.image.save(jpeg, "JPEG", quality=JPEG_QUALITY)
            yield _frame(info, shot.index + index_offset, shot.timestamp, jpeg, context_id,
                         id_prefix, metadata, dataset)  # fmt: skip
            kept += 1
    except MediaError as exc:
        raise RecordError(where, str(exc).removeprefix(f"{where}: ")) from exc
    except OSError as exc:
        raise RecordError(where, f"cannot write frame JPEGs to {out_dir}: {exc}") from exc
    expected = expected_frames(info, frame_step, max_frames)
    if expected is not None and kept < expected:
        raise RecordError(
            where, f"the video ended after {kept} of {expected} frames; it may be truncated"
        )


def expected_frames(info: VideoInfo, frame_step: int, max_frames: int | None) -> int | None:
    """How many frames decoding should keep, if the container says how many it holds."""
    if not info.frames:
        return None
    count = math.ceil(info.frames / frame_step)
    return count if max_frames is None else min(count, max_frames)


def _frame(
    info: VideoInfo,
    index: int,
    timestamp: int,
    jpeg: Path,
    context_id: str,
    id_prefix: str,
    metadata: Mapping[str, Any] | None,
    dataset: str | None,
) -> Frame:
    meta = {"video": str(info.path), "fps": info.fps, "codec": info.codec, **(metadata or {})}
    return Frame(
        id=f"{id_prefix}#{index:06d}",
        sources=[
            Source(SOURCE_ID, jpeg.as_posix(), info.width, info.height, "image/jpeg", timestamp)
        ],
        context_id=context_id,
        timestamp=timestamp,
        frame_index=index,
        metadata=meta,
        dataset=dataset,
    )


def count_context_frames(catalog: Catalog, context_ids: Iterable[str]) -> None:
    """Set num_frames of every frame of these contexts to the number of frames they now hold
    (only the rows that hold another number are written)."""
    ids = sorted(set(context_ids))
    if not ids:
        return
    with catalog.transaction() as con, catalog.editing(con, _frames_of(con, ids, catalog)):
        con.execute(
            "UPDATE frames SET num_frames = c.n FROM (SELECT context_id, count(*)::INTEGER AS n "
            "FROM frames WHERE context_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1) c "
            "WHERE frames.context_id = c.context_id AND frames.num_frames IS DISTINCT FROM c.n",
            [ids],
        )


def _frames_of(con: Any, context_ids: list[str], catalog: Catalog) -> list[str]:
    """The frames of these contexts, for a lake-backed catalog to check out (none otherwise)."""
    if catalog.lake is None:
        return []
    rows = con.execute(
        "SELECT id FROM frames WHERE context_id IN (SELECT unnest(?::VARCHAR[]))", [context_ids]
    ).fetchall()
    return [r[0] for r in rows]


def _expected_or_zero(video: Path, frame_step: int, max_frames: int | None) -> int:
    try:
        return expected_frames(probe(video), frame_step, max_frames) or 0
    except MediaError:
        return 0  # reported when the video itself is imported


@recorded("video", roots=option_folders("frames_dir", default=default_frames_root))
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    progress: bool = True,
    frame_step: int = 1,
    max_frames: int | None = None,
    frames_dir: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
) -> IngestReport:
    """Import video files (folders are searched for videos): one frame per kept video frame.

    Keeps every `frame_step`-th frame, at most `max_frames` per video. A video that cannot be
    read, or fails midway, is reported as a RecordError naming it; the frames decoded before
    the failure are kept.
    """
    if frame_step < 1:
        raise IngestError(f"frame_step must be at least 1, got {frame_step}")
    if max_frames is not None and max_frames < 1:
        raise IngestError(f"max_frames must be at least 1, got {max_frames}")
    videos = [p.resolve() for p in given_files(paths, VIDEO_EXTENSIONS)]
    root = Path(frames_dir) if frames_dir is not None else default_frames_root(catalog)
    total = sum(_expected_or_zero(video, frame_step, max_frames) for video in videos)
    contexts: list[str] = []
    with CatalogWriter(catalog, progress=progress, total=total or None, desc="video") as writer:
        for video in videos:
            context = video.as_posix()
            contexts.append(context)
            try:
                out_dir = frames_folder(root, video.stem, context)
                for frame in video_frames(
                    video,
                    out_dir,
                    context_id=context,
                    id_prefix=context,
                    frame_step=frame_step,
                    max_frames=max_frames,
                    dataset=dataset,
                ):
                    writer.add(frame)
            except OSError as exc:
                writer.reject(RecordError(context, f"cannot create {root / video.stem}: {exc}"))
            except Exception as exc:
                # Whatever fails in one video is its error; frames decoded before are kept.
                if not is_record_failure(exc):
                    raise
                writer.reject(record_error(exc, context))
    count_context_frames(catalog, contexts)
    return writer.report


# -- export -------------------------------------------------------------------------------


@held_to_budget
def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    context: str | None = None,
    fps: float | None = None,
    draw_rois: bool = False,
    fields: Sequence[str] | None = None,
    source: str | None = None,
    codec: str | None = None,
) -> ExportReport:
    """Encode each context of the view (or only `context`) to an mp4 in the folder `dest`.

    Frames go in timestamp order. Without `fps` each frame is placed at its own timestamp
    (relative to the context's first), and the nominal rate is derived from the median gap.
    `dest` may name an .mp4 file when the view has one context. Frames whose image cannot be
    read are listed in the report's `skipped`.
    """
    by_context = _frames_by_context(view, context)
    target = Path(dest)
    single = target.suffix.lower() == ".mp4"
    if single and len(by_context) > 1:
        raise IngestError(
            f"{target} names one file but the view holds {len(by_context)} contexts: "
            "give a folder, or pick one with context=..."
        )
    names: set[str] = set()
    total = sum(len(frames) for frames in by_context.values())
    with tqdm(total=total, desc="export video", unit="frame", disable=not progress) as bar:
        out = _VideoExport(ExportReport(dest=target), fps, source, codec, bar)
        for context_id, frames, rois in _with_rois(view, by_context, fields, draw_rois):
            out.context(frames, target if single else target / _video_name(context_id, names), rois)
    return out.report


_ROI_BATCH = 5000


def _with_rois(
    view: ViewLike,
    by_context: dict[str, list[ExportFrame]],
    fields: Sequence[str] | None,
    wanted: bool,
) -> Iterator[tuple[str, list[ExportFrame], dict[str, list[DrawnRoi]]]]:
    """(context, frames, ROIs by frame id), asking the view for the ROIs of several contexts
    at a time: each ask ranks the whole view, so one per context would be slow."""
    batch: list[tuple[str, list[ExportFrame]]] = []
    pending = 0
    contexts = list(by_context.items())
    for number, (context_id, frames) in enumerate(contexts):
        batch.append((context_id, frames))
        pending += len(frames)
        if pending < _ROI_BATCH and number + 1 < len(contexts):
            continue
        ids = [f.id for _, fs in batch for f in fs]
        rois = frame_rois(view, ids, fields) if wanted else {}
        for item in batch:
            yield item[0], item[1], rois
        batch, pending = [], 0


def _frames_by_context(view: ViewLike, context: str | None) -> dict[str, list[ExportFrame]]:
    by_context: dict[str, list[ExportFrame]] = {}
    for chunk in view_frames(view.catalog, view.frame_ids()):
        for frame in chunk:
            if context is None or frame.context_id == context:
                by_context.setdefault(frame.context_id, []).append(frame)
    if context is not None and not by_context:
        raise IngestError(f"the view has no frames in context {context!r}")
    for frames in by_context.values():
        frames.sort(key=_time_order)
    return by_context


def _time_order(frame: ExportFrame) -> tuple[bool, int, int, str]:
    return (
        frame.timestamp is None,
        frame.timestamp or 0,
        frame.frame_index if frame.frame_index is not None else 0,
        frame.id,
    )


def derive_fps(timestamps: Sequence[int | None], default: float = 10.0) -> float:
    """Frames per second from the median gap between consecutive timestamps (ms)."""
    known = [t for t in timestamps if t is not None]
    gaps = [b - a for a, b in itertools.pairwise(known) if b > a]
    return 1000 / statistics.median(gaps) if gaps else default


def _video_name(context_id: str, used: set[str]) -> str:
    name = Path(context_id.replace("\\", "/").rstrip("/")).name or "context"
    if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
        name = Path(name).stem
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip(".") or "context"
    if name.lower() in used:
        name += "-" + hashlib.sha1(context_id.encode()).hexdigest()[:8]
    used.add(name.lower())
    return name + ".mp4"


@dataclass
class _VideoExport:
    report: ExportReport
    fps: float | None
    source: str | None
    codec: str | None
    bar: tqdm

    def context(
        self, frames: list[ExportFrame], out: Path, rois: dict[str, list[DrawnRoi]]
    ) -> None:
        """Encode the frames of one context to `out`."""
        # Timestamps place the frames unless a rate was asked for or some frames lack one.
        timed = self.fps is None and all(f.timestamp is not None for f in frames)
        rate = self.fps or derive_fps([f.timestamp for f in frames])
        encoder: VideoEncoder | None = None
        try:
            for frame in frames:
                self.bar.update(1)
                picture = self._picture(frame, rois)
                if picture is None:
                    continue
                if encoder is None:
                    size = picture.size
                    encoder = VideoEncoder(out, width=size[0], height=size[1], fps=rate,
                                           codec=self.codec)  # fmt: skip
                encoder.write(picture, frame.timestamp if timed else None)
                self.report.frames += 1
            if encoder is not None:
                encoder.close()
                self.report.files.append(out)
        except MediaError as exc:
            if encoder is not None:
                encoder.abort()
            raise IngestError(str(exc)) from exc

    def _picture(self, frame: ExportFrame, rois: dict[str, list[DrawnRoi]]) -> Image.Image | None:
        """The frame's image with its ROIs drawn, or None (noted in `skipped`)."""
        picked = _pick_source(frame, self.source)
        try:
            image = _load(picked.uri if picked else None, frame.id)
        except MediaError as exc:
            self.report.skipped.append(str(exc))
            return None
        drawn = [r for r in rois.get(frame.id, []) if picked and r.on_source(picked.id)]
        self.report.rois += len(drawn)
        return draw_rois(image, drawn) if drawn else image


def _pick_source(frame: ExportFrame, source: str | None) -> ExportSource | None:
    for src in frame.sources:
        if source is None or src.id == source:
            return src
    return None


def _load(uri: str | None, frame_id: str) -> Image.Image:
    if uri is None:
        raise MediaError(f"frame {frame_id!r}: has no such source")
    if "://" in uri and not uri.startswith("file://"):
        raise MediaError(f"frame {frame_id!r}: {uri} is not a local file")
    try:
        with Image.open(uri.removeprefix("file://")) as img:
            return ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"frame {frame_id!r}: cannot read {uri}: {exc}") from exc
