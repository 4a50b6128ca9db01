"""The COCO digests' annotation sums, folded into one row per image as each batch comes.

Each image's digest takes its annotations' text hashes summed (modulo 2^64), their count,
their places (the hashes times the annotations' numbers, summed modulo 2^64, and the first
number) wherever they are in the file, and the batches holding them (for an update to know
which to convert again). The annotations come a batch at a time; an image's may be spread
over all of them (COCO's own files list annotations by category, not by image). Kept as a
table of a row per image and batch, the sums of a 10 GB file (19M images, 76M annotations)
held 76M rows in the engine's spill; folded in the engine after each batch (an aggregate of
the running table and the batch), each batch rewrote all 19M (15 s of CPU each at 19M).

Here the sums are arrays indexed by the image's number in the file, one file each in a
folder of their own (the temporary folder's), updated a stretch of CHUNK images at a time
through a memory map opened for that stretch alone: a batch's rows, sorted by image, cost
their own count of additions and at most one map of each stretch they touch; the process
holds one stretch's pages at a time (32 bytes an image on disk, 608 MB at 19M images).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

# Images a stretch (one memory map of each array at a time: 32 MB).
CHUNK = 1 << 20
# The batches an image's annotations are in, as bits (batch modulo BITS): exact up to BITS
# batches; past that an update converts again the batches sharing a bit with a changed one.
BITS = 32
_ARRAYS = {"h": np.uint64, "w": np.uint64, "lo": np.int64, "n": np.uint32, "bits": np.uint32}
# What `rows` gives the engine: each image's number, its sums and the places' term of its
# digest (the weighted sum less the first number times the hashes' sum, modulo 2^64).
SUMS_SCHEMA = pa.schema(
    [("i", pa.int64()), ("h", pa.uint64()), ("n", pa.int64()), ("w", pa.uint64()),
     ("bits", pa.uint32())]
)  # fmt: skip
# And with each image's first annotation's number (`rows(first=True)`: a kwcoco video's
# digest takes where its images' annotations stand from one another, _coco_videos).
FIRST_SCHEMA = SUMS_SCHEMA.append(pa.field("lo", pa.int64()))


class ImageSums:
    """The sums of `images` images (numbered 0..images-1), zero until added to."""

    def __init__(self, images: int) -> None:
        self.images = images
        self._folder = Path(tempfile.mkdtemp(prefix="workbench-coco-sums-"))
        for name, dtype in _ARRAYS.items():
            with (self._folder / name).open("wb") as out:
                out.truncate(images * np.dtype(dtype).itemsize)  # sparse: zeros

    def close(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)

    def add(self, table: pa.Table, batch: int) -> None:
        """Fold one batch's sums: `table` of (i, h, n, w, lo) sorted by `i`, each image once
        (h and w summed modulo 2^64, lo the least number, n the count)."""
        if table.num_rows == 0:
            return
        columns = {c: _numpy(table[c], _ARRAYS[c]) for c in ("h", "w", "lo", "n")}
        self._fold(_numpy(table["i"], np.int64), columns, batch)

    def _fold(self, index: np.ndarray, columns: dict[str, np.ndarray], batch: int) -> None:
        """Add the sums `columns` of the images `index` (sorted, each once)."""
        cuts = np.searchsorted(index, np.arange(0, self.images + CHUNK, CHUNK))
        bit = np.uint32(1 << (batch % BITS))
        for k in np.flatnonzero(np.diff(cuts)):
            part = slice(cuts[k], cuts[k + 1])
            at = index[part] - k * CHUNK
            with self._mapped(int(k)) as a:
                fresh = a["n"][at] == 0
                a["h"][at] += columns["h"][part]  # uint64: modulo 2^64
                a["w"][at] += columns["w"][part]
                lo = columns["lo"][part]
                a["lo"][at] = np.where(fresh, lo, np.minimum(a["lo"][at], lo))
                a["n"][at] += columns["n"][part]
                a["bits"][at] |= bit

    def add_each(self, image: np.ndarray, h: np.ndarray, i: np.ndarray, batch: int) -> None:
        """Fold one batch's annotations, one each: `image` the number of its image (any
        order, in range), `h` its text's hash (uint64), `i` its number in the file (int64,
        at least 0). Summed here rather than by the engine: numpy's uint64 products and sums
        wrap modulo 2^64 as the digest keeps them, where the engine's take a 128-bit
        product and a modulo (twice the CPU of the batch's grouping alone)."""
        if len(image) == 0:
            return
        order = np.argsort(image)
        image, h, i = image[order], h[order].astype(np.uint64), i[order].astype(np.int64)
        starts = np.flatnonzero(np.r_[True, image[1:] != image[:-1]])
        with np.errstate(over="ignore"):
            weighted = h * i.astype(np.uint64)
        self._fold(
            image[starts].astype(np.int64),
            {
                "h": np.add.reduceat(h, starts),
                "w": np.add.reduceat(weighted, starts),
                "lo": np.minimum.reduceat(i, starts),
                "n": np.diff(np.r_[starts, len(image)]).astype(np.uint32),
            },
            batch,
        )

    def rows(self, first: bool = False) -> Iterator[pa.Table]:
        """The images with annotations, a stretch at a time (SUMS_SCHEMA; FIRST_SCHEMA when
        `first`)."""
        for k in range(-(-self.images // CHUNK)):
            with self._mapped(k) as a:
                held = np.flatnonzero(a["n"])
                h = a["h"][held]
                w = a["w"][held] - a["lo"][held].astype(np.uint64) * h  # modulo 2^64
                columns = [held + k * CHUNK, h, a["n"][held].astype(np.int64), w, a["bits"][held]]
                if first:
                    columns.append(np.asarray(a["lo"][held], np.int64))
                yield pa.table(columns, schema=FIRST_SCHEMA if first else SUMS_SCHEMA)

    def _mapped(self, k: int) -> _Stretch:
        start = k * CHUNK
        count = min(CHUNK, self.images - start)
        return _Stretch(self._folder, start, count)


class _Stretch:
    """The arrays' images start..start+count mapped, unmapped (their pages left to the page
    cache, not the process) on leaving."""

    def __init__(self, folder: Path, start: int, count: int) -> None:
        self._maps = {
            name: np.memmap(folder / name, dtype, "r+", start * np.dtype(dtype).itemsize, (count,))
            for name, dtype in _ARRAYS.items()
        }

    def __enter__(self) -> dict[str, Any]:
        return self._maps

    def __exit__(self, *exc: object) -> None:
        # Unmapped as the last reference goes (no flush: the kernel writes the pages back
        # when it needs to, and the folder is temporary).
        self._maps.clear()


def _numpy(column: pa.ChunkedArray, dtype: Any) -> np.ndarray:
    return np.asarray(column.combine_chunks().to_numpy(zero_copy_only=False), dtype=dtype)
