"""An in-process CVAT server for tests, served through `httpx.MockTransport`.

It behaves like CVAT where the backend depends on it: login keys and access tokens, integer
ids, paginated lists, label and attribute spec ids, the client-file upload session
(Upload-Start / Upload-Multiple / Upload-Finish), background requests polled through
/api/requests/{rq_id} (queued -> started -> finished or failed), CVAT's file sorting
(lexicographical unless told otherwise), start/stop/step cutting of videos and image lists,
jobs of `segment_size` frames, annotations replaced by PUT and edited by PATCH.

Every request body is checked with cvat-sdk's models and the extra checks of cvat_checks.py;
a bad one gets a 400 and is recorded in `rejections`. `fail(...)` injects faults (refused
connections, lost answers, 429/503, HTML pages, truncated JSON) and the annotator helpers
(`add_shape`, `add_track`, `set_value`, ...) change annotations as someone in CVAT's UI would.
The media routes (uploads, background requests, frame lists) are in fake_cvat_media.py.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from cvat_sdk.api_client import models

from .cvat_checks import (
    BadRequest,
    check_annotations,
    check_labels,
    check_response,
    validate,
)
from .fake_cvat_media import NOW, MediaRoutes, NotFound, Task, page

ADMIN = {"id": 1, "username": "admin", "url": "/api/users/1", "first_name": "", "last_name": ""}


@dataclass
class Fault:
    """What happens to the next `times` requests matching method and path (a regex).

    kinds: "refuse" (connection refused, nothing done), "drop" (done, answer lost),
    "status" (answered `status`, nothing done), "after" (done, then answered `status`, as a
    proxy timing out would), "html" (an HTML page, nothing done), "truncated" (done, JSON
    cut short). `skip` lets that many matching requests through first."""

    method: str
    path: str
    kind: str
    status: int = 503
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    skip: int = 0  # matching requests let through before the fault starts


class FakeCvat(MediaRoutes):
    """See the module docstring. `videos` gives the frame count of video files by name."""

    def __init__(
        self,
        *,
        url: str = "http://cvat.test",
        username: str = "admin",
        password: str = "secret",
        token: str = "pat-token",
        users: tuple[str, ...] = ("admin", "alice", "bob"),
        videos: dict[str, int] | None = None,
        polls: int = 2,
    ) -> None:
        self.url = url
        self.username, self.password, self.token = username, password, token
        self.users = {name: number for number, name in enumerate(users, start=1)}
        self.videos = videos or {}
        self.polls = polls  # polls a request answers `queued`/`started` before finishing
        self.fail_processing: str | None = None  # the next data request fails with this
        # A CVAT that sorts files its own way whatever the request says (to test the check).
        self.force_sorting: str | None = None
        self._checked = False
        self.projects: dict[int, dict[str, Any]] = {}
        self.labels: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, Task] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.rq: dict[str, dict[str, Any]] = {}
        self.keys: set[str] = set()
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str]] = []  # every request that reached a handler
        self.validated: list[tuple[str, str, str]] = []  # (method, path, model) checked
        self.rejections: list[tuple[str, str, str]] = []  # (method, path, detail) of 400s
        self._ids = itertools.count(1)
        self._rq_ids = itertools.count(1)
        self.transport = httpx.MockTransport(self.handle)

    # -- faults ---------------------------------------------------------------------------
    def fail(self, method: str, path: str, kind: str, **options: Any) -> Fault:
        fault = Fault(method, path, kind, **options)
        self.faults.append(fault)
        return fault

    def _fault(self, request: httpx.Request) -> Fault | None:
        for fault in self.faults:
            if (
                fault.times > 0
                and fault.method == request.method
                and re.fullmatch(fault.path, request.url.path.rstrip("/"))
            ):
                if fault.skip:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                return fault
        return None

    # -- dispatch -------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        fault = self._fault(request)
        if fault is not None and fault.kind == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        if fault is not None and fault.kind == "status":
            return httpx.Response(fault.status, headers=fault.headers, text="busy")
        if fault is not None and fault.kind == "html":
            page = "<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>"
            return httpx.Response(200, headers={"content-type": "text/html"}, text=page)
        response = self._answer(request)
        if fault is None:
            return response
        if fault.kind == "drop":
            raise httpx.ReadError("connection reset by peer", request=request)
        if fault.kind == "truncated":
            return httpx.Response(
                200, headers={"content-type": "application/json"}, content=response.content[:20]
            )
        return httpx.Response(fault.status, headers=fault.headers, text="gateway timeout")

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.rstrip("/")
        self.log.append((request.method, path))
        self._checked = False
        try:
            if path != "/api/auth/login":
                self._authorise(request)
            for method, pattern, handler in self._routes():
                match = re.fullmatch(pattern, path)
                if match and method == request.method:
                    args = [int(g) if g.isdigit() else g for g in match.groups()]
                    status, body = handler(request, *args)
                    if request.content and not self._checked:
                        raise AssertionError(
                            f"the fake took a {request.method} {path} body unchecked"
                        )
                    if body is None:
                        return httpx.Response(status)
                    return httpx.Response(status, json=body)
            raise NotFound(path)
        except BadRequest as exc:
            self.rejections.append((request.method, path, str(exc)))
            return httpx.Response(400, json={"detail": str(exc)})
        except NotFound:
            return httpx.Response(404, json={"detail": "Not found."})
        except PermissionError as exc:
            return httpx.Response(401, json={"detail": str(exc)})

    def _routes(self) -> list[tuple[str, str, Callable[..., tuple[int, Any]]]]:
        return [
            ("POST", r"/api/auth/login", self._login),
            ("GET", r"/api/projects", self._list_projects),
            ("POST", r"/api/projects", self._create_project),
            ("DELETE", r"/api/projects/(\d+)", self._delete_project),
            ("GET", r"/api/labels", self._list_labels),
            ("GET", r"/api/users", self._list_users),
            ("GET", r"/api/tasks", self._list_tasks),
            ("POST", r"/api/tasks", self._create_task),
            ("GET", r"/api/tasks/(\d+)", self._get_task),
            ("DELETE", r"/api/tasks/(\d+)", self._delete_task),
            ("POST", r"/api/tasks/(\d+)/data", self._data),
            ("GET", r"/api/tasks/(\d+)/data/meta", self._get_meta),
            ("PATCH", r"/api/tasks/(\d+)/data/meta", self._patch_meta),
            ("GET", r"/api/tasks/(\d+)/annotations", self._get_annotations),
            ("PUT", r"/api/tasks/(\d+)/annotations", self._put_annotations),
            ("PATCH", r"/api/tasks/(\d+)/annotations", self._patch_annotations),
            ("GET", r"/api/requests", self._list_requests),
            ("GET", r"/api/requests/([^/]+)", self._get_request),
            ("GET", r"/api/jobs", self._list_jobs),
            ("PATCH", r"/api/jobs/(\d+)", self._patch_job),
        ]

    def _authorise(self, request: httpx.Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if (scheme == "Token" and secret in self.keys) or (
            scheme == "Bearer" and secret == self.token
        ):
            return
        raise PermissionError("Authentication credentials were not provided.")

    def _body(self, request: httpx.Request, model: type) -> Any:
        try:
            payload = json.loads(request.content or b"null")
        except json.JSONDecodeError as exc:
            raise BadRequest(f"JSON parse error - {exc}") from exc
        validate(payload, model)
        self._checked = True
        self.validated.append((request.method, request.url.path, model.__name__))
        return payload

    def _answer_as(self, status: int, body: Any, model: type) -> tuple[int, Any]:
        check_response(body, model)
        return status, body

    # -- auth and users -------------------------------------------------------------------
    def _login(self, request: httpx.Request) -> tuple[int, Any]:
        body = self._body(request, models.LoginSerializerExRequest)
        user = body.get("username") or body.get("email")
        if user != self.username or body["password"] != self.password:
            raise BadRequest("Unable to log in with provided credentials.")
        key = f"key-{len(self.keys) + 1}"
        self.keys.add(key)
        return self._answer_as(200, {"key": key}, models.Token)

    def _list_users(self, request: httpx.Request) -> tuple[int, Any]:
        search = request.url.params.get("search", "")
        found = [
            {
                "id": i,
                "username": n,
                "url": f"/api/users/{i}",
                "first_name": "",
                "last_name": "",
                "email": f"{n}@example.com",
                "is_staff": False,
                "is_superuser": False,
                "is_active": True,
                "last_login": None,
                "date_joined": NOW,
                "groups": ["user"],
            }
            for n, i in self.users.items()
            if search in n
        ]
        return self._answer_as(200, page(request, found), models.PaginatedMetaUserList)

    # -- projects and labels --------------------------------------------------------------
    def _create_project(self, request: httpx.Request) -> tuple[int, Any]:
        body = self._body(request, models.ProjectWriteRequest)
        check_labels(body.get("labels", []))
        project_id = next(self._ids)
        self.projects[project_id] = {"id": project_id, "name": body["name"]}
        for label in body.get("labels", []):
            self._add_label(project_id, label)
        return self._answer_as(201, self._project(project_id), models.ProjectRead)

    def _add_label(self, project_id: int, body: dict[str, Any]) -> dict[str, Any]:
        label_id = next(self._ids)
        attributes = [
            {"id": next(self._ids), "default_value": a.get("default_value", a["values"][0]), **a}
            for a in body.get("attributes", [])
        ]
        self.labels[label_id] = {
            "id": label_id,
            "name": body["name"],
            "type": body.get("type", "any"),
            "color": "#ff0000",
            "attributes": attributes,
            "sublabels": [],
            "svg": "",
            "project_id": project_id,
            "task_id": None,
            "parent_id": None,
            "has_parent": False,
        }
        return self.labels[label_id]

    def _project(self, project_id: int) -> dict[str, Any]:
        project = self.projects[project_id]
        count = sum(1 for t in self.tasks.values() if t.project_id == project_id)
        return {
            "id": project_id,
            "name": project["name"],
            "url": f"/api/projects/{project_id}",
            "owner": ADMIN,
            "assignee": None,
            "bug_tracker": "",
            "task_subsets": [],
            "labels": {"url": f"/api/labels?project_id={project_id}"},
            "tasks": {"count": count, "url": f"/api/tasks?project_id={project_id}"},
            "created_date": NOW,
            "updated_date": NOW,
            "status": "annotation",
            "dimension": "2d",
            "organization": None,
            "guide_id": None,
        }

    def _list_projects(self, request: httpx.Request) -> tuple[int, Any]:
        name = request.url.params.get("name")
        found = [self._project(i) for i, p in self.projects.items() if name in (None, p["name"])]
        return self._answer_as(200, page(request, found), models.PaginatedProjectReadList)

    def _delete_project(self, request: httpx.Request, project_id: int) -> tuple[int, Any]:
        if project_id not in self.projects:
            raise NotFound
        for task_id in [t.id for t in self.tasks.values() if t.project_id == project_id]:
            self._delete_task(request, task_id)
        del self.projects[project_id]
        for label_id in [
            i for i, label in self.labels.items() if label["project_id"] == project_id
        ]:
            del self.labels[label_id]
        return 204, None

    def _list_labels(self, request: httpx.Request) -> tuple[int, Any]:
        params = request.url.params
        project_id = params.get("project_id")
        if "task_id" in params:
            project_id = str(self._task(int(params["task_id"])).project_id)
        found = [
            label
            for label in self.labels.values()
            if project_id is None or str(label["project_id"]) == project_id
        ]
        return self._answer_as(200, page(request, found), models.PaginatedLabelList)

    def project_labels(self, project_id: int | None) -> dict[int, dict[str, Any]]:
        return {i: lab for i, lab in self.labels.items() if lab["project_id"] == project_id}

    # -- tasks ----------------------------------------------------------------------------
    def _task(self, task_id: int) -> Task:
        if task_id not in self.tasks:
            raise NotFound
        return self.tasks[task_id]

    def _create_task(self, request: httpx.Request) -> tuple[int, Any]:
        body = self._body(request, models.TaskWriteRequest)
        project_id = body.get("project_id")
        if project_id is None or project_id not in self.projects:
            raise BadRequest("a task needs the id of an existing project (or its own labels)")
        task_id = next(self._ids)
        self.tasks[task_id] = Task(
            task_id,
            body["name"],
            project_id,
            body.get("segment_size", 0),
            body.get("overlap") or 0,
            body.get("assignee_id"),
        )
        return self._answer_as(201, self._task_read(task_id), models.TaskRead)

    def _task_read(self, task_id: int) -> dict[str, Any]:
        task = self.tasks[task_id]
        jobs = [j for j in self.jobs.values() if j["task_id"] == task_id]
        return {
            "id": task_id,
            "name": task.name,
            "url": f"/api/tasks/{task_id}",
            "project_id": task.project_id,
            "owner": ADMIN,
            "assignee": None,
            "bug_tracker": "",
            "created_date": NOW,
            "updated_date": NOW,
            "overlap": task.overlap,
            "segment_size": task.segment_size or task.size,
            "status": "annotation",
            "size": task.size,
            "mode": "annotation",
            "dimension": "2d",
            "subset": "",
            "organization": None,
            "image_quality": task.data.get("image_quality", 70),
            "data": task_id if task.size else None,
            "jobs": {
                "count": len(jobs),
                "completed": 0,
                "validation": 0,
                "url": f"/api/jobs?task_id={task_id}",
            },
            "labels": {"url": f"/api/labels?task_id={task_id}"},
        }

    def _list_tasks(self, request: httpx.Request) -> tuple[int, Any]:
        params = request.url.params
        found = [
            self._task_read(t.id)
            for t in self.tasks.values()
            if params.get("name") in (None, t.name)
            and params.get("project_id") in (None, str(t.project_id))
        ]
        return self._answer_as(200, page(request, found), models.PaginatedTaskReadList)

    def _get_task(self, request: httpx.Request, task_id: int) -> tuple[int, Any]:
        self._task(task_id)
        return self._answer_as(200, self._task_read(task_id), models.TaskRead)

    def _delete_task(self, request: httpx.Request, task_id: int) -> tuple[int, Any]:
        self._task(task_id)
        del self.tasks[task_id]
        for job_id in [i for i, j in self.jobs.items() if j["task_id"] == task_id]:
            del self.jobs[job_id]
        return 204, None

    # -- annotations ----------------------------------------------------------------------
    def _labels_of(self, task: Task) -> dict[int, dict[str, Any]]:
        return self.project_labels(task.project_id)

    def _get_annotations(self, request: httpx.Request, task_id: int) -> tuple[int, Any]:
        task = self._task(task_id)
        return self._answer_as(200, copy.deepcopy(task.annotations), models.LabeledData)

    def _put_annotations(self, request: httpx.Request, task_id: int) -> tuple[int, Any]:
        task = self._task(task_id)
        body = self._body(request, models.LabeledDataRequest)
        check_annotations(body, self._labels_of(task), task.size)
        stored = {
            "version": task.annotations["version"] + 1,
            "tags": [],
            "shapes": [],
            "tracks": [],
        }
        for key in ("tags", "shapes", "tracks"):
            stored[key] = [self._stored(key, item) for item in body.get(key, [])]
        task.annotations = stored
        return self._answer_as(200, copy.deepcopy(stored), models.LabeledData)

    def _stored(self, key: str, item: dict[str, Any]) -> dict[str, Any]:
        out = {"group": 0, "source": "manual", "attributes": [], **item, "id": next(self._ids)}
        if key != "tags":
            out.setdefault("occluded", False)
            out.setdefault("outside", False)
            out.setdefault("z_order", 0)
            out.setdefault("rotation", 0.0)
        if key == "shapes":
            out.setdefault("elements", [])
        if key == "tracks":
            out["shapes"] = [
                {
                    "occluded": False,
                    "outside": False,
                    "z_order": 0,
                    "rotation": 0.0,
                    "attributes": [],
                    **shape,
                    "id": next(self._ids),
                }
                for shape in item["shapes"]
            ]
            out.setdefault("elements", [])
        return out

    def _patch_annotations(self, request: httpx.Request, task_id: int) -> tuple[int, Any]:
        task = self._task(task_id)
        action = request.url.params.get("action")
        if action not in ("create", "update", "delete"):
            raise BadRequest(f"action must be create, update or delete, not {action!r}")
        body = self._body(request, models.PatchedLabeledDataRequest)
        if action != "delete":
            check_annotations(body, self._labels_of(task), task.size)
        for key in ("tags", "shapes", "tracks"):
            items = body.get(key, [])
            ids = {item.get("id") for item in items}
            if action != "create" and None in ids:
                raise BadRequest(f"{key}: {action} needs the ids of the objects")
            known = {item["id"] for item in task.annotations[key]}
            if action != "create" and not ids <= known:
                raise BadRequest(f"{key}: unknown ids {sorted(ids - known)}")
            kept = [item for item in task.annotations[key] if item["id"] not in ids]
            if action == "create":
                kept += [self._stored(key, item) for item in items]
            elif action == "update":
                kept += [self._stored(key, item) | {"id": item["id"]} for item in items]
            task.annotations[key] = kept
        task.annotations["version"] += 1
        return self._answer_as(200, copy.deepcopy(task.annotations), models.LabeledData)

    # -- jobs -----------------------------------------------------------------------------
    def _list_jobs(self, request: httpx.Request) -> tuple[int, Any]:
        params = request.url.params
        found = [
            job
            for job in self.jobs.values()
            if params.get("task_id") in (None, str(job["task_id"]))
            and params.get("project_id") in (None, str(job["project_id"]))
        ]
        return self._answer_as(200, page(request, found), models.PaginatedJobReadList)

    def _patch_job(self, request: httpx.Request, job_id: int) -> tuple[int, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound
        body = self._body(request, models.PatchedJobWriteRequest)
        if "assignee" in body:
            names = {i: n for n, i in self.users.items()}
            if body["assignee"] is not None and body["assignee"] not in names:
                raise BadRequest(f"assignee: invalid user id {body['assignee']}")
            job["assignee"] = (
                None
                if body["assignee"] is None
                else {
                    "id": body["assignee"],
                    "username": names[body["assignee"]],
                    "url": f"/api/users/{body['assignee']}",
                    "first_name": "",
                    "last_name": "",
                }
            )
        job.update({k: body[k] for k in ("stage", "state") if k in body})
        return self._answer_as(200, job, models.JobRead)

    # -- what an annotator does in CVAT's UI ------------------------------------------------
    def task_named(self, suffix: str) -> Task:
        return next(t for t in self.tasks.values() if t.name.endswith(suffix))

    def label_id(self, task_id: int, name: str) -> int:
        labels = self._labels_of(self.tasks[task_id])
        return next(i for i, label in labels.items() if label["name"] == name)

    def spec_id(self, label_id: int, name: str) -> int:
        return next(a["id"] for a in self.labels[label_id]["attributes"] if a["name"] == name)

    def _values(self, label_id: int, attributes: dict[str, str]) -> list[dict[str, Any]]:
        return [{"spec_id": self.spec_id(label_id, n), "value": v} for n, v in attributes.items()]

    def add_shape(
        self,
        task_id: int,
        frame: int,
        label: str,
        kind: str,
        points: list[float],
        *,
        rotation: float = 0.0,
        occluded: bool = False,
        attributes: dict[str, str] | None = None,
    ) -> int:
        label_id = self.label_id(task_id, label)
        shape = {
            "type": kind,
            "frame": frame,
            "label_id": label_id,
            "points": points,
            "rotation": rotation,
            "occluded": occluded,
            "source": "manual",
            "attributes": self._values(label_id, attributes or {}),
        }
        check_annotations(
            {"shapes": [shape]}, self._labels_of(self.tasks[task_id]), self.tasks[task_id].size
        )
        stored = self._stored("shapes", shape)
        self.tasks[task_id].annotations["shapes"].append(stored)
        return int(stored["id"])

    def add_tag(self, task_id: int, frame: int, label: str) -> int:
        tag = {"frame": frame, "label_id": self.label_id(task_id, label), "source": "manual"}
        stored = self._stored("tags", tag)
        self.tasks[task_id].annotations["tags"].append(stored)
        return int(stored["id"])

    def add_track(
        self, task_id: int, label: str, kind: str, keyframes: list[dict[str, Any]]
    ) -> int:
        label_id = self.label_id(task_id, label)
        shapes = [{"type": kind, "attributes": [], **k} for k in keyframes]
        track = {
            "frame": min(k["frame"] for k in keyframes),
            "label_id": label_id,
            "source": "manual",
            "shapes": shapes,
        }
        check_annotations(
            {"tracks": [track]}, self._labels_of(self.tasks[task_id]), self.tasks[task_id].size
        )
        stored = self._stored("tracks", track)
        self.tasks[task_id].annotations["tracks"].append(stored)
        return int(stored["id"])

    def items(self, task_id: int, key: str) -> list[dict[str, Any]]:
        return self.tasks[task_id].annotations[key]

    def set_value(self, item: dict[str, Any], label_id: int, name: str, value: str) -> None:
        spec_id = self.spec_id(label_id, name)
        item["attributes"] = [a for a in item["attributes"] if a["spec_id"] != spec_id]
        item["attributes"].append({"spec_id": spec_id, "value": value})

    def set_job_state(self, task_id: int, state: str, stage: str = "annotation") -> None:
        for job in self.jobs.values():
            if job["task_id"] == task_id:
                job.update(state=state, stage=stage, updated_date="2024-05-02T08:30:00Z")


class Clock:
    """Time for the client: `sleep` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now
