import gc
import json
from pathlib import Path

import pytest

import workbench
from workbench.errors import IngestError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, labelbox

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "labelbox" / "video_predictions.ndjson"
VIDEO = "video-1.mp4"
CAR = "b0c1a2d3-0000-4000-8000-000000000001"
PEDESTRIAN = "b0c1a2d3-0000-4000-8000-000000000002"
LANE = "b0c1a2d3-0000-4000-8000-000000000003"


def _add_video(catalog, context: str, count: int, *, indexed: bool = True, prefix: str = "v1"):
    """A video of `count` frames; without frame_index the order comes from timestamps only."""
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(count):
            # Ids sort the other way round from time, so a wrong order cannot pass by chance.
            writer.add(
                Frame(
                    id=f"{prefix}-{count - i:02d}",
                    context_id=context,
                    frame_index=i if indexed else None,
                    timestamp=1000 + 40 * i,
                    sources=[Source("image", f"/videos/{prefix}/{i}.jpg", 200, 150)],
                )
            )


def _frame(i: int, prefix: str = "v1", count: int = 12) -> str:
    """Id of the i-th frame (1-based, as Labelbox counts) of a video made by _add_video."""
    return f"{prefix}-{count - i + 1:02d}"


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        _add_video(cat, VIDEO, 12)
        yield cat


def _write(path: Path, lines) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _rois(catalog, field="predictions"):
    rows = catalog.sql(
        "SELECT frame_id, id, label, kind, geometry, confidence, track_index, keyframe, "
        "attributes FROM rois WHERE field = ? ORDER BY frame_id, id",
        [field],
    ).fetchall()
    out = {}
    for frame_id, roi_id, label, kind, geometry, conf, track, key, attributes in rows:
        out[(frame_id, roi_id)] = {
            "label": label,
            "kind": kind,
            "geometry": geometry,
            "confidence": conf,
            "track_index": track,
            "keyframe": key,
            "attributes": json.loads(attributes) if attributes else {},
        }
    return out


def _snapshot(catalog):
    rows = catalog.sql(
        "SELECT frame_id, field, id, label, labels, confidence, kind, geometry, x_min, y_min, "
        "x_max, y_max, track_index, keyframe, attributes FROM rois ORDER BY frame_id, field, id"
    ).fetchall()
    return [(*row[:-1], json.loads(row[-1]) if row[-1] else None) for row in rows]


# -- objects -----------------------------------------------------------------------------------
def test_boxes_between_keyframes_are_interpolated(catalog):
    report = labelbox.import_files(catalog, [SAMPLE], progress=False)
    rois = _rois(catalog)
    car = {n: rois[(_frame(n), CAR)] for n in range(1, 13) if (_frame(n), CAR) in rois}
    assert sorted(car) == [1, 2, 3, 4, 5, 9]  # two segments: 1-5 and 9
    assert [car[n]["keyframe"] for n in (1, 2, 3, 4, 5, 9)] == [
        True,
        False,
        False,
        False,
        True,
        True,
    ]
    assert car[1]["geometry"] == [box_ring(20, 10, 60, 40)]
    assert car[3]["geometry"] == [box_ring(30, 20, 70, 40)]  # halfway from frame 1 to 5
    assert car[5]["geometry"] == [box_ring(40, 30, 80, 40)]
    assert {c["track_index"] for c in car.values()} == {0}
    assert {c["confidence"] for c in car.values()} == {0.8}
    assert car[1]["label"] == "car" and car[1]["kind"] == "box"
    # A keyframe's nested classifications hold on the frames interpolated after it.
    color = [{"name": "color", "answer": {"name": "red"}}]
    assert car[1]["attributes"] == {"uuid": CAR, "classifications": color}
    assert car[4]["attributes"]["classifications"] == color
    assert car[5]["attributes"] == {"uuid": CAR}
    # 19 ROIs of objects and answers over frames, and 2 whole-video answers on all 12 frames.
    assert report.rois == 19 + 2 * 11


