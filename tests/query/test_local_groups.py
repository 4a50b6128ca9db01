"""Frame groups of a local catalog: facets read from them equal those read from the frames,
and no write leaves groups read that no longer describe the catalog."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import workbench
from tests.lake.test_lake_groups import CAMERAS, GROUPED, WEATHER, _answers, _views
from tests.store.test_layout import _frame
from workbench.ingest import CatalogWriter, Roi, Source, parquet
from workbench.model.geometry import box_ring
from workbench.services import Workbench
from workbench.store import groups
from workbench.store.catalog import Catalog


def _fill(path: Path, first: int, count: int) -> None:
    """Frames `first`..`first + count - 1` with labels, metadata and a picture on disk
    (scenes are made only of frames whose pictures exist)."""
    media = path.parent / "media"
    media.mkdir(exist_ok=True)
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(first, first + count):
            labels = [("ground_truth", ["car", "dog"][i % 2], None)]
            labels += [("predictions", "car", 0.07 * (i % 14))] * (i % 3)
            metadata: dict[str, Any] = {"weather": WEATHER[(i // 3) % 3], "road": f"r{i % 2}"}
            if i % 5:  # some frames have no camera: a NULL value and a group of its own
                metadata["camera"] = CAMERAS[i % 2]
            picture = media / f"f{i}.png"
            Image.new("RGB", (8, 8)).save(picture)
            frame = _frame(i, labels, **metadata)
            writer.add(dataclasses.replace(frame, sources=[Source("cam", str(picture))]))
            if i % 10 == 9:
                writer.flush()


def _grouped(catalog: Catalog) -> dict[str, bool]:
    return {name: v.groups() is not None for name, v in _views(catalog).items()}


def _check(catalog: Catalog) -> dict[str, bool]:
    """Every view's facets as the catalog answers them now, against the same facets read
    from the frames (the groups dropped); the groups are then counted again. Returns which
    views the groups answered."""
    grouped = _grouped(catalog)
    answered = {name: _answers(v) for name, v in _views(catalog).items()}
    with catalog.transaction() as con:
        groups.drop(con, groups.LOCAL)
    assert not any(_grouped(catalog).values())
    for name, view in _views(catalog).items():
        assert answered[name] == _answers(view), name
    catalog.count_groups()
    return grouped


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "local.duckdb"
    _fill(path, 0, 60)
    with workbench.open(path) as catalog:
        assert catalog.optimize() == ["road"]  # promoted: a column the groups may hold
    return path


def test_optimize_counts_groups_that_answer_as_the_frames_do(path: Path) -> None:
    with workbench.open(path) as catalog:
        con = catalog.cursor()
        stamp = groups.local_stamp(con)
        assert groups.current(con, groups.LOCAL, lambda: stamp) == [
            "weather",
            "time_of_day",
            "camera",
            "location",
            "metadata_road",
        ]
        assert _check(catalog) == GROUPED
        rain = catalog.view().match(weather="rain")
        assert rain.count() == sum(1 for i in range(60) if WEATHER[(i // 3) % 3] == "rain")
        # the stored order is a frames column the groups lack (a view has no rowid)
        assert catalog.view().where("f.rowid % 2 = 0").groups() is None
    with workbench.open(path, read_only=True) as catalog:  # read from a sealed catalog too
        assert _grouped(catalog) == GROUPED


def test_a_write_of_frames_makes_the_groups_stale(path: Path) -> None:
    with workbench.open(path) as catalog:
        view = catalog.view().match(weather="rain")
        assert view.groups() is not None
        before = view.count()
    _fill(path, 60, 15)  # the writer commits frames and ROIs: the groups are not read since
    with workbench.open(path) as catalog:
        view = catalog.view().match(weather="rain")
        assert view.groups() is None
        assert view.count() == before + sum(
            1 for i in range(60, 75) if WEATHER[(i // 3) % 3] == "rain"
        )
        assert not any(_check(catalog).values())
        assert _check(catalog) == GROUPED  # counted again by the check


def test_labels_replaced_on_stored_frames_keep_the_groups_exact(path: Path) -> None:
    """No frame is added (same count, same keys) and no frames row changes: the label write
    counts its frames' ROI codes again in their groups, which keep answering, as the frames
    do (store/layout_insert.rois_replaced)."""
    with workbench.open(path) as catalog:
        stamp = groups.local_stamp(catalog.cursor())
        with CatalogWriter(catalog, progress=False) as writer:
            for i in range(0, 60, 2):
                ring = [box_ring(1, 1, 2, 2)]
                roi = Roi(f"p{i}", "box", ["truck"], geometry=ring, confidence=0.5)
                writer.add_labels(f"f{i}", "predictions", [roi])
        assert groups.local_stamp(catalog.cursor()) == stamp
        rain = catalog.view().match(weather="rain")
        assert rain.groups() is not None
        trucks = sum(1 for i in range(0, 60, 2) if WEATHER[(i // 3) % 3] == "rain")
        assert {"field": "predictions", "label": "truck", "count": trucks} in (
            rain.label_counts().to_pylist()
        )
        assert _check(catalog) == GROUPED  # the groups' answers are the frames'


def test_a_finished_import_counts_the_groups_again(path: Path, tmp_path: Path) -> None:
    more = tmp_path / "more.duckdb"
    _fill(more, 40, 40)  # 20 frames replace stored ones (their ROIs too), 20 are new
    with workbench.open(more) as catalog:
        parquet.export_files(catalog.view(), tmp_path / "export", progress=False)
    with workbench.open(path) as catalog:
        assert parquet.import_files(catalog, [tmp_path / "export"], progress=False).ok
        assert catalog.view().match(weather="fog").groups() is not None
        assert catalog.view().count() == 80
        assert _check(catalog) == GROUPED


def test_service_writes_keep_the_groups_only_while_they_hold(path: Path) -> None:
    with workbench.open(path) as catalog:
        wb = Workbench(catalog, actor="tester")
        wb.tag_frames([f"f{i}" for i in range(0, 60, 4)], "look")
        assert _check(catalog) == GROUPED  # tags are not frames or ROIs
        tagged = catalog.view().match(weather="rain").match_tags("look")
        assert tagged.groups() is None  # a set of frames, not of groups
        assert tagged.count() == sum(1 for i in range(0, 60, 4) if WEATHER[(i // 3) % 3] == "rain")
        assert catalog.view().match(weather="rain").tag_counts().to_pylist() == [
            {"tag": "look", "count": tagged.count()}
        ]
        wb.create_project("p")
        wb.create_batch("p", external_id="b1")
        scenes = wb.create_scenes_from_frames(["f1", "f2", "f3"])
        made = wb.create_inputs_from_scenes("p", scene_uuids=[s.uuid for s in scenes])
        assert _check(catalog) == GROUPED
        wb.delete_inputs([made[0].uuid], confirm=True)
        assert _check(catalog) == GROUPED
        wb.invalidate_scenes([scenes[1].uuid], "bad-content", confirm=True)
        assert _check(catalog) == GROUPED
