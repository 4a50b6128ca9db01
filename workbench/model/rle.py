"""COCO run-length encoding of binary masks, bit-compatible with pycocotools.

A mask of height h and width w is read in column-major (Fortran) order and stored as the
lengths of alternating runs, starting with a run of zeros (which may be empty). COCO files hold
the runs either as a list of ints ("uncompressed", used for iscrowd ground truth) or as a
compact string ("compressed"): each run, minus the run two places before it from the fourth
run on, is written as a little-endian signed varint of 5-bit groups, each group offset by 48
into printable ASCII, with bit 0x20 meaning "another group follows".

Malformed input raises ValueError; importers turn it into a RecordError naming the record.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Counts = list[int]


def encode(mask: npt.ArrayLike) -> Counts:
    """Run lengths of a 2-D mask (anything non-zero is foreground), zeros first."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {array.shape}")
    flat = array.astype(bool).ravel(order="F")
    if flat.size == 0:
        return [0]
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], changes, [flat.size])))
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return [int(v) for v in runs]


def decode(counts: Sequence[int] | str | bytes, size: Sequence[int]) -> npt.NDArray[np.uint8]:
    """The (h, w) uint8 mask of run lengths (a list, or a compressed string)."""
    height, width = _size(size)
    runs = np.asarray(from_string(counts) if isinstance(counts, str | bytes) else counts, np.int64)
    if runs.size and runs.min() < 0:
        raise ValueError("RLE counts must not be negative")
    total = int(runs.sum())
    if total != height * width:
        raise ValueError(f"RLE counts cover {total} pixels, the mask has {height}x{width}")
    values = np.arange(runs.size, dtype=np.uint8) % 2
    flat = np.repeat(values, runs)
    return flat.reshape((height, width), order="F")


def to_string(counts: Sequence[int]) -> str:
    """The compressed string form of run lengths, exactly as pycocotools writes it."""
    out: list[str] = []
    for i, run in enumerate(counts):
        x = int(run) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative deltas end in a run of ones
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def from_string(text: str | bytes) -> Counts:
    """Run lengths from the compressed string form."""
    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if not raw:
        return []
    chars = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if chars.min() < 0 or chars.max() > 0x3F:
        raise ValueError("RLE string has characters outside '0'..'o'")
    last = (chars & 0x20) == 0
    if not last[-1]:
        raise ValueError("RLE string ends in the middle of a number")
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    # Position of every character inside its number: 0, 1, 2... restarting at each start.
    group = np.repeat(np.arange(starts.size), ends - starts + 1)
    shift = 5 * (np.arange(chars.size) - starts[group])
    if shift.max() > 55:
        raise ValueError("RLE string holds a number too large for a mask")
    values = np.add.reduceat((chars & 0x1F) << shift, starts)
    lengths = ends - starts + 1
    negative = (chars[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (5 * lengths[negative])
    # From the fourth run on each value is relative to the run two places before it.
    runs = values.copy()
    if runs.size > 3:
        runs[3::2] = np.cumsum(values[1::2])[1:]
        runs[4::2] = np.cumsum(values[2::2])[1:]
    return [int(v) for v in runs]


def area(counts: Sequence[int] | str | bytes) -> int:
    """Number of foreground pixels."""
    runs = from_string(counts) if isinstance(counts, str | bytes) else counts
    return int(sum(runs[1::2]))


def bbox(counts: Sequence[int] | str | bytes, size: Sequence[int]) -> tuple[int, int, int, int]:
    """[x, y, w, h] of the foreground, as pycocotools' toBbox; (0, 0, 0, 0) when empty."""
    height, _ = _size(size)
    runs = np.asarray(from_string(counts) if isinstance(counts, str | bytes) else counts, np.int64)
    used = (runs.size // 2) * 2
    if used == 0 or height == 0:
        return (0, 0, 0, 0)
    ends = np.cumsum(runs[:used])
    # Even j: first pixel of a foreground run; odd j: its last pixel.
    pixel = ends - (np.arange(used) % 2)
    ys, xs = pixel % height, pixel // height
    y_min, y_max = int(ys.min()), int(ys.max())
    # A run that wraps into the next column covers the whole height in between.
    if np.any(xs[1::2] > xs[0::2]):
        y_min, y_max = 0, height - 1
    x_min, x_max = int(xs.min()), int(xs.max())
    return (x_min, y_min, x_max - x_min + 1, y_max - y_min + 1)


def compress(rle: Mapping[str, Any]) -> dict[str, Any]:
    """{"size": [h, w], "counts": str} from a COCO RLE whose counts are a list or a string."""
    size = list(_size(rle.get("size")))
    counts = rle.get("counts")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        runs = from_string(counts)
    elif isinstance(counts, list) and all(isinstance(v, int) and v >= 0 for v in counts):
        runs = counts
    else:
        raise ValueError("RLE counts must be a string or a list of non-negative integers")
    if sum(runs) != size[0] * size[1]:
        raise ValueError(f"RLE counts cover {sum(runs)} pixels, the mask has {size[0]}x{size[1]}")
    return {"size": size, "counts": counts if isinstance(counts, str) else to_string(runs)}


def _size(size: Any) -> tuple[int, int]:
    if isinstance(size, Sequence) and len(size) == 2 and not any(isinstance(v, bool) for v in size):
        try:
            height, width = operator.index(size[0]), operator.index(size[1])
        except TypeError:
            pass
        else:
            if height >= 0 and width >= 0:
                return height, width
    raise ValueError(f"RLE size must be [height, width], got {size!r}")
