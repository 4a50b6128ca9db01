import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.ingest import CatalogWriter, Roi, box_ring
from workbench.ingest.nucleus import add_scene, export_files, import_files

DATA = Path(__file__).parent.parent / "data" / "nucleus"


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _rows(catalog, query):
    return catalog.sql(query).fetchall()


def _scene(ref: str, ids: list[str], frame_rate: float = 10, **extra) -> dict:
    frames = [{"reference_id": i, "image_location": f"s3://b/{i}.jpg"} for i in ids]
    return {"reference_id": ref, "frame_rate": frame_rate, "frames": frames, **extra}


def _slots(catalog, context: str) -> list[tuple]:
    return _rows(
        catalog,
        f"SELECT frame_index, id, timestamp, num_frames FROM frames WHERE context_id = '{context}' "
        "ORDER BY frame_index",
    )


def test_a_json_list_of_scenes(catalog) -> None:
    report = import_files(catalog, [DATA / "scenes.json"], progress=False)
    assert report.ok and report.frames == 5
    assert _rows(
        catalog,
        "SELECT f.id, context_id, frame_index, f.timestamp, num_frames, s.id, s.uri, s.width, "
        "s.content_type FROM frames f JOIN sources s ON s.frame_id = f.id ORDER BY f.id",
    ) == [
        ("drive-001/f0", "drive-001", 0, 0, 3, "image", "s3://bucket/drive-001/0.jpg", None, "image/jpeg"),
        ("drive-001/f1", "drive-001", 1, 33, 3, "image", "s3://bucket/drive-001/1.jpg", None, "image/jpeg"),
        ("drive-001/f2", "drive-001", 2, 67, 3, "image", "s3://bucket/drive-001/2.jpg", None, "image/jpeg"),
        ("drive-002/f0", "drive-002", 0, 0, 2, "image", "https://example.com/d2/0.png", None, "image/png"),
        ("drive-002/f1", "drive-002", 1, 500, 2, "image", "https://example.com/d2/1.png", None, "image/png"),
    ]  # fmt: skip
    meta = json.loads(_rows(catalog, "SELECT metadata FROM frames WHERE id = 'drive-001/f1'")[0][0])
    assert meta == {
        "camera": "front",
        "speed": 13.0,
        "scene": {"weather": "rain", "route": "A7"},
        "fps": 30.0,
    }
    # Item metadata is at the top level, so promoted keys work; scene metadata is nested.
    assert _rows(catalog, "SELECT camera, weather FROM frames WHERE id = 'drive-001/f0'") == [
        ("front", None)
    ]
    assert _rows(catalog, "SELECT time_of_day FROM frames WHERE id = 'drive-002/f0'") == [
        ("night",)
    ]


def test_ndjson_errors_name_the_line_scene_index_and_item(catalog) -> None:
    path = DATA / "scenes.ndjson"
    report = import_files(catalog, [path], progress=False)
    assert [str(e) for e in report.errors] == [
        f"{path}:2: not valid JSON: Expecting value at column 57",
        f"{path}:3, scene 'walk-3': a scene of frames needs a numeric frame_rate, got None",
        f"{path}:5, scene 'walk-4', index 1: item has no reference_id",
        f"{path}:5, scene 'walk-4', index 2, item 'w4-2': item has no image_location",
        f"{path}:5, scene 'walk-4', index 3, item 'w4-0': reference_id already used at index 0",
        f"{path}:6: scene has no reference_id",
    ]
    # Every valid scene and item of the file is kept.
    assert [r[0] for r in _rows(catalog, "SELECT id FROM frames ORDER BY id")] == [
        "w1-0",
        "w1-1",
        "w4-0",
        "w4-4",
    ]
    assert _slots(catalog, "walk-4") == [(0, "w4-0", 0, 2), (4, "w4-4", 800, 2)]


