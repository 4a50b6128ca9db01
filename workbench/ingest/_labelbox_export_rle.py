"""Labelbox export of RLE mask ROIs (COCO's run lengths, what COCO, CVAT and Label Studio's
brush imports store) as video masks pictures: the RLE instances of one uuid in a video become
one line as picture masks do (workbench.ingest._labelbox_export_masks), each instance given a
colour of its line (`PALETTE`), and on each frame of the line one picture is written beside
the export holding every instance's pixels in its colour (decoded with numpy, painted by
boolean indexing). An import of the file gives back mask ROIs whose pixels are the RLE's.

An instance joins a line whose frames, confidence and mask sizes are its own, whose pixels it
does not overlap on any frame (a picture holds one colour a pixel) and which has a colour left;
else it starts a line of its own. Overlap is told from the runs alone, without decoding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.model import rle

# The instances' colours, in order, in a line: distinct, none black (the pictures' ground).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255),
    (255, 128, 0), (128, 0, 255), (0, 128, 255), (255, 0, 128), (128, 255, 0), (0, 255, 128),
    (128, 0, 0), (0, 128, 0), (0, 0, 128), (255, 255, 255),
)  # fmt: skip


def rle_of(spec: Any) -> dict[str, Any] | None:
    """A catalog mask's `rle` as {"size", "counts": compressed string}; None when the mask
    is not RLE; ValueError when it is RLE that cannot be read."""
    found = spec.get("rle") if isinstance(spec, dict) else None
    if found is None:
        return None
    if not isinstance(found, dict):
        raise ValueError("a mask's rle must be an object")
    return rle.compress(found)


@dataclass
class RleInstance:
    """One instance's RLE masks: its name, confidence, track and its mask per frame."""

    name: str
    confidence: float | None
    track: int | None
    frames: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class RleLine:
    """Instances that share one line; per frame the spans of their pixels so far."""

    confidence: float | None
    frames: dict[int, dict[str, Any]]
    instances: list[RleInstance] = field(default_factory=list)
    spans: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(
        default_factory=dict
    )

    def takes(self, instance: RleInstance) -> bool:
        if (
            len(self.instances) >= len(PALETTE)
            or self.confidence != instance.confidence
            or self.frames.keys() != instance.frames.keys()
        ):
            return False
        for number, mask in instance.frames.items():
            if list(mask["size"]) != list(self.frames[number]["size"]):
                return False
            if _overlap(self.spans[number], _spans(mask["counts"])):
                return False
        return True

    def add(self, instance: RleInstance) -> None:
        self.instances.append(instance)
        for number, mask in instance.frames.items():
            starts, ends = _spans(mask["counts"])
            if number in self.spans:
                held = self.spans[number]
                starts, ends = np.concatenate([held[0], starts]), np.concatenate([held[1], ends])
                order = np.argsort(starts, kind="stable")
                starts, ends = starts[order], ends[order]
            self.spans[number] = (starts, ends)

    def picture(self, number: int) -> npt.NDArray[np.uint8]:
        """The (h, w, 3) picture of frame `number`: each instance's pixels in its colour."""
        height, width = self.frames[number]["size"]
        pixels = np.zeros((height, width, 3), dtype=np.uint8)
        for colour, instance in zip(PALETTE, self.instances, strict=False):
            mask = instance.frames[number]
            pixels[rle.decode(mask["counts"], mask["size"]).astype(bool)] = colour
        return pixels


def grouped(instances: Iterable[RleInstance]) -> list[RleLine]:
    """Instances in track order, each in the first line that takes it."""
    ordered = sorted(instances, key=lambda i: (i.track is None, i.track or 0, min(i.frames)))
    lines: list[RleLine] = []
    for instance in ordered:
        line = next((line for line in lines if line.takes(instance)), None)
        if line is None:
            line = RleLine(instance.confidence, instance.frames)
            lines.append(line)
        line.add(instance)
    return lines


def _spans(counts: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The first and past-the-last flat (column-major) index of each run of set pixels."""
    ends = np.cumsum(np.asarray(rle.from_string(counts), dtype=np.int64))
    starts, stops = ends[0:-1:2], ends[1::2]
    kept = stops > starts
    return starts[kept], stops[kept]


def _overlap(
    held: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    new: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
) -> bool:
    """Whether two sets of sorted, disjoint spans share a pixel: for each new span, the held
    span that starts last before it ends must end at or before it starts."""
    starts, stops = held
    if not len(starts) or not len(new[0]):
        return False
    before = np.searchsorted(starts, new[1], side="left") - 1
    found = before >= 0
    return bool(np.any(stops[before[found]] > new[0][found]))
