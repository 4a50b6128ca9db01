"""Video frames in and out, with PyAV.

`probe()` reads a video's header, `decode_frames()` yields its frames as PIL images with their
timestamps in milliseconds (pts * time_base), and `VideoEncoder` writes PIL images to an mp4.
Every PyAV failure is translated here into MediaError, so callers never see `av.error`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import av.error
from av.container import InputContainer
from PIL import Image

from workbench.errors import MediaError

# Encoders tried in order: H.264 plays in every browser; MPEG-4 part 2 is the fallback for
# FFmpeg builds without libx264.
ENCODERS: tuple[str, ...] = ("libx264", "mpeg4")
# Frame times are written in milliseconds, the unit of the catalog's timestamps, so any
# timestamp sequence (variable frame rate included) survives an encode/decode round trip.
_MS = Fraction(1, 1000)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a video's header says. `frames` is 0 when the container does not record it."""

    path: Path
    width: int
    height: int
    fps: float | None
    codec: str
    frames: int
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One decoded frame: its position in the stream, its time in ms and its picture."""

    index: int
    timestamp: int
    image: Image.Image


def _open(path: str | os.PathLike[str]) -> InputContainer:
    try:
        return av.open(os.fspath(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: cannot open the video: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    # FFmpeg messages look like "[Errno 1094995529] Invalid data found ...: 'file'"; keep
    # the readable middle.
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip() or type(exc).__name__


def _info(path: Path, container: InputContainer) -> VideoInfo:
    if not container.streams.video:
        raise MediaError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = round(float(stream.duration * stream.time_base) * 1000)
    elif container.duration is not None:
        duration = round(container.duration / 1000)  # container.duration is in microseconds
    return VideoInfo(
        path=path,
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        fps=float(rate) if rate else None,
        codec=stream.codec_context.name,
        frames=int(stream.frames or 0),
        duration_ms=duration,
    )


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate, codec and declared frame count of a video, without decoding it."""
    with _open(path) as container:
        return _info(Path(path), container)


def decode_frames(
    path: str | os.PathLike[str], *, frame_step: int = 1, max_frames: int | None = None
) -> Iterator[DecodedFrame]:
    """Yield every `frame_step`-th frame of the first video stream, at most `max_frames` of them.

    A failure midway raises MediaError after the frames decoded so far have been yielded; the
    message names the position of the frame that could not be decoded.
    """
    if frame_step < 1:
        raise ValueError(f"frame_step must be at least 1, got {frame_step}")
    kept = 0
    index = 0
    with _open(path) as container:
        info = _info(Path(path), container)
        fps = info.fps or 0.0
        stream = container.streams.video[0]
        # Several threads per decoder: decoding dominates the import of a video.
        stream.thread_type = "AUTO"
        frames = container.decode(stream)
        while max_frames is None or kept < max_frames:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except (av.error.FFmpegError, OSError) as exc:
                raise MediaError(f"{path}: cannot decode frame {index}: {_reason(exc)}") from exc
            if index % frame_step == 0:
                yield DecodedFrame(index, _timestamp_ms(frame, index, fps), frame.to_image())
                kept += 1
            index += 1


def _timestamp_ms(frame: av.VideoFrame, index: int, fps: float) -> int:
    if frame.pts is not None and frame.time_base is not None:
        return round(float(frame.pts * frame.time_base) * 1000)
    # Some containers (raw streams) carry no pts: fall back on the nominal frame rate.
    return round(index * 1000 / fps) if fps else index


def even_size(width: int, height: int) -> tuple[int, int]:
    """The size an encoder needs: 4:2:0 chroma subsampling wants even dimensions."""
    return width + width % 2, height + height % 2


class VideoEncoder:
    """Write PIL images to a video file, one call per frame, as a context manager.

    Frames are placed at their `timestamp` (ms, must increase; the first one becomes time 0)
    or, when no timestamp is given, at `index / fps`. Every picture is scaled to the size of
    the encoder and padded to even dimensions.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: float = 25.0,
        codec: str | None = None,
    ) -> None:
        if width <= 0 or height <= 0:
            raise MediaError(f"{path}: cannot encode a video of size {width}x{height}")
        if fps <= 0:
            raise MediaError(f"{path}: frame rate must be positive, got {fps}")
        self.path = Path(path)
        self.size = (width, height)
        self.fps = fps
        self.frames = 0
        self._first: int | None = None
        self._last_pts = -1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._container = av.open(os.fspath(self.path), mode="w")
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"{path}: cannot create the video: {_reason(exc)}") from exc
        self._stream = self._add_stream(codec)

    def _add_stream(self, codec: str | None) -> av.VideoStream:
        name = codec or next((c for c in ENCODERS if c in av.codecs_available), ENCODERS[-1])
        rate = Fraction(self.fps).limit_denominator(1001)
        try:
            stream = self._container.add_stream(name, rate=rate)
        except (av.error.FFmpegError, ValueError) as exc:
            self._container.close()
            raise MediaError(f"{self.path}: cannot encode with {name!r}: {_reason(exc)}") from exc
        if not isinstance(stream, av.VideoStream):
            self._container.close()
            raise MediaError(f"{self.path}: {name!r} is not a video encoder")
        stream.width, stream.height = even_size(*self.size)
        stream.pix_fmt = "yuv420p"
        if name == "libx264":
            # The default "medium" preset costs ~3x the time of "veryfast" for little gain on
            # curation clips; crf 20 keeps ROIs and small objects crisp.
            stream.options = {"preset": "veryfast", "crf": "20"}
        stream.codec_context.time_base = _MS
        return stream

    def write(self, image: Image.Image, timestamp: int | None = None) -> None:
        """Append one picture, at `timestamp` ms if given, else one frame period later."""
        if timestamp is None:
            pts = round(self.frames * 1000 / self.fps)
        else:
            if self._first is None:
                self._first = timestamp
            pts = timestamp - self._first
        # Equal or decreasing times would make the muxer fail: nudge them forward by 1 ms.
        pts = max(pts, self._last_pts + 1)
        frame = av.VideoFrame.from_image(self._fit(image))
        frame.pts = pts
        frame.time_base = _MS
        self._mux(frame)
        self._last_pts = pts
        self.frames += 1

    def _fit(self, image: Image.Image) -> Image.Image:
        image = image.convert("RGB")
        if image.size != self.size:
            image = image.resize(self.size, Image.Resampling.BILINEAR)
        padded = even_size(*self.size)
        if padded != self.size:
            canvas = Image.new("RGB", padded)
            canvas.paste(image, (0, 0))
            image = canvas
        return image

    def _mux(self, frame: av.VideoFrame | None) -> None:
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(
                f"{self.path}: cannot encode frame {self.frames}: {_reason(exc)}"
            ) from exc

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            self._mux(None)
        finally:
            self._container.close()

    def abort(self) -> None:
        """Release the file without flushing: what is written so far may not play."""
        self._container.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
