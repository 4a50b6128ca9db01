"""Media in S3-compatible object storage, served through the same route as local files.

A media root may be an S3 prefix (`s3://bucket/prefix/`, declared like a folder:
`workbench media-roots add s3://bucket/prefix/`). An object is handed out only when its URI
lies under such a prefix, compared as text after refusing every key that could mean
something else to another reader (`.` or `..` segments, empty segments, backslashes, NUL,
percent signs, query strings): S3 keys are plain strings, so there is no path to resolve and
nothing to follow. A fetched object is kept in a local cache (named by the hash of its URI)
and served from there as a file; credentials and the endpoint come from the usual AWS
variables.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.errors import MediaError

REMOTE_SCHEMES = ("s3://",)
# Objects larger than this are not fetched for the browser.
MAX_OBJECT_BYTES = 512 * 1024 * 1024


def is_remote(uri: str | os.PathLike[str]) -> bool:
    return str(uri).startswith(REMOTE_SCHEMES)


def remote_roots(roots: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The object-storage prefixes among `roots`, each ending with one `/`."""
    return [str(r).rstrip("/") + "/" for r in roots if is_remote(r)]


def check_key(uri: str) -> tuple[str, str]:
    """(bucket, key) of an `s3://` URI, or MediaError when it could name another object
    than it reads as."""
    if not uri.startswith("s3://"):
        raise MediaError(f"{uri}: not an s3:// URI")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    parts = key.split("/")
    bad = (
        not bucket
        or not key
        or any(p in ("", ".", "..") for p in parts)
        or any(c in uri for c in ("\\", "\x00", "%", "?", "#"))
    )
    if bad:
        raise MediaError(f"{uri}: outside the catalog's media folders")
    return bucket, key


def under_remote_root(uri: str, roots: Sequence[str | os.PathLike[str]]) -> bool:
    try:
        check_key(uri)
    except MediaError:
        return False
    return any(uri.startswith(root) for root in remote_roots(roots))


class RemoteMedia:
    """Objects under the remote media roots, fetched once into `cache_dir`."""

    def __init__(self, cache_dir: str | os.PathLike[str], filesystem: Any = None) -> None:
        self.cache_dir = Path(cache_dir)
        self._fs = filesystem

    def filesystem(self) -> Any:
        if self._fs is None:
            import s3fs

            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            self._fs = s3fs.S3FileSystem(endpoint_url=endpoint) if endpoint else s3fs.S3FileSystem()
        return self._fs

    def fetch(self, uri: str, roots: Sequence[str | os.PathLike[str]]) -> Path:
        """The local copy of `uri`. MediaError outside the remote roots (checked first), and
        chained from FileNotFoundError when there is no such object."""
        if not under_remote_root(uri, roots):
            raise MediaError(f"{uri}: outside the catalog's media folders")
        name = hashlib.sha256(uri.encode()).hexdigest()
        suffix = Path(uri).suffix.lower()[:8]
        path = self.cache_dir / name[:2] / (name + suffix)
        if path.is_file():
            return path
        fs = self.filesystem()
        try:
            size = fs.info(uri).get("size") or 0
        except FileNotFoundError as exc:
            raise MediaError(f"{uri}: file not found") from exc
        except OSError as exc:
            raise MediaError(f"{uri}: cannot be read from object storage") from exc
        if size > MAX_OBJECT_BYTES:
            raise MediaError(f"{uri}: larger than {MAX_OBJECT_BYTES} bytes")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.part")
        try:
            fs.get_file(uri, str(partial))
            os.replace(partial, path)
        except FileNotFoundError as exc:
            raise MediaError(f"{uri}: file not found") from exc
        except OSError as exc:
            raise MediaError(f"{uri}: cannot be read from object storage") from exc
        finally:
            partial.unlink(missing_ok=True)
        return path
