"""A lake on S3 (moto's server on loopback) is updated as a local one is: one sorted commit
a table, its files' `_row` ranges disjoint and each file in stored order, the rows read file
after file in a local catalog's order; and a write whose commit fails leaves the lake as it
was, the files it wrote removed from the bucket."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import workbench
from tests.lake.s3 import make_bucket, moto_server
from tests.store.test_frames_left_without_rois import FRAMES, _frame, _rois
from tests.store.test_lake_order_buckets import (
    BUCKETS,
    _in_bucket_order,
    _local_order,
    _update,
    _views,
)
from workbench.errors import LakeError
from workbench.ingest import CatalogWriter
from workbench.store.lake import LAKE_TABLES, arrow_filesystem, fs_path
from workbench.store.lake_iceberg import default_catalog
from workbench.store.lake_write import open_for_lake

ROOT = "s3://fleet/lake"


@pytest.fixture
def s3() -> Iterator[str]:
    with moto_server():
        make_bucket("fleet")
        yield ROOT


def _lake_beside(tmp_path: Path, fmt: str) -> tuple[Path, Path]:
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    with workbench.open(local) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in _in_bucket_order(list(range(FRAMES))):
            writer.add(_frame(i, _rois(i)))
    shutil.copyfile(local, lake)
    catalog = default_catalog(str(lake)) if fmt == "iceberg" else None
    open_for_lake(
        str(lake), ROOT, attach=False, buckets=BUCKETS, progress=False, fmt=fmt, catalog=catalog
    )
    return local, lake


def _as_stored(path: Path) -> tuple[dict[str, list[str]], dict[str, bool]]:
    """Each table's keys read file after file in the views' order, and whether the files'
    ranges are disjoint; and each file's `_row` ascending."""
    with workbench.open(path) as catalog:
        lake = catalog.lake
        assert lake is not None
        fs = arrow_filesystem(lake.root)
        out, disjoint = {}, {}
        for name in LAKE_TABLES:
            files, disjoint[name] = lake.files(name, lake.format.version(name))
            keys = []
            for uri in files:
                rows = pq.read_table(fs_path(uri), filesystem=fs)
                numbers = rows["_row"].to_pylist()
                assert numbers == sorted(numbers), uri
                keys += _keys(rows, name)
            out[name] = keys
    return out, disjoint


def _keys(rows: Any, name: str) -> list[str]:
    if name == "frames":
        return [str(v) for v in rows["id"].to_pylist()]
    return [
        f"{a}{b}" for a, b in zip(rows["frame_id"].to_pylist(), rows["id"].to_pylist(), strict=True)
    ]


def _data_files() -> set[str]:
    fs = arrow_filesystem(ROOT)
    found = fs.get_file_info(pafs.FileSelector(fs_path(ROOT), recursive=True))
    return {f.path for f in found if f.path.endswith(".parquet")}


def _overwrites(monkeypatch: pytest.MonkeyPatch, lake: Path) -> list[str]:
    """The tables the format's own overwrite is called for from now on."""
    calls: list[str] = []
    with workbench.open(lake) as catalog:
        assert catalog.lake is not None
        kind = type(catalog.lake.format)
    original = kind.overwrite

    def counted(self: Any, name: str, *args: Any, **kwargs: Any) -> None:
        calls.append(name)
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(kind, "overwrite", counted)
    return calls


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_an_s3_lake_update_is_one_sorted_commit(
    tmp_path: Path, fmt: str, s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, lake = _lake_beside(tmp_path, fmt)
    calls = _overwrites(monkeypatch, lake)
    for path in (local, lake):
        _update(path, again=[4, 12], labelled=[1, 7, 13])
        _update(path, again=[15, 8, 2], labelled=[4, 10])
    assert calls == []  # no plain overwrite taken
    stored, disjoint = _as_stored(lake)
    assert disjoint == dict.fromkeys(LAKE_TABLES, True)
    assert stored == _local_order(local)
    assert _views(lake) == _views(local)


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_a_failed_s3_write_leaves_the_lake_as_it_was(
    tmp_path: Path, fmt: str, s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, lake = _lake_beside(tmp_path, fmt)
    before = _views(lake), _data_files(), _as_stored(lake)
    with workbench.open(lake) as catalog:
        assert catalog.lake is not None
        kind = type(catalog.lake.format)
    written: list[str] = []

    def refused(self: Any, name: str, removed: Any, added: Any) -> None:
        written.extend(f.path for f in added)
        raise LakeError(f"cannot write lake table {name}: refused")

    with monkeypatch.context() as patched:
        patched.setattr(kind, "replace_files", refused)
        with pytest.raises(LakeError, match="refused"):
            _update(lake, again=[4, 12], labelled=[1, 7, 13])
    assert written  # files were written to the bucket, then the commit failed
    # the files are gone from the bucket, the lake reads as before, in order
    assert (_views(lake), _data_files(), _as_stored(lake)) == before
