"""Updates that add rows to a bucket right after its last file take that file in when it is
small (store/lake_order.py `FOLD_BYTES`): the bucket keeps one file, not one more per update,
in the update's one commit, every file's range disjoint and the rows in a local catalog's
order. A file past the bound, or one another bucket's file follows, is left as it is and the
rows go to a file of their own."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

import workbench
from tests.store.test_frames_left_without_rois import _rois
from tests.store.test_lake_order_buckets import BUCKETS, _lake_beside, _same_as_local
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.store import lake_order
from workbench.store.lake import LAKE_TABLES


def _context_in(bucket: int, skip: int = 0) -> str:
    found = [f"n{k}" for k in range(100) if zlib.crc32(f"n{k}".encode()) % BUCKETS == bucket]
    return found[skip]


def _last_bucket(path: Path) -> int:
    """The bucket of the frames file holding the highest rows."""
    with workbench.open(path) as catalog:
        assert catalog.lake is not None
        spans = catalog.lake.format.spans("frames")
        assert spans
        return max(spans, key=lambda s: s.high).bucket


def _files(path: Path) -> dict[str, int]:
    with workbench.open(path) as catalog:
        lake = catalog.lake
        assert lake is not None
        return {n: len(lake.files(n, lake.format.version(n))[0]) for n in LAKE_TABLES}


def _add(path: Path, first: int, context: str) -> None:
    """Two new frames of `context`, with sources and ROIs."""
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for k in (first, first + 1):
            writer.add(
                Frame(f"n{k:03d}", context_id=context, timestamp=k,
                      sources=[Source("cam", f"/n/{k}.jpg")], rois=_rois(k % 18))
            )  # fmt: skip
    assert writer.report.ok, writer.report


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_a_buckets_new_rows_go_into_its_small_last_file(tmp_path: Path, fmt: str) -> None:
    local, lake = _lake_beside(tmp_path, fmt)
    last = _last_bucket(lake)
    files = _files(lake)
    for n in range(4):  # rows added right after the bucket's last file: taken in
        for path in (local, lake):
            _add(path, 10 * n, _context_in(last))
        assert _files(lake) == files
    other = (last + 1) % BUCKETS
    for path in (local, lake):  # another bucket's: a file of its own, once
        _add(path, 100, _context_in(other))
    grown = _files(lake)
    assert all(grown[n] == files[n] + 1 for n in ("frames", "sources")), (files, grown)
    for path in (local, lake):  # and its next rows go into that file
        _add(path, 110, _context_in(other, 1))
    assert _files(lake) == grown
    _same_as_local(local, lake)


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_a_file_past_the_bound_is_left_as_it_is(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lake_order, "FOLD_BYTES", 100)
    local, lake = _lake_beside(tmp_path, fmt)
    last = _last_bucket(lake)
    files = _files(lake)
    for n in range(2):
        for path in (local, lake):
            _add(path, 10 * n, _context_in(last))
        assert _files(lake)["frames"] == files["frames"] + n + 1
    _same_as_local(local, lake)
