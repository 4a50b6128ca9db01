"""The temporary disk a COCO import holds, as `du` counts it: blocks allocated, not lengths.

The digests' sums (`workbench.ingest._coco_sums.ImageSums`) are files made at their full
length at once and left sparse (32 bytes an image: 608 MB at 19M images before a single
annotation is summed), so a folder's files' lengths say the sums take their whole size from
the import's first batch on; what they take on the disk grows as the batches fill the
images' rows. The engine's spill files are counted the same way.
"""

from __future__ import annotations

import contextlib
import os

# The folder each ImageSums makes for its arrays (in the temporary folder: tempfile's).
SUMS_PREFIX = "workbench-coco-sums-"


def allocated_mb(folder: str | None) -> int:
    """MB of disk the files under `folder` hold (st_blocks: 512-byte units), 0 if it is gone."""
    if folder is None or not os.path.isdir(folder):
        return 0
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total >> 20


def sums_mb(folder: str | None) -> int:
    """MB of disk of the digests' sums' folders directly in `folder` (a part of its total)."""
    if folder is None or not os.path.isdir(folder):
        return 0
    with os.scandir(folder) as entries:
        found = [e.path for e in entries if e.name.startswith(SUMS_PREFIX) and e.is_dir()]
    return sum(allocated_mb(path) for path in found)
