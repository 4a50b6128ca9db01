"""Nucleus items as Scale's SDK writes them (scale-nucleus, in its own virtualenv): an image's
size and camera parameters are kept and loaded back by the SDK; pointcloud items and
LidarScenes, which the catalog cannot hold, are refused by name instead of being read as
images or as items without a reference_id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import nucleus

from .sdk_venv import run_in_sdk_venv

_SDK_SCENES = """
import json
from nucleus import DatasetItem, Frame, LidarScene, VideoScene
cam = {"position": {"x": 1, "y": 2, "z": 3}, "heading": {"w": 1, "x": 0, "y": 0, "z": 0},
       "fx": 100, "fy": 101, "cx": 50, "cy": 51}
items = [DatasetItem(image_location=f"s3://b/{n}.jpg", reference_id=f"f{n}", width=640,
                     height=480, metadata={"camera_params": cam, "deep": {"a": [n, {"b": None}]}})
         for n in range(3)]
video = VideoScene(reference_id="drive", frame_rate=10, items=items)
lidar = LidarScene(reference_id="lidar", frames=[Frame(
    lidar=DatasetItem(pointcloud_location="s3://b/p.json", reference_id="p0"),
    cam=DatasetItem(image_location="s3://b/c.jpg", reference_id="c0"))])
print(json.dumps([json.loads(video.to_json()), json.loads(lidar.to_json())]))
"""
_LOAD = """
import json, sys
from nucleus import VideoScene
scenes = [VideoScene.from_json(json.loads(line)) for line in open(sys.argv[1])]
print(json.dumps([[i.reference_id, i.camera_params.fx, i.camera_params.cy, i.metadata["deep"]]
                  for s in scenes for i in s.items]))
"""


@pytest.fixture(scope="module")
def sdk_scenes() -> list[dict]:
    return run_in_sdk_venv(_SDK_SCENES)


def _write(path: Path, scenes: list[dict]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(scenes))
    else:
        path.write_text("".join(json.dumps(s) + "\n" for s in scenes))
    return path


def _where(path: Path, n: int) -> str:
    return f"{path}:{n + 1}" if path.suffix == ".ndjson" else f"{path}[{n}]"


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_sizes_and_camera_parameters_the_sdk_wrote_are_kept(tmp_path, sdk_scenes, suffix):
    path = _write(tmp_path / f"s{suffix}", sdk_scenes[:1])
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = nucleus.import_files(catalog, [path], progress=False)
        assert report.ok, report
        rows = catalog.sql(
            "SELECT f.id, s.uri, s.width, s.height, f.metadata->'$.camera_params'->>'$.fx' "
            "FROM frames f JOIN sources s ON s.frame_id = f.id ORDER BY f.id"
        ).fetchall()
        assert rows == [(f"f{n}", f"s3://b/{n}.jpg", 640, 480, "100") for n in range(3)]
        out = tmp_path / "out.ndjson"
        nucleus.export_files(catalog.view(), out, progress=False)
    # The SDK reads the camera parameters of our export from the items' metadata.
    assert run_in_sdk_venv(_LOAD, str(out)) == [
        [f"f{n}", 100, 51, {"a": [n, {"b": None}]}] for n in range(3)
    ]


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_a_lidar_scene_is_refused_by_name_and_costs_itself_only(tmp_path, sdk_scenes, suffix):
    path = _write(tmp_path / f"s{suffix}", [sdk_scenes[1], sdk_scenes[0]])
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = nucleus.import_files(catalog, [path], progress=False)
        assert [(e.where, e.problem) for e in report.errors] == [
            (f"{_where(path, 0)}, scene 'lidar'",
             "frames of sensors ('cam', 'lidar') make a LidarScene, which the catalog cannot "
             "hold (VideoScenes of images only)")
        ]  # fmt: skip
        assert catalog.sql("SELECT count(*) FROM frames").fetchall() == [(3,)]


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_pointcloud_items_are_refused_and_cost_themselves_only(tmp_path, sdk_scenes, suffix):
    lidar_item = sdk_scenes[1]["frames"][0]["lidar"]  # as the SDK writes a scene's pointcloud
    frames = [
        {"reference_id": "a", "image_location": "s3://b/a.jpg"},
        lidar_item,
        {"reference_id": "p1", "pointcloud_url": "s3://b/p1.json"},
        {"reference_id": "p2", "image_location": "s3://b/p2.jpg", "pointcloud_location": "x"},
        {"reference_id": "b", "image_location": "s3://b/b.jpg"},
    ]
    path = _write(tmp_path / f"s{suffix}", [{"reference_id": "v", "frame_rate": 1,
                                             "frames": frames}])  # fmt: skip
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = nucleus.import_files(catalog, [path], progress=False)
        problem = "item is a pointcloud, which the catalog cannot hold (images only)"
        assert [(e.where, e.problem) for e in report.errors] == [
            (f"{_where(path, 0)}, scene 'v', index {n}, item '{ref}'", problem)
            for n, ref in ((1, "p0"), (2, "p1"), (3, "p2"))
        ]
        assert catalog.sql("SELECT id FROM frames ORDER BY id").fetchall() == [("a",), ("b",)]


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_a_bad_size_costs_its_item_only(tmp_path, suffix):
    frames = [{"reference_id": f"i{n}", "image_location": f"s3://b/{n}.jpg", "width": width}
              for n, width in enumerate([64, "64", -1, True, 0, None])]  # fmt: skip
    path = _write(tmp_path / f"s{suffix}", [{"reference_id": "v", "frame_rate": 1,
                                             "frames": frames}])  # fmt: skip
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = nucleus.import_files(catalog, [path], progress=False)
        assert [e.problem for e in report.errors] == [
            f"width must be a positive integer, got {bad}" for bad in ("'64'", -1, True, 0)
        ]
        assert catalog.sql("SELECT frame_id, width FROM sources ORDER BY 1").fetchall() == [
            ("i0", 64),
            ("i5", None),
        ]


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_a_reference_id_of_another_type_is_named_not_called_missing(tmp_path, suffix):
    scenes = [
        '{"reference_id": 99999999999999999999999, "frame_rate": 1,'
        ' "frames": [{"reference_id": "a", "image_location": "s3://b/a.jpg"}]}',
        '{"reference_id": "v", "frame_rate": 1, "frames": ['
        '{"reference_id": 1.5, "image_location": "s3://b/b.jpg"},'
        '{"reference_id": 7, "image_location": "s3://b/c.jpg"}]}',
    ]
    path = tmp_path / f"s{suffix}"
    path.write_text("\n".join(scenes) + "\n" if suffix == ".ndjson" else f"[{','.join(scenes)}]")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = nucleus.import_files(catalog, [path], progress=False)
        assert [(e.where, e.problem) for e in report.errors] == [
            (_where(path, 0), "scene has no reference_id (a string or an integer), got 1e+23"),
            (f"{_where(path, 1)}, scene 'v', index 0",
             "item has no reference_id (a string or an integer), got 1.5"),
        ]  # fmt: skip
        assert catalog.sql("SELECT id FROM frames").fetchall() == [("7",)]
