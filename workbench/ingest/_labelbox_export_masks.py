"""Labelbox export of mask ROIs as video masks (the SDK's `NDVideoMasks`), the inverse of
workbench.ingest._labelbox_masks.

A mask ROI `{"uri": <picture>, "value": [r, g, b]}` is an instance's pixels of the picture of
its frame. The instances of one uuid (`attributes.uuid`, else the track's as for objects) in
a video become one line `{"uuid", "dataRow", "masks": {"frames": [{"index", "instanceURI"}],
"instances": [{"colorRGB", "name"}]}}` when they are on the same frames with the same
pictures, the same confidence and colours of their own; an instance that is not starts a
line of its own (its uuid then made unique as every repeated uuid is). Instances are in
track order, so an import of the file numbers them and their tracks as they were.

Each picture is copied once beside the export, into `<file stem>-masks/`, and named by a
`file://localhost/...` URI (the SDK takes only a URI with a host; an import reads it as the
local file). A mask ROI is counted in `skipped`, with the reason, when it is not a picture
and an RGB colour (RLE), its picture is not a local file (nothing is fetched), is outside the
catalog's media roots, or cannot be read.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from workbench.errors import MediaError, RecordError
from workbench.media.files import MediaRootCheck
from workbench.media.images import local_path

NOT_A_PICTURE = "mask ROIs not given as a picture and an RGB colour (RLE masks are not written)"
NOT_LOCAL = "mask ROIs whose picture is not a local file (nothing is fetched)"
OUTSIDE = "mask ROIs whose picture is outside the media roots"
UNREADABLE = "mask ROIs whose picture cannot be read"
AGAIN = "mask ROIs on a frame their track already has"


class MaskSkipped(RecordError):
    """A mask ROI left out of the file, for `reason` (what the export counts it under)."""

    def __init__(self, reason: str) -> None:
        super().__init__("a mask ROI", reason)
        self.reason = reason


class Pictures:
    """Mask pictures copied beside the export file, once each, as the URIs the file names."""

    def __init__(self, target: Path, roots: Callable[[], Sequence[str]]) -> None:
        self.folder = target.resolve().parent / f"{target.stem}-masks"
        self.roots_of = roots  # read at the first picture: most exports have none
        self.roots: MediaRootCheck | None = None
        self.made: dict[str, str | MaskSkipped] = {}

    def uri(self, picture: str) -> str:
        """The URI of the copy of `picture` (a catalog mask's `uri`), or MaskSkipped."""
        found = self.made.get(picture)
        if found is None:
            try:
                found = self._copy(picture, len(self.made) + 1)
            except MaskSkipped as exc:
                found = exc
            self.made[picture] = found
        if isinstance(found, MaskSkipped):
            raise found
        return found

    def _copy(self, picture: str, number: int) -> str:
        try:
            path = local_path(picture)
        except MediaError as exc:
            raise MaskSkipped(NOT_LOCAL) from exc
        if self.roots is None:
            self.roots = MediaRootCheck(self.roots_of())
        if self.roots.is_outside(picture):
            raise MaskSkipped(OUTSIDE)
        suffix = path.suffix.lower()
        if not (1 < len(suffix) <= 6 and suffix[1:].isalnum() and suffix.isascii()):
            suffix = ""
        copy = self.folder / f"{number:06d}{suffix}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
        except OSError as exc:
            raise MaskSkipped(UNREADABLE) from exc
        return "file://localhost" + pathname2url(os.fspath(copy))


def colour_of(mask: str | None) -> tuple[str, list[int]]:
    """(picture, colour) of a catalog mask's JSON text, or MaskSkipped."""
    try:
        spec = json.loads(mask) if mask else None
    except ValueError:
        spec = None
    picture = spec.get("uri") if isinstance(spec, dict) else None
    value = spec.get("value") if isinstance(spec, dict) else None
    if not (
        isinstance(picture, str)
        and picture
        and isinstance(value, list)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        raise MaskSkipped(NOT_A_PICTURE)
    return picture, value


@dataclass
class Instance:
    """One instance's masks: its name, colour, confidence and the picture URI per frame."""

    name: str
    colour: list[int]
    confidence: float | None
    track: int | None
    frames: dict[int, str] = field(default_factory=dict)


@dataclass
class _Line:
    confidence: float | None
    frames: dict[int, str]
    instances: list[Instance] = field(default_factory=list)


@dataclass
class Masks:
    """The mask instances of an export, per (context, uuid) and instance key."""

    found: dict[tuple[str, str], dict[Any, Instance]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    def add(
        self, context: str, uuid: str, number: int, row: dict[str, Any], colour: list[int], uri: str
    ) -> None:
        """Put a mask ROI of `colour` (its picture copied as `uri`) on frame `number`, or
        MaskSkipped when its instance is on that frame already."""
        track = row["track_index"]
        name, confidence = row["label"], row["confidence"]
        key = (track if track is not None else row["id"], tuple(colour), name, confidence)
        instances = self.found[context, uuid]
        instance = instances.get(key)
        if instance is None:
            instance = instances[key] = Instance(name, colour, confidence, track)
        elif number in instance.frames:
            raise MaskSkipped(AGAIN)
        instance.frames[number] = uri

    def lines(self) -> list[tuple[tuple[Any, ...], str, str, dict[str, Any]]]:
        """(order key, context, uuid, the line after its uuid and dataRow) of every line; the
        key sorts it among object lines by context, then track, then first frame."""
        out = []
        for (context, uuid), instances in self.found.items():
            for line in _grouped(instances.values()):
                first = line.instances[0]
                key = (context, first.track is None, first.track or 0, min(line.frames))
                out.append((key, context, uuid, _body(line)))
        return out


def _grouped(instances: Any) -> list[_Line]:
    """Instances in track order, each in the first line whose frames, pictures and confidence
    are its own and which has no instance of its colour."""
    ordered = sorted(instances, key=lambda i: (i.track is None, i.track or 0, min(i.frames)))
    lines: list[_Line] = []
    for instance in ordered:
        for line in lines:
            if (
                line.frames == instance.frames
                and line.confidence == instance.confidence
                and all(other.colour != instance.colour for other in line.instances)
            ):
                line.instances.append(instance)
                break
        else:
            lines.append(_Line(instance.confidence, instance.frames, [instance]))
    return lines


def _body(line: _Line) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if line.confidence is not None and line.confidence != 1.0:
        body["confidence"] = line.confidence
    body["masks"] = {
        "frames": [{"index": n, "instanceURI": uri} for n, uri in sorted(line.frames.items())],
        "instances": [{"colorRGB": i.colour, "name": i.name} for i in line.instances],
    }
    return body