def test_points_and_lines_are_tracks_with_their_own_index(catalog):
    labelbox.import_files(catalog, [SAMPLE], progress=False)
    rois = _rois(catalog)
    walker = [rois[(_frame(n), PEDESTRIAN)] for n in (2, 3, 4)]
    assert [w["geometry"] for w in walker] == [[[5, 5]], [[7, 3]], [[9, 1]]]
    assert {w["kind"] for w in walker} == {"point"}
    assert walker[0]["track_index"] == 1 and walker[0]["confidence"] == 1.0  # none given: 1.0
    # Checklist answers spelled `answers` are stored as Labelbox writes them today: `answer`.
    assert walker[2]["attributes"]["classifications"] == [
        {
            "name": "pose",
            "answer": [
                {"name": "walking", "classifications": [{"name": "speed", "answer": "fast"}]}
            ],
        }
    ]
    lane = [rois[(_frame(n), LANE)] for n in (6, 7, 8)]
    assert [r["geometry"] for r in lane] == [
        [[0, 100, 50, 50]],
        [[5, 100, 55, 50]],
        [[10, 100, 60, 50]],
    ]
    assert [r["keyframe"] for r in lane] == [True, False, True]
    assert lane[0]["kind"] == "polyline" and lane[0]["track_index"] == 2


def test_lines_with_different_point_counts_hold_the_earlier_shape(catalog, tmp_path):
    path = _write(
        tmp_path / "l.ndjson",
        [
            {
                "uuid": "u",
                "name": "edge",
                "dataRow": {"globalKey": VIDEO},
                "segments": [
                    {
                        "keyframes": [
                            {"frame": 1, "line": [{"x": 0, "y": 0}, {"x": 4, "y": 4}]},
                            {
                                "frame": 3,
                                "line": [{"x": 1, "y": 1}, {"x": 2, "y": 2}, {"x": 3, "y": 3}],
                            },
                        ]
                    }
                ],
            }
        ],
    )
    labelbox.import_files(catalog, [path], progress=False)
    assert _rois(catalog)[(_frame(2), "u")]["geometry"] == [[0, 0, 4, 4]]


# -- classifications ---------------------------------------------------------------------------
def test_answers_become_classifications_on_their_frames(catalog):
    labelbox.import_files(catalog, [SAMPLE], progress=False)
    rois = _rois(catalog)
    weather = sorted(
        n for n in range(1, 13) if (_frame(n), "b0c1a2d3-0000-4000-8000-000000000004") in rois
    )
    assert weather == [1, 2, 3, 7]
    rain = rois[(_frame(7), "b0c1a2d3-0000-4000-8000-000000000004")]
    assert (rain["kind"], rain["label"], rain["track_index"], rain["keyframe"]) == (
        "classification",
        "weather",
        None,
        None,
    )
    assert rain["confidence"] == 0.6  # the radio answer's own confidence
    assert rain["attributes"]["type"] == "radio"
    assert rain["attributes"]["answer"] == {"name": "rain", "confidence": 0.6}
    hazards = rois[(_frame(2), "b0c1a2d3-0000-4000-8000-000000000005")]
    assert hazards["attributes"]["type"] == "checklist"
    assert hazards["attributes"]["answer"] == [{"name": "glare"}, {"name": "spray"}]


def test_answers_without_frames_hold_for_the_whole_video_on_every_frame(catalog):
    labelbox.import_files(catalog, [SAMPLE], progress=False)
    rois = _rois(catalog)
    notes = rois[(_frame(1), "b0c1a2d3-0000-4000-8000-000000000006")]
    assert notes["attributes"] == {
        "uuid": "b0c1a2d3-0000-4000-8000-000000000006",
        "type": "text",
        "answer": "camera shakes",
        "global": True,
    }
    scene = rois[(_frame(1), "b0c1a2d3-0000-4000-8000-000000000007")]
    assert scene["attributes"]["answer"] == {
        "name": "highway",
        "classifications": [{"name": "lanes", "answer": [{"name": "three"}]}],
    }
    assert sum(1 for key in rois if key[1] == "b0c1a2d3-0000-4000-8000-000000000006") == 12


