import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

import workbench
from workbench.errors import IngestError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, clearml

DATA = Path(__file__).resolve().parent.parent / "data" / "clearml"
SEP = -999999999


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """The hand-written sample files, copied so relative URIs resolve under tmp_path."""
    return Path(shutil.copytree(DATA, tmp_path / "samples"))


def _rows(catalog, query, *params):
    return catalog.sql(query, list(params) if params else None).fetchall()


def _catalog_rows(catalog) -> dict[str, list[tuple]]:
    """Every stored row of the frame tables, in a stable order, without the ingest time."""
    return {
        "frames": _rows(catalog, "SELECT * EXCLUDE (ingested) FROM frames ORDER BY id"),
        "sources": _rows(catalog, "SELECT * FROM sources ORDER BY frame_id, id"),
        "rois": _rows(catalog, "SELECT * EXCLUDE (label_key) FROM rois ORDER BY frame_id, id"),
    }


def _write_ndjson(path: Path, frames: list) -> Path:
    path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    return path


def test_single_frame_maps_every_field(catalog, samples):
    report = clearml.import_files(catalog, [samples / "single_frame.json"], progress=False)
    assert report.ok and (report.frames, report.rois) == (1, 3)
    image = str(samples / "images" / "000000287024.jpg")
    assert _rows(
        catalog,
        "SELECT id, dataset, version, context_id, timestamp, num_frames, weather, "
        "metadata->>'$.scene.road', saved, saved_in_version FROM frames",
    ) == [
        (
            "287024",
            "f7edb3399164460d82316fa5ab549d5b",
            "6ad8b10c668e419f9dd40422f667592c",
            image,  # no context_id: the first source's URI
            0,
            1,
            "sunny",
            "urban",
            datetime(2020, 9, 1, 17, 54, 40, 693000),  # saved is ms since the epoch, UTC
            "6ad8b10c668e419f9dd40422f667592c",
        )
    ]
    assert _rows(
        catalog, "SELECT id, uri, width, height, content_type, preview_uri FROM sources"
    ) == [
        ("default", image, 427, 640, "image/jpeg", str(samples / "previews" / "000000287024.jpg"))
    ]
    rois = _rows(
        catalog,
        "SELECT id, kind, labels, confidence, source_ids, attributes->>'$.occluded' "
        "FROM rois ORDER BY id",
    )
    assert rois == [
        ("day", "classification", ["daytime"], None, ["default"], None),
        ("person", "box", ["person", "player"], 0.75, ["default"], None),
        ("racket", "polygon", ["tennis racket"], 1.0, ["default"], "false"),
    ]
    # The folder of the imported file is the import's media root; previews inside it too.
    assert catalog.media_roots() == [str(samples)]


def test_frame_group_with_three_cameras(catalog, samples):
    report = clearml.import_files(catalog, [samples / "frame_group.json"], progress=False)
    assert report.ok and (report.frames, report.rois) == (1, 5)
    assert _rows(catalog, "SELECT id, uri, timestamp FROM sources ORDER BY rowid") == [
        ("front", "https://example.com/car_1/front/000.jpg", 1234567889),
        ("left", "https://example.com/car_1/left/000.jpg", 1234567889),
        ("right", "https://example.com/car_1/right/000.jpg", 1234567890),
    ]
    assert _rows(catalog, "SELECT id, kind, source_ids FROM rois ORDER BY rowid") == [
        ("lane", "mask", ["front"]),
        ("bike", "polygon", ["front"]),  # four corners, but not a rectangle
        ("car-left", "box", ["left"]),
        ("car-both", "box", ["left", "right"]),
        ("sign", "point", ["right"]),  # explicit kind in meta
    ]
    ((context, location, angle),) = _rows(
        catalog, "SELECT context_id, location, metadata->>'$._source_meta.front.angle' FROM frames"
    )
    assert (context, location, angle) == ("car_1", "berlin", "45")
    masks = json.loads(_rows(catalog, "SELECT masks FROM sources WHERE id = 'front'")[0][0])
    assert masks[0]["id"] == "seg" and masks[0]["uri"].endswith("000_seg.png")
    assert json.loads(_rows(catalog, "SELECT mask FROM rois WHERE id = 'lane'")[0][0]) == {
        "id": "seg",
        "value": [0, 1, 255],
    }
    assert _rows(catalog, "SELECT * FROM dataset_versions")[0][:2] == ("cars", "v1")


def test_separator_splits_rings_and_is_never_a_point(catalog, tmp_path):
    frame = {
        "id": "f",
        "sources": [{"id": "default", "uri": "/d/f.jpg"}],
        "rois": [
            {
                "id": "two",
                "label": ["lake"],
                "poly": [0, 0, 10, 0, 10, 10, SEP, 20, 20, 30, 20, 30, 30],
            },
            # Three rings; the separator right after an x would pair up with it if read as points.
            {
                "id": "three",
                "label": ["x"],
                "poly": [1, 1, 2, 1, 2, 2, SEP, 5, 5, 6, 5, 6, 6, SEP, 9, 9, 8, 9, 8, 8],
            },
        ],
    }
    report = clearml.import_files(
        catalog, [_write_ndjson(tmp_path / "f.ndjson", [frame])], progress=False
    )
    assert report.ok
    rows = _rows(catalog, "SELECT id, geometry, x_min, y_min, x_max, y_max FROM rois ORDER BY id")
    assert rows == [
        ("three", [[1, 1, 2, 1, 2, 2], [5, 5, 6, 5, 6, 6], [9, 9, 8, 9, 8, 8]], 1, 1, 9, 9),
        ("two", [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30]], 0, 0, 30, 30),
    ]


