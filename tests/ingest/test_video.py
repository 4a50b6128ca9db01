import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.errors import IngestError
from workbench.ingest import CatalogWriter, Roi, box_ring
from workbench.ingest import images as images_format
from workbench.ingest.video import derive_fps, export_files, import_files


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "cat.duckdb") as cat:
        yield cat


def make_video(path: Path, frames: int = 20, size=(64, 48), fps: int = 10, noise=False) -> Path:
    """An H.264 mp4 written with PyAV directly; frame i is shaded by i (or random noise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for i in range(frames):
            if noise:
                pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            else:
                pixels = np.full((size[1], size[0], 3), (i * 12 % 256, 90, 200), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _rows(catalog, query):
    return catalog.sql(query).fetchall()


def test_every_frame_becomes_a_jpeg_and_a_frame(catalog, tmp_path: Path) -> None:
    video = make_video(tmp_path / "clips" / "drive.mp4")
    report = import_files(catalog, [video], progress=False)
    assert report.ok and report.frames == 20
    rows = _rows(
        catalog,
        "SELECT f.id, f.context_id, f.frame_index, f.timestamp, f.num_frames, s.id, s.uri, "
        "s.width, s.height, s.content_type FROM frames f JOIN sources s ON s.frame_id = f.id "
        "ORDER BY f.frame_index",
    )
    context = video.as_posix()
    folder = tmp_path / "cat.media" / "video" / "drive"
    assert rows[3] == (
        f"{context}#000003", context, 3, 300, 20, "image", f"{folder}/000003.jpg", 64, 48,
        "image/jpeg",
    )  # fmt: skip
    assert [r[3] for r in rows] == [i * 100 for i in range(20)]
    with Image.open(folder / "000003.jpg") as jpeg:
        assert (jpeg.format, jpeg.size) == ("JPEG", (64, 48))
        assert np.asarray(jpeg)[..., 0].mean() == pytest.approx(36, abs=6)
    meta = json.loads(_rows(catalog, "SELECT metadata FROM frames LIMIT 1")[0][0])
    assert meta == {"video": context, "fps": 10.0, "codec": "h264"}
    assert str(folder.parent) in catalog.media_roots()  # the folder the importer writes in


def test_frame_step_and_max_frames(catalog, tmp_path: Path) -> None:
    video = make_video(tmp_path / "drive.mp4")
    report = import_files(catalog, video, progress=False, frame_step=5, max_frames=3,
                          frames_dir=tmp_path / "jpegs")  # fmt: skip
    assert report.ok
    assert _rows(catalog, "SELECT frame_index, timestamp, num_frames FROM frames ORDER BY 1") == [
        (0, 0, 3),
        (5, 500, 3),
        (10, 1000, 3),
    ]
    assert sorted(p.name for p in (tmp_path / "jpegs" / "drive").glob("*.jpg")) == [
        "000000.jpg",
        "000005.jpg",
        "000010.jpg",
    ]


def test_frame_uris_are_absolute_whatever_the_catalog_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_video(tmp_path / "drive.mp4", frames=2)
    with workbench.open("rel.duckdb") as catalog:
        assert import_files(catalog, ["drive.mp4"], progress=False).ok
        uris = [r[0] for r in _rows(catalog, "SELECT uri FROM sources ORDER BY 1")]
    assert uris == [f"{tmp_path}/rel.media/video/drive/00000{i}.jpg" for i in range(2)]


def test_bad_options_are_refused(catalog, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="frame_step"):
        import_files(catalog, [], frame_step=0)
    with pytest.raises(IngestError, match="max_frames"):
        import_files(catalog, [], max_frames=0)


def test_videos_with_the_same_name_get_their_own_folders(catalog, tmp_path: Path) -> None:
    a = make_video(tmp_path / "a" / "clip.mp4", frames=3)
    b = make_video(tmp_path / "b" / "clip.mp4", frames=4)
    report = import_files(catalog, [tmp_path], progress=False)  # a folder: its videos
    assert report.frames == 7
    folders = dict(
        _rows(catalog, "SELECT f.context_id, min(regexp_replace(s.uri, '/[^/]*$', '')) "
                       "FROM frames f JOIN sources s ON s.frame_id = f.id GROUP BY 1")
    )  # fmt: skip
    assert set(folders) == {a.as_posix(), b.as_posix()}
    assert folders[a.as_posix()] != folders[b.as_posix()]
    assert len(list(Path(folders[b.as_posix()]).glob("*.jpg"))) == 4


def test_an_unreadable_video_is_reported_and_the_others_kept(catalog, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 5000)
    good = make_video(tmp_path / "good.mp4", frames=5)
    report = import_files(catalog, [bad, good, tmp_path / "missing.mp4"], progress=False)
    assert report.frames == 5
    assert [e.where for e in report.errors] == [str(bad), str(tmp_path / "missing.mp4")]
    assert "cannot open the video" in report.errors[0].problem


def test_a_video_corrupt_midway_keeps_the_frames_before(catalog, tmp_path: Path) -> None:
    video = make_video(tmp_path / "noisy.mp4", noise=True)
    data = bytearray(video.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = (
        np.random.default_rng(7).integers(0, 255, 4000, np.uint8).tobytes()
    )
    video.write_bytes(bytes(data))
    report = import_files(catalog, [video], progress=False)
    assert report.rejected == 1
    kept = report.frames
    assert 0 < kept < 20
    assert str(report.errors[0]) == (
        f"{video}: cannot decode frame {kept}: Invalid data found when processing input"
    )
    assert _rows(catalog, "SELECT max(frame_index), max(num_frames) FROM frames") == [
        (kept - 1, kept)
    ]


def test_a_truncated_video_is_reported(catalog, tmp_path: Path) -> None:
    video = make_video(tmp_path / "cut.mkv", noise=True)
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    report = import_files(catalog, [video], progress=False)
    # Matroska does not record its frame count: the frames that are there are imported.
    assert report.ok and 0 < report.frames < 20
    mp4 = make_video(tmp_path / "cut.mp4")
    mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    report = import_files(catalog, [mp4], progress=False)
    assert [e.where for e in report.errors] == [str(mp4)]


def test_importing_again_replaces_the_frames(catalog, tmp_path: Path) -> None:
    video = make_video(tmp_path / "drive.mp4", frames=6)
    import_files(catalog, [video], progress=False)
    import_files(catalog, [video], progress=False)
    assert _rows(catalog, "SELECT count(*), count(DISTINCT id) FROM frames") == [(6, 6)]


# -- export -------------------------------------------------------------------------------


def test_derive_fps_uses_the_median_gap() -> None:
    assert derive_fps([0, 100, 200, 900, 1000]) == pytest.approx(10.0)
    assert derive_fps([None, 5]) == 10.0
    assert derive_fps([0, 33, 67, 100]) == pytest.approx(1000 / 33)


def test_export_round_trips_frames_timestamps_and_sizes(catalog, tmp_path: Path) -> None:
    video = make_video(tmp_path / "drive.mp4")
    import_files(catalog, [video], progress=False)
    out = tmp_path / "out"
    report = export_files(catalog.view(), out, progress=False)
    assert report.files == [out / "drive.mp4"] and report.frames == 20
    with workbench.open(tmp_path / "again.duckdb") as again:
        import_files(again, report.files, progress=False)
        assert _rows(again, "SELECT count(*), min(timestamp), max(timestamp) FROM frames") == [
            (20, 0, 1900)
        ]
        assert _rows(again, "SELECT DISTINCT width, height FROM sources") == [(64, 48)]
        times = [r[0] for r in _rows(again, "SELECT timestamp FROM frames ORDER BY 1")]
        assert times == [r[0] for r in _rows(catalog, "SELECT timestamp FROM frames ORDER BY 1")]


def test_export_in_timestamp_order_at_a_chosen_rate(catalog, tmp_path: Path) -> None:
    video = make_video(tmp_path / "drive.mp4", frames=6)
    import_files(catalog, [video], progress=False)
    view = catalog.view().sort_by("timestamp", reverse=True)  # the video is still in time order
    out = tmp_path / "slow.mp4"
    report = export_files(view, out, progress=False, fps=2)
    assert report.files == [out]
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert [round(float(f.pts * f.time_base) * 1000) for f in frames] == [i * 500 for i in range(6)]
    red = [np.asarray(f.to_image())[..., 0].mean() for f in frames]
    assert red == sorted(red)


def test_export_one_context_per_file(catalog, tmp_path: Path) -> None:
    a = make_video(tmp_path / "a.mp4", frames=3)
    make_video(tmp_path / "b.mp4", frames=4)
    import_files(catalog, [tmp_path], progress=False)
    with pytest.raises(IngestError, match="2 contexts"):
        export_files(catalog.view(), tmp_path / "one.mp4", progress=False)
    report = export_files(
        catalog.view(), tmp_path / "one.mp4", progress=False, context=a.as_posix()
    )
    assert report.frames == 3
    with CatalogWriter(catalog, progress=False) as writer:
        for name in ("a", "b"):
            writer.add_labels(f"{tmp_path.as_posix()}/{name}.mp4#000001", "ground_truth",
                              [Roi("r", "box", ["car"], geometry=[box_ring(1, 1, 9, 9)])])  # fmt: skip
    report = export_files(catalog.view(), tmp_path / "all", progress=False, draw_rois=True)
    assert sorted(p.name for p in report.files) == ["a.mp4", "b.mp4"]
    assert (report.frames, report.rois) == (7, 2)
    with pytest.raises(IngestError, match="no frames in context"):
        export_files(catalog.view(), tmp_path / "x", progress=False, context="nope")


def test_export_draws_rois(catalog, tmp_path: Path) -> None:
    video = make_video(tmp_path / "drive.mp4", frames=2, size=(128, 96))
    import_files(catalog, [video], progress=False)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels(f"{video.as_posix()}#000001", "ground_truth",
                          [Roi("r", "box", ["car"], geometry=[box_ring(40, 40, 40, 40)])])  # fmt: skip
    report = export_files(catalog.view(), tmp_path / "out", progress=False, draw_rois=True)
    assert report.rois == 1
    with av.open(str(report.files[0])) as container:
        plain, boxed = (np.asarray(f.to_image()).astype(int) for f in container.decode(video=0))
    assert np.abs(plain[40, 60] - plain[20, 20]).max() < 20  # nothing drawn on frame 0
    assert np.abs(boxed[40, 60] - boxed[20, 20]).max() > 60  # the box's top edge on frame 1


def test_export_of_images_without_timestamps(catalog, tmp_path: Path) -> None:
    (tmp_path / "seq").mkdir()
    for i in range(3):
        Image.new("RGB", (40, 30), (i * 100, 0, 0)).save(tmp_path / "seq" / f"{i}.png")
    images_format.import_files(catalog, [tmp_path / "seq"], progress=False, context_by="folder")
    (tmp_path / "seq" / "2.png").unlink()
    report = export_files(catalog.view(), tmp_path / "out", progress=False)
    assert report.frames == 2 and len(report.skipped) == 1 and "2.png" in report.skipped[0]
    with av.open(str(report.files[0])) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (40, 30)
        times = [round(float(f.pts * f.time_base) * 1000) for f in container.decode(stream)]
    assert times == [0, 100]  # no timestamps: 10 frames per second