def test_the_nucleus_client_payload_keys(catalog) -> None:
    report = import_files(catalog, DATA / "client_payload.json", progress=False, dataset="nu")
    assert report.ok
    assert _rows(catalog, "SELECT f.id, s.uri, f.timestamp, f.dataset FROM frames f "
                          "JOIN sources s ON s.frame_id = f.id ORDER BY 1") == [
        ("cs-0", "s3://bucket/cs/0.jpg", 0, "nu"),
        ("cs-1", "s3://bucket/cs/1.jpg", 67, "nu"),
    ]  # fmt: skip


def test_a_taken_index_is_refused_without_update(catalog) -> None:
    add_scene(catalog, _scene("s", ["a", "b", "c"]), progress=False)
    report = add_scene(catalog, _scene("s", ["x", "b2"]), index=2, progress=False)
    assert [str(e) for e in report.errors] == [
        "scene 's', index 2, item 'x': index 2 of scene 's' already holds frame 'c'; "
        "pass update=True to replace it"
    ]
    # The rest of the scene is kept; nothing stored is lost.
    assert _slots(catalog, "s") == [
        (0, "a", 0, 4),
        (1, "b", 100, 4),
        (2, "c", 200, 4),
        (3, "b2", 300, 4),
    ]


def test_an_existing_reference_id_is_refused_without_update(catalog) -> None:
    add_scene(catalog, _scene("s", ["a", "b"]), progress=False)
    report = add_scene(catalog, _scene("t", ["b", "z"]), progress=False)
    assert [e.problem for e in report.errors] == [
        "frame 'b' already exists (scene 's', index 1); pass update=True to replace it"
    ]
    assert report.errors[0].where == "scene 't', index 0, item 'b'"
    assert _slots(catalog, "t") == [(1, "z", 100, 1)]
    assert _slots(catalog, "s") == [(0, "a", 0, 2), (1, "b", 100, 2)]


def test_update_overwrites_a_taken_index(catalog) -> None:
    add_scene(catalog, _scene("s", ["a", "b", "c"]), progress=False)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels(
            "b", "ground_truth", [Roi("r", "box", ["car"], geometry=[box_ring(0, 0, 2, 2)])]
        )
    catalog.cursor().execute("INSERT INTO tags (frame_id, tag) VALUES ('b', 'keep')")
    new = _scene("s", ["a", "x"], metadata={"v": 2})
    new["frames"][0]["metadata"] = {"fixed": True}
    report = add_scene(catalog, new, update=True, progress=False)
    assert report.ok
    assert _slots(catalog, "s") == [(0, "a", 0, 3), (1, "x", 100, 3), (2, "c", 200, 3)]
    # The overwritten frame is gone with its ROIs and tags.
    assert _rows(catalog, "SELECT count(*) FROM rois") == [(0,)]
    assert _rows(catalog, "SELECT count(*) FROM tags") == [(0,)]
    assert json.loads(_rows(catalog, "SELECT metadata FROM frames WHERE id = 'a'")[0][0]) == {
        "fixed": True,
        "scene": {"v": 2},
        "fps": 10.0,
    }


def test_update_moves_a_frame_and_frees_its_old_index(catalog) -> None:
    add_scene(catalog, _scene("s", ["a", "b"]), progress=False)
    report = add_scene(catalog, _scene("t", ["b"], frame_rate=4), update=True, progress=False)
    assert report.ok
    assert _slots(catalog, "s") == [(0, "a", 0, 1)]
    assert _slots(catalog, "t") == [(0, "b", 0, 1)]
    # The freed index takes a new frame without update.
    assert add_scene(catalog, _scene("s", ["n"]), index=1, progress=False).ok
    assert _slots(catalog, "s") == [(0, "a", 0, 2), (1, "n", 100, 2)]


def test_update_can_reorder_a_scene(catalog) -> None:
    add_scene(catalog, _scene("s", ["a", "b", "c"]), progress=False)
    report = add_scene(catalog, _scene("s", ["c", "b", "a"]), update=True, progress=False)
    assert report.ok
    assert _slots(catalog, "s") == [(0, "c", 0, 3), (1, "b", 100, 3), (2, "a", 200, 3)]


