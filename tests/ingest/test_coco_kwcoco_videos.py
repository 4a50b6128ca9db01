"""kwcoco's videos and tracks, built with kwcoco's own API: each video a context whose frames
carry their own frame index and time, each integer track id its ROIs' track index, the same
through the columnar and the per-record paths, and given back in a file kwcoco validates with
every video, frame index and track id kept."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import workbench
from workbench.ingest import _coco_columnar, coco

kwcoco = pytest.importorskip("kwcoco")


def _dataset(path: Path) -> Path:
    data = kwcoco.CocoDataset()
    car = data.add_category("car")
    drive = data.add_video(name="drive", width=64, height=48, caption="ring road")
    park = data.add_video(name="park")
    stamps = {drive: [1_700_000_000, 1_700_000_000.5, 1_700_000_001], park: ["2024-05-01T10:00:00"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kwcoco warns of tracks not in its `tracks` table
        for video, times in stamps.items():
            for number, stamp in enumerate(times):
                image = data.add_image(
                    file_name=f"{video}-{number}.jpg", video_id=video, frame_index=10 + 5 * number,
                    width=64, height=48, timestamp=stamp,
                )  # fmt: skip
                data.add_annotation(image_id=image, category_id=car, bbox=[1, 2, 10, 10],
                                    track_id=7 if video == drive else 3)  # fmt: skip
                if video == drive and number == 1:
                    data.add_annotation(image_id=image, category_id=car, bbox=[20, 2, 5, 5],
                                        track_id=8)  # fmt: skip
                if video == drive and number != 1:  # a track named, as kwcoco allows
                    data.add_annotation(image_id=image, category_id=car, bbox=[30, 2, 5, 5],
                                        track_id="cyclist")  # fmt: skip
        still = data.add_image(file_name="still.jpg", width=10, height=10)
        data.add_annotation(image_id=still, category_id=car, bbox=[1, 1, 2, 2], track_id=9)
    data.dump(str(path))
    return path


def _imported(tmp_path: Path, source: Path, name: str, **options):
    with workbench.open(tmp_path / f"{name}.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False, **options)
        frames = catalog.sql(
            "SELECT id, context_id, frame_index, timestamp, num_frames, metadata FROM frames "
            "ORDER BY id"
        ).fetchall()
        rois = catalog.sql(
            "SELECT frame_id, id, track_index, attributes FROM rois ORDER BY ALL"
        ).fetchall()
        dest = tmp_path / name / "out.json"
        coco.export_files(catalog.view(), dest, progress=False)
    return report, frames, rois, dest


@pytest.mark.parametrize("record_by_record", [False, True])
def test_kwcoco_videos_are_contexts_and_tracks_and_come_back(
    tmp_path, monkeypatch, record_by_record
):
    source = _dataset(tmp_path / "v.kwcoco.json")
    if record_by_record:
        monkeypatch.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)
    report, frames, rois, dest = _imported(tmp_path, source, "c")
    assert report.ok, report.errors
    got = {f[0]: f[1:5] for f in frames}
    may_first = 1_714_557_600_000  # 2024-05-01T10:00:00 UTC, in milliseconds
    assert got == {
        "v.kwcoco:1": ("v.kwcoco:drive", 10, 1_700_000_000_000, 3),
        "v.kwcoco:2": ("v.kwcoco:drive", 15, 1_700_000_000_500, 3),
        "v.kwcoco:3": ("v.kwcoco:drive", 20, 1_700_000_001_000, 3),
        "v.kwcoco:4": ("v.kwcoco:park", 10, may_first, 1),
        "v.kwcoco:5": (str(tmp_path / "still.jpg"), None, None, None),
    }
    meta = json.loads(frames[0][5])
    assert meta == {"video": {"id": 1, "name": "drive", "width": 64, "height": 48,
                              "caption": "ring road"}}  # fmt: skip
    tracks = {(r[0], r[1]): r[2] for r in rois}
    # a named track numbered after the video's highest integer track id
    assert tracks == {("v.kwcoco:1", "1"): 7, ("v.kwcoco:1", "2"): 9, ("v.kwcoco:2", "3"): 7,
                      ("v.kwcoco:2", "4"): 8, ("v.kwcoco:3", "5"): 7, ("v.kwcoco:3", "6"): 9,
                      ("v.kwcoco:4", "7"): 3,
                      ("v.kwcoco:5", "8"): None}  # an image of no video: no track  # fmt: skip

    source_doc, ours = json.loads(source.read_text()), kwcoco.CocoDataset(str(dest))
    assert ours.validate(missing=False).get("errors", []) == []
    assert ours.dataset["videos"] == source_doc["videos"]
    keys = ("video_id", "frame_index", "timestamp")
    mine = {i["id"]: {k: i.get(k) for k in keys} for i in ours.dataset["images"]}
    theirs = {i["id"]: {k: i.get(k) for k in keys} for i in source_doc["images"]}
    theirs[4]["timestamp"] = may_first // 1000  # ISO-8601 text comes back as UNIX seconds
    assert mine == theirs
    back = {a["id"]: a.get("track_id") for a in ours.dataset["annotations"]}
    assert back == {a["id"]: a["track_id"] for a in source_doc["annotations"]}
    # The video frames listed in their video's order, by kwcoco's own index.
    assert [ours.imgs[g]["frame_index"] for g in ours.index.vidid_to_gids[1]] == [10, 15, 20]


def test_the_two_paths_store_a_kwcoco_video_file_alike(tmp_path, monkeypatch):
    source = _dataset(tmp_path / "v.kwcoco.json")
    columnar = _imported(tmp_path, source, "a")[1:3]
    monkeypatch.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)
    assert _imported(tmp_path, source, "b")[1:3] == columnar
    # in partitions, frames made in another order: the named tracks numbered alike
    assert _imported(tmp_path, source, "c", partition_bytes=500)[1:3] == columnar


def test_a_bad_video_costs_only_itself(tmp_path):
    source = _dataset(tmp_path / "v.kwcoco.json")
    doc = json.loads(source.read_text())
    del doc["videos"][1]["name"]  # park: its image stays an image, its video_id metadata
    source.write_text(json.dumps(doc))
    report, frames, rois, _ = _imported(tmp_path, source, "c")
    assert [str(e) for e in report.errors] == [f"{source}, video #2: a video needs a name"]
    got = {f[0]: (f[1], f[2], json.loads(f[5] or "{}")) for f in frames}
    assert got["v.kwcoco:4"] == (
        str(tmp_path / "2-0.jpg"), None,
        {"video_id": 2, "frame_index": 10, "timestamp": "2024-05-01T10:00:00"},
    )  # fmt: skip
    assert got["v.kwcoco:1"][:2] == ("v.kwcoco:drive", 10)
    assert {r[2] for r in rois if r[0] == "v.kwcoco:4"} == {None}