def test_ndjson_errors_name_the_line_and_keep_good_frames(catalog, samples):
    report = clearml.import_files(catalog, [samples / "frames.ndjson"], progress=False)
    path = samples / "frames.ndjson"
    messages = [str(e) for e in report.errors]
    assert report.rejected == 3 and len(messages) == 3
    assert messages[0].startswith(f"{path} line 3: invalid JSON")
    assert messages[1] == f"{path} line 4: frame has no id"
    assert messages[2] == (
        f"{path} line 6, frame 'n5', ROI 'odd': ring 0 has an odd number of coordinates (5)"
    )
    assert _rows(catalog, "SELECT id FROM frames ORDER BY id") == [("n1",), ("n2",), ("n6",)]
    assert report.frames == 3


def test_json_array_errors_name_index_and_frame(catalog, tmp_path):
    path = tmp_path / "frames.json"
    good = {"id": "a", "sources": [{"uri": "/d/a.jpg"}]}
    bad = {"id": "b", "sources": [{"uri": "/d/b.jpg"}], "rois": [{"id": "r", "poly": [1, "x"]}]}
    after = {"id": "c", "sources": [{"uri": "/d/c.jpg"}]}
    # The array is cut short after the third frame: the first three are still read.
    path.write_text(json.dumps([good, bad, after])[:-1] + ', {"id": "d", "sour')
    report = clearml.import_files(catalog, [path], progress=False)
    messages = [str(e) for e in report.errors]
    assert (
        messages[0]
        == f"{path} [index 1], frame 'b', ROI 'r': poly holds 'x', which is not a number"
    )
    assert messages[1].startswith(
        f"{path} [index 3]: invalid JSON, the rest of the file is skipped"
    )
    assert _rows(catalog, "SELECT id FROM frames ORDER BY id") == [("a",), ("c",)]


@pytest.mark.parametrize("layout", ["object", "array", "frames-object", "jsonl", "folder"])
def test_every_file_layout_gives_the_same_frames(catalog, tmp_path, layout):
    frames = [
        {"id": f"f{i}", "sources": [{"id": "default", "uri": f"/d/{i}.jpg"}], "timestamp": i}
        for i in range(3)
    ]
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    if layout == "object":
        paths = []
        for frame in frames:
            (folder / f"{frame['id']}.json").write_text(json.dumps(frame))
            paths.append(folder / f"{frame['id']}.json")
    elif layout == "array":
        (folder / "a.json").write_text(json.dumps(frames, indent=2))
        paths = [folder / "a.json"]
    elif layout == "frames-object":
        (folder / "a.json").write_text(json.dumps({"dataset": "x", "frames": frames}))
        paths = [folder / "a.json"]
    elif layout == "jsonl":
        paths = [_write_ndjson(folder / "a.jsonl", frames)]
    else:
        (folder / "one.json").write_text(json.dumps(frames[0]))
        _write_ndjson(folder / "nested" / "rest.ndjson", frames[1:])
        (folder / "notes.txt").write_text("not frames")
        paths = [folder]
    report = clearml.import_files(catalog, paths, progress=False)
    assert report.ok and report.frames == 3
    assert _rows(catalog, "SELECT id, timestamp, context_id FROM frames ORDER BY id") == [
        ("f0", 0, "/d/0.jpg"),
        ("f1", 1, "/d/1.jpg"),
        ("f2", 2, "/d/2.jpg"),
    ]