def test_scenes_have_no_frame_cap(catalog) -> None:
    ids = [f"big-{i}" for i in range(5000)]
    report = add_scene(catalog, _scene("big", ids, frame_rate=30), progress=False)
    assert report.ok and report.frames == 5000
    assert _rows(
        catalog, "SELECT count(*), max(frame_index), max(timestamp), min(num_frames) FROM frames"
    ) == [(5000, 4999, round(4999 * 1000 / 30), 5000)]


def test_bad_scenes_are_refused_whole(catalog) -> None:
    cases = [
        ([1, 2], "a scene must be a JSON object, got list"),
        ({"frames": []}, "scene has no reference_id"),
        (
            {"reference_id": "e", "frames": []},
            "needs a non-empty 'frames' list or a 'video_location'",
        ),
        (_scene("z", ["a"], frame_rate=0), "frame_rate must be positive, got 0"),
        (_scene("m", ["a"], metadata=[1]), "metadata must be an object, got list"),
        ({"reference_id": "v", "video_location": "https://x/v.mp4"}, "is remote"),
    ]
    for scene, problem in cases:
        report = add_scene(catalog, scene, progress=False)
        assert report.rejected == 1 and problem in report.errors[0].problem, scene
    report = add_scene(catalog, _scene("s", ["a"]), index=-1, progress=False)
    assert report.errors[0].problem == "index must be a non-negative integer, got -1"
    assert _rows(catalog, "SELECT count(*) FROM frames") == [(0,)]


