"""Labelbox video masks (the SDK's `NDVideoMasks`) as mask ROIs of the frames they name.

A line `{"dataRow", "uuid", "masks": {"frames": [{"index", "instanceURI"}], "instances":
[{"colorRGB": [r, g, b], "name"}]}}` gives, per Labelbox frame number, a picture in which each
instance's pixels have its colour. Each instance is an object of the video: on every frame
named, a mask ROI `{"uri": <the picture>, "value": [r, g, b]}` (the catalog's mask of a picture
whose pixels equal `value`), labelled with the instance's name, id `<uuid>:<instance number>`
(from 1), `attributes.uuid` the line's uuid, and a track index of its own, numbered per video
as objects are. The picture must be a local file: a path (relative to the file's folder) or a
`file://` URI (Labelbox's SDK writes `file://localhost/...`), under the import's media roots;
nothing is fetched or read. A picture given as bytes (`imBytes`), a remote URI, one outside
the roots, a frame number out of range, or a bad instance costs the whole line. Frames of the
video that were not imported are left out, as for objects.
"""

from __future__ import annotations

import os
import uuid as uuidlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.errors import MediaError, RecordError
from workbench.ingest._labelbox_rows import Placed, VideoIndex, roi_rows
from workbench.ingest.writer import _roi_row
from workbench.media.files import MediaRootCheck
from workbench.media.images import local_path
from workbench.model.records import Roi
from workbench.model.validation import check_id, check_roi


def instances(line: Mapping[str, Any], where: str) -> list[tuple[str, list[int]]]:
    """The (name, colour) of each instance of a masks line, or RecordError."""
    masks = line.get("masks")
    found = masks.get("instances") if isinstance(masks, dict) else None
    if not isinstance(found, list) or not found:
        raise RecordError(where, "masks need a non-empty instances list")
    out: list[tuple[str, list[int]]] = []
    for number, item in enumerate(found, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        colour = item.get("colorRGB", item.get("colorRgb")) if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise RecordError(where, f"mask instance {number} needs a name")
        if not (
            isinstance(colour, list)
            and len(colour) == 3
            and all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in colour
            )
        ):
            raise RecordError(
                where, f"mask instance {number}: colorRGB must be three 0-255 integers"
            )
        if any(colour == c for _, c in out):
            raise RecordError(where, f"mask instance {number}: colour {colour} is an earlier one's")
        out.append((name, colour))
    return out


def frames(
    line: Mapping[str, Any], where: str, index: VideoIndex, folder: Path, roots: MediaRootCheck
) -> list[tuple[str, str]]:
    """(frame id, picture path) of each frame a masks line names that was imported."""
    found = line["masks"].get("frames")
    if not isinstance(found, list) or not found:
        raise RecordError(where, "masks need a non-empty frames list")
    out: list[tuple[str, str]] = []
    seen: set[int] = set()
    for item in found:
        number = index.video.check(item.get("index") if isinstance(item, dict) else None, where)
        if number in seen:
            raise RecordError(where, f"mask frame {number} is given twice")
        seen.add(number)
        path = _picture(item, where, folder, roots)
        position = int(index.lookup[number])
        if position >= 0:
            out.append((index.video.ids[position], path))
    return out


def _picture(item: Mapping[str, Any], where: str, folder: Path, roots: MediaRootCheck) -> str:
    uri = item.get("instanceURI", item.get("instanceUri"))
    if uri is None and item.get("imBytes") is not None:
        raise RecordError(
            where, "a mask picture given as bytes (imBytes) is not imported: the catalog keeps "
            "a mask picture as a file",
        )  # fmt: skip
    if not isinstance(uri, str) or not uri:
        raise RecordError(where, "a mask frame needs an instanceURI")
    try:
        path = local_path(uri)
    except MediaError as exc:
        raise RecordError(
            where, f"mask picture {uri!r} is not a local file (nothing is fetched)"
        ) from exc
    text = os.path.normpath(folder / path)  # an absolute path stays as it is
    if roots.is_outside(text):
        raise RecordError(
            where, f"mask picture {uri!r} is outside the media roots (pass media_roots=...)"
        )
    return text


def placed(
    line: Mapping[str, Any],
    where: str,
    index: VideoIndex,
    named: list[tuple[str, list[int]]],
    pictures: list[tuple[str, str]],
    field_name: str,
    tracks: Mapping[str, int],
) -> list[tuple[str, Placed]]:
    """(ROI id, its rows) of each instance of a masks line; `tracks`: the video's track
    indexes so far (each new instance takes the next)."""
    uuid = check_id(line.get("uuid") or str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, where)),
                    "uuid", where)  # fmt: skip
    confidence = line.get("confidence")
    if confidence is not None and not (
        isinstance(confidence, int | float) and not isinstance(confidence, bool)
        and 0.0 <= confidence <= 1.0
    ):  # fmt: skip
        raise RecordError(where, f"confidence must be a number in [0, 1], got {confidence!r}")
    out = []
    fresh = len(tracks)
    for number, (name, colour) in enumerate(named, start=1):
        roi_id = f"{uuid}:{number}"
        track = tracks.get(roi_id)
        if track is None:
            track, fresh = fresh, fresh + 1
        rows = []
        for frame_id, path in pictures:
            roi = Roi(roi_id, "mask", [name], field_name,
                      confidence=1.0 if confidence is None else float(confidence),
                      mask={"uri": path, "value": colour}, attributes={"uuid": uuid},
                      track_index=track, keyframe=True)  # fmt: skip
            check_roi(roi, where)
            rows.append(_roi_row(frame_id, roi))
        out.append((roi_id, Placed([roi_rows(rows, index, 0)], track)))
    return out
