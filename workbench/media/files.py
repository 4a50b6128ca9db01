"""Safe access to media files: only files under a catalog's media roots are handed out.

A URI from a browser (or from a catalog someone else wrote) is resolved to a real path, with
symlinks and `..` followed, before it is compared with the media roots, so `../`, symlinks
leading out of a root and absolute paths elsewhere are all refused the same way.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from collections.abc import Sequence
from pathlib import Path

from workbench.errors import MediaError
from workbench.media.images import encode, image_size, local_path, open_image, shrink

_CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".json": "application/json",
}
_FALLBACK_TYPE = "application/octet-stream"


def resolve_media(uri_or_path: str, roots: Sequence[str | os.PathLike[str]]) -> Path:
    """The real path of a local media file, if it lies under one of `roots`.

    `uri_or_path` is a path or a `file://` URI (relative paths are taken from the working
    directory, like the importers do). Raises MediaError when it is remote, resolves outside
    every root (`..`, symlinks, absolute paths elsewhere), or is not an existing file; the
    outside check comes first, so a refusal says nothing about what exists outside.
    """
    path = local_path(uri_or_path)
    real = Path(os.path.realpath(os.path.abspath(path)))
    real_roots = [Path(os.path.realpath(os.path.abspath(root))) for root in roots]
    if not any(real.is_relative_to(root) for root in real_roots):
        raise MediaError(f"{uri_or_path}: outside the catalog's media folders")
    if not real.exists():
        raise MediaError(f"{uri_or_path}: file not found") from FileNotFoundError(str(real))
    if not real.is_file():
        raise MediaError(f"{uri_or_path}: not a file")
    return real


def content_type(path: str | os.PathLike[str]) -> str:
    """The MIME type of a media file, from its extension."""
    suffix = Path(path).suffix.lower()
    known = _CONTENT_TYPES.get(suffix)
    if known:
        return known
    guessed, _ = mimetypes.guess_type(f"file{suffix}")
    return guessed or _FALLBACK_TYPE


def data_uri(path: str | os.PathLike[str], max_side: int | None = None) -> str:
    """The file as a `data:` URI, for notebooks where no server hands out files.

    With `max_side`, a picture larger than that is scaled down (and turned upright by its
    EXIF orientation) first; smaller pictures and other files are embedded as they are.
    """
    file = local_path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError as exc:
        raise MediaError(f"{path}: file not found") from exc
    except OSError as exc:
        raise MediaError(f"{path}: cannot read the file ({exc})") from exc
    mime = content_type(file)
    if max_side is not None and mime.startswith("image/"):
        if max_side < 1:
            raise MediaError(f"max_side must be a positive number of pixels, got {max_side}")
        if max(image_size(file, uri=os.fspath(path))) > max_side:
            image = open_image(file, max_side=max_side, uri=os.fspath(path))
            raw, mime = encode(shrink(image, max_side))
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"
