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
from dataclasses import dataclass
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


# Longer URIs are refused outright: no real media path is this long (PATH_MAX is 4096).
MAX_URI_LENGTH = 4096


def real_path(uri_or_path: str) -> Path:
    """The real path a local URI names: symlinks and `..` resolved, relative to the working
    directory. MediaError for remote URIs, NUL characters and absurdly long URIs."""
    if len(uri_or_path) > MAX_URI_LENGTH:
        raise MediaError(f"a media URI longer than {MAX_URI_LENGTH} characters is refused")
    path = local_path(uri_or_path)
    # realpath resolves each symlink before applying the `..` after it, as the kernel does;
    # normalising `..` away first (abspath) would check another path than the one opened.
    return Path(os.path.realpath(path))


def is_under(path: Path, roots: Sequence[Path]) -> bool:
    """Whether `path` is one of `roots` or inside one (whole path components: /data/media2
    is not under /data/media)."""
    return any(path.is_relative_to(root) for root in roots)


def real_roots(roots: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The local roots, real; object-storage prefixes (media/remote.py) are not folders."""
    return [Path(os.path.realpath(root)) for root in roots if not str(root).startswith("s3://")]


def resolve_media(uri_or_path: str, roots: Sequence[str | os.PathLike[str]]) -> Path:
    """The real path of a local media file, if it lies under one of `roots`.

    `uri_or_path` is a path or a `file://` URI (relative paths are taken from the working
    directory, like the importers do). Raises MediaError when it is remote, resolves outside
    every root (`..`, symlinks, absolute paths elsewhere), or is not an existing file; the
    outside check comes first, so a refusal says nothing about what exists outside.
    """
    real = real_path(uri_or_path)
    if not is_under(real, real_roots(roots)):
        raise MediaError(f"{uri_or_path}: outside the catalog's media folders")
    try:
        is_file = real.is_file()
        exists = is_file or real.exists()
    except OSError as exc:  # a name too long for the file system, a loop of symlinks...
        raise MediaError(f"{uri_or_path}: file not found") from FileNotFoundError(str(exc))
    if not exists:
        raise MediaError(f"{uri_or_path}: file not found") from FileNotFoundError(str(real))
    if not is_file:
        raise MediaError(f"{uri_or_path}: not a file")
    return real


@dataclass(frozen=True)
class MediaFolder:
    """A folder as MediaRootCheck sees it: its real path, whether it lies under a root, and
    the names of the symlinks directly in it (listed only for folders under a root)."""

    real: str
    inside: bool
    links: frozenset[str]


# Where a URI that cannot name a local file (NUL, another host, too long) is placed.
_NOWHERE = MediaFolder("", False, frozenset())
_MAX_FOLDERS = 100_000


class MediaRootCheck:
    """Tells which of many URIs name files outside a fixed set of media roots, quickly.

    Imports use it to count the URIs they store but the app will not serve. Each folder is
    resolved once (symlinks, `..`) and, when under a root, listed once for the symlinks it
    holds, so checking a URI costs a string split and two look-ups rather than a realpath
    (several system calls) per file. Remote URIs (http, s3...) are not local files: never
    outside. Serving checks every request again with `resolve_media`.
    """

    def __init__(self, roots: Sequence[str | os.PathLike[str]]) -> None:
        self.roots = real_roots(roots)
        self._folders: dict[str, MediaFolder] = {}

    def is_outside(self, uri: str) -> bool:
        split = self._split(uri)
        if split is None:
            return False
        folder, name = split
        if not folder.inside:
            return True
        if name in folder.links or name in ("", ".", ".."):
            target = Path(os.path.realpath(os.path.join(folder.real, name)))
            return not is_under(target, self.roots)
        return False

    def folder_of(self, uri: str) -> MediaFolder | None:
        """The folder of the file a local URI names; None for a remote URI."""
        split = self._split(uri)
        return None if split is None else split[0]

    def _split(self, uri: str) -> tuple[MediaFolder, str] | None:
        if uri.startswith("data:"):
            return None  # the picture itself, no file
        if len(uri) > MAX_URI_LENGTH or "\x00" in uri:
            return _NOWHERE, ""  # cannot name a file
        if ":" in uri:  # a URI (file://, http://...); plain paths skip the parsing
            try:
                text = os.fspath(local_path(uri))
            except MediaError:
                if uri[:5].lower() == "file:":
                    return _NOWHERE, ""  # a file of another host
                return None  # http, s3...: fetched elsewhere, never served from here
        else:
            text = uri
        head, sep, name = text.rpartition("/")
        return self._folder((head or "/") if sep else "."), name

    def _folder(self, folder: str) -> MediaFolder:
        found = self._folders.get(folder)
        if found is None:
            real = os.path.realpath(folder)
            inside = is_under(Path(real), self.roots)
            found = MediaFolder(real, inside, _symlinks_in(real) if inside else frozenset())
            if len(self._folders) >= _MAX_FOLDERS:
                self._folders.clear()
            self._folders[folder] = found
        return found


def _symlinks_in(folder: str) -> frozenset[str]:
    """Names of the symlinks directly in `folder` (none when it cannot be listed)."""
    try:
        with os.scandir(folder) as entries:
            return frozenset(e.name for e in entries if e.is_symlink())
    except OSError:
        return frozenset()


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