def test_a_file_that_is_not_json_is_reported(catalog, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"reference_id": "a", "frame_rate": 1, "frames": [{"reference_id": "x", '
                   '"image_location": "s3://b/x"}]}, {"reference_id": ')  # fmt: skip
    report = import_files(catalog, [bad, tmp_path / "missing.json"], progress=False)
    assert report.frames == 1  # the scene read before the error is kept
    assert report.errors[0].where == f"{bad}[1]"
    assert report.errors[0].problem.startswith("not valid JSON")
    assert report.errors[1].where == str(tmp_path / "missing.json")


def test_local_images_get_their_size(catalog, tmp_path: Path) -> None:
    Image.new("RGB", (30, 20)).save(tmp_path / "0.png")
    scene = {"reference_id": "loc", "frame_rate": 1,
             "frames": [{"reference_id": "p", "image_location": str(tmp_path / "0.png")}]}  # fmt: skip
    add_scene(catalog, scene, progress=False)
    assert _rows(catalog, "SELECT width, height, content_type FROM sources") == [
        (30, 20, "image/png")
    ]


def test_relative_paths_are_read_from_the_scene_file_folder(catalog, tmp_path: Path) -> None:
    (tmp_path / "set" / "img").mkdir(parents=True)
    Image.new("RGB", (30, 20)).save(tmp_path / "set" / "img" / "0.png")
    _video(tmp_path / "set" / "v.mp4", frames=2)
    scenes = [
        {"reference_id": "rel", "frame_rate": 1,
         "frames": [{"reference_id": "p", "image_location": "img/0.png"}]},
        {"reference_id": "relv", "video_location": "v.mp4"},
    ]  # fmt: skip
    (tmp_path / "set" / "scenes.json").write_text(json.dumps(scenes))
    report = import_files(catalog, [tmp_path / "set"], progress=False)
    assert report.ok and report.frames == 3
    assert _rows(catalog, "SELECT uri, width FROM sources WHERE frame_id = 'p'") == [
        (f"{tmp_path}/set/img/0.png", 30)
    ]
    assert _rows(
        catalog, "SELECT DISTINCT metadata->>'$.video' FROM frames WHERE context_id = 'relv'"
    ) == [(f"{tmp_path}/set/v.mp4",)]


def _video(path: Path, frames: int = 6) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(5))
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(frames):
            pixels = np.full((24, 32, 3), i * 40, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_a_video_scene_is_decoded_into_frames(catalog, tmp_path: Path) -> None:
    video = _video(tmp_path / "v.mp4")
    catalog.add_media_roots([tmp_path])  # where the video lies: its frames will be served
    scene = {"reference_id": "vid/1", "video_location": str(video), "metadata": {"site": "x"}}
    report = add_scene(catalog, scene, progress=False, frames_dir=tmp_path / "frames")
    assert report.ok and report.frames == 6
    rows = _rows(catalog, "SELECT f.id, frame_index, f.timestamp, num_frames, s.uri, s.width "
                          "FROM frames f JOIN sources s ON s.frame_id = f.id ORDER BY 2")  # fmt: skip
    assert rows[2] == ("vid/1#000002", 2, 400, 6, f"{tmp_path}/frames/vid_1/000002.jpg", 32)
    assert Path(rows[2][4]).is_file()
    meta = json.loads(_rows(catalog, "SELECT metadata FROM frames LIMIT 1")[0][0])
    assert meta == {"video": str(video), "fps": 5.0, "codec": "h264", "scene": {"site": "x"}}
    # Adding it again without update refuses every frame and keeps them.
    again = add_scene(catalog, scene, progress=False, frames_dir=tmp_path / "frames")
    assert again.rejected == 6 and again.frames == 0
    assert str(again.errors[0]) == (
        "scene 'vid/1', index 0, frame 'vid/1#000000': index 0 of scene 'vid/1' already holds "
        "frame 'vid/1#000000'; pass update=True to replace it"
    )
    assert _rows(catalog, "SELECT count(*) FROM frames") == [(6,)]


def test_a_video_outside_the_media_roots_is_not_decoded(catalog, tmp_path: Path) -> None:
    """Its frames would land under a served folder: decoding it would serve the video."""
    (tmp_path / "elsewhere").mkdir()
    video = _video(tmp_path / "elsewhere" / "v.mp4")
    catalog.add_media_roots([tmp_path / "frames"])
    scene = {"reference_id": "vid/2", "video_location": str(video)}
    report = add_scene(catalog, scene, progress=False, frames_dir=tmp_path / "frames")
    assert report.rejected == 1 and report.frames == 0
    assert "lies outside the media roots" in str(report.errors[0])
    assert not (tmp_path / "frames").exists() or not any((tmp_path / "frames").rglob("*.jpg"))


def test_export_round_trips_scenes(catalog, tmp_path: Path) -> None:
    import_files(catalog, [DATA / "scenes.json", DATA / "client_payload.json"], progress=False)
    for name in ("out.ndjson", "out.json"):
        report = export_files(catalog.view(), tmp_path / name, progress=False)
        assert report.frames == 7 and report.files == [tmp_path / name]
        with workbench.open(tmp_path / f"{name}.duckdb") as again:
            assert import_files(again, report.files, progress=False).ok
            query = (
                "SELECT id, context_id, frame_index, timestamp, metadata FROM frames ORDER BY id"
            )
            assert _rows(again, query) == _rows(catalog, query)
    scenes = json.loads((tmp_path / "out.json").read_text())
    first = next(s for s in scenes if s["reference_id"] == "drive-001")
    assert first["frame_rate"] == 30 and first["metadata"] == {"weather": "rain", "route": "A7"}
    assert first["frames"][0] == {  # the Nucleus SDK's own item payload
        "reference_id": "drive-001/f0",
        "url": "s3://bucket/drive-001/0.jpg",
        "type": "image",
        "metadata": {"camera": "front", "speed": 12.5},
    }


def test_export_derives_a_frame_rate_when_none_was_imported(catalog, tmp_path: Path) -> None:
    from workbench.ingest import Frame, Source

    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(4):
            writer.add(Frame(f"f{i}", [Source("image", f"/x/{i}.jpg")], context_id="ctx",
                             timestamp=1000 + i * 40, frame_index=i))  # fmt: skip
    export_files(catalog.view(), tmp_path / "o.ndjson", progress=False)
    scene = json.loads((tmp_path / "o.ndjson").read_text())
    assert scene["frame_rate"] == 25
    assert [f["reference_id"] for f in scene["frames"]] == ["f0", "f1", "f2", "f3"]
