"""The media half of the fake CVAT: data upload sessions, background requests that sort,
cut and split a task's frames into jobs, and the task's frame list (data/meta)."""

from __future__ import annotations

import email.parser
import email.policy
import io
import itertools
import random
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
from cvat_sdk.api_client import models
from PIL import Image

from .cvat_checks import BadRequest, validate

NOW = "2024-05-01T12:00:00Z"
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}


class NotFound(Exception):
    pass


@dataclass
class Task:
    id: int
    name: str
    project_id: int | None
    segment_size: int
    overlap: int
    assignee_id: int | None
    size: int = 0
    names: list[str] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the DataRequest as received
    deleted: set[int] = field(default_factory=set)
    uploads: list[tuple[str, bytes]] | None = None
    annotations: dict[str, Any] = field(
        default_factory=lambda: {"version": 0, "tags": [], "shapes": [], "tracks": []}
    )


class MediaRoutes:
    """Routes of FakeCvat about media; it keeps the state (`tasks`, `rq`, `jobs`, ...)."""

    tasks: dict[int, Task]
    rq: dict[str, dict[str, Any]]
    jobs: dict[int, dict[str, Any]]
    videos: dict[str, int]
    polls: int
    fail_processing: str | None
    force_sorting: str | None
    validated: list[tuple[str, str, str]]
    _checked: bool
    _ids: itertools.count[int]
    _rq_ids: itertools.count[int]

    # -- data -----------------------------------------------------------------------------
    def _data(self, request: httpx.Request, task_id: int) -> tuple[int, Any]:
        task = self._task(task_id)
        headers = request.headers
        if task.size or any(
            r["operation"]["task_id"] == task_id and r["status"] != "failed"
            for r in self.rq.values()
        ):
            raise BadRequest("Adding more data is not supported")
        if "upload-start" in headers:
            task.uploads = []
            return 202, None
        if "upload-multiple" in headers:
            if task.uploads is None:
                raise BadRequest("no upload session was started")
            fields, files = _multipart(request)
            payload = {k: int(v) if v.isdigit() else v for k, v in fields.items()}
            validate(payload, models.DataRequest)
            self._checked = True
            self.validated.append((request.method, request.url.path, "DataRequest"))
            if not files or any(not re.fullmatch(r"client_files\[\d+\]", n) for n, _, _ in files):
                raise BadRequest("expected client_files[i] parts")
            task.uploads.extend((filename, content) for _, filename, content in files)
            return 200, None
        body = self._body(request, models.DataRequest)
        if "image_quality" not in body:
            raise BadRequest("image_quality: This field is required.")
        files = self._task_files(task, body, finishing="upload-finish" in headers)
        task.uploads = None
        task.data = body
        rq_id = f"create:task-{task_id}-{next(self._rq_ids)}"
        self.rq[rq_id] = {
            "id": rq_id,
            "status": "queued",
            "message": "",
            "polls": 0,
            "files": files,
            "fail": self.fail_processing,
            "operation": {
                "type": "create:task",
                "target": "task",
                "task_id": task_id,
                "project_id": task.project_id,
                "job_id": None,
                "format": None,
                "function_id": None,
                "org_id": None,
            },
        }
        self.fail_processing = None
        return self._answer_as(202, {"rq_id": rq_id}, models.DataResponse)

    def _task_files(
        self, task: Task, body: dict[str, Any], finishing: bool
    ) -> list[tuple[str, bytes | None]]:
        kinds = [k for k in ("client_files", "server_files", "remote_files") if body.get(k)]
        if finishing:
            uploaded = task.uploads or []
            if not uploaded or kinds:
                raise BadRequest("an upload session finishes with the files it uploaded")
            names = [name for name, _ in uploaded]
            order = body.get("upload_file_order")
            if order is not None and sorted(order) != sorted(names):
                raise BadRequest(f"upload_file_order does not match the uploaded files: {order}")
            if len(set(names)) != len(names):
                raise BadRequest("two uploaded files have the same name")
            files: list[tuple[str, bytes | None]] = list(uploaded)
            if body.get("sorting_method") == "predefined" and order is not None:
                position = {name: i for i, name in enumerate(order)}
                files.sort(key=lambda f: position[f[0]])
            return files
        if len(kinds) != 1:
            raise BadRequest("give exactly one of client_files, server_files, remote_files")
        if kinds[0] == "client_files":
            raise BadRequest("client files are uploaded in an upload session")
        return [(name, None) for name in body[kinds[0]]]

    def _process(self, rq: dict[str, Any]) -> None:
        """What CVAT's worker does with a data request: sort, cut, make jobs (or fail)."""
        task = self.tasks[rq["operation"]["task_id"]]
        body, files = task.data, rq["files"]
        if rq["fail"]:
            raise ValueError(rq["fail"])
        method = self.force_sorting or body.get("sorting_method", "lexicographical")
        if method == "lexicographical":
            files = sorted(files, key=lambda f: f[0])
        elif method == "natural":
            files = sorted(
                files,
                key=lambda f: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", f[0])],
            )
        elif method == "random":
            files = random.Random(0).sample(files, len(files))
        names = [n for n, _ in files]
        video = len(names) == 1 and PurePosixPath(urlsplit(names[0]).path).suffix in VIDEO_SUFFIXES
        count = self.videos.get(PurePosixPath(names[0]).name, 1000) if video else len(names)
        start = body.get("start_frame", 0)
        stop = body.get("stop_frame", count - 1) or count - 1
        step = int(body.get("frame_filter", "step=1").split("=")[1])
        if not start <= stop < count:
            raise ValueError(f"Invalid frame range: start {start}, stop {stop}, {count} frames")
        kept = range(start, stop + 1, step)
        task.size = len(kept)
        if video:
            task.names, task.sizes = [names[0]], [(1920, 1080)]
        else:
            task.names = [_stored_name(names[i]) for i in kept]
            task.sizes = [_image_size(files[i][1]) for i in kept]
        self._make_jobs(task)

    def _make_jobs(self, task: Task) -> None:
        segment = task.segment_size or task.size
        start = 0
        while start < task.size:
            stop = min(start + segment, task.size) - 1
            job_id = next(self._ids)
            self.jobs[job_id] = {
                "id": job_id,
                "task_id": task.id,
                "project_id": task.project_id,
                "url": f"/api/jobs/{job_id}",
                "assignee": None,
                "stage": "annotation",
                "state": "new",
                "status": "annotation",
                "start_frame": start,
                "stop_frame": stop,
                "frame_count": stop - start + 1,
                "type": "annotation",
                "mode": "annotation",
                "dimension": "2d",
                "media_type": "image",
                "data_chunk_size": 36,
                "data_compressed_chunk_type": "imageset",
                "data_original_chunk_type": "imageset",
                "created_date": NOW,
                "updated_date": NOW,
                "issues": {"url": "/api/issues", "count": 0},
                "labels": {"url": f"/api/labels?job_id={job_id}"},
                "bug_tracker": None,
                "guide_id": None,
                "organization": None,
                "task_name": task.name,
                "project_name": None,
                "assignee_updated_date": None,
                "parent_job_id": None,
                "replicas_count": 0,
            }
            if stop + 1 >= task.size:
                break
            start = stop + 1 - task.overlap

    def _get_meta(self, request: httpx.Request, task_id: int) -> tuple[int, Any]:
        task = self._task(task_id)
        frames = [
            {"name": n, "width": w, "height": h, "related_files": 0, "has_related_context": False}
            for n, (w, h) in zip(task.names, task.sizes, strict=True)
        ]
        body = {
            "chunks_updated_date": NOW,
            "frames": frames,
            "deleted_frames": sorted(task.deleted),
            "size": task.size,
            "image_quality": task.data.get("image_quality", 70),
            "start_frame": task.data.get("start_frame", 0),
            "stop_frame": task.data.get("stop_frame", max(task.size - 1, 0)),
            "frame_filter": task.data.get("frame_filter", ""),
            "chunk_size": 36,
            "included_frames": None,
            "storage": "cache",
            "cloud_storage_id": None,
        }
        return self._answer_as(200, body, models.DataMetaRead)

    def _patch_meta(self, request: httpx.Request, task_id: int) -> tuple[int, Any]:
        task = self._task(task_id)
        body = self._body(request, models.PatchedDataMetaWriteRequest)
        frames = body.get("deleted_frames", [])
        if any(not 0 <= f < task.size for f in frames):
            raise BadRequest(f"deleted_frames outside the task: {frames}")
        task.deleted = set(frames)
        return self._get_meta(request, task_id)

    # -- background requests ---------------------------------------------------------------
    def _request_read(self, rq: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": rq["id"],
            "status": rq["status"],
            "message": rq["message"],
            "operation": rq["operation"],
            "created_date": NOW,
            "started_date": None,
            "finished_date": None,
            "expiry_date": None,
            "progress": None,
            "owner": {"id": 1, "username": "admin"},
            "result_url": None,
            "result_id": None,
        }

    def _get_request(self, request: httpx.Request, rq_id: str) -> tuple[int, Any]:
        rq = self.rq.get(str(rq_id))
        if rq is None:
            raise NotFound
        if rq["status"] in ("queued", "started"):
            rq["polls"] += 1
            if rq["polls"] > self.polls:
                try:
                    self._process(rq)
                    rq["status"] = "finished"
                except ValueError as exc:
                    rq["status"], rq["message"] = "failed", str(exc)
            elif rq["polls"] > self.polls // 2:
                rq["status"] = "started"
        return self._answer_as(200, self._request_read(rq), models.Request)

    def _list_requests(self, request: httpx.Request) -> tuple[int, Any]:
        params = request.url.params
        found = [
            self._request_read(rq)
            for rq in self.rq.values()
            if params.get("task_id") in (None, str(rq["operation"]["task_id"]))
            and params.get("action") in (None, rq["operation"]["type"].split(":")[0])
        ]
        return self._answer_as(200, page(request, found), models.PaginatedRequestList)

    def _task(self, task_id: int) -> Task:
        raise NotImplementedError

    def _body(self, request: httpx.Request, model: type) -> Any:
        raise NotImplementedError

    def _answer_as(self, status: int, body: Any, model: type) -> tuple[int, Any]:
        raise NotImplementedError


def _multipart(request: httpx.Request) -> tuple[dict[str, str], list[tuple[str, str, bytes]]]:
    header = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        header + request.content
    )
    fields: dict[str, str] = {}
    files: list[tuple[str, str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename is None:
            fields[str(name)] = payload.decode()
        else:
            files.append((str(name), PurePosixPath(filename).name, payload))
    return fields, files


def _stored_name(name: str) -> str:
    """The frame name CVAT keeps: uploaded and shared files by path, remote ones by file name."""
    return PurePosixPath(urlsplit(name).path).name if "://" in name else name


def _image_size(content: bytes | None) -> tuple[int, int]:
    if not content:
        return (1920, 1080)
    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.size
    except OSError:
        return (1920, 1080)


def page(request: httpx.Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    size = int(request.url.params.get("page_size", 10))
    page = int(request.url.params.get("page", 1))
    chunk = items[(page - 1) * size : page * size]
    more = page * size < len(items)
    next_url = str(request.url.copy_set_param("page", page + 1)) if more else None
    return {"count": len(items), "next": next_url, "previous": None, "results": chunk}