def test_checklist_answers_with_their_own_frames(catalog, tmp_path):
    path = _write(
        tmp_path / "c.ndjson",
        [
            {
                "uuid": "c",
                "name": "flags",
                "dataRow": {"globalKey": VIDEO},
                "answer": [
                    {"name": "a", "frames": [{"start": 1, "end": 2}]},
                    {"name": "b", "frames": [{"start": 2, "end": 3}]},
                ],
            }
        ],
    )
    labelbox.import_files(catalog, [path], progress=False)
    rois = _rois(catalog)
    answers = {n: rois[(_frame(n), "c")]["attributes"]["answer"] for n in (1, 2, 3)}
    assert answers == {1: [{"name": "a"}], 2: [{"name": "a"}, {"name": "b"}], 3: [{"name": "b"}]}


# -- data rows, frames, errors -----------------------------------------------------------------
def test_bad_lines_are_reported_by_file_and_line_and_the_rest_kept(catalog):
    report = labelbox.import_files(catalog, [SAMPLE], progress=False)
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{SAMPLE}:8", "unknown data row {'globalKey': 'no-such-video.mp4'}"),
        (f"{SAMPLE}:9", "frame number 13 is out of range: the video's frames are 1 to 12"),
        (f"{SAMPLE}:10", "not valid JSON (Expecting value)"),
        (f"{SAMPLE}:11", "an annotation needs segments (an object) or an answer"),
    ]
    # Line 9's object had a valid keyframe on frame 11: a bad line is skipped whole.
    assert not any(key[1].endswith("0009") for key in _rois(catalog))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"answer": "x"}, "an annotation needs a name (or a schemaId)"),
        ({"name": "n", "answer": 3}, "answer must be a string, an object or a list, got 3"),
        (
            {"name": "n", "answer": "x", "confidence": 2},
            "confidence must be a number in [0, 1], got 2",
        ),
        (
            {"name": "n", "answer": "x", "frames": [{"start": 3, "end": 1}]},
            "a frames range needs integers start <= end, got {'start': 3, 'end': 1}",
        ),
        ({"name": "n", "segments": []}, "segments must be a non-empty list"),
        (
            {"name": "n", "segments": [{"keyframes": [{"frame": 1, "bbox": {"top": 1}}]}]},
            "keyframe 1 has a malformed bbox: {'top': 1}",
        ),
        (
            {"name": "n", "segments": [{"keyframes": [{"frame": 1}]}]},
            "keyframe 1 needs one of bbox, point, line",
        ),
        (
            {
                "name": "n",
                "segments": [
                    {"keyframes": [{"frame": 1, "point": {"x": 1, "y": 1}}]},
                    {"keyframes": [{"frame": 3, "line": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]}]},
                ],
            },
            "an object mixes kinds of geometry: ['point', 'polyline']",
        ),
        (
            {
                "name": "n",
                "segments": [
                    {
                        "keyframes": [
                            {"frame": 2, "point": {"x": 1, "y": 1}},
                            {"frame": 2, "point": {"x": 3, "y": 1}},
                        ]
                    }
                ],
            },
            "frame 2 is a keyframe twice",
        ),
    ],
)
def test_malformed_annotations_are_refused(catalog, tmp_path, line, problem):
    path = _write(tmp_path / "bad.ndjson", [{"dataRow": {"globalKey": VIDEO}, **line}])
    report = labelbox.import_files(catalog, [path], progress=False)
    assert [(e.where, e.problem) for e in report.errors] == [(f"{path}:1", problem)]


