"""How the Label Studio server gets each frame's image, and the image's size in pixels.

- `http(s)://` URIs are handed to Label Studio as they are (the annotator's browser loads
  them);
- local files below the server's document root (LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT,
  `local_files_root` in the config) are served by the server itself: the project gets a
  local-files storage for each top-level folder used (never synced: that would make a task
  per file) and tasks point at `/data/local-files/?d=<path below the root>`;
- other local files are uploaded to the project, named by a hash of their content, so an
  upload repeated after a lost answer finds the file already there.

Sizes come from the catalog's `sources.width/height`, else from the local file's header; a
remote image of unknown size cannot be converted to pixels and is refused before anything is
sent.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from workbench.backends.labelstudio.client import LabelStudioClient, create_once, expect
from workbench.backends.labelstudio.errors import LabelStudioError, LabelStudioResponseError
from workbench.backends.remote.errors import OutcomeUnknown
from workbench.errors import MediaError
from workbench.media.images import image_size, local_path

UPLOAD_BATCH = 20  # files per upload request
_UPLOAD_PREFIX = "wb-"


@dataclass(frozen=True)
class Image:
    """One frame's picture as the backend sends it."""

    frame_id: str
    source_id: str
    uri: str
    width: int
    height: int
    # Exactly one of these is set: a URL as is, a path below the document root, a file to upload.
    remote: str | None = None
    below_root: str | None = None
    upload: Path | None = None


def plan_image(
    frame_id: str,
    source: dict[str, Any],
    local_files_root: str | None,
) -> Image:
    """Where a source's picture comes from and its size; LabelStudioError if it cannot be sent."""
    uri = str(source.get("uri") or "")
    where = f"frame {frame_id!r}, source {source.get('id')!r} ({uri})"
    if not uri:
        raise LabelStudioError(f"{where}: the source has no URI")
    width, height = source.get("width"), source.get("height")
    remote = below = upload = None
    if uri.startswith(("http://", "https://")):
        remote = uri
    else:
        try:
            path = Path(os.path.realpath(local_path(uri)))
        except MediaError as exc:
            raise LabelStudioError(f"{where}: Label Studio cannot load this image ({exc})") from exc
        below = _below_root(path, local_files_root)
        upload = None if below else path
        if not width or not height:
            try:
                width, height = image_size(path, uri=uri)
            except MediaError as exc:
                raise LabelStudioError(f"{where}: {exc}") from exc
    if not width or not height:
        raise LabelStudioError(
            f"{where}: the image size is unknown, so pixel coordinates cannot be converted; "
            "store width and height in the catalog's sources"
        )
    return Image(
        frame_id, str(source.get("id")), uri, int(width), int(height), remote, below, upload
    )


def _below_root(path: Path, root: str | None) -> str | None:
    """The path relative to the document root, if the server can serve it (it must lie in a
    folder below the root: a storage cannot be the root itself)."""
    if not root:
        return None
    real_root = Path(os.path.realpath(root))
    if not path.is_relative_to(real_root):
        return None
    relative = path.relative_to(real_root)
    return relative.as_posix() if len(relative.parts) >= 2 else None


