"""Reading the values of one Nucleus scene and its items, as the per-record path does
(workbench.ingest.nucleus): each value checked, each problem a RecordError naming where."""

from __future__ import annotations

import contextlib
import math
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import MediaError, RecordError
from workbench.ingest._nucleus_export import FPS_KEY, SCENE_KEY
from workbench.ingest.images import SOURCE_ID, image_info
from workbench.model.records import Frame, Source

LOCATION_KEYS = ("image_location", "location", "image_url", "url", "original_image_url")
VIDEO_KEYS = ("video_location", "video_url")


def scene_id(scene: Any, where: str) -> str:
    if isinstance(scene, BadJson):
        raise RecordError(where, f"not valid JSON: {scene.message}")
    if not isinstance(scene, Mapping):
        raise RecordError(where, f"a scene must be a JSON object, got {type(scene).__name__}")
    ref = reference_id(scene.get("reference_id"))
    if ref is None:
        raise RecordError(where, "scene has no reference_id")
    return ref


def reference_id(value: Any) -> str | None:
    """A reference_id: a non-empty string, or an integer taken as its text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def items(scene: Mapping[str, Any]) -> Any:
    # The Nucleus client's own JSON names a video scene's items "frames"; its Python API says
    # "items". Accept both.
    return scene.get("frames", scene.get("items"))


def first(mapping: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((mapping[k] for k in keys if mapping.get(k)), None)


def offset(index: Any, where: str) -> int:
    if index is None:
        return 0
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise RecordError(where, f"index must be a non-negative integer, got {index!r}")
    return index


def frame_rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(where, f"a scene of frames needs a numeric frame_rate, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise RecordError(where, f"frame_rate must be positive, got {value}")
    return float(value)


def metadata(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError(where, f"metadata must be an object, got {type(value).__name__}")
    return dict(value)


def item_frame(
    item: Any,
    context: str,
    index: int,
    rate: float,
    scene_meta: dict[str, Any],
    where: str,
    base: Path,
) -> Frame:
    if not isinstance(item, Mapping):
        raise RecordError(where, f"a frame must be a JSON object, got {type(item).__name__}")
    ref = reference_id(item.get("reference_id"))
    if ref is None:
        raise RecordError(where, "item has no reference_id")
    location = first(item, LOCATION_KEYS)
    if not isinstance(location, str):
        raise RecordError(f"{where}, item {ref!r}", "item has no image_location")
    meta = metadata(item.get("metadata"), f"{where}, item {ref!r}")
    if scene_meta:
        meta[SCENE_KEY] = scene_meta
    meta[FPS_KEY] = rate
    timestamp = round(index * 1000 / rate)
    return Frame(
        id=ref,
        sources=[source(location, base, timestamp)],
        context_id=context,
        timestamp=timestamp,
        frame_index=index,
        metadata=meta,
    )


def source(location: str, base: Path, timestamp: int | None) -> Source:
    """The item's image; a relative local path is made absolute from `base`."""
    width = height = None
    content_type = mimetypes.guess_type(location.split("?", 1)[0])[0]
    if "://" not in location.removeprefix("file://"):
        path = base / location.removeprefix("file://")  # an absolute path stays as it is
        location = str(path)
        # A local image's header gives its displayed size; remote images are not fetched.
        with contextlib.suppress(MediaError, OSError):
            info = image_info(path)
            width, height, content_type = info.width, info.height, info.content_type
    return Source(SOURCE_ID, location, width, height, content_type, timestamp)


def local_file(location: str, where: str, base: Path) -> Path:
    if "://" in location and not location.startswith("file://"):
        raise RecordError(where, f"video {location} is remote: download it and give its path")
    path = (base / location.removeprefix("file://")).resolve()
    if not path.is_file():
        raise RecordError(where, f"video {location} does not exist")
    return path


def safe_folder_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip(".")
    return cleaned[:100] or "scene"


@dataclass(frozen=True, slots=True)
class BadJson:
    """A scene that could not be read as JSON (`nucleus.read_scenes`), rejected when added."""

    message: str
