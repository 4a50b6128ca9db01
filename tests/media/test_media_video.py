from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.errors import MediaError
from workbench.media.video import VideoEncoder, decode_frames, even_size, probe


def _shade(i: int) -> Image.Image:
    """A flat picture whose red channel encodes the frame number."""
    return Image.new("RGB", (64, 48), (i * 12, 80, 160))


def _noise(rng: np.random.Generator) -> Image.Image:
    return Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    with VideoEncoder(path, width=64, height=48, fps=10) as encoder:
        for i in range(20):
            encoder.write(_shade(i))
    return path


def test_probe_reads_the_header(clip: Path) -> None:
    info = probe(clip)
    assert (info.width, info.height, info.frames, info.codec) == (64, 48, 20, "h264")
    assert info.fps == pytest.approx(10.0)
    assert info.duration_ms == 2000


def test_decode_yields_every_frame_with_time_and_picture(clip: Path) -> None:
    frames = list(decode_frames(clip))
    assert [f.index for f in frames] == list(range(20))
    assert [f.timestamp for f in frames] == [i * 100 for i in range(20)]
    assert {f.image.size for f in frames} == {(64, 48)}
    red = [np.asarray(f.image)[..., 0].mean() for f in frames]
    assert red[5] == pytest.approx(60, abs=6)
    assert red[15] == pytest.approx(180, abs=6)


def test_decode_keeps_every_nth_frame_up_to_a_maximum(clip: Path) -> None:
    frames = list(decode_frames(clip, frame_step=3, max_frames=4))
    assert [(f.index, f.timestamp) for f in frames] == [(0, 0), (3, 300), (6, 600), (9, 900)]


def test_timestamps_survive_an_encode_decode_round_trip(tmp_path: Path) -> None:
    times = [0, 40, 100, 180, 181, 500]
    path = tmp_path / "vfr.mp4"
    with VideoEncoder(path, width=32, height=32, fps=25) as encoder:
        for i, t in enumerate(times):
            encoder.write(Image.new("RGB", (32, 32), (i * 40, 0, 0)), 1_700_000_000_000 + t)
    assert [f.timestamp for f in decode_frames(path)] == times


def test_equal_timestamps_are_nudged_forward(tmp_path: Path) -> None:
    path = tmp_path / "same.mp4"
    with VideoEncoder(path, width=32, height=32) as encoder:
        for t in (0, 0, 10):
            encoder.write(Image.new("RGB", (32, 32)), t)
    assert [f.timestamp for f in decode_frames(path)] == [0, 1, 10]


def test_odd_sizes_are_padded_and_other_sizes_scaled(tmp_path: Path) -> None:
    assert even_size(63, 47) == (64, 48)
    path = tmp_path / "odd.mp4"
    with VideoEncoder(path, width=63, height=47, fps=5) as encoder:
        encoder.write(Image.new("RGB", (63, 47), "white"))
        encoder.write(Image.new("RGB", (126, 94), "white"))
    frames = list(decode_frames(path))
    assert [f.image.size for f in frames] == [(64, 48), (64, 48)]
    # The padding column is black, the picture white: the picture was not stretched into it.
    pixels = np.asarray(frames[1].image).astype(int)
    assert pixels[10, 10].min() > 200 and pixels[10, 63].max() < 60


def test_an_unreadable_file_is_a_media_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(b"not a video" * 100)
    with pytest.raises(MediaError, match=r"garbage\.mp4: cannot open the video"):
        probe(path)
    with pytest.raises(MediaError, match=r"garbage\.mp4"):
        list(decode_frames(path))
    with pytest.raises(MediaError, match=r"missing\.mp4"):
        probe(tmp_path / "missing.mp4")


def test_corruption_midway_yields_the_frames_before_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "noisy.mp4"
    with VideoEncoder(path, width=64, height=48, fps=10) as encoder:
        for _ in range(20):
            encoder.write(_noise(rng))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = (
        np.random.default_rng(7).integers(0, 255, 4000, np.uint8).tobytes()
    )
    path.write_bytes(bytes(data))
    got = []
    with pytest.raises(MediaError) as caught:
        for frame in decode_frames(path):
            got.append(frame.index)
    assert 0 < len(got) < 20
    assert got == list(range(len(got)))
    assert f"noisy.mp4: cannot decode frame {len(got)}" in str(caught.value)


def test_encoder_refuses_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="size 0x48"):
        VideoEncoder(tmp_path / "a.mp4", width=0, height=48)
    with pytest.raises(MediaError, match="frame rate"):
        VideoEncoder(tmp_path / "b.mp4", width=8, height=8, fps=0)
    with pytest.raises(MediaError, match="no-such-codec"):
        VideoEncoder(tmp_path / "c.mp4", width=8, height=8, codec="no-such-codec")


def test_mpeg4_fallback_encoder_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "part2.mp4"
    with VideoEncoder(path, width=64, height=48, fps=10, codec="mpeg4") as encoder:
        for i in range(5):
            encoder.write(_shade(i))
    assert probe(path).codec == "mpeg4"
    assert [f.timestamp for f in decode_frames(path)] == [0, 100, 200, 300, 400]
