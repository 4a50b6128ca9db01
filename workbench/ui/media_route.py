"""The served app's media route: original files and cached thumbnails over HTTP.

    GET /media/file?uri=<quoted uri>          the file itself (Range, ETag, Last-Modified)
    GET /media/thumb/<size>?uri=<quoted uri>  a thumbnail whose longer side is <= size pixels

Only files under the catalog's media roots are served: the URI is resolved to a real path
(symlinks and `..` followed) before it is compared with the roots, anything outside is 403, a
file that does not exist is 404, a missing, NUL-bearing or overlong URI is 400, and a file that
is not a picture (or is broken) is 415 for thumbnails. Both
routes go through the server's auth provider, like the app itself, and run the file system and
Pillow work on a thread pool so one slow disk read never stalls every browser session.
These are the URLs `workbench.ui.media.ServedMediaUrls` hands to the browser.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bokeh.server.views.auth_request_handler import AuthRequestHandler
from tornado.web import HTTPError, StaticFileHandler, authenticated

from workbench.errors import MediaError
from workbench.media.files import MAX_URI_LENGTH, content_type, resolve_media
from workbench.media.remote import RemoteMedia, is_remote
from workbench.media.thumbnails import ThumbnailCache, placeholder
from workbench.ui.headers import OTHER_POLICY, REFERRER_POLICY

# Browsers revalidate with If-None-Match after this; the ETag is the file's mtime and size,
# so a changed file is fetched again and an unchanged one costs a 304.
MAX_AGE_SECONDS = 3600
MIN_THUMB_SIZE = 16
# Each size is a separate cache entry on disk: bounding it keeps a crafted URL from filling it.
MAX_THUMB_SIZE = 2048

MediaRoots = Callable[[], Sequence[str | os.PathLike[str]]]


class MediaFiles:
    """What the media route needs: where files may come from, and the thumbnail cache.

    `roots` is called on every request, so folders registered while the server runs (an
    import from a notebook through the service API) are served without a restart (the
    server reads them through `RecentRoots`: within a second).
    """

    def __init__(
        self, roots: MediaRoots, thumbnails: ThumbnailCache, remote: RemoteMedia | None = None
    ) -> None:
        self.roots = roots
        self.thumbnails = thumbnails
        # Objects under s3:// media roots, fetched into a cache beside the thumbnails.
        self.remote = remote or RemoteMedia(thumbnails.cache_dir / "objects")

    def file(self, uri: str) -> Path:
        """The local file behind `uri` (a local copy of an object under an s3:// root);
        HTTPError 403 outside the roots, 404 if missing."""
        try:
            if is_remote(uri):
                return self.remote.fetch(uri, list(self.roots()))
            path = resolve_media(uri, list(self.roots()))
        except MediaError as exc:
            status = _status_of(exc)
            raise HTTPError(status, reason=_REASONS[status]) from exc
        return path

    def thumbnail(self, uri: str, size: int) -> Path:
        """The cached thumbnail file of `uri` at `size`, made now if it is not cached yet."""
        source = self.file(uri)  # the same 403/404 as the file route, before any decoding
        try:
            return self.thumbnails.get(str(source), size)
        except (MediaError, OSError) as exc:
            raise HTTPError(415, reason=_REASONS[415]) from exc


# Fixed reason phrases: the status line never echoes a resolved path (where a symlink leads)
# or a library's message back to the browser.
_REASONS = {403: "outside the media roots", 404: "no such file", 415: "not a readable picture"}
# What the thumbnail route draws in place of a picture it cannot make: a grid tile of a file
# outside the roots reads "missing" like a file that is gone (the status still differs).
_PLACEHOLDER_TEXT = {403: "missing", 404: "missing", 415: "unreadable"}


def _status_of(exc: MediaError) -> int:
    # resolve_media checks the roots first and chains FileNotFoundError only for a missing
    # file inside them, so a 404 says nothing about what exists outside.
    return 404 if isinstance(exc.__cause__, FileNotFoundError) else 403


class _LocalFileHandler(AuthRequestHandler, StaticFileHandler):
    """Sends one already-resolved local file with Tornado's Range/ETag/304 handling.

    Tornado's StaticFileHandler maps a URL path under a root; here the file comes from a
    query argument checked by `MediaFiles`, so path resolution is replaced and the rest
    (conditional requests, ranges for video seeking, chunked reads) is kept.
    """

    media: MediaFiles
    _resolved: Path

    def initialize(self, media: MediaFiles) -> None:  # type: ignore[override]
        super().initialize(path="/")
        self.media = media

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # On every answer, errors and placeholders included (Tornado sets these again after
        # clearing the headers for an error): a browser never sniffs a media file into HTML,
        # and a file opened on its own (an SVG or HTML file under a media root) runs nothing.
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", REFERRER_POLICY)
        self.set_header("Content-Security-Policy", OTHER_POLICY)

    async def _send(self, resolve: Callable[[], Path], include_body: bool) -> None:
        self._resolved = await asyncio.get_running_loop().run_in_executor(None, resolve)
        await StaticFileHandler.get(self, str(self._resolved), include_body=include_body)

    def _uri(self) -> str:
        uri = self.get_query_argument("uri", default="")
        if not uri:
            raise HTTPError(400, reason="missing uri query argument")
        if len(uri) > MAX_URI_LENGTH or "\x00" in uri:
            raise HTTPError(400, reason="not a media uri")
        return uri

    def validate_absolute_path(self, root: str, absolute_path: str) -> str:
        return str(self._resolved)

    def compute_etag(self) -> str:
        # The default hashes the whole file once per path and keeps every hash in memory,
        # which is a full read of each video and unbounded growth over a big catalog.
        stat = self._stat()
        return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'

    def get_content_type(self) -> str:
        return content_type(self._resolved)

    def get_cache_time(self, path: str, modified: datetime.datetime | None, mime_type: str) -> int:
        return MAX_AGE_SECONDS

    def set_extra_headers(self, path: str) -> None:
        # private: with auth on, a shared proxy must not hand one user's media to another
        self.set_header("Cache-Control", f"private, max-age={MAX_AGE_SECONDS}")


# The get/head overrides below take the route's own arguments (none, or the size) rather than
# StaticFileHandler's URL path, hence the [override] ignores.


class MediaFileHandler(_LocalFileHandler):
    """GET /media/file?uri=..."""

    @authenticated
    async def get(self) -> None:  # type: ignore[override]
        uri = self._uri()
        await self._send(lambda: self.media.file(uri), include_body=True)

    @authenticated
    async def head(self) -> None:  # type: ignore[override]
        uri = self._uri()
        await self._send(lambda: self.media.file(uri), include_body=False)


class ThumbnailHandler(_LocalFileHandler):
    """GET /media/thumb/<size>?uri=..."""

    @authenticated
    async def get(self, size: str) -> None:  # type: ignore[override]
        await self._thumbnail(size, include_body=True)

    @authenticated
    async def head(self, size: str) -> None:  # type: ignore[override]
        await self._thumbnail(size, include_body=False)

    async def _thumbnail(self, size: str, include_body: bool) -> None:
        pixels = int(size)  # the route only matches digits
        if not MIN_THUMB_SIZE <= pixels <= MAX_THUMB_SIZE:
            raise HTTPError(
                400, reason=f"size must be between {MIN_THUMB_SIZE} and {MAX_THUMB_SIZE}"
            )
        self._pixels = pixels
        uri = self._uri()
        await self._send(lambda: self.media.thumbnail(uri, pixels), include_body=include_body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # A grid tile shows whatever body comes back: a grey "missing"/"unreadable" picture
        # reads better than a broken-image icon, and the status still tells a script.
        pixels = getattr(self, "_pixels", None)
        text = _PLACEHOLDER_TEXT.get(status_code)
        if pixels is None or text is None:
            super().write_error(status_code, **kwargs)
            return
        self.clear_header("Cache-Control")
        self.set_header("Content-Type", "image/png")
        self.set_header("Cache-Control", "no-store")
        self.finish(placeholder(pixels, text))


def media_patterns(media: MediaFiles, prefix: str = "/media") -> list[tuple[str, Any, Any]]:
    """Tornado URL patterns for `pn.serve(..., extra_patterns=...)`."""
    prefix = prefix.rstrip("/")
    options = {"media": media}
    return [
        (rf"{prefix}/file", MediaFileHandler, options),
        (rf"{prefix}/thumb/(\d+)", ThumbnailHandler, options),
    ]
