"""Facets of a lake-backed catalog read from its frame groups equal a local catalog's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import workbench
from tests.store.test_layout import _frame
from workbench.ingest.writer import CatalogWriter
from workbench.store import lake_groups
from workbench.store.lake_write import open_for_lake

WEATHER = ["rain", "clear", "fog"]
CAMERAS = ["front", "rear"]
# Which of `_views` the groups answer (the rest read the frames), on a lake or not.
GROUPED = {
    "match": True,
    "where": True,
    "no camera": True,
    "promoted metadata": True,
    "label filter": False,  # frames with such ROIs: a set of frames, not of groups
    "frame index": False,  # columns the groups do not hold read the frames
    "json": False,
}


def _fill(path: Path, first: int, count: int) -> None:
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(first, first + count):
            labels = [("ground_truth", ["car", "dog"][i % 2], None)]
            labels += [("predictions", "car", 0.07 * (i % 14))] * (i % 3)
            metadata: dict[str, Any] = {"weather": WEATHER[(i // 3) % 3], "road": f"r{i % 2}"}
            if i % 5:  # some frames have no camera: a NULL value and a group of its own
                metadata["camera"] = CAMERAS[i % 2]
            writer.add(_frame(i, labels, **metadata))
            if i % 10 == 9:
                writer.flush()


def _views(catalog: Any) -> dict[str, Any]:
    v = catalog.view()
    return {
        "match": v.match(weather="rain"),
        "where": v.where("f.weather IN ('rain', 'fog') AND camera IS DISTINCT FROM 'rear'"),
        "no camera": v.where("f.camera IS NULL"),
        "promoted metadata": v.match(road="r1"),
        "label filter": v.match(weather="fog").filter_rois("predictions", labels=["car"]),
        "frame index": v.where("f.frame_index % 2 = 0"),
        "json": v.where("f.metadata->>'road' = 'r0'"),
    }


def _answers(view: Any) -> dict[str, Any]:
    return {
        "count": view.count(),
        "contexts": view.count_contexts(),
        "labels": view.label_counts().to_pylist(),
        "predictions": view.label_counts("predictions").to_pylist(),
        "histogram": view.confidence_histogram("predictions").to_pylist(),
        "histogram 4": view.confidence_histogram("predictions", 4).to_pylist(),
        "histogram 7": view.confidence_histogram("predictions", 7).to_pylist(),
        "weather": view.metadata_values("weather").to_pylist(),
        "camera": view.metadata_values("camera").to_pylist(),
        "location": view.metadata_values("location").to_pylist(),
        "road": view.metadata_values("road").to_pylist(),
        "fields": view.fields(),
        "codes": sorted(view.roi_codes(10).to_pylist(), key=lambda r: (r["label_key"], r["bin"])),
    }


def _compare(local: Any, lake: Any) -> dict[str, bool]:
    """Every view's facets on both catalogs (equal), and which the lake's groups answered."""
    grouped = {}
    for (name, a), b in zip(_views(local).items(), _views(lake).values(), strict=True):
        assert _answers(b) == _answers(a), name
        grouped[name] = b.groups() is not None
    return grouped


def test_frame_groups_answer_facets_as_a_local_catalog(tmp_path: Path) -> None:
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    _fill(local, 0, 60)
    with workbench.open(local) as catalog:
        assert catalog.optimize() == ["road"]  # promoted: a column the groups may hold
    shutil.copyfile(local, lake)
    open_for_lake(str(lake), str(tmp_path / "lake"), attach=False, buckets=2, progress=False)
    with workbench.open(local) as a, workbench.open(lake) as b:
        assert b.lake is not None
        assert lake_groups.current(b.cursor(), b.lake) == [
            "weather",
            "time_of_day",
            "camera",
            "location",
            "metadata_road",
        ]
        grouped = _compare(a, b)
        assert grouped == GROUPED
        # the stored order is a frames column the groups lack (a view has no rowid)
        assert b.view().where("f.rowid % 2 = 0").groups() is None
    # a write moves the lake on: the groups describe an older snapshot and are not read
    _fill(local, 60, 15)
    _fill(lake, 60, 15)
    with workbench.open(local) as a, workbench.open(lake) as b:
        assert b.lake is not None
        assert lake_groups.current(b.cursor(), b.lake) is None
        assert not any(_compare(a, b).values())
    from workbench.cli import main

    assert main(["--catalog", str(lake), "lake", "compact", "--no-promote"]) == 0
    with workbench.open(local) as a, workbench.open(lake) as b:
        assert _compare(a, b)["match"]
        assert b.view().match(weather="rain").count() == sum(
            1 for i in range(75) if WEATHER[(i // 3) % 3] == "rain"
        )


def test_frame_groups_of_an_attached_lake(tmp_path: Path) -> None:
    local, made, attached = (tmp_path / n for n in ("local.duckdb", "made.duckdb", "att.duckdb"))
    _fill(local, 0, 40)
    shutil.copyfile(local, made)
    open_for_lake(str(made), str(tmp_path / "lake"), attach=False, buckets=3, progress=False)
    open_for_lake(str(attached), str(tmp_path / "lake"), attach=True, buckets=3, progress=False)
    with workbench.open(local) as a, workbench.open(attached) as b:
        assert _compare(a, b)["where"]


def _pages(view: Any) -> list[Any]:
    return [view.page(offset, 9).to_pylist() for offset in (0, 7, 33, 60)]


def test_pages_read_only_the_files_holding_their_frames(tmp_path: Path) -> None:
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    _fill(local, 0, 40)
    shutil.copyfile(local, lake)
    open_for_lake(str(lake), str(tmp_path / "lake"), attach=False, buckets=3, progress=False)
    _fill(local, 40, 30)  # more writes: more files in every table
    _fill(lake, 40, 30)
    for read_only in (False, True):
        with workbench.open(local) as a, workbench.open(lake, read_only=read_only) as b:
            assert b.lake is not None
            files = len(b.lake.delta("rois").file_uris())
            assert files > 3
            first = b.lake.by_keys("rois", 0, 0)
            assert first.count(".parquet'") == 1 < files  # one file holds frame key 0
            assert b.lake.by_keys("rois", 10**9, 10**9 + 5).endswith("WHERE false)")
            views = (b.view(), b.view().match(weather="fog"))
            pruned = [_pages(v) for v in views]
            b.lake._keyed.clear()  # every file, through the views
            assert pruned == [_pages(v) for v in views]
            # the frames and their ROIs are the local catalog's (stored in another order)
            rows = {r["id"]: r["rois"] for p in pruned[0] for r in p}
            want = {r["id"]: r["rois"] for p in _pages(a.view()) for r in p}
            assert len(rows) > 20
            for frame_id in set(rows) & set(want):
                assert rows[frame_id] == want[frame_id]
