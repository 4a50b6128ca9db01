"""Tracks through COCO: kwcoco's `tracks` records kept on their ROIs and written back, and every
ROI on a track, whatever format it came from, exported with a `track_id` and a `tracks` list
that kwcoco validates and that an import of the file puts on the same tracks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, _coco_columnar, box_ring, coco

kwcoco = pytest.importorskip("kwcoco")


def _kwcoco_file(path: Path) -> Path:
    data = kwcoco.CocoDataset()
    car = data.add_category("car")
    drive = data.add_video(name="drive")
    data.add_track(name="red car", id=5, colour="red")
    data.add_track(name="bus", id=6)
    data.add_track(name="unused", id=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for number in range(3):
            image = data.add_image(file_name=f"{number}.jpg", video_id=drive,
                                   frame_index=number, width=64, height=48)  # fmt: skip
            data.add_annotation(image_id=image, category_id=car, bbox=[1, 2, 10, 10], track_id=5)
            if number:
                data.add_annotation(image_id=image, category_id=car, bbox=[30, 2, 9, 9],
                                    track_id=6)  # fmt: skip
    data.dump(str(path))
    return path


@pytest.mark.parametrize("record_by_record", [False, True])
def test_kwcoco_tracks_are_kept_and_come_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_by_record: bool
) -> None:
    source = _kwcoco_file(tmp_path / "t.kwcoco.json")
    if record_by_record:
        monkeypatch.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)
    dest = tmp_path / "out" / "o.json"
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
        assert report.ok, report.errors
        rois = catalog.sql("SELECT track_index, attributes FROM rois ORDER BY ALL").fetchall()
        coco.export_files(catalog.view(), dest, progress=False)
    kept = {index: json.loads(text)["track"] for index, text in rois}
    assert kept == {5: {"id": 5, "name": "red car", "colour": "red"},
                    6: {"id": 6, "name": "bus"}}  # fmt: skip
    ours = kwcoco.CocoDataset(str(dest))
    assert ours.validate(missing=False).get("errors", []) == []
    # the records of the tracks its annotations are on, as given; none left on the annotations
    assert ours.dataset["tracks"] == json.loads(source.read_text())["tracks"][:2]
    assert all("track" not in a for a in ours.dataset["annotations"])
    assert sorted(a["track_id"] for a in ours.dataset["annotations"]) == [5, 5, 5, 6, 6]


def test_a_bad_track_record_costs_only_itself(tmp_path: Path) -> None:
    source = _kwcoco_file(tmp_path / "t.kwcoco.json")
    doc = json.loads(source.read_text())
    doc["tracks"] += [{"name": "no id"}, {"id": 5, "name": "again"}]
    source.write_text(json.dumps(doc))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [source], progress=False)
    assert [str(e) for e in report.errors] == [
        f"{source}, track #4: a track needs an id (an integer or a string)",
        f"{source}, track #5: its id is an earlier track's",
    ]


def _tracked_catalog(path: Path, indexed: bool = True) -> workbench.Catalog:
    """Two clips as another format gives them: frames of a context with frame indexes (or
    none, only times), ROIs on tracks numbered within each clip (both clips have tracks 0 and
    1), no kwcoco keys."""
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for clip in ("clip-a", "clip-b"):
            for n in range(3):
                rois = [Roi(f"{clip[-1]}{n}{t}".replace("a", "1").replace("b", "2"), "box",
                            ["car"], geometry=[box_ring(t * 20, 0, t * 20 + 10, 10)],
                            track_index=t) for t in range(2) if n or t]  # fmt: skip
                rois.append(Roi(f"9{(clip[-1] == 'a' and 1) or 2}{n}", "box", ["car"],
                                geometry=[box_ring(50, 0, 60, 10)]))  # on no track  # fmt: skip
                writer.add(Frame(f"{clip}/{n}", [Source("image", f"/i/{clip}/{n}.jpg", 64, 48)],
                                 rois, context_id=clip, frame_index=n if indexed else None,
                                 timestamp=1000 * n))  # fmt: skip
    return catalog


def _groups(rows: list[tuple[Any, ...]]) -> set[frozenset[Any]]:
    """The ROIs (by image file and ROI id) on each track (context and track index)."""
    tracks: dict[Any, set[Any]] = {}
    for uri, roi_id, context, index in rows:
        if index is not None:
            tracks.setdefault((context, index), set()).add((Path(uri).name, roi_id))
    return {frozenset(group) for group in tracks.values()}


_TRACKED = (
    "SELECT s.uri, r.id, f.context_id, r.track_index FROM rois r JOIN frames f ON f.id = "
    "r.frame_id JOIN sources s ON s.frame_id = f.id ORDER BY ALL"
)


@pytest.mark.parametrize("indexed", [True, False])
def test_tracks_of_another_format_are_exported_for_kwcoco(tmp_path: Path, indexed: bool) -> None:
    """(Frames without a frame index numbered in the export's order: kwcoco orders a video's
    images by it alone, and cannot index a file where one has none.)"""
    dest = tmp_path / "out" / "o.json"
    with _tracked_catalog(tmp_path / "c.duckdb", indexed) as catalog:
        before = catalog.sql(_TRACKED).fetchall()
        coco.export_files(catalog.view(), dest, progress=False)
    ours = kwcoco.CocoDataset(str(dest))
    assert ours.validate(missing=False).get("errors", []) == []
    annotations = ours.dataset["annotations"]
    tracked = [a for a in annotations if "track_id" in a]
    assert len(tracked) == 10  # every ROI on a track, and only those
    assert {t["id"] for t in ours.dataset["tracks"]} == {a["track_id"] for a in tracked}
    assert len(ours.dataset["tracks"]) == 4  # clip-b's tracks 0 and 1 are others than clip-a's
    assert [v["name"] for v in ours.dataset["videos"]] == ["clip-a", "clip-b"]
    for video in ours.dataset["videos"]:
        frames = [ours.imgs[g] for g in ours.index.vidid_to_gids[video["id"]]]
        assert [Path(f["file_name"]).name for f in frames] == ["0.jpg", "1.jpg", "2.jpg"]
        assert [f["frame_index"] for f in frames] == [0, 1, 2]
    with workbench.open(tmp_path / "again.duckdb") as again:
        report = coco.import_files(again, [dest], progress=False, images_dir="/i")
        assert report.ok, report.errors
        after = again.sql(_TRACKED).fetchall()
    assert _groups(after) == _groups(before)
    assert len(_groups(after)) == 4
