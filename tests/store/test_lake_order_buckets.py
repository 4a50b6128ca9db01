"""A lake of several buckets keeps every file in stored order after updates and label
writes: each file's `_row` range overlaps no other's (the views scan them unsorted) and the
rows, read file after file as stored, come in a local catalog's order.

A write numbers its rows bucket after bucket, so a local catalog given the same frames in
that order (here: contexts c0, c2, c1, in buckets 0, 1, 2 of three) stores them alike. A
bucket's rows a write keeps and the ones it adds after every other's are then two stretches
of the stored order with other buckets' rows between: store/lake_order.py writes them as
files of their own, in the write's one commit. Files whose ranges overlapped before (a
plain overwrite's, as earlier writes left them) are rewritten with the first write that
touches them, sorted and split where other files' rows lie between."""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

import workbench
from tests.store.test_frames_left_without_rois import FRAMES, _frame, _roi, _rois
from workbench.ingest import CatalogWriter
from workbench.ingest._columnar import rows_table
from workbench.ingest._rows import roi_row
from workbench.model.records import ROI_SCHEMA
from workbench.store import lake_write
from workbench.store.lake import LAKE_TABLES
from workbench.store.lake_write import open_for_lake

BUCKETS = 3


def _bucket(i: int) -> int:
    return zlib.crc32(f"c{i // 6}".encode()) % BUCKETS


def _in_bucket_order(numbers: list[int]) -> list[int]:
    return sorted(numbers, key=lambda i: (_bucket(i), numbers.index(i)))


def _lake_beside(tmp_path: Path, fmt: str) -> tuple[Path, Path]:
    """A local catalog holding the frames in the order a lake of three buckets stores
    them, and a copy of it moved into such a lake."""
    assert sorted({_bucket(i) for i in range(FRAMES)}) == [0, 1, 2]
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    with workbench.open(local) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in _in_bucket_order(list(range(FRAMES))):
            writer.add(_frame(i, _rois(i)))
    shutil.copyfile(local, lake)
    open_for_lake(
        str(lake), str(tmp_path / "lake"), attach=False, buckets=BUCKETS, progress=False, fmt=fmt
    )
    return local, lake


def _update(path: Path, again: list[int], labelled: list[int]) -> None:
    """Frames `again` stored again (other ROIs), new predictions for `labelled` (their
    ground truth stays), each in bucket order."""
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in _in_bucket_order(again):
            writer.add(_frame(i, _rois(i + 1)))
        writer.flush()
        order = _in_bucket_order(labelled)
        given = [roi_row(f"f{i:02d}", _roi(i, 7, "predictions", "truck", 0.5)) for i in order]
        named = [f"f{i:02d}" for i in order]
        writer.write_labels(named, "predictions", rows_table(given, ROI_SCHEMA), [], cleared=named)
    assert writer.report.ok, writer.report


_KEYS = {"frames": "id", "sources": "frame_id || id", "rois": "frame_id || id"}


def _local_order(path: Path) -> dict[str, list[str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            n: [r[0] for r in con.sql(f"SELECT {_KEYS[n]} FROM {n}").fetchall()]
            for n in LAKE_TABLES
        }


def _as_stored(path: Path) -> tuple[dict[str, list[str]], dict[str, bool]]:
    """Each lake table's rows read file after file in the views' order, unsorted, and
    whether its files' ranges are disjoint (the views then need no sort)."""
    with workbench.open(path) as catalog:
        lake = catalog.lake
        out, disjoint = {}, {}
        for name in LAKE_TABLES:
            files, disjoint[name] = lake.files(name, lake.format.version(name))
            rows = duckdb.sql(
                f"SELECT {_KEYS[name]} FROM read_parquet({[f.removeprefix('file://') for f in files]},"
                " union_by_name = true)"
            ).fetchall()
            out[name] = [r[0] for r in rows]
    return out, disjoint


def _views(path: Path) -> dict[str, Any]:
    with workbench.open(path) as catalog:
        view = catalog.view()
        rois = catalog.cursor().execute("SELECT frame_id, id, field FROM rois").fetchall()
        return {"frame ids": view.frame_ids(), "page": view.page(0, 50).column("id").to_pylist(),
                "rois": [tuple(r) for r in rois]}  # fmt: skip


def _same_as_local(local: Path, lake: Path) -> None:
    stored, disjoint = _as_stored(lake)
    assert disjoint == dict.fromkeys(LAKE_TABLES, True)
    assert stored == _local_order(local)
    assert _views(lake) == _views(local)


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_updates_and_label_writes_keep_a_local_catalogs_order(tmp_path: Path, fmt: str) -> None:
    local, lake = _lake_beside(tmp_path, fmt)
    for path in (local, lake):
        _update(path, again=[4, 12], labelled=[1, 7, 13])
        _update(path, again=[15, 8, 2], labelled=[4, 10])
    _same_as_local(local, lake)


def _plain(fmt: Any, name: str, rows: Any, where: Any, replaced: Any = None) -> None:
    fmt.overwrite(name, rows, where)


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_files_whose_ranges_overlap_are_written_again_in_order(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, lake = _lake_beside(tmp_path, fmt)
    first: Callable[[Path], None] = lambda p: _update(p, again=[4, 12], labelled=[1, 7])  # noqa: E731
    first(local)
    with monkeypatch.context() as patched:  # the format's own overwrite, as before
        patched.setattr(lake_write, "write_in_order", _plain)
        first(lake)
    assert not all(_as_stored(lake)[1].values())  # ranges overlap: the views sort
    calls: list[str] = []
    with workbench.open(lake) as catalog:
        kind = type(catalog.lake.format)
    original = kind.overwrite

    def counted(self: Any, name: str, *args: Any, **kwargs: Any) -> None:
        calls.append(name)
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(kind, "overwrite", counted)
    for path in (local, lake):
        _update(path, again=[13], labelled=[3])
    assert calls == []  # no plain overwrite taken
    _same_as_local(local, lake)
