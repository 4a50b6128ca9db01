"""Where the browser gets pictures from: the served media route, or data URIs in a notebook.

The grid and the viewer never read image files themselves; they ask a `MediaUrls` for a URL.
A served app points the browser at the media route (the browser fetches and caches the
bytes, the websocket carries only short strings). A notebook has no such route, so the
pictures are embedded as data URIs, scaled down to keep the messages small.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from workbench.errors import MediaError
from workbench.media.files import resolve_media
from workbench.media.images import local_path
from workbench.media.remote import is_remote, under_remote_root

# The catalog's media roots, asked for each time (they may change while the app runs).
MediaRoots = Callable[[], Sequence[str]]


class RecentRoots:
    """`read()` (the catalog's `media_roots`) read again at most once every `seconds`.

    Every thumbnail request and every picture URL checks the roots: a page of 48 tiles
    would otherwise run 48 catalog queries on the server. Roots added or removed while the
    server runs are followed within `seconds`."""

    def __init__(self, read: MediaRoots, seconds: float = 1.0) -> None:
        self._read = read
        self.seconds = seconds
        self._lock = threading.Lock()
        self._roots: list[str] = []
        self._read_at: float | None = None

    def __call__(self) -> list[str]:
        with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self.seconds:
                self._roots = list(self._read())
                self._read_at = now
            return self._roots


# Shown instead of a picture that cannot be read, so one bad file never breaks a page.
MISSING_IMAGE = "data:image/svg+xml;utf8," + quote(
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="90">'
    '<rect width="160" height="90" fill="#444"/>'
    '<text x="80" y="50" fill="#ddd" font-size="14" text-anchor="middle">'
    "missing</text></svg>"
)


@runtime_checkable
class MediaUrls(Protocol):
    """Turns a source URI from the catalog into a URL a browser can load."""

    def thumbnail(self, uri: str, size: int) -> str:
        """A picture whose longer side is at most `size` pixels."""
        ...

    def image(self, uri: str) -> str:
        """The full picture (or one large enough to look at closely)."""
        ...

    def local_file(self, uri: str) -> Path:
        """The local file the app itself may read for `uri` (mask pictures); MediaError if
        it may not."""
        ...


def _is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "data:"))


class ServedMediaUrls:
    """URLs of the media route of a served app (see workbench/ui/media_route.py).

    With `roots` (the catalog's `media_roots`), a full picture whose file is outside every
    root or missing gets the "missing" picture instead of a URL the route would refuse, and
    only files under the roots are read for masks; without, no local file is read at all.
    """

    def __init__(self, prefix: str = "/media", roots: MediaRoots | None = None) -> None:
        self.prefix = prefix.rstrip("/")
        self.roots = roots

    def thumbnail(self, uri: str, size: int) -> str:
        if uri.startswith("data:"):
            return uri
        return f"{self.prefix}/thumb/{int(size)}?uri={quote(uri, safe='')}"

    def image(self, uri: str) -> str:
        if uri.startswith("data:"):
            return uri
        if self.roots is not None and is_remote(uri):  # an object under an s3:// root
            if not under_remote_root(uri, self.roots()):
                return MISSING_IMAGE
        elif self.roots is not None and not _is_remote(uri):
            try:
                resolve_media(uri, self.roots())
            except MediaError:
                return MISSING_IMAGE
        return f"{self.prefix}/file?uri={quote(uri, safe='')}"

    def local_file(self, uri: str) -> Path:
        if self.roots is None:
            raise MediaError(f"{uri}: no media roots to read it from")
        return resolve_media(uri, self.roots())

    def __repr__(self) -> str:
        return f"ServedMediaUrls({self.prefix!r})"


class InlineMediaUrls:
    """Data URIs, for a notebook where no media route exists.

    Full images are scaled to `max_side` so a 4K frame does not become a 10 MB message; the
    most recent URIs (up to `cache_bytes` of them) are kept, since stepping back and forth
    and paging back ask for them again. Remote (http) URIs are left for the browser to fetch.
    """

    def __init__(self, max_side: int = 1600, cache_bytes: int = 64 * 2**20) -> None:
        self.max_side = max_side
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._cached_bytes = 0

    def thumbnail(self, uri: str, size: int) -> str:
        return self._data_uri(uri, int(size))

    def image(self, uri: str) -> str:
        return self._data_uri(uri, self.max_side)

    def local_file(self, uri: str) -> Path:
        # A notebook reads files as the person running it, on their own machine.
        return local_path(uri)

    def _data_uri(self, uri: str, max_side: int) -> str:
        if _is_remote(uri):
            return uri
        key = (uri, max_side)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        from workbench.media.files import data_uri

        try:
            url = data_uri(uri, max_side)
        except (MediaError, OSError):
            return MISSING_IMAGE
        self._cache[key] = url
        self._cached_bytes += len(url)
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped)
        return url

    def __repr__(self) -> str:
        return f"InlineMediaUrls(max_side={self.max_side})"
