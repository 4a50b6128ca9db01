"""A lake's stored order after writes that store frames again, as a local catalog's.

An import's update stores a changed frame again (after every other, as a local catalog's
DELETE and INSERT does) and a label write replaces some frames' ROIs (their new rows after
the others, the frames' other fields' ROIs in place). deltalake's predicate overwrite writes
the file it rewrites with the new rows before the rows it kept: one file, so its `_row`
range overlaps no other and the views would scan it unsorted, the frames stored again first
(store/lake_order.py writes such a file merged in order, in the write's one commit). An
unsorted view's frame ids, frames and first page, and the ROIs as stored, read as on a
local catalog, on a Delta lake and an Iceberg one alike."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.store.test_frames_left_without_rois import _fill, _frame, _roi, _rois
from workbench.ingest import CatalogWriter
from workbench.ingest._columnar import rows_table
from workbench.ingest._rows import roi_row
from workbench.model.records import ROI_SCHEMA
from workbench.store.lake_write import open_for_lake


def _update(path: Path) -> None:
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        writer.add(_frame(4, _rois(7)))  # stored again with other ROIs
        writer.add(_frame(12, []))  # stored again without its ROIs
        writer.flush()
        # f02 had no ROI, f06 predictions only (a lake writes a frame's rows again whole)
        given = [roi_row(f"f{i:02d}", _roi(i, 7, "predictions", "truck", 0.1 * i)) for i in (2, 6)]
        named = ["f02", "f06"]
        writer.write_labels(named, "predictions", rows_table(given, ROI_SCHEMA), [], cleared=named)
    assert writer.report.ok, writer.report


def _stored(catalog: Any) -> dict[str, Any]:
    """What an unsorted read gives, in its order."""
    view = catalog.view()
    rois = catalog.cursor().execute("SELECT frame_id, id, field FROM rois").fetchall()
    return {
        "frame ids": view.frame_ids(),
        "frames": view.frames(columns=["id"]).column("id").to_pylist(),
        "page": view.page(0, 50).column("id").to_pylist(),
        "rois": [tuple(r) for r in rois],
    }


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_a_lake_keeps_a_local_catalogs_order_after_an_update(tmp_path: Path, fmt: str) -> None:
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    _fill(local)
    shutil.copyfile(local, lake)
    open_for_lake(
        str(lake), str(tmp_path / "lake"), attach=False, buckets=1, progress=False, fmt=fmt
    )
    for path in (local, lake):
        _update(path)
    with workbench.open(local) as a, workbench.open(lake) as b:
        expected = _stored(a)
        assert expected["frame ids"][-2:] == ["f04", "f12"]  # stored again, last
        assert [r[0] for r in expected["rois"][-5:]] == ["f04", "f04", "f04", "f02", "f06"]
        assert _stored(b) == expected
    with workbench.open(lake) as b:  # and read afresh
        assert _stored(b) == expected


def _lake_beside(tmp_path: Path, fmt: str) -> tuple[Path, Path]:
    """A local catalog and a copy of it moved into a lake of one bucket."""
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    _fill(local)
    shutil.copyfile(local, lake)
    open_for_lake(
        str(lake), str(tmp_path / "lake"), attach=False, buckets=1, progress=False, fmt=fmt
    )
    return local, lake


def _relabel(path: Path) -> None:
    """New predictions for frames that hold ground truth too (f01, f07: a label write
    replaces one field's ROIs of a frame, its other fields' stay)."""
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        given = [roi_row(f"f{i:02d}", _roi(i, 7, "predictions", "truck", 0.5)) for i in (1, 7)]
        named = ["f01", "f07"]
        writer.write_labels(named, "predictions", rows_table(given, ROI_SCHEMA), [], cleared=named)
    assert writer.report.ok, writer.report


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_a_label_write_leaves_a_frames_other_rois_where_a_local_catalog_does(
    tmp_path: Path, fmt: str
) -> None:
    local, lake = _lake_beside(tmp_path, fmt)
    for path in (local, lake):
        _relabel(path)
    with workbench.open(local) as a, workbench.open(lake) as b:
        expected = _stored(a)
        kept = [r for r in expected["rois"] if r[0] == "f07"]
        assert kept[0] == ("f07", "g5", "ground_truth")  # in place, before f09's
        assert expected["rois"].index(kept[0]) < expected["rois"].index(
            ("f09", "p0", "predictions")
        )
        assert expected["rois"][-2:] == [("f01", "p7", "predictions"), ("f07", "p7", "predictions")]
        assert _stored(b) == expected
    with workbench.open(lake) as b:  # and read afresh
        assert _stored(b) == expected


def test_a_delta_update_is_one_commit_a_table(tmp_path: Path) -> None:
    """The file an update rewrites holds the rows it keeps and the new ones in stored
    order as written: no second commit sorts it."""
    from deltalake import DeltaTable

    _, lake = _lake_beside(tmp_path, "delta")

    def versions() -> list[int]:
        return [DeltaTable(str(tmp_path / "lake" / n)).version() for n in ("frames", "rois")]

    before = versions()
    with workbench.open(lake) as catalog, CatalogWriter(catalog, progress=False) as writer:
        writer.add(_frame(4, _rois(7)))  # stored again, in the middle of its file
    assert [v - b for v, b in zip(versions(), before, strict=True)] == [1, 1]
    with workbench.open(lake) as catalog:
        assert catalog.view().frame_ids()[-1] == "f04"