def test_missing_path_is_an_ingest_error(catalog, tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        clearml.import_files(catalog, [tmp_path / "nope.json"], progress=False)


def test_reimport_updates_instead_of_duplicating(catalog, tmp_path):
    frame = {
        "id": "f",
        "sources": [{"id": "default", "uri": "/d/f.jpg"}],
        "rois": [
            {"id": "a", "label": ["car"], "poly": box_ring(0, 0, 5, 5)},
            {"id": "b", "label": ["bus"], "poly": box_ring(1, 1, 5, 5)},
        ],
    }
    path = _write_ndjson(tmp_path / "f.ndjson", [frame])
    clearml.import_files(catalog, [path], progress=False)
    catalog.cursor().execute("INSERT INTO tags (frame_id, tag) VALUES ('f', 'review')")
    frame["rois"] = [{"id": "a", "label": ["truck"], "poly": box_ring(0, 0, 5, 5)}]
    frame["meta"] = {"weather": "snow"}
    report = clearml.import_files(catalog, [_write_ndjson(path, [frame])], progress=False)
    assert report.ok
    assert _rows(catalog, "SELECT count(*), any_value(weather) FROM frames") == [(1, "snow")]
    assert _rows(catalog, "SELECT count(*) FROM sources") == [(1,)]
    assert _rows(catalog, "SELECT id, label FROM rois") == [("a", "truck")]
    assert _rows(catalog, "SELECT tag FROM tags") == [("review",)]


def test_relative_uris_can_stay_relative(catalog, samples):
    clearml.import_files(
        catalog, [samples / "single_frame.json"], progress=False, resolve_uris=False
    )
    assert _rows(catalog, "SELECT uri, preview_uri FROM sources") == [
        ("images/000000287024.jpg", "previews/000000287024.jpg")
    ]


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_export_import_round_trip_is_exact(catalog, samples, tmp_path, fmt):
    clearml.import_files(catalog, [samples], progress=False)
    dest = tmp_path / f"out.{fmt}"
    report = clearml.export_files(catalog.view(), dest, progress=False)
    assert (report.frames, report.rois, report.files) == (5, 10, [dest])
    text = dest.read_text()
    if fmt == "json":
        assert isinstance(json.loads(text), list)
    else:
        assert len(text.splitlines()) == 5
    with workbench.open(tmp_path / "again.duckdb") as again:
        assert clearml.import_files(again, [dest], progress=False).ok
        assert _catalog_rows(again) == _catalog_rows(catalog)


def test_export_writes_clearml_fields(catalog, samples, tmp_path):
    clearml.import_files(
        catalog, [samples / "single_frame.json", samples / "frame_group.json"], progress=False
    )
    dest = tmp_path / "out.ndjson"
    clearml.export_files(catalog.view().where("f.id = ?", "287024"), dest, progress=False)
    (line,) = dest.read_text().splitlines()
    frame = json.loads(line)
    assert frame["saved"] == 1598982880693
    assert frame["dataset"] == {
        "id": "f7edb3399164460d82316fa5ab549d5b",
        "version": "6ad8b10c668e419f9dd40422f667592c",
    }
    racket = next(r for r in frame["rois"] if r["id"] == "racket")
    assert racket["poly"] == [
        174,
        189,
        149,
        152,
        117,
        107,
        91,
        72,
        SEP,
        194,
        238,
        204,
        250,
        212,
        250,
    ]
    assert racket["label"] == ["tennis racket"]
    assert racket["meta"] == {"occluded": False, "_kind": "polygon", "_type": "p2d"}
    day = next(r for r in frame["rois"] if r["id"] == "day")
    assert "poly" not in day and day["meta"] == {"_kind": "classification"}
    assert frame["sources"][0]["preview"] == {"uri": str(samples / "previews" / "000000287024.jpg")}


def test_round_trip_keeps_what_clearml_has_no_field_for(catalog, tmp_path):
    """Kinds, label fields, tracks, frame indexes and explicit mask boxes survive."""
    frame = Frame(
        id="v-7",
        sources=[Source("cam", "/d/v.mp4", 640, 480, "video/mp4", 233)],
        rois=[
            Roi(
                "b",
                "box",
                ["car"],
                "predictions",
                [box_ring(1, 2, 3, 4)],
                0.25,
                ["cam"],
                track_index=4,
                keyframe=False,
            ),
            Roi("l", "polyline", ["lane"], geometry=[[0, 0, 5, 5, 9, 2]]),
            Roi("k", "point", ["nose", "face"], geometry=[[3, 3, 4, 4]], attributes={"v": [1, 2]}),
            Roi("m", "mask", ["road"], mask={"id": "seg", "value": 7}, bbox=(0.5, 1, 20, 30)),
            Roi("c", "classification", ["night"], "weather_field"),
            Roi("o", "box", ["odd-order"], geometry=[[0, 0, 0, 5, 5, 5, 5, 0]]),
        ],
        context_id="video-1",
        timestamp=233,
        frame_index=7,
        num_frames=100,
        metadata={"camera": "front", "nested": {"a": [1, None]}},
    )
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(frame)
    dest = tmp_path / "out.ndjson"
    clearml.export_files(catalog.view(), dest, progress=False)
    with workbench.open(tmp_path / "again.duckdb") as again:
        assert clearml.import_files(again, [dest], progress=False).ok
        assert _catalog_rows(again) == _catalog_rows(catalog)
    assert _rows(catalog, "SELECT x_min, y_max, area FROM rois WHERE id = 'm'") == [
        (0.5, 30.0, 565.5)
    ]


def test_export_follows_the_view_order_and_filter(catalog, samples, tmp_path):
    clearml.import_files(catalog, [samples / "frames.ndjson"], progress=False)
    dest = tmp_path / "out"
    dest.mkdir()
    view = catalog.view().where("f.id <> ?", "n2").sort_by("timestamp", reverse=True)
    report = clearml.export_files(view, dest, progress=False)
    assert report.files == [dest / "frames.ndjson"]
    ids = [json.loads(line)["id"] for line in (dest / "frames.ndjson").read_text().splitlines()]
    assert ids == ["n6", "n1"]
