"""Reading and writing pictures with Pillow, its errors translated to MediaError once, here."""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from PIL import Image, ImageOps

from workbench.errors import MediaError
from workbench.model.limits import MAX_IMAGE_PIXELS

# Formats whose decoders can shrink while decoding (JPEG by 1/2, 1/4, 1/8): a thumbnail of a
# 4000-pixel photo then decodes a quarter of the pixels or fewer.
_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})


def local_path(uri: str | os.PathLike[str]) -> Path:
    """The file a local URI names: a path (absolute or relative) or a `file://` URI.

    Remote URIs (http, s3...) and file URIs naming another host raise MediaError.
    """
    text = os.fspath(uri)
    if "\x00" in text:
        raise MediaError(f"{text!r}: a path cannot contain a NUL character")
    if text.startswith("file:"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise MediaError(f"{text}: a file URI on another host ({parts.netloc}) is not local")
        return Path(unquote(parts.path))
    scheme, sep, _ = text.partition("://")
    if sep and scheme.isascii() and scheme.replace("+", "").replace("-", "").isalnum():
        raise MediaError(f"{text}: not a local file ({scheme}:// URIs are fetched elsewhere)")
    return Path(text)


def open_image(
    path: str | os.PathLike[str], *, max_side: int | None = None, uri: str | None = None
) -> Image.Image:
    """Decode a picture fully, turned upright by its EXIF orientation.

    With `max_side`, decoders that can (JPEG) decode at a reduced size that is still at least
    `max_side` pixels on the longer side. Errors name `uri` (default: the path).
    """
    where = uri or os.fspath(path)
    try:
        image = Image.open(path)
    except FileNotFoundError as exc:
        raise MediaError(f"{where}: file not found") from exc
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{where}: not a picture Pillow can read ({exc})") from exc
    try:
        with image:
            if max_side is not None and image.format in _DRAFT_FORMATS:
                image.draft(image.mode, _draft_size(image, max_side))
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{where}: the picture cannot be decoded ({exc})") from exc
    return upright


def image_size(path: str | os.PathLike[str], *, uri: str | None = None) -> tuple[int, int]:
    """(width, height) as stored, read from the header without decoding the pixels."""
    where = uri or os.fspath(path)
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError as exc:
        raise MediaError(f"{where}: file not found") from exc
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{where}: not a picture Pillow can read ({exc})") from exc


def check_pixel_count(size: tuple[int, int], where: str) -> None:
    """MediaError when a header claims more than MAX_IMAGE_PIXELS pixels (or an empty picture)."""
    width, height = size
    if width <= 0 or height <= 0:
        raise MediaError(f"{where}: the header claims an empty picture ({width}x{height})")
    if width * height > MAX_IMAGE_PIXELS:
        raise MediaError(
            f"{where}: the header claims {width}x{height} pixels, more than the "
            f"{MAX_IMAGE_PIXELS:,} allowed"
        )


def bomb_error(exc: Image.DecompressionBombError, where: str) -> MediaError:
    """Pillow's refusal of an oversized header, in the words of check_pixel_count."""
    return MediaError(f"{where}: the header claims more than {MAX_IMAGE_PIXELS:,} pixels ({exc})")


def _draft_size(image: Image.Image, max_side: int) -> tuple[int, int]:
    """The size to ask the decoder for: the picture scaled so its longer side is max_side.

    The decoder picks the smallest scale that is at least this large along both axes, so the
    result still covers max_side whichever way the EXIF orientation later turns it.
    """
    width, height = image.size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )


def shrink(image: Image.Image, max_side: int) -> Image.Image:
    """A copy whose longer side is at most `max_side` (never enlarged)."""
    if max(image.size) <= max_side:
        return image.copy()
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def encode(image: Image.Image, *, quality: int = 85) -> tuple[bytes, str]:
    """(bytes, content type): PNG when the picture has transparency, else JPEG."""
    buffer = io.BytesIO()
    if has_alpha(image):
        image.convert("RGBA").save(buffer, "PNG")
        return buffer.getvalue(), "image/png"
    mode = "L" if image.mode in ("L", "1", "I", "I;16", "F") else "RGB"
    image.convert(mode).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue(), "image/jpeg"
