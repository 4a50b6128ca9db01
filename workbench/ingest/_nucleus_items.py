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
POINTCLOUD_KEYS = ("pointcloud_location", "pointcloud_url")
# An item's size as the Nucleus client writes it (`DatasetItem.to_payload`).
SIZE_KEYS = ("width", "height")


def scene_id(scene: Any, where: str) -> str:
    if isinstance(scene, BadJson):
        raise RecordError(where, f"not valid JSON: {scene.message}")
    if not isinstance(scene, Mapping):
        raise RecordError(where, f"a scene must be a JSON object, got {type(scene).__name__}")
    return reference_id(scene.get("reference_id"), "scene", where)


def reference_id(value: Any, what: str, where: str) -> str:
    """A reference_id: a non-empty string, or an integer taken as its text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    if value is None or value == "":
        raise RecordError(where, f"{what} has no reference_id")
    # A number too large for an integer reads as a float: named, not called missing.
    raise RecordError(where, f"{what} has no reference_id (a string or an integer), got {value!r}")


def items(scene: Mapping[str, Any]) -> Any:
    # The Nucleus client's own JSON names a video scene's items "frames"; its Python API says
    # "items". Accept both.
    return scene.get("frames", scene.get("items"))


def check_not_lidar(items: Sequence[Any], where: str) -> None:
    """Refuse a LidarScene's frames (objects of sensors, each an item: `{"lidar": {...},
    "cam": {...}}`), which would otherwise read as items without a reference_id."""
    frame = items[0]
    if (
        isinstance(frame, Mapping)
        and "reference_id" not in frame
        and frame
        and all(isinstance(v, Mapping) for v in frame.values())
    ):
        sensors = ", ".join(repr(str(k)) for k in sorted(frame)[:5])
        raise RecordError(
            where,
            f"frames of sensors ({sensors}) make a LidarScene, which the catalog cannot hold "
            "(VideoScenes of images only)",
        )


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
    ref = reference_id(item.get("reference_id"), "item", where)
    here = f"{where}, item {ref!r}"
    if (
        item.get("type") == "pointcloud"
        or first(item, POINTCLOUD_KEYS) is not None
        or _json_url(item)
    ):  # its `url` names the pointcloud's JSON, not a picture: not a frame of the catalog
        raise RecordError(here, "item is a pointcloud, which the catalog cannot hold (images only)")
    location = first(item, LOCATION_KEYS)
    if not isinstance(location, str):
        raise RecordError(here, "item has no image_location")
    width, height = (size(item.get(key), key, here) for key in SIZE_KEYS)
    meta = metadata(item.get("metadata"), here)
    if scene_meta:
        meta[SCENE_KEY] = scene_meta
    meta[FPS_KEY] = rate
    timestamp = round(index * 1000 / rate)
    return Frame(
        id=ref,
        sources=[source(location, base, timestamp, width, height)],
        context_id=context,
        timestamp=timestamp,
        frame_index=index,
        metadata=meta,
    )


def _json_url(item: Mapping[str, Any]) -> bool:
    """Whether the item's location is a `url` naming a JSON file: the SDK's
    `DatasetItem.from_json` reads such a `url` (no image key beside it) as a pointcloud, with
    or without `type`. Upper case or a query after it the SDK takes for neither: no image."""
    url = item.get("url")
    return (
        isinstance(url, str)
        and first(item, LOCATION_KEYS) is url
        and url.split("?", 1)[0].lower().endswith(".json")
    )


def size(value: Any, key: str, where: str) -> int | None:
    """An item's `width` or `height`: a positive integer, or None when not given."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RecordError(where, f"{key} must be a positive integer, got {value!r}")
    return value  # too large for the catalog: refused by the writer's checks


def source(
    location: str,
    base: Path,
    timestamp: int | None,
    width: int | None = None,
    height: int | None = None,
) -> Source:
    """The item's image; a relative local path is made absolute from `base`. A local image's
    size is its header's, a remote one's the size the item gives."""
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
