"""Label Studio's brush masks (`brushlabels` results, `{"format": "rle", "rle": [...]}`) and
turned rectangles.

A brush's `rle` is Label Studio's own run-length code of the image's RGBA pixels, row by row
(its converter's `brush.decode_rle` / `encode_rle`): a bit stream of a 32-bit count of values,
a 5-bit word size less one, four 4-bit run-length widths less one, then blocks, each a bit
(1: a run of one value, 0: that many values one by one), a 2-bit choice of width, the length
less one in that width, and the value(s). The mask is the alpha channel's non-zero pixels.
The catalog keeps COCO's RLE of the same pixels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.errors import RecordError
from workbench.model.limits import MAX_IMAGE_PIXELS

_WIDTHS = (3, 4, 8, 16)  # the run-length widths Label Studio writes


def decode(value: Any, width: int, height: int, where: str) -> npt.NDArray[np.bool_]:
    """The (height, width) mask of a brush's `rle` (a list of bytes as integers)."""
    if width * height > MAX_IMAGE_PIXELS:
        raise RecordError(where, f"a {width}x{height} brush is past the pixel limit")
    if not isinstance(value, list) or not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value
    ):
        raise RecordError(where, "a brush's rle must be a list of bytes (integers 0-255)")
    bits = "".join(f"{b:08b}" for b in value)
    at = 0

    def read(size: int) -> int:
        nonlocal at
        if at + size > len(bits):
            raise RecordError(where, "a brush's rle ends inside a run")
        at += size
        return int(bits[at - size : at], 2)

    count = read(32)
    if count != width * height * 4:
        raise RecordError(where, f"a brush's rle holds {count} values, a {width}x{height} image "
                                 f"{width * height * 4}")  # fmt: skip
    word = read(5) + 1
    sizes = [read(4) + 1 for _ in range(4)]
    out = np.zeros(count, dtype=np.uint8)
    done = 0
    while done < count:
        repeated = read(1)
        end = min(done + 1 + read(sizes[read(2)]), count)
        if repeated:
            out[done:end] = read(word)
            done = end
        else:
            while done < end:
                out[done] = read(word)
                done += 1
    return out[3::4].reshape(height, width) > 0


def encode(mask: npt.NDArray[Any]) -> list[int]:
    """The `rle` of a (height, width) mask, as the converter's `brush.mask2rle` writes it
    (each pixel's four channels 255 where the mask is set)."""
    flat = np.repeat(np.asarray(mask, dtype=bool).ravel(), 4)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], changes))
    lengths = np.diff(np.concatenate((starts, [flat.size])))
    parts = [f"{flat.size:032b}", f"{8 - 1:05b}", "".join(f"{w - 1:04b}" for w in _WIDTHS)]
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
        value = f"{255 if flat[start] else 0:08b}"
        while length > 2**16:  # the widest run holds 2**16 values
            parts.append(f"111{2**16 - 1:016b}{value}")
            length -= 2**16
        choice = next(n for n, w in enumerate(_WIDTHS) if length <= 2**w)
        single = "1" if length > 1 else "0"  # one value is written as a block of one
        parts.append(f"{single}{choice:02b}{length - 1:0{_WIDTHS[choice]}b}{value}")
    bits = "".join(parts)
    bits += "0" * (8 - len(bits) % 8)
    return [int(bits[n : n + 8], 2) for n in range(0, len(bits), 8)]


def turned_corners(x: float, y: float, w: float, h: float, degrees: float) -> list[float]:
    """The ring of a rectangle Label Studio turned `degrees` clockwise about its top-left
    corner (x, y), in pixels (as its converter's `convert_annotation_to_yolo_obb`)."""
    turn = math.radians(degrees)
    cos, sin = math.cos(turn), math.sin(turn)
    return [x, y, x + w * cos, y + w * sin, x + w * cos - h * sin, y + w * sin + h * cos,
            x - h * sin, y + h * cos]  # fmt: skip
