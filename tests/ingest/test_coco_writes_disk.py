"""bench/coco_writes_disk.py counts the disk the digests' sums hold, not their files' lengths."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from workbench.ingest._coco_sums import CHUNK, ImageSums

_BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def disk() -> Iterator[Any]:
    sys.path.insert(0, str(_BENCH))
    try:
        import coco_writes_disk

        yield coco_writes_disk
    finally:
        sys.path.remove(str(_BENCH))


@pytest.fixture
def sums_in(tmp_path: Path) -> Iterator[Path]:
    """ImageSums made in `tmp_path` (tempfile's folder while the test runs), as the bench's
    import makes them in its scratch folder."""
    saved, tempfile.tempdir = tempfile.tempdir, str(tmp_path)
    try:
        yield tmp_path
    finally:
        tempfile.tempdir = saved


def _batch(images: range) -> pa.Table:
    n = len(images)
    return pa.table(
        {"i": pa.array(images, pa.int64()), "h": pa.array([7] * n, pa.uint64()),
         "n": pa.array([1] * n, pa.int64()), "w": pa.array([7] * n, pa.uint64()),
         "lo": pa.array(list(images), pa.int64())}
    )  # fmt: skip


def test_the_sums_count_what_they_hold_not_their_length(disk: Any, sums_in: Path) -> None:
    images = 8 * CHUNK  # 8M images: 256 MB of arrays by their files' lengths
    sums = ImageSums(images)
    try:
        length = sum(f.stat().st_size for f in sums_in.rglob("*") if f.is_file())
        assert length >> 20 == 256
        # Made, nothing summed: the files are holes.
        assert disk.sums_mb(str(sums_in)) <= 1
        assert disk.allocated_mb(str(sums_in)) <= 1
        # One stretch's rows summed (1M images of 8M): about an eighth of the arrays held.
        sums.add(_batch(range(CHUNK)), 0)
        held = disk.sums_mb(str(sums_in))
        assert 24 <= held <= 40  # 32 bytes an image, 1M images
        assert disk.allocated_mb(str(sums_in)) == held  # nothing else in the folder
        # The rest of the images summed: the whole arrays held.
        sums.add(_batch(range(CHUNK, images)), 1)
        assert 250 <= disk.sums_mb(str(sums_in)) <= 260
    finally:
        sums.close()
    assert disk.sums_mb(str(sums_in)) == 0  # removed with the import's digests


def test_the_sums_are_a_part_of_the_folder(disk: Any, sums_in: Path) -> None:
    spill = sums_in / "spill.tmp"  # the engine's spill beside them, written out
    spill.write_bytes(b"x" * (3 << 20))
    sums = ImageSums(CHUNK)
    try:
        sums.add(_batch(range(CHUNK)), 0)
        assert 30 <= disk.sums_mb(str(sums_in)) <= 34
        assert disk.allocated_mb(str(sums_in)) == pytest.approx(
            disk.sums_mb(str(sums_in)) + 3, abs=1
        )
    finally:
        sums.close()
    assert disk.allocated_mb(str(sums_in)) == 3
    assert disk.sums_mb(str(sums_in / "gone")) == disk.allocated_mb(None) == 0