def test_a_uuid_twice_on_one_frame_refuses_the_later_line(catalog, tmp_path):
    line = {"uuid": "same", "name": "n", "dataRow": {"globalKey": VIDEO}, "answer": "x"}
    path = _write(tmp_path / "dup.ndjson", [line, {**line, "answer": "y"}])
    report = labelbox.import_files(catalog, [path], progress=False)
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{path}:2", f"uuid 'same' is already on frame '{_frame(1)}'")
    ]
    assert _rois(catalog)[(_frame(1), "same")]["attributes"]["answer"] == "x"


def test_data_rows_map_ids_and_keys_to_contexts(catalog, tmp_path):
    _add_video(catalog, "drive-7", 3, prefix="d7")
    line = {
        "uuid": "w",
        "name": "weather",
        "answer": {"name": "sun"},
        "frames": [{"start": 3, "end": 3}],
    }
    path = _write(
        tmp_path / "m.ndjson",
        [
            {**line, "dataRow": {"id": "ckx123"}},
            {**line, "uuid": "v", "dataRow": {"id": VIDEO}},  # no globalKey: the id is tried
        ],
    )
    report = labelbox.import_files(catalog, [path], progress=False, data_rows={"ckx123": "drive-7"})
    # With a mapping, only mapped data rows are known.
    assert [e.problem for e in report.errors] == ["unknown data row {'id': 'video-1.mp4'}"]
    assert list(_rois(catalog)) == [(_frame(3, "d7", 3), "w")]
    report = labelbox.import_files(catalog, [path], progress=False)
    assert [e.problem for e in report.errors] == ["unknown data row {'id': 'ckx123'}"]
    assert (_frame(3), "v") in _rois(catalog)


def test_frames_are_numbered_by_timestamp_when_they_have_no_index(tmp_path):
    with workbench.open(tmp_path / "t.duckdb") as catalog:
        _add_video(catalog, "clip", 4, indexed=False, prefix="t")
        path = _write(
            tmp_path / "t.ndjson",
            [
                {
                    "uuid": "a",
                    "name": "x",
                    "dataRow": {"globalKey": "clip"},
                    "answer": "y",
                    "frames": [{"start": 1, "end": 1}],
                }
            ],
        )
        labelbox.import_files(catalog, [path], progress=False)
        assert list(_rois(catalog)) == [(_frame(1, "t", 4), "a")]


def test_import_replaces_the_field_on_every_frame_of_the_video(catalog, tmp_path):
    _add_video(catalog, "other.mp4", 2, prefix="o")
    with CatalogWriter(catalog, progress=False) as writer:
        keep = [Roi("gt", "box", ["car"], field="ground_truth", geometry=[box_ring(0, 0, 2, 2)])]
        writer.add_labels(_frame(12), "ground_truth", keep)
        writer.add_labels(_frame(1, "o", 2), "predictions", [Roi("old", "classification", ["x"])])
    labelbox.import_files(catalog, [SAMPLE], progress=False)
    smaller = _write(
        tmp_path / "s.ndjson",
        [{"uuid": "n", "name": "notes", "dataRow": {"globalKey": VIDEO}, "answer": "only this"}],
    )
    labelbox.import_files(catalog, [smaller], progress=False)
    on_every_frame = [(_frame(n), "n") for n in range(1, 13)]
    assert sorted(_rois(catalog)) == sorted([(_frame(1, "o", 2), "old"), *on_every_frame])
    assert list(_rois(catalog, "ground_truth")) == [(_frame(12), "gt")]


