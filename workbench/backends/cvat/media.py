"""Which files make each CVAT task, and how they are sent.

A run's scenes are packed into tasks of `task_size` scenes (a scene is never split); a scene
whose frames are frames of one video file gets a task of its own, because a CVAT task holds
one video. Each frame is shown from one source: `media_field`, or the frame's only source.

Files are sent the way CVAT can reach them:

- `http(s)://` URIs as `remote_files` (CVAT downloads them);
- files under `share_root` (a folder mounted as CVAT's share) as `server_files`, relative to it;
- other local files as `client_files`, uploaded (renamed `000000_name.jpg`, ... so two
  frames called `0001.jpg` in different folders stay apart).

Frame order is the run's: `sorting_method: predefined` (CVAT sorts names lexicographically
by default, putting frame 999 after frame 10003). A video is cut by CVAT itself with
`start_frame`, `stop_frame` and `frame_filter: step=N`, from the frames' `frame_index`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from workbench.backends.base import BackendError
from workbench.backends.cvat.config import CvatConfig
from workbench.store.run_data import frame_sources

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"}
)

UploadKind = Literal["client", "server", "remote"]


@dataclass(frozen=True)
class FrameMedia:
    frame_id: str
    input_uuid: str
    scene_index: int
    source_id: str
    uri: str
    frame_index: int | None
    video: bool


@dataclass(frozen=True)
class TaskPlan:
    """One task to create: its frames in CVAT frame order."""

    position: int
    frames: tuple[FrameMedia, ...]

    @property
    def video(self) -> bool:
        return self.frames[0].video


@dataclass(frozen=True)
class TaskData:
    """What POST /api/tasks/{id}/data/ gets for one task."""

    kind: UploadKind
    files: tuple[str, ...]  # local paths, share-relative paths or URLs
    names: tuple[str, ...]  # the names CVAT gives the frames (client files: ours)
    fields: dict[str, Any] = field(default_factory=dict)  # DataRequest fields but the files
    frames: int = 0  # how many frames the task will have


def frame_media(
    con: duckdb.DuckDBPyConnection, frames: pa.Table, media_field: str | None
) -> list[FrameMedia]:
    """The source shown for each frame of the run, in run order."""
    rows = frames.to_pylist()
    known = frame_sources(con, [row["frame_id"] for row in rows])
    out: list[FrameMedia] = []
    for row in rows:
        frame = known[row["frame_id"]]
        sources = [s.as_dict() for s in frame.sources]
        source = _pick_source(row["frame_id"], sources, media_field)
        uri = str(source["uri"])
        out.append(
            FrameMedia(
                frame_id=row["frame_id"],
                input_uuid=row["input_uuid"],
                scene_index=int(row["scene_index"]),
                source_id=str(source["id"]),
                uri=uri,
                frame_index=frame.frame_index,
                video=is_video(uri, source.get("content_type")),
            )
        )
    return out


def _pick_source(frame_id: str, sources: list[dict[str, Any]], media_field: str | None) -> Any:
    chosen = [s for s in sources if s["id"] == media_field] if media_field is not None else sources
    if len(chosen) == 1 and chosen[0]["uri"]:
        return chosen[0]
    if media_field is None and len(chosen) > 1:
        ids = ", ".join(str(s["id"]) for s in chosen)
        raise BackendError(
            f"frame {frame_id!r} has several sources ({ids}): pass media_field to say which "
            "one CVAT shows"
        )
    raise BackendError(f"frame {frame_id!r} has no {media_field or ''} image to send to CVAT")


def is_video(uri: str, content_type: str | None) -> bool:
    if content_type:
        return content_type.startswith("video/")
    return PurePosixPath(urlsplit(uri).path).suffix.lower() in VIDEO_SUFFIXES


def plan_tasks(frames: Sequence[FrameMedia], task_size: int | None) -> list[TaskPlan]:
    """Scenes packed into tasks of `task_size` scenes; a video scene is a task of its own."""
    scenes: dict[int, list[FrameMedia]] = {}
    for frame in frames:
        scenes.setdefault(frame.scene_index, []).append(frame)
    size = task_size or len(scenes) or 1
    tasks: list[list[FrameMedia]] = []
    current: list[FrameMedia] = []
    in_current = 0
    for scene in scenes.values():
        if any(f.video for f in scene):
            tasks.append(scene)
            continue
        if in_current == size:
            tasks.append(current)
            current, in_current = [], 0
        current.extend(scene)
        in_current += 1
    if current:
        tasks.append(current)
    return [TaskPlan(position=i, frames=tuple(t)) for i, t in enumerate(tasks)]


def task_data(task: TaskPlan, config: CvatConfig) -> TaskData:
    fields: dict[str, Any] = {
        "image_quality": config.image_quality,
        "use_cache": config.use_cache,
        "sorting_method": "predefined",
    }
    if config.chunk_size:
        fields["chunk_size"] = config.chunk_size
    if task.video:
        return _video_data(task, config, fields)
    located = [_locate(f.uri, f.frame_id, config) for f in task.frames]
    kinds = {kind for kind, _ in located}
    if len(kinds) != 1:
        raise BackendError(
            f"task {task.position}: frames mix {sorted(kinds)} files; CVAT takes one kind per "
            "task (put remote, shared and local media in separate runs)"
        )
    kind = kinds.pop()
    files = tuple(where for _, where in located)
    if kind == "client":
        width = max(6, len(str(len(files))))
        names = tuple(f"{n:0{width}d}_{Path(p).name}" for n, p in enumerate(files))
        fields["upload_file_order"] = list(names)
    else:
        names = files
        fields["server_files" if kind == "server" else "remote_files"] = list(files)
    return TaskData(kind, files, names, fields, frames=len(files))


def _video_data(task: TaskPlan, config: CvatConfig, fields: dict[str, Any]) -> TaskData:
    uris = {f.uri for f in task.frames}
    indexes = [f.frame_index for f in task.frames]
    where = f"task {task.position} (video {task.frames[0].uri})"
    if len(uris) != 1:
        raise BackendError(f"{where}: a scene of video frames must come from one video")
    if any(i is None for i in indexes):
        raise BackendError(f"{where}: video frames need a frame_index")
    numbers = [int(i) for i in indexes if i is not None]
    step = numbers[1] - numbers[0] if len(numbers) > 1 else 1
    expected = list(range(numbers[0], numbers[0] + step * len(numbers), step)) if step > 0 else []
    if numbers != expected:
        raise BackendError(
            f"{where}: CVAT cuts a video at evenly spaced frames (start, stop, step); these "
            f"frame indexes are not: {numbers[:10]}. Use frame_start/frame_stop/frame_step, "
            "or a view of consecutive frames"
        )
    fields.update(start_frame=numbers[0], stop_frame=numbers[-1])
    if step > 1:
        fields["frame_filter"] = f"step={step}"
    kind, located = _locate(task.frames[0].uri, task.frames[0].frame_id, config)
    key = "upload_file_order" if kind == "client" else f"{kind}_files"
    name = Path(located).name if kind == "client" else located
    fields[key] = [name]
    return TaskData(kind, (located,), (name,), fields, frames=len(numbers))


def _locate(uri: str, frame_id: str, config: CvatConfig) -> tuple[UploadKind, str]:
    scheme = urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        return "remote", uri
    if scheme == "file":
        uri = urlsplit(uri).path
    elif scheme and len(scheme) > 1:
        raise BackendError(
            f"frame {frame_id!r}: CVAT cannot fetch {uri} (only http(s) URLs, files under "
            "share_root, or local files to upload)"
        )
    path = Path(uri)
    if config.share_root is not None:
        root = Path(config.share_root)
        if path.is_relative_to(root):
            return "server", path.relative_to(root).as_posix()
    if not path.is_file():
        raise BackendError(f"frame {frame_id!r}: {path} does not exist, so it cannot be uploaded")
    return "client", str(path)


def bulks(paths: Sequence[str], names: Sequence[str], limit: int) -> list[list[tuple[str, str]]]:
    """(path, name) pairs cut into uploads of at most `limit` bytes (big files go alone)."""
    out: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for path, name in zip(paths, names, strict=True):
        length = Path(path).stat().st_size
        if current and size + length > limit:
            out.append(current)
            current, size = [], 0
        current.append((path, name))
        size += length
    if current:
        out.append(current)
    return out
