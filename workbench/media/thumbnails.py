"""Thumbnails made with Pillow on demand and kept on disk.

A thumbnail is keyed by the source's real path, its modification time and size, and the
requested size, so a changed source gets a new thumbnail and an unchanged one is never
decoded twice. Files are written under a temporary name and renamed into place, so
concurrent requests (threads or processes) never see half a file; at worst two of them make
the same thumbnail and one rename wins.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from workbench.errors import MediaError
from workbench.media.files import resolve_media
from workbench.media.images import encode, local_path, open_image, shrink

MIN_SIZE, MAX_SIZE = 8, 4096
_EXTENSIONS = (".jpg", ".png")


def default_cache_dir(catalog_path: str | os.PathLike[str]) -> Path:
    """`<catalog stem>.cache/thumbs` next to the catalog file."""
    path = Path(catalog_path)
    return path.parent / f"{path.stem}.cache" / "thumbs"


class ThumbnailCache:
    """Thumbnails of local pictures in `cache_dir`, made when first asked for.

    With `roots` (a catalog's `media_roots()`), only files under those folders are read, as
    `workbench.media.files.resolve_media` decides; without, any local file is.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        *,
        roots: Sequence[str | os.PathLike[str]] | None = None,
        quality: int = 82,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.roots = list(roots) if roots is not None else None
        self.quality = quality

    def __repr__(self) -> str:
        return f"ThumbnailCache({str(self.cache_dir)!r})"

    def get(self, uri: str, size: int) -> Path:
        """The thumbnail file of `uri` whose longer side is `size` pixels.

        Pictures already smaller than `size` are not enlarged. Raises MediaError naming the
        URI when the file is missing, outside the roots or not a readable picture.
        """
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise MediaError(
                f"thumbnail size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}"
            )
        source = self._source(uri)
        try:
            stat = source.stat()
        except FileNotFoundError as exc:
            raise MediaError(f"{uri}: file not found") from exc
        key = hashlib.sha256(
            f"{source}\0{stat.st_mtime_ns}\0{stat.st_size}\0{size}".encode()
        ).hexdigest()
        stem = self.cache_dir / key[:2] / key
        for extension in _EXTENSIONS:
            cached = stem.with_suffix(extension)
            if cached.exists():
                return cached
        image = shrink(open_image(source, max_side=size, uri=uri), size)
        data, mime = encode(image, quality=self.quality)
        target = stem.with_suffix(".png" if mime == "image/png" else ".jpg")
        _write_atomically(target, data)
        return target

    def get_bytes(self, uri: str, size: int) -> bytes:
        """The thumbnail's bytes (JPEG, or PNG for pictures with transparency)."""
        return self.get(uri, size).read_bytes()

    def _source(self, uri: str) -> Path:
        if self.roots is not None:
            return resolve_media(uri, self.roots)
        return Path(os.path.realpath(os.path.abspath(local_path(uri))))


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=64)
def placeholder(size: int, text: str = "no image", *, height: int | None = None) -> bytes:
    """A grey PNG with `text` in the middle, for a picture that cannot be shown.

    `size` is the width; the height defaults to 9/16 of it, the shape of most camera frames.
    """
    width = max(MIN_SIZE, min(size, MAX_SIZE))
    height = max(MIN_SIZE, min(height if height is not None else round(width * 9 / 16), MAX_SIZE))
    image = Image.new("RGB", (width, height), (229, 231, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width - 1, height - 1), outline=(156, 163, 175))
    font_size = max(8, min(width // 12, height // 4, 28))
    font = _font(font_size)
    columns = max(4, int(width / (font_size * 0.6)) - 2)
    lines = textwrap.wrap(text, columns)[: max(1, height // (font_size + 4))]
    total = len(lines) * (font_size + 4)
    y = (height - total) / 2
    for line in lines:
        left, _, right, _ = draw.textbbox((0, 0), line, font=font)
        draw.text(((width - (right - left)) / 2, y), line, fill=(75, 85, 99), font=font)
        y += font_size + 4
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError, ImportError):  # Pillow without FreeType has one bitmap font
        return ImageFont.load_default()
