"""Making a run's objects on CVAT: the project with its labels, each task with its data,
its existing labels and its job assignees. Every creation is idempotent (looked up by name
first), so retries never leave a second project or task behind."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from workbench.backends.base import BackendError
from workbench.backends.cvat.client import CvatClient
from workbench.backends.cvat.errors import CvatError, CvatResponseError
from workbench.backends.cvat.labels import ProjectLabels, project_labels_body, read_project_labels
from workbench.backends.cvat.media import TaskData, bulks
from workbench.backends.remote.errors import Unavailable
from workbench.model.labels import LabelSchema

# Longest part of an annotation key that goes into CVAT names (which hold 256 characters).
_KEY_CHARS = 180


def project_name(anno_key: str, run_id: str) -> str:
    return f"{anno_key[:_KEY_CHARS]} [{run_id}]"


def task_name(anno_key: str, position: int) -> str:
    return f"{anno_key[:_KEY_CHARS]} #{position + 1}"


class Creator:
    """Creates a run's project and tasks through one client."""

    def __init__(self, client: CvatClient) -> None:
        self.client = client
        self._assignees: Iterator[int] | None = None

    # -- project ------------------------------------------------------------------------
    def project(self, name: str, schema: LabelSchema, mutable: bool) -> tuple[int, bool]:
        """The run's project (made now, or found from an earlier attempt) and whether it
        was made by this call."""
        body = {"name": name, "labels": project_labels_body(schema, mutable)}
        found, created = self.client.create(
            "/api/projects", body, lambda: self.client.find("/api/projects", name)
        )
        return int(found["id"]), created

    def labels(self, project_id: int, schema: LabelSchema, mutable: bool) -> ProjectLabels:
        found = list(self.client.pages("/api/labels", project_id=project_id))
        return read_project_labels(schema, mutable, found)

    def discard_project(self, project_id: int) -> None:
        """Best effort: a failed upload takes its half-made project (and tasks) away."""
        with contextlib.suppress(CvatError):
            self.client.request("DELETE", f"/api/projects/{project_id}", missing_ok=True)

    # -- users --------------------------------------------------------------------------
    def use_assignees(self, names: Sequence[str]) -> None:
        """Resolve job assignees by user name (before anything is created)."""
        ids = [self.user_id(name) for name in names]
        self._assignees = itertools.cycle(ids) if ids else None

    def user_id(self, name: str) -> int:
        for user in self.client.pages("/api/users", search=name):
            if user.get("username") == name and isinstance(user.get("id"), int):
                return int(user["id"])
        raise BackendError(f"CVAT has no user {name!r} to assign work to")

    # -- tasks --------------------------------------------------------------------------
    def task(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        name, project_id = body["name"], body["project_id"]
        return self.client.create(
            "/api/tasks", body, lambda: self.client.find("/api/tasks", name, project_id=project_id)
        )

    def add_data(self, task_id: int, data: TaskData, *, fresh: bool) -> None:
        """Send the task's media and wait until CVAT has processed it. A task found from an
        earlier attempt may already have its data (or be processing it): CVAT refuses data
        twice, so that request is awaited instead."""
        rq_id = None if fresh else self._data_request(task_id)
        if rq_id is None:
            rq_id = self._send_data(task_id, data)
        self.client.wait(rq_id)
        self._check_frames(task_id, data)

    def _data_request(self, task_id: int) -> str | None:
        for request in self.client.pages(
            "/api/requests", task_id=task_id, action="create", target="task"
        ):
            if request.get("status") in ("queued", "started", "finished"):
                return str(request["id"])
        return None

    def _send_data(self, task_id: int, data: TaskData) -> str:
        path = f"/api/tasks/{task_id}/data/"
        try:
            if data.kind == "client":
                answer = self._upload_files(path, data)
            else:
                answer = self.client.request("POST", path, json=data.fields)
        except Unavailable:
            # The answer may have been lost after CVAT started processing: look before failing.
            found = self._data_request(task_id)
            if found is not None:
                return found
            raise
        rq_id = answer.get("rq_id") if isinstance(answer, dict) else None
        if not isinstance(rq_id, str) or not rq_id:
            raise CvatResponseError(f"CVAT took the data of task {task_id} without an rq_id")
        return rq_id

    def _upload_files(self, path: str, data: TaskData) -> Any:
        """CVAT's upload session: start, files in requests of bounded size, finish."""
        self.client.request("POST", path, headers={"Upload-Start": ""}, idempotent=True)
        quality = str(data.fields["image_quality"])
        for bulk in bulks(data.files, data.names, self.client.config.max_request_bytes):
            files = []
            for number, (file_path, name) in enumerate(bulk):
                with open(file_path, "rb") as handle:
                    files.append((f"client_files[{number}]", (name, handle.read(), _mime(name))))
            self.client.request(
                "POST",
                path,
                data={"image_quality": quality},
                files=files,
                headers={"Upload-Multiple": ""},
            )
        return self.client.request("POST", path, json=data.fields, headers={"Upload-Finish": ""})

    def _check_frames(self, task_id: int, data: TaskData) -> None:
        """CVAT must hold the frames in the order sent: compare its frame list with ours."""
        meta = self.client.get_object(f"/api/tasks/{task_id}/data/meta")
        size = meta.get("size")
        if size != data.frames:
            raise CvatResponseError(
                f"CVAT made task {task_id} with {size} frames; {data.frames} were sent"
            )
        if len(data.names) != data.frames:
            return  # a video: one file, cut by CVAT
        frames = meta.get("frames")
        names = [_base(f.get("name")) for f in frames] if isinstance(frames, list) else []
        expected = [_base(n) for n in data.names]
        if names != expected:
            first = next(
                (i for i, (a, b) in enumerate(zip(names, expected, strict=False)) if a != b), 0
            )
            raise CvatResponseError(
                f"CVAT holds the frames of task {task_id} in another order than sent: frame "
                f"{first} is {names[first] if first < len(names) else None!r}, "
                f"expected {expected[first]!r}"
            )

    def assign_jobs(self, task_id: int) -> None:
        if self._assignees is None:
            return
        for job in list(self.client.pages("/api/jobs", task_id=task_id)):
            self.client.request(
                "PATCH", f"/api/jobs/{job['id']}", json={"assignee": next(self._assignees)}
            )


def _base(name: Any) -> str:
    text = str(name)
    return PurePosixPath(urlsplit(text).path if "://" in text else text).name


def _mime(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    return {
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".png": "image/png",
        ".bmp": "image/bmp",
        ".webp": "image/webp",
        ".tif": "image/tiff",
        ".tiff": "image/tiff",
    }.get(suffix, "application/octet-stream")