class MediaServer:
    """Makes the project able to show a run's images; `urls()` gives each image's URL."""

    def __init__(self, client: LabelStudioClient, server_root: str | None) -> None:
        self.client = client
        # The document root as the server sees it (it differs when the server runs in a
        # container with the folder mounted elsewhere).
        self.server_root = server_root

    def urls(self, project_id: int, images: Sequence[Image]) -> dict[str, str]:
        """frame id -> the URL to put in its task."""
        out: dict[str, str] = {}
        folders: set[str] = set()
        uploads: dict[str, Path] = {}
        for image in images:
            if image.remote is not None:
                out[image.frame_id] = image.remote
            elif image.below_root is not None:
                folders.add(PurePosixPath(image.below_root).parts[0])
                out[image.frame_id] = "/data/local-files/?d=" + quote(image.below_root)
            elif image.upload is not None:
                uploads[image.frame_id] = image.upload
        if folders:
            self._storages(project_id, sorted(folders))
        if uploads:
            out.update(self._uploads(project_id, uploads))
        return out

    # -- local-files storages --------------------------------------------------------------
    def _storages(self, project_id: int, folders: list[str]) -> None:
        if not self.server_root:
            raise LabelStudioError("local files need the server's document root (local_files_root)")
        wanted = [str(PurePosixPath(self.server_root) / folder) for folder in folders]
        for path in wanted:
            create_once(
                self.client,
                partial(self._storage, project_id, path),
                partial(self._add_storage, project_id, path),
            )

    def _storage(self, project_id: int, path: str) -> str | None:
        """`path` if the project has a local-files storage there."""
        found = self.client.get("/api/storages/localfiles", project=project_id)
        storages = expect(found, list, "GET /api/storages/localfiles")
        paths = {str(expect(s, dict, "a storage").get("path", "")).rstrip("/") for s in storages}
        return path if path in paths else None

    def _add_storage(self, project_id: int, path: str) -> str:
        body = {
            "project": project_id,
            "title": f"workbench {PurePosixPath(path).name}",
            "path": path,
            "use_blob_urls": True,
        }
        self.client.post("/api/storages/localfiles", body)
        return path

    # -- uploads ---------------------------------------------------------------------------
    def _uploads(self, project_id: int, files: dict[str, Path]) -> dict[str, str]:
        names = {frame_id: _upload_name(path) for frame_id, path in files.items()}
        by_name = self._uploaded(project_id)
        todo = sorted({n: files[f] for f, n in names.items() if n not in by_name}.items())
        for start in range(0, len(todo), UPLOAD_BATCH):
            batch = todo[start : start + UPLOAD_BATCH]
            try:
                self._send(project_id, batch)
            except OutcomeUnknown:
                # The files may have arrived: look, then send only what is still missing.
                have = self._uploaded(project_id)
                self._send(project_id, [(n, p) for n, p in batch if n not in have])
        by_name = self._uploaded(project_id)
        missing = sorted(set(names.values()) - set(by_name))
        if missing:
            raise LabelStudioResponseError(
                f"uploaded files are missing from the project: {missing[:5]}"
            )
        return {frame_id: "/data/" + by_name[name] for frame_id, name in names.items()}

    def _uploaded(self, project_id: int) -> dict[str, str]:
        """Our uploaded files in the project: upload name -> stored file path."""
        found = expect(
            self.client.get(f"/api/projects/{project_id}/file-uploads", all="true"),
            list,
            "GET /api/projects/{id}/file-uploads",
        )
        out: dict[str, str] = {}
        for item in found:
            stored = str(expect(item, dict, "a file upload").get("file", ""))
            # Label Studio prefixes the name with 8 random characters and a dash.
            name = PurePosixPath(stored).name.partition("-")[2]
            if name.startswith(_UPLOAD_PREFIX):
                out.setdefault(name, stored)
        return out

    def _send(self, project_id: int, batch: list[tuple[str, Path]]) -> None:
        if not batch:
            return
        try:
            # Bytes, not open files: a retried request must send the whole file again.
            files = [
                (f"file{n}", (name, path.read_bytes(), "application/octet-stream"))
                for n, (name, path) in enumerate(batch)
            ]
        except OSError as exc:
            raise LabelStudioError(f"cannot read a file to upload: {exc}") from exc
        self.client.request(
            "POST",
            f"/api/projects/{project_id}/import",
            params={"commit_to_project": "false"},
            files=files,
        )


def _upload_name(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise LabelStudioError(f"{path}: cannot read the file to upload ({exc})") from exc
    return f"{_UPLOAD_PREFIX}{digest.hexdigest()[:20]}{path.suffix.lower()}"
