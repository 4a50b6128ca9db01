"""On S3 (moto's server on loopback) as on a local disk, updates that add frames to every
bucket keep one file a bucket (store/lake_tail.py): tests/store/test_lake_updates_across_buckets.py
on a lake at s3://."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lake.s3 import make_bucket, moto_server
from tests.lake.test_lake_s3_order import ROOT, _lake_beside
from tests.store.test_lake_updates_across_buckets import (
    _one_file_a_bucket_in_order,
    _update_every_bucket,
)


@pytest.fixture
def s3() -> Iterator[str]:
    with moto_server():
        make_bucket("fleet")
        yield ROOT


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_s3_updates_adding_frames_to_every_bucket_keep_one_file_a_bucket(
    s3: str, tmp_path: Path, fmt: str
) -> None:
    local, lake = _lake_beside(tmp_path, fmt)
    for n in range(3):
        _update_every_bucket((local, lake), n)
    _one_file_a_bucket_in_order(local, lake)
