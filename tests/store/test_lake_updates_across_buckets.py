"""Updates that add frames to every bucket of a lake keep one file a bucket
(store/lake_tail.py): each bucket's small last file is stored again with the bucket's new
frames in the update's commits, its frames after every other bucket's, so the files' ranges
stay disjoint, each file in `_row` order, the stored order the frame-key order, and the
views hold what a local catalog given the same frames holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import workbench
from tests.store.test_frames_left_without_rois import FRAMES
from tests.store.test_lake_order_buckets import BUCKETS, _bucket, _lake_beside
from tests.store.test_lake_small_files import _add, _context_in
from workbench.store.lake import LAKE_TABLES, arrow_filesystem, fs_path

UPDATES = 4


def _bucket_of(frame: str) -> int:
    """The bucket of a frame the tests made: f<i> (`_bucket`) or n<k> (`_context_in`)."""
    k = int(frame[1:])
    return _bucket(k) if frame.startswith("f") else k % 1000 // 100


def _update_every_bucket(paths: tuple[Path, ...], n: int) -> None:
    """Two new frames in each bucket, bucket after bucket (numbered n<bucket><n>...)."""
    for path in paths:
        for bucket in range(BUCKETS):
            _add(path, 100 * bucket + 2 * n, _context_in(bucket, n % 3))


def _stored(path: Path) -> dict[str, Any]:
    """Per table: the files (bucket, `_row` list, frame ids, frame keys), read through the
    lake's file system in the views' order, and whether their ranges are disjoint."""
    with workbench.open(path) as catalog:
        lake = catalog.lake
        assert lake is not None
        fs = arrow_filesystem(lake.root)
        out: dict[str, Any] = {}
        for name in LAKE_TABLES:
            files, disjoint = lake.files(name, lake.format.version(name))
            read = [pq.read_table(fs_path(u), filesystem=fs) for u in files]
            spans = lake.format.spans(name) or []
            out[name] = (disjoint, read, sorted(s.bucket for s in spans))
    return out


def _frames_of(rows: pa.Table, name: str) -> list[str]:
    return [str(v) for v in rows["id" if name == "frames" else "frame_id"].to_pylist()]


def _contents(path: Path) -> dict[str, Any]:
    with workbench.open(path) as catalog:
        con = catalog.cursor()
        sql: Callable[[str], list[Any]] = lambda q: [tuple(r) for r in con.execute(q).fetchall()]  # noqa: E731
        return {
            "frames": sql("SELECT id, context_id, timestamp, metadata FROM frames ORDER BY id"),
            "sources": sql("SELECT frame_id, id, uri FROM sources ORDER BY ALL"),
            "rois": sql("SELECT frame_id, id, field, label, confidence FROM rois ORDER BY ALL"),
            "labels": sorted(catalog.view().frame_ids()),
            "filtered": sorted(
                catalog.view()
                .where("json_extract_string(metadata, ?) = ?", "$.weather", "rain")
                .frame_ids()
            ),
        }


def _one_file_a_bucket_in_order(local: Path, lake: Path) -> None:
    stored = _stored(lake)
    for name in LAKE_TABLES:
        disjoint, files, buckets = stored[name]
        assert disjoint, name
        assert buckets == sorted(set(buckets)), (name, buckets)  # one file a bucket
        for rows in files:
            numbers = rows["_row"].to_pylist()
            assert numbers == sorted(numbers), name
    # frames: bucket by bucket, each bucket's frames in the order they were added, their
    # keys ascending in stored order (the order views page by)
    frames = [f for rows in stored["frames"][1] for f in _frames_of(rows, "frames")]
    keys = [k for rows in stored["frames"][1] for k in rows["frame_key"].to_pylist()]
    assert keys == sorted(keys)
    assert [_bucket_of(f) for f in frames] == sorted(_bucket_of(f) for f in frames)
    with workbench.open(lake) as catalog:
        assert catalog.view().frame_ids() == frames  # the views scan the files unsorted
    for name in ("sources", "rois"):  # a frame's rows where its frame is
        order = [f for rows in stored[name][1] for f in _frames_of(rows, name)]
        assert order == sorted(order, key=frames.index), name
    assert _contents(lake) == _contents(local)


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_updates_adding_frames_to_every_bucket_keep_one_file_a_bucket(
    tmp_path: Path, fmt: str
) -> None:
    assert [_bucket_of(f"n{100 * b}") for b in range(BUCKETS)] == list(range(BUCKETS))
    local, lake = _lake_beside(tmp_path, fmt)
    for n in range(UPDATES):
        _update_every_bucket((local, lake), n)
    _one_file_a_bucket_in_order(local, lake)
    with duckdb.connect(str(local), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM frames").fetchall()[0][0] == FRAMES + 6 * UPDATES
