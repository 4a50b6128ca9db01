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
local file), or, given a base URL, by that URL and its place beside the file
(`<base>/<file stem>-masks/000001.png`: where the pictures are uploaded beside the file). RLE
masks become pictures written there (workbench.ingest._labelbox_export_rle). A mask ROI is
counted in `skipped`, with the reason, when it is neither a picture and an RGB colour nor RLE
that can be read, its picture is not a local file (nothing is fetched), is outside the
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
from urllib.parse import quote, urlsplit
from urllib.request import pathname2url

import numpy as np
import numpy.typing as npt
from PIL import Image

from workbench.errors import IngestError, MediaError, RecordError
from workbench.ingest._labelbox_export_rle import (
    PALETTE,
    RleInstance,
    RleLine,
    grouped,
    rle_of,
)
from workbench.media.files import MediaRootCheck
from workbench.media.images import local_path

NOT_A_PICTURE = "mask ROIs given neither as a picture and an RGB colour nor as RLE"
BAD_RLE = "mask ROIs whose RLE cannot be read"
NOT_LOCAL = "mask ROIs whose picture is not a local file (nothing is fetched)"
OUTSIDE = "mask ROIs whose picture is outside the media roots"
UNREADABLE = "mask ROIs whose picture cannot be read"
AGAIN = "mask ROIs on a frame their track already has"


class MaskSkipped(RecordError):
    """A mask ROI left out of the file, for `reason` (what the export counts it under)."""

    def __init__(self, reason: str) -> None:
        super().__init__("a mask ROI", reason)
        self.reason = reason


def checked_url(base: str | None) -> str | None:
    """`base` with no trailing slash, or IngestError when it is no URL with a host (the
    SDK's `MaskFrame` takes no other)."""
    if base is None:
        return None
    parts = urlsplit(base) if isinstance(base, str) else None
    if parts is None or not parts.scheme or not parts.netloc:
        raise IngestError(f"masks_url must be a URL with a scheme and a host, got {base!r}")
    return base.rstrip("/")


class Pictures:
    """Mask pictures copied (or, for RLE masks, written) beside the export file, once each,
    as the URIs the file names: local `file://localhost/` URIs, or under `base_url`."""

    def __init__(
        self, target: Path, roots: Callable[[], Sequence[str]], base_url: str | None = None
    ) -> None:
        self.folder = target.resolve().parent / f"{target.stem}-masks"
        self.base_url = base_url
        self.roots_of = roots  # read at the first picture: most exports have none
        self.roots: MediaRootCheck | None = None
        self.made: dict[str, str | MaskSkipped] = {}
        self.taken = 0  # pictures numbered so far

    def written(self, pixels: npt.NDArray[np.uint8]) -> str:
        """The URI of a new picture of `pixels` (h, w, 3) written beside the export."""
        self.taken += 1
        path = self.folder / f"{self.taken:06d}.png"
        self.folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "RGB").save(path, format="PNG", compress_level=1)
        return self.name(path)

    def name(self, path: Path) -> str:
        if self.base_url is None:
            return "file://localhost" + pathname2url(os.fspath(path))
        return f"{self.base_url}/{quote(self.folder.name)}/{quote(path.name)}"

    def uri(self, picture: str) -> str:
        """The URI of the copy of `picture` (a catalog mask's `uri`), or MaskSkipped."""
        found = self.made.get(picture)
        if found is None:
            self.taken += 1
            try:
                found = self._copy(picture, self.taken)
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
        return self.name(copy)


def mask_of(mask: str | None) -> tuple[str, list[int]] | dict[str, Any]:
    """(picture, colour) of a catalog mask's JSON text, or its RLE ({"size", "counts"}), or
    MaskSkipped."""
    try:
        spec = json.loads(mask) if mask else None
    except ValueError:
        spec = None
    try:
        found = rle_of(spec)
    except ValueError as exc:
        raise MaskSkipped(BAD_RLE) from exc
    if found is not None:
        return found
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
    rle: dict[tuple[str, str], dict[Any, RleInstance]] = field(
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

    def add_rle(
        self, context: str, uuid: str, number: int, row: dict[str, Any], mask: dict[str, Any]
    ) -> None:
        """Put an RLE mask ROI on frame `number`, or MaskSkipped when its instance is on that
        frame already; its picture is written with its line's."""
        track = row["track_index"]
        name, confidence = row["label"], row["confidence"]
        key = (track if track is not None else row["id"], name, confidence)
        instances = self.rle[context, uuid]
        instance = instances.get(key)
        if instance is None:
            instance = instances[key] = RleInstance(name, confidence, track)
        elif number in instance.frames:
            raise MaskSkipped(AGAIN)
        instance.frames[number] = mask

    def lines(self, pictures: Pictures) -> list[tuple[tuple[Any, ...], str, str, dict[str, Any]]]:
        """(order key, context, uuid, the line after its uuid and dataRow) of every line; the
        key sorts it among object lines by context, then track, then first frame. The RLE
        lines' pictures are written to `pictures`."""
        out = []
        for (context, uuid), instances in self.found.items():
            for line in _grouped(instances.values()):
                first = line.instances[0]
                key = (context, first.track is None, first.track or 0, min(line.frames))
                out.append((key, context, uuid, _body(line)))
        for (context, uuid), held in self.rle.items():
            for painted in grouped(held.values()):
                line = _written(painted, pictures)
                first = line.instances[0]
                key = (context, first.track is None, first.track or 0, min(line.frames))
                out.append((key, context, uuid, _body(line)))
        return out


def _written(painted: RleLine, pictures: Pictures) -> _Line:
    """An RLE line as a picture line: each frame's picture written, its instances coloured."""
    frames = {n: pictures.written(painted.picture(n)) for n in sorted(painted.frames)}
    line = _Line(painted.confidence, frames)
    for colour, instance in zip(PALETTE, painted.instances, strict=False):
        line.instances.append(
            Instance(instance.name, list(colour), instance.confidence, instance.track, frames)
        )
    return line


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