# -- export ------------------------------------------------------------------------------------
def test_export_writes_objects_as_keyframes_and_answers_as_ranges(catalog, tmp_path):
    labelbox.import_files(catalog, [SAMPLE], progress=False)
    (tmp_path / "out").mkdir()
    report = labelbox.export_files(catalog.view(), tmp_path / "out", progress=False)
    assert report.dest == tmp_path / "out" / "predictions.ndjson"
    # Whole-video answers are on every frame (all 12 exported), written once each.
    assert (report.rois, report.frames, report.skipped) == (19 + 2 * 11, 12, [])
    lines = [json.loads(t) for t in report.dest.read_text().splitlines()]
    by_uuid = {line["uuid"]: line for line in lines}
    assert [line["uuid"] for line in lines[:3]] == [CAR, PEDESTRIAN, LANE]  # track order
    car = by_uuid[CAR]
    assert car["dataRow"] == {"globalKey": VIDEO} and car["confidence"] == 0.8
    assert [[k["frame"] for k in s["keyframes"]] for s in car["segments"]] == [[1, 5], [9]]
    assert car["segments"][0]["keyframes"][0] == {
        "frame": 1,
        "bbox": {"top": 10.0, "left": 20.0, "height": 40.0, "width": 60.0},
        "classifications": [{"name": "color", "answer": {"name": "red"}}],
    }
    assert "confidence" not in by_uuid[PEDESTRIAN]  # 1.0 is what a missing confidence means
    assert by_uuid["b0c1a2d3-0000-4000-8000-000000000004"]["frames"] == [
        {"start": 1, "end": 3},
        {"start": 7, "end": 7},
    ]
    notes = by_uuid["b0c1a2d3-0000-4000-8000-000000000006"]
    assert notes == {
        "uuid": "b0c1a2d3-0000-4000-8000-000000000006",
        "dataRow": {"globalKey": VIDEO},
        "name": "notes",
        "answer": "camera shakes",
    }


def test_import_export_import_round_trips(catalog, tmp_path):
    labelbox.import_files(catalog, [SAMPLE], progress=False)
    before = _snapshot(catalog)
    exported = labelbox.export_files(catalog.view(), tmp_path / "p.ndjson", progress=False)
    report = labelbox.import_files(catalog, [exported.dest], progress=False)
    assert report.ok
    assert _snapshot(catalog) == before


def test_export_of_rois_from_elsewhere(catalog, tmp_path):
    with CatalogWriter(catalog, progress=False) as writer:
        for n in (1, 2, 4):  # a track with a gap after frame 2: two segments
            box = Roi(
                "t", "box", ["bus"], field="gt", geometry=[box_ring(n, 0, 2, 2)], track_index=5
            )
            shape = Roi("p", "polygon", ["park"], field="gt", geometry=[[0, 0, 4, 0, 4, 4]])
            day = Roi("d", "classification", ["day"], field="gt")
            writer.add_labels(_frame(n), "gt", [box, shape, day])
    report = labelbox.export_files(
        catalog.view(),
        tmp_path / "gt.ndjson",
        field="gt",
        data_rows={"ckVIDEO": VIDEO},
        data_row_key="id",
        progress=False,
    )
    assert report.skipped == [
        "3 classification ROIs without an answer attribute",
        "3 polygon ROIs (Labelbox video NDJSON has no polygon)",
    ]
    (line,) = [json.loads(t) for t in report.dest.read_text().splitlines()]
    assert line["dataRow"] == {"id": "ckVIDEO"} and line["name"] == "bus"
    assert [[k["frame"] for k in s["keyframes"]] for s in line["segments"]] == [[1, 2], [4]]
    assert line["segments"][1]["keyframes"][0]["bbox"] == {
        "top": 0.0,
        "left": 4.0,
        "height": 2.0,
        "width": 2.0,
    }
    with pytest.raises(IngestError, match="data_row_key"):
        labelbox.export_files(catalog.view(), tmp_path / "x", data_row_key="key", progress=False)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(catalog, tmp_path: Path, enabled: bool) -> None:
    """The import pauses the cyclic collector while it converts a chunk of lines, then
    restores it: on when it was on, off when the caller had turned it off; a bad line
    (rejected with its file and line) does not leave it off."""
    lines = [*SAMPLE.read_text().splitlines(), "{not json"]
    path = tmp_path / "gc.ndjson"
    path.write_text("\n".join(lines) + "\n")
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        report = labelbox.import_files(catalog, path, progress=False)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert report.rois > 0
    bad = f"{path}:{len(lines)}: not valid JSON"
    assert any(str(e).startswith(bad) for e in report.errors)
