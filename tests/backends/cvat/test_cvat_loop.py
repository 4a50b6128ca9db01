"""The whole loop through the service: annotate -> an annotator works in (fake) CVAT ->
load_annotations -> the catalog's rows, for images, tracks, long sequences and videos."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import workbench
from workbench.backends import BackendError
from workbench.backends.cvat import CvatBackend, CvatResponseError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.services import Workbench
from workbench.store.catalog import Catalog

from .cvat_catalog import IMAGES, SCHEMA, VIDEO_URL, rois, rotated_box
from .fake_cvat import FakeCvat


def test_images_full_loop(wb: Workbench, fake: FakeCvat, catalog: Catalog) -> None:
    results = wb.annotate(IMAGES, "loop", backend="cvat", label_schema=SCHEMA, task_size=2)
    assert (results.info.tasks, results.info.labels) == (2, 6)
    first, second = fake.task_named("#1"), fake.task_named("#2")
    assert first.data["sorting_method"] == "predefined" and first.data["image_quality"] == 75
    assert first.names == ["000000_img-0.jpg", "000001_img-1.jpg"] and first.sizes[0] == (64, 48)
    car = fake.label_id(first.id, "car")
    b0, b1 = sorted(fake.items(first.id, "shapes"), key=lambda s: s["frame"])
    assert (b0["points"], b0["group"], b1["occluded"]) == ([10, 10, 30, 22], 2, True)
    assert b0["attributes"] == [{"spec_id": fake.spec_id(car, "color"), "value": "red"}]
    (b2,) = fake.items(second.id, "shapes")
    assert b2["rotation"] == pytest.approx(30.0)
    assert b2["points"] == pytest.approx([22.0, 16.0, 38.0, 24.0])

    # An annotator moves a box, recolours and un-occludes another, rotates a third, deletes
    # a tag, relabels one and draws a truck.
    b0["points"] = [12.0, 10.0, 32.0, 22.0]
    fake.set_value(b1, car, "color", "blue")
    b1["occluded"] = False
    b2["rotation"] = 45.0
    tags = fake.items(first.id, "tags")
    first.annotations["tags"] = [t for t in tags if t["frame"] == 0]
    first.annotations["tags"][0]["label_id"] = fake.label_id(first.id, "rain")
    truck = fake.add_shape(
        first.id, 0, "truck", "rectangle", [40, 5, 50, 15], attributes={"color": "blue"}
    )

    report = wb.load_annotations("loop")
    assert not report.rejected and not report.unexpected
    assert sorted((r.frame_id, r.roi_id) for r in report.changed) == [
        ("img-0", "b0"),
        ("img-0", "w0"),
        ("img-1", "b1"),
        ("img-2", "b2"),
    ]
    assert [(r.frame_id, r.roi_id) for r in report.deleted] == [("img-1", "w1")]
    assert [(r.frame_id, r.roi_id) for r in report.added] == [("img-0", f"shape:{truck}")]
    gt = rois(catalog, "gt")
    assert gt[("img-0", "b0")]["geometry"] == [[12.0, 10.0, 32.0, 10.0, 32.0, 22.0, 12.0, 22.0]]
    assert (
        gt[("img-0", "b0")]["confidence"] == 0.9 and gt[("img-0", "b0")]["attributes"]["group"] == 2
    )
    assert gt[("img-1", "b1")]["attributes"] == {
        "occluded": False,
        "color": "blue",
        "note": "keep me",
    }
    assert gt[("img-2", "b2")]["geometry"][0] == pytest.approx(rotated_box(30, 20, 16, 8, 45.0))
    new = gt[("img-0", f"shape:{truck}")]
    assert (new["label"], new["attributes"]) == ("truck", {"occluded": False, "color": "blue"})
    assert new["geometry"] == [[40.0, 5.0, 50.0, 5.0, 50.0, 15.0, 40.0, 15.0]]
    weather = rois(catalog, "weather")
    assert [(k, v["label"]) for k, v in weather.items()] == [
        (("img-0", "w0"), "rain"),
        (("img-2", "w2"), "sunny"),
    ]
    again = wb.load_annotations("loop")
    assert (again.added, again.changed, again.deleted, again.unchanged) == ((), (), (), 6)
    assert fake.rejections == []
    assert {m for _, _, m in fake.validated} >= {
        "LoginSerializerExRequest",
        "ProjectWriteRequest",
        "TaskWriteRequest",
        "DataRequest",
        "LabeledDataRequest",
    }


def test_an_untouched_run_merges_as_unchanged(wb: Workbench, fake: FakeCvat) -> None:
    wb.annotate(
        [*IMAGES, "seq-0", "seq-1", "seq-2", "seq-3"], "same", backend="cvat", label_schema=SCHEMA
    )
    report = wb.load_annotations("same")
    assert (report.added, report.changed, report.deleted, report.rejected) == ((), (), (), ())
    assert report.unchanged == 10 and report.keyframes == 2


# Each restriction, and the change it refuses.
RESTRICTIONS = {
    "allow_spatial_edits": "spatial",
    "allow_deletions": "deletion",
    "allow_label_edits": "label",
    "allow_additions": "addition",
    "read_only": "attribute",
}


@pytest.mark.parametrize("restriction", list(RESTRICTIONS))
def test_each_edit_restriction_puts_its_change_back(
    wb: Workbench, fake: FakeCvat, catalog: Catalog, restriction: str
) -> None:
    schema = json.loads(json.dumps(SCHEMA))
    options = {}
    if restriction == "read_only":
        schema["gt"]["attributes"]["color"]["read_only"] = True
    else:
        options[restriction] = False
    wb.annotate(IMAGES[:2], "strict", backend="cvat", label_schema=schema, **options)
    task = fake.task_named("#1")
    car = fake.label_id(task.id, "car")
    b0, b1 = sorted(fake.items(task.id, "shapes"), key=lambda s: s["frame"])
    b0["points"] = [0.0, 0.0, 5.0, 5.0]
    fake.set_value(b1, car, "color", "blue")
    task.annotations["tags"] = [t for t in fake.items(task.id, "tags") if t["frame"] == 0]
    task.annotations["tags"][0]["label_id"] = fake.label_id(task.id, "rain")
    truck = fake.add_shape(task.id, 1, "truck", "rectangle", [40, 5, 50, 15])

    report = wb.load_annotations("strict")
    refused = RESTRICTIONS[restriction]
    assert {r.change for r in report.rejected} == {refused}
    gt, weather = rois(catalog, "gt"), rois(catalog, "weather")
    applied = {
        "spatial": gt[("img-0", "b0")]["geometry"] == [[0.0, 0.0, 5.0, 0.0, 5.0, 5.0, 0.0, 5.0]],
        "attribute": gt[("img-1", "b1")]["attributes"]["color"] == "blue",
        "deletion": ("img-1", "w1") not in weather,
        "label": weather[("img-0", "w0")]["label"] == "rain",
        "addition": ("img-1", f"shape:{truck}") in gt,
    }
    assert applied == {change: change != refused for change in applied}


def test_tracks_round_trip_with_keyframes_and_outside(
    wb: Workbench, fake: FakeCvat, catalog: Catalog
) -> None:
    frames = [f"seq-{i}" for i in range(6)]
    wb.annotate(frames, "tracks", backend="cvat", label_schema=SCHEMA)
    task = fake.task_named("#1")
    (track,) = fake.items(task.id, "tracks")
    assert [(s["frame"], s["outside"], s["points"][0]) for s in track["shapes"]] == [
        (0, False, 10.0),
        (3, False, 16.0),
        (4, True, 16.0),
    ]
    assert fake.labels[track["label_id"]]["attributes"][0]["mutable"] is True
    ids = {e.frame_id: e.shape_id for e in wb.annotation_id_map("tracks").entries}
    assert ids["seq-2"] == f"track:{track['id']}:2"

    # Move the last keyframe, drop the end marker (the car stays to the end of the task), and
    # draw a truck on frames 1..3.
    track["shapes"][1]["points"] = [40.0, 10.0, 50.0, 20.0]
    track["shapes"].pop()
    truck = fake.add_track(
        task.id,
        "truck",
        "rectangle",
        [
            {"frame": 1, "points": [0, 30, 8, 38]},
            {"frame": 3, "points": [4, 30, 12, 38]},
            {"frame": 4, "points": [4, 30, 12, 38], "outside": True},
        ],
    )
    report = wb.load_annotations("tracks")
    assert not report.rejected
    assert sorted(r.frame_id for r in report.changed) == ["seq-1", "seq-2", "seq-3"]
    assert sorted((r.frame_id, r.roi_id) for r in report.added) == [
        ("seq-1", f"track:{truck}:1"),
        ("seq-2", f"track:{truck}:2"),
        ("seq-3", f"track:{truck}:3"),
        ("seq-4", f"track:{track['id']}:4"),
        ("seq-5", f"track:{track['id']}:5"),
    ]
    gt = rois(catalog, "gt")
    cars = [gt[k] for k in sorted(gt) if gt[k]["label"] == "car" and k[0].startswith("seq")]
    assert [(c["geometry"][0][0], c["keyframe"], c["track_index"]) for c in cars] == [
        (10.0, True, 7),
        (20.0, False, 7),
        (30.0, False, 7),
        (40.0, True, 7),
        (40.0, False, 7),
        (40.0, False, 7),
    ]
    trucks = [gt[k] for k in sorted(gt) if gt[k]["label"] == "truck"]
    assert [(t["geometry"][0][0], t["keyframe"], t["track_index"]) for t in trucks] == [
        (0.0, True, truck),
        (2.0, False, truck),
        (4.0, True, truck),
    ]
    assert report.keyframes == 4


def _long_catalog(tmp_path: Any, count: int) -> Catalog:
    catalog = workbench.open(tmp_path / "long.duckdb")
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(count):
            rois = (
                [Roi(f"r{i}", "box", ["car"], field="gt", geometry=[box_ring(i % 50, 1, 4, 4)])]
                if i >= 998
                else []
            )
            writer.add(
                Frame(
                    f"long-{i}",
                    sources=[Source("cam", f"http://media.test/long/frame_{i}.jpg")],
                    rois=rois,
                    context_id="long",
                    timestamp=i,
                )
            )
    return catalog


def test_predefined_sorting_keeps_the_order_of_1001_frames(
    tmp_path: Any, fake: FakeCvat, backend: CvatBackend
) -> None:
    catalog = _long_catalog(tmp_path, 1001)
    wb = Workbench(catalog, actor="tester", backends={"cvat": backend})
    schema = {"gt": {"type": "detections", "classes": ["car"]}}
    wb.annotate([f"long-{i}" for i in range(1001)], "long", backend="cvat", label_schema=schema)
    task = fake.task_named("#1")
    assert task.names == [f"frame_{i}.jpg" for i in range(1001)]
    assert task.data["remote_files"][999:1001] == [
        "http://media.test/long/frame_999.jpg",
        "http://media.test/long/frame_1000.jpg",
    ]
    assert sorted(s["frame"] for s in fake.items(task.id, "shapes")) == [998, 999, 1000]
    report = wb.load_annotations("long")
    assert (report.changed, report.unchanged) == ((), 3)
    # A server that sorts by name anyway is caught before anything is recorded.
    fake.force_sorting = "lexicographical"
    with pytest.raises(
        CvatResponseError,
        match=re.escape(
            "another order than sent: frame 2 is 'frame_10.jpg', expected 'frame_2.jpg'"
        ),
    ):
        wb.annotate(
            [f"long-{i}" for i in range(1001)], "sorted", backend="cvat", label_schema=schema
        )
    assert wb.list_annotation_runs() == ["long"]
    assert len(fake.projects) == 1  # the half-made project was deleted
    catalog.close()


def test_video_frames_map_to_start_stop_step(
    wb: Workbench, fake: FakeCvat, catalog: Catalog
) -> None:
    clip = [f"clip-{i}" for i in range(10)]
    schema = {"gt": {"type": "detections", "classes": ["car"]}}
    wb.annotate(
        clip,
        "video",
        backend="cvat",
        label_schema=schema,
        frame_start=2,
        frame_stop=8,
        frame_step=3,
    )
    task = fake.task_named("#1")
    assert task.data["remote_files"] == [VIDEO_URL]
    assert (task.data["start_frame"], task.data["stop_frame"], task.data["frame_filter"]) == (
        2,
        8,
        "step=3",
    )
    assert task.size == 3
    fake.add_shape(task.id, 1, "car", "rectangle", [100, 200, 300, 400])
    report = wb.load_annotations("video")
    assert [r.frame_id for r in report.added] == ["clip-5"]
    with pytest.raises(BackendError, match=r"evenly spaced.*\[0, 1, 5\]"):
        wb.annotate(["clip-0", "clip-1", "clip-5"], "uneven", backend="cvat", label_schema=schema)
    assert len(fake.projects) == 1  # refused before CVAT was asked for anything


def test_labels_added_in_cvat_are_reported_by_the_merge(wb: Workbench, fake: FakeCvat) -> None:
    wb.annotate(IMAGES[:1], "new-label", backend="cvat", label_schema=SCHEMA)
    task = fake.task_named("#1")
    fake._add_label(task.project_id, {"name": "bus", "type": "rectangle", "attributes": []})
    fake.add_shape(task.id, 0, "bus", "rectangle", [1, 1, 9, 9])
    report = wb.load_annotations("new-label")
    assert [(r.change, r.reason) for r in report.rejected] == [
        ("class", "label 'bus' is not a class of field 'gt'")
    ]
    assert report.added == ()
