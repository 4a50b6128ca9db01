"""Labelbox files as Labelbox takes them: unique uuids, bad lines skipped whole, frames
addressed by their true frame number, whole-video answers kept by every export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, labelbox

VIDEO = "clip.mp4"


def _video(catalog, count: int, step: int = 1) -> list[str]:
    """Frames of a video imported with frame_step=`step`: frame_index is the true number."""
    ids = []
    with CatalogWriter(catalog, progress=False) as writer:
        for n in range(0, count, step):
            ids.append(f"c-{n:03d}")
            source = Source("image", f"/v/{n}.jpg", 100, 80)
            writer.add(Frame(ids[-1], context_id=VIDEO, frame_index=n, sources=[source]))
    return ids


def _write(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _rois(catalog) -> dict[tuple[str, str], dict]:
    rows = catalog.sql(
        "SELECT frame_id, id, keyframe, geometry, attributes FROM rois ORDER BY ALL"
    ).fetchall()
    return {(f, i): {"keyframe": k, "geometry": g, "attributes": json.loads(a or "{}")}
            for f, i, k, g, a in rows}  # fmt: skip


def _box(frame: int, left: float) -> dict:
    return {"frame": frame, "bbox": {"top": 10, "left": left, "height": 20, "width": 30}}


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def test_frames_are_addressed_by_their_true_frame_number(catalog, tmp_path):
    # Imported with frame_step=5: the catalog holds frames 0, 5, 10, ... (Labelbox 1, 6, 11).
    _video(catalog, 30, step=5)
    line = {"uuid": "car", "name": "car", "dataRow": {"globalKey": VIDEO}}
    line["segments"] = [{"keyframes": [_box(6, 0), _box(16, 100)]}]
    answer = {"uuid": "w", "name": "weather", "dataRow": {"globalKey": VIDEO},
              "answer": {"name": "rain"}, "frames": [{"start": 11, "end": 26}]}  # fmt: skip
    report = labelbox.import_files(catalog, [_write(tmp_path / "a.ndjson", [line, answer])],
                                   progress=False)  # fmt: skip
    assert report.ok, report
    rois = _rois(catalog)
    car = {f: r for (f, i), r in rois.items() if i == "car"}
    assert sorted(car) == ["c-005", "c-010", "c-015"]
    assert car["c-005"]["keyframe"] and car["c-015"]["keyframe"]
    assert car["c-010"]["geometry"][0][0] == 50.0  # halfway between frames 6 and 16
    assert sorted(f for f, i in rois if i == "w") == ["c-010", "c-015", "c-020", "c-025"]
    out = labelbox.export_files(catalog.view(), tmp_path / "out.ndjson", progress=False)
    lines = {line["uuid"]: line for line in map(json.loads, out.dest.read_text().splitlines())}
    frames = [k["frame"] for k in lines["car"]["segments"][0]["keyframes"]]
    assert frames == [6, 16]
    assert lines["w"]["frames"] == [{"start": 11, "end": 26}]


def test_a_keyframe_past_the_end_is_named_by_its_own_number(catalog, tmp_path):
    _video(catalog, 50)
    line = {"uuid": "car", "name": "car", "dataRow": {"globalKey": VIDEO}}
    line["segments"] = [{"keyframes": [_box(1, 0), _box(60, 10)]}]
    report = labelbox.import_files(catalog, [_write(tmp_path / "a.ndjson", [line])],
                                   progress=False)  # fmt: skip
    assert [e.problem for e in report.errors] == [
        "frame number 60 is out of range: the video's frames are 1 to 50"
    ]


def test_overlapping_segments_cost_their_own_line_only(catalog, tmp_path):
    _video(catalog, 10)
    good = {"uuid": "good", "name": "car", "dataRow": {"globalKey": VIDEO}}
    good["segments"] = [{"keyframes": [_box(1, 0), _box(5, 0)]}]
    bad = {"uuid": "bad", "name": "car", "dataRow": {"globalKey": VIDEO}}
    bad["segments"] = [{"keyframes": [_box(2, 0), _box(4, 0)]},
                       {"keyframes": [_box(3, 0), _box(6, 0)]}]  # fmt: skip
    path = _write(tmp_path / "a.ndjson", [good, bad])
    report = labelbox.import_files(catalog, [path], progress=False)
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{path}:2", "segments overlap on frame 'c-002'")
    ]
    assert sorted(f for f, i in _rois(catalog) if i == "good") == [f"c-{n:03d}" for n in range(5)]
    assert not [key for key in _rois(catalog) if key[1] == "bad"]


def test_whole_video_answers_survive_an_export_without_the_first_frame(catalog, tmp_path):
    ids = _video(catalog, 6)
    answer = {"uuid": "notes", "name": "notes", "dataRow": {"globalKey": VIDEO}, "answer": "ok"}
    labelbox.import_files(catalog, [_write(tmp_path / "a.ndjson", [answer])], progress=False)
    view = catalog.view().select(ids[3:])
    out = labelbox.export_files(view, tmp_path / "out.ndjson", progress=False)
    lines = [json.loads(t) for t in out.dest.read_text().splitlines()]
    assert lines == [{"uuid": "notes", "dataRow": {"globalKey": VIDEO}, "name": "notes",
                      "answer": "ok"}]  # fmt: skip


def test_a_checklist_over_frames_is_one_line_with_one_uuid(catalog, tmp_path):
    _video(catalog, 6)
    line = {"uuid": "hz", "name": "hazards", "dataRow": {"globalKey": VIDEO},
            "answer": [{"name": "glare", "frames": [{"start": 1, "end": 4}]},
                       {"name": "spray", "frames": [{"start": 3, "end": 6}]}]}  # fmt: skip
    radio = {"uuid": "r", "name": "light", "dataRow": {"globalKey": VIDEO},
             "answer": {"name": "day"}, "frames": [{"start": 1, "end": 2}]}  # fmt: skip
    radio2 = {
        **radio,
        "uuid": "r2",
        "answer": {"name": "night"},
        "frames": [{"start": 5, "end": 6}],
    }
    path = _write(tmp_path / "a.ndjson", [line, radio, radio2])
    assert labelbox.import_files(catalog, [path], progress=False).ok
    out = labelbox.export_files(catalog.view(), tmp_path / "out.ndjson", progress=False)
    lines = [json.loads(t) for t in out.dest.read_text().splitlines()]
    uuids = [line["uuid"] for line in lines]
    assert len(uuids) == len(set(uuids)) == 3
    hazards = next(line for line in lines if line["name"] == "hazards")
    assert hazards["answer"] == [
        {"name": "glare", "frames": [{"start": 1, "end": 4}]},
        {"name": "spray", "frames": [{"start": 3, "end": 6}]},
    ]
    # Importing the export again gives the same ROIs.
    before = _rois(catalog)
    assert labelbox.import_files(catalog, [out.dest], progress=False).ok
    assert _rois(catalog) == before


def test_rois_of_a_second_camera_are_not_put_on_the_video_of_the_first(catalog, tmp_path):
    with CatalogWriter(catalog, progress=False) as writer:
        for n in range(2):
            sources = [Source("front", f"/f/{n}.jpg", 100, 80), Source("rear", f"/r/{n}.jpg")]
            rois = [Roi("a", "box", ["car"], "predictions", [box_ring(1, 1, 5, 5)],
                        source_ids=["front"], track_index=0),
                    Roi("b", "box", ["car"], "predictions", [box_ring(1, 1, 5, 5)],
                        source_ids=["rear"], track_index=1)]  # fmt: skip
            writer.add(Frame(f"g{n}", context_id="rig", frame_index=n, sources=sources,
                             rois=rois))  # fmt: skip
    out = labelbox.export_files(catalog.view(), tmp_path / "o.ndjson", progress=False)
    lines = [json.loads(t) for t in out.dest.read_text().splitlines()]
    assert [line["uuid"] for line in lines] == [lines[0]["uuid"]] and out.rois == 2
    assert out.skipped == ["2 ROIs drawn on another source than the video's (its first)"]
