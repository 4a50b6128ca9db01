"""kwcoco files that kwcoco's own API makes, kept whole through the catalog: a video's frames
given without a `frame_index` (numbered in the file's order, so that kwcoco can index the
export), and the `tracks` that only still images' annotations are on. Each through the
columnar statements and record by record alike, and each export loaded and validated by
kwcoco and imported again unchanged."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _coco_columnar, coco

kwcoco = pytest.importorskip("kwcoco")

_FRAMES = "SELECT id, context_id, frame_index FROM frames ORDER BY id"
_ROIS = "SELECT frame_id, id, track_index, attributes FROM rois ORDER BY ALL"


def _without_frame_index(path: Path) -> Path:
    """A video whose images carry no frame index but one (kwcoco's `add_image` refuses a
    video's image without one: taken off after), given out of order in the file."""
    data = kwcoco.CocoDataset()
    car = data.add_category("car")
    drive = data.add_video(name="drive")
    data.add_track(name="red car", id=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for number in (2, 0, 1, 7):
            image = data.add_image(file_name=f"{number}.jpg", video_id=drive,
                                   frame_index=number, width=64, height=48)  # fmt: skip
            data.add_annotation(image_id=image, category_id=car, bbox=[1, 2, 10, 10], track_id=5)
    for image in data.dataset["images"]:
        if image["frame_index"] != 1:
            del image["frame_index"]  # ... but the third, which keeps its own: 1
    path.write_text(json.dumps(data.dataset))
    return path


def _still_tracks(path: Path) -> Path:
    """Still images (no video) whose annotations are on kwcoco tracks; one track's only
    annotation a mask (written by the export's Python, not its SQL)."""
    data = kwcoco.CocoDataset()
    car = data.add_category("car")
    data.add_track(name="red car", id=5, colour="red")
    data.add_track(name="bus", id=6)
    data.add_track(name="unused", id=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for number in range(3):
            image = data.add_image(file_name=f"s{number}.jpg", width=64, height=48)
            data.add_annotation(image_id=image, category_id=car, bbox=[1, 2, 10, 10], track_id=5)
            if number:
                data.add_annotation(image_id=image, category_id=car, bbox=[30, 2, 9, 9],
                                    track_id=6)  # fmt: skip
            data.add_annotation(image_id=image, category_id=car, bbox=[50, 2, 5, 5])
    doc = data.dataset
    doc["tracks"].insert(2, {"id": 7, "name": "kite"})
    doc["annotations"].append({"id": 100, "image_id": 2, "category_id": car, "track_id": 7,
                               "segmentation": {"size": [48, 64], "counts": [100, 20, 2952]},
                               "bbox": [2, 4, 1, 20]})  # fmt: skip
    path.write_text(json.dumps(doc))
    return path


def _round_trip(
    tmp_path: Path, source: Path, name: str, monkeypatch: pytest.MonkeyPatch, by_record: bool
) -> tuple[Any, ...]:
    """Import `source` (by SQL or record by record), export it, import the export again:
    the catalog's frames and ROIs both times, and the export's path."""
    with monkeypatch.context() as patched:
        if by_record:
            patched.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)
        dest = tmp_path / name / "out.json"
        with workbench.open(tmp_path / f"{name}.duckdb") as catalog:
            report = coco.import_files(catalog, [source], progress=False)
            assert report.ok, report.errors
            first = catalog.sql(_FRAMES).fetchall(), catalog.sql(_ROIS).fetchall()
            coco.export_files(catalog.view(), dest, progress=False)
        with workbench.open(tmp_path / f"{name}-again.duckdb") as again:
            report = coco.import_files(again, [dest], progress=False, id_prefix=f"{source.stem}:")
            assert report.ok, report.errors
            second = again.sql(_FRAMES).fetchall(), again.sql(_ROIS).fetchall()
    return first, second, dest


def _contexts(frames: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(context, index) for _, context, index in frames]


@pytest.mark.parametrize("by_record", [False, True])
def test_a_videos_frames_without_a_frame_index_are_numbered_in_the_files_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_record: bool
) -> None:
    source = _without_frame_index(tmp_path / "v.kwcoco.json")
    (frames, rois), (frames2, rois2), dest = _round_trip(
        tmp_path, source, "c", monkeypatch, by_record
    )
    # The file's 2, 0, (1), 7: numbered after the video's highest own index (1), in order.
    assert frames == [("v.kwcoco:1", "v.kwcoco:drive", 2), ("v.kwcoco:2", "v.kwcoco:drive", 3),
                      ("v.kwcoco:3", "v.kwcoco:drive", 1),
                      ("v.kwcoco:4", "v.kwcoco:drive", 4)]  # fmt: skip
    assert {r[2] for r in rois} == {5}
    ours = kwcoco.CocoDataset(str(dest))  # its index cannot be built without frame indexes
    assert ours.validate(missing=False).get("errors", []) == []
    assert list(ours.index.vidid_to_gids[1]) == [3, 1, 2, 4]
    assert [ours.index.anns[a]["track_id"] for a in ours.index.trackid_to_aids[5]] == [5] * 4
    assert _contexts(frames2) == _contexts(frames)
    assert [r[2] for r in rois2] == [r[2] for r in rois]


def test_the_two_paths_number_frames_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _without_frame_index(tmp_path / "v.kwcoco.json")
    by_sql = _round_trip(tmp_path, source, "a", monkeypatch, False)[:2]
    assert _round_trip(tmp_path, source, "b", monkeypatch, True)[:2] == by_sql


@pytest.mark.parametrize("by_record", [False, True])
def test_tracks_of_still_images_are_kept_and_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_record: bool
) -> None:
    source = _still_tracks(tmp_path / "s.kwcoco.json")
    (frames, rois), (_, rois2), dest = _round_trip(tmp_path, source, "c", monkeypatch, by_record)
    assert {f[2] for f in frames} == {None} and {r[2] for r in rois} == {None}
    kept = {json.dumps(json.loads(r[3]).get("track"), sort_keys=True) for r in rois}
    assert len(kept) == 4  # red car's, bus's, kite's, and none
    ours = kwcoco.CocoDataset(str(dest))
    assert ours.validate(missing=False).get("errors", []) == []
    # the records of the tracks the annotations are on, as given; none left on the annotations
    given = json.loads(source.read_text())["tracks"][:3]
    assert sorted(ours.dataset["tracks"], key=lambda t: t["id"]) == given
    assert all("track" not in a for a in ours.dataset["annotations"])
    assert [len(ours.index.trackid_to_aids[t]) for t in (5, 6, 7)] == [3, 2, 1]
    # imported again: every ROI as it was, records too (the attributes' keys in another order)
    assert [(*r[:3], json.loads(r[3])) for r in rois2] == [(*r[:3], json.loads(r[3])) for r in rois]


def test_the_two_paths_keep_still_tracks_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _still_tracks(tmp_path / "s.kwcoco.json")
    doc = json.loads(source.read_text())
    doc["tracks"] += [{"name": "no id"}, {"id": 5, "name": "again"}]
    doc["annotations"][0]["track"] = {"mine": 1}  # its own: no record added
    doc["annotations"][1]["track_id"] = True  # no track's
    source.write_text(json.dumps(doc))
    results = []
    for by_record in (False, True):
        if by_record:
            monkeypatch.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)
        with workbench.open(tmp_path / f"{by_record}.duckdb") as catalog:
            report = coco.import_files(catalog, [source], progress=False)
            results.append(([str(e) for e in report.errors], catalog.sql(_ROIS).fetchall()))
    assert results[0] == results[1]
    assert results[0][0] == [
        f"{source}, track #5: a track needs an id (an integer or a string)",
        f"{source}, track #6: its id is an earlier track's",
    ]
    attributes = [json.loads(r[3]) for r in results[0][1]]
    assert attributes[0]["track"] == {"mine": 1}
    assert sum("track" in a for a in attributes) == 6
