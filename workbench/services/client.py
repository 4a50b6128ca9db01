"""`connect(url)`: a served catalog's service API, with exactly the methods of `Workbench`.

```python
import workbench

wb = workbench.connect("http://127.0.0.1:5006", token="...", actor="ana")
wb.create_project("city-2024")
for result in wb.create_inputs([{"context_id": "drive-1"}], "city-2024"):
    print(result.status)              # as the server makes each input
try:
    wb.invalidate_scenes([uuid], "duplicate")
except ConfirmationRequired as refused:
    print(refused.plan.describe())    # the same RemovalReport as in-process
```

Every method has the name, signature, result and errors of its `Workbench` counterpart, so
code written against one runs against the other. A served app holds the catalog file open
(DuckDB lets one process open it read-write), so a notebook reaches it this way.

Errors: the service's own errors (ServiceError and its subclasses, BackendError) are rebuilt
with their attributes (`UnknownIds.kind/.ids`, `ConfirmationRequired.plan`, ...). When the
call itself fails, a ClientError is raised (ServerUnreachable, AccessDenied, ServerError or
ProtocolError: drawn with every other in workbench/errors.py), always `from` the httpx error
behind it.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from workbench.backends.base import Capabilities, TaskStatus
from workbench.backends.local import SaveResult
from workbench.errors import WorkbenchError
from workbench.model.labels import LabelSchema
from workbench.model.shapes import Shape
from workbench.services.annotate import FrameSource
from workbench.services.client_wire import (
    AccessDenied,
    ClientError,
    ProtocolError,
    ServerError,
    ServerUnreachable,
    answer_json,
    error_of_body,
    error_of_response,
    request_body,
    stream_item,
    unreachable,
)
from workbench.services.curation import ViewSource
from workbench.services.models import (
    AuditEntry,
    Batch,
    Input,
    InputCreationResult,
    Project,
    RemovalReport,
    Request,
    RoiRef,
    SavedViewInfo,
    Scene,
    SceneSpec,
    TagReport,
)
from workbench.services.reports import (
    AnnotationResults,
    AnnotationRunInfo,
    IdMap,
    MergeReport,
    RunStatus,
    TaskDetail,
    Unexpected,
    UnexpectedCallback,
)
from workbench.services.wire import (
    ACTOR_HEADER,
    API_VERSION,
    JSON_TYPE,
    METHODS,
    TOKEN_ENV,
    api_url,
    unexpected_choices,
    view_argument,
    view_spec_argument,
)
from workbench.services.workbench import Workbench
from workbench.store.audit import default_actor

# Service calls can be long (annotate or merge thousands of frames); connecting is not.
DEFAULT_TIMEOUT = 300.0
CONNECT_TIMEOUT = 10.0


def connect(
    url: str,
    *,
    token: str | None = None,
    actor: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> WorkbenchClient:
    """The service API served at `url` (the app's address, or its `/api/v1` URL).

    `token` defaults to $WORKBENCH_API_TOKEN; `actor` (who acts in the audit log) to $USER.
    `timeout` is how long one call may take, in seconds (None: no limit). The server is asked
    for its API version at once, so a wrong URL or token fails here.
    """
    client = WorkbenchClient(url, token=token, actor=actor, timeout=timeout, transport=transport)
    try:
        client.ping()
    except BaseException:
        client.close()
        raise
    return client


class WorkbenchClient:
    """The methods of `workbench.services.Workbench`, called on a server over HTTP.

    `transport` replaces httpx's network transport (tests use httpx.MockTransport).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        actor: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = api_url(url)
        self._actor = actor or default_actor()
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connect_timeout = CONNECT_TIMEOUT if timeout is None else min(timeout, CONNECT_TIMEOUT)
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
        )
        self._owns_http = True
        # The largest body the server takes, as its index says (None: not asked yet).
        self._max_body_bytes: int | None = None

    @property
    def actor(self) -> str:
        return self._actor

    def as_actor(self, actor: str) -> WorkbenchClient:
        """The same connection acting as someone else."""
        other = copy.copy(self)
        other._actor = actor
        other._owns_http = False  # the original closes the shared connection pool
        return other

    def __repr__(self) -> str:
        return f"WorkbenchClient({self.url!r}, actor={self.actor!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def ping(self) -> dict[str, Any]:
        """The server's description of its API: version, methods, and who you act as."""
        try:
            response = self._http.get(self.url + "/", headers=self._headers())
        except httpx.HTTPError as exc:
            raise unreachable("ping", self.url, exc) from exc
        if not response.is_success:
            raise error_of_response("ping", response)
        info = answer_json(response, "ping")
        if not isinstance(info, dict) or info.get("api") != "workbench":
            raise ProtocolError("ping", f"{self.url} is not a workbench API", response.status_code)
        if info.get("version") != API_VERSION:
            raise ProtocolError(
                "ping",
                f"the server speaks API version {info.get('version')}, this client {API_VERSION}",
            )
        limits = info.get("limits")
        if isinstance(limits, dict) and isinstance(limits.get("max_body_bytes"), int):
            self._max_body_bytes = limits["max_body_bytes"]
        return info

    def get_backends(self) -> dict[str, Capabilities]:
        """The server's annotation backends, by name, with what each can do."""
        return self._call("get_backends", locals())

    # -- projects, batches, requests --------------------------------------------------------
    # Every method sends its arguments as they are named (`locals()` at the top of the body,
    # before anything else is bound), so no argument can be forgotten on the way.
    def create_project(
        self,
        external_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        backend: str = "local",
        dryrun: bool = False,
    ) -> Project:
        return self._call("create_project", locals())

    def get_projects(self) -> list[Project]:
        return self._call("get_projects", locals())

    def create_batch(
        self,
        project: str,
        *,
        external_id: str | None = None,
        status: str = "open",
        dryrun: bool = False,
    ) -> Batch:
        return self._call("create_batch", locals())

    def get_batches(self, project: str) -> list[Batch]:
        return self._call("get_batches", locals())

    def set_batch_status(
        self, project: str, batch: str, status: str, *, dryrun: bool = False
    ) -> Batch:
        return self._call("set_batch_status", locals())

    def create_request(
        self,
        project: str,
        *,
        batch: str | None = None,
        title: str | None = None,
        dryrun: bool = False,
    ) -> Request:
        return self._call("create_request", locals())

    def get_requests(self, project: str, *, batch: str | None = None) -> list[Request]:
        return self._call("get_requests", locals())

    # -- scenes -----------------------------------------------------------------------------
    def create_scenes(
        self, scenes: Sequence[SceneSpec | Mapping[str, Any]], *, dryrun: bool = False
    ) -> list[Scene]:
        return self._call("create_scenes", locals())

    def create_scenes_from_frames(
        self, frame_ids: Sequence[str], *, scene_type: str | None = None, dryrun: bool = False
    ) -> list[Scene]:
        return self._call("create_scenes_from_frames", locals())

    def create_scenes_from_contexts(
        self, context_ids: Sequence[str], *, scene_type: str | None = None, dryrun: bool = False
    ) -> list[Scene]:
        return self._call("create_scenes_from_contexts", locals())

    def get_scenes_by_uuids(self, uuids: Sequence[str]) -> list[Scene]:
        return self._call("get_scenes_by_uuids", locals())

    def find_scenes(
        self,
        *,
        frame_ids: Sequence[str] | None = None,
        context_ids: Sequence[str] | None = None,
    ) -> list[Scene]:
        return self._call("find_scenes", locals())

    def invalidate_scenes(
        self, uuids: Sequence[str], reason: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        return self._call("invalidate_scenes", locals())

    # -- inputs -----------------------------------------------------------------------------
    def create_inputs(
        self,
        scenes: Sequence[SceneSpec | Mapping[str, Any]],
        project: str,
        *,
        batch: str | None = None,
        wait_timeout: float = 1800.0,
        sleep_time: float = 5.0,
        dryrun: bool = False,
    ) -> Iterator[InputCreationResult]:
        """Yields each result as the server sends it. The call itself is made now, so the
        project and batch are checked here, as in-process; consume or close the iterator."""
        response = self._send("create_inputs", locals(), stream=True)
        return self._stream("create_inputs", response)

    def create_inputs_from_scenes(
        self,
        project: str,
        *,
        batch: str | None = None,
        scene_uuids: Sequence[str] | None = None,
        external_ids: Sequence[str] | None = None,
        dryrun: bool = False,
    ) -> list[Input]:
        return self._call("create_inputs_from_scenes", locals())

    def query_inputs(
        self,
        *,
        project: str | None = None,
        batch: str | None = None,
        scene_uuids: Sequence[str] | None = None,
        external_ids: Sequence[str] | None = None,
    ) -> list[Input]:
        return self._call("query_inputs", locals())

    def delete_input(
        self, uuid: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        return self._call("delete_input", locals())

    def delete_inputs(
        self, uuids: Sequence[str], *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        return self._call("delete_inputs", locals())

    # -- annotation runs --------------------------------------------------------------------
    def annotate(
        self,
        view: FrameSource,
        anno_key: str,
        *,
        backend: str = "local",
        label_schema: LabelSchema | Mapping[str, Any] | Sequence[str] | None = None,
        label_field: str | None = None,
        label_type: str | None = None,
        classes: Sequence[str] | None = None,
        attributes: bool | Sequence[str] | Mapping[str, Any] = True,
        mask_targets: Mapping[int, str] | None = None,
        allow_additions: bool = True,
        allow_deletions: bool = True,
        allow_label_edits: bool = True,
        allow_index_edits: bool = True,
        allow_spatial_edits: bool = True,
        media_field: str | None = None,
        project: str | None = None,
        batch: str | None = None,
        task_size: int | None = None,
        segment_size: int | None = None,
        frame_start: int | None = None,
        frame_stop: int | None = None,
        frame_step: int | None = None,
        dryrun: bool = False,
    ) -> AnnotationResults:
        """A query View travels as its spec and is evaluated on the server's catalog."""
        arguments = dict(locals())
        arguments["view"] = view_argument(view)
        return self._call("annotate", arguments)

    def load_annotations(
        self,
        anno_key: str,
        *,
        unexpected: Unexpected = "prompt",
        dest_field: str | Mapping[str, str] | None = None,
        cleanup: bool = False,
        confirm: bool = False,
        on_unexpected: UnexpectedCallback | None = None,
        dryrun: bool = False,
    ) -> MergeReport:
        """`on_unexpected` runs here: a dry run finds the unexpected groups, the callback
        answers each, and the merge is sent with those answers (groups that appear between
        the two calls are skipped)."""
        arguments = dict(locals())
        del arguments["on_unexpected"]
        if on_unexpected is not None and unexpected == "prompt":
            probe: MergeReport = self._call(
                "load_annotations",
                {"anno_key": anno_key, "unexpected": "return", "dest_field": dest_field},
                dryrun=True,
            )
            arguments["unexpected_fields"] = unexpected_choices(probe.unexpected, on_unexpected)
        return self._call("load_annotations", arguments)

    def list_annotation_runs(self) -> list[str]:
        return self._call("list_annotation_runs", locals())

    def get_annotation_info(self, anno_key: str) -> AnnotationRunInfo:
        return self._call("get_annotation_info", locals())

    def load_annotation_results(self, anno_key: str) -> AnnotationResults:
        return self._call("load_annotation_results", locals())

    def get_annotation_status(self, anno_key: str) -> RunStatus:
        return self._call("get_annotation_status", locals())

    def annotation_id_map(self, anno_key: str) -> IdMap:
        return self._call("annotation_id_map", locals())

    def rename_annotation_run(
        self, anno_key: str, new_anno_key: str, *, dryrun: bool = False
    ) -> AnnotationRunInfo:
        return self._call("rename_annotation_run", locals())

    def delete_annotation_run(
        self, anno_key: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        return self._call("delete_annotation_run", locals())

    def cleanup_annotation_run(
        self, anno_key: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        return self._call("cleanup_annotation_run", locals())

    # -- the local platform's tasks ---------------------------------------------------------
    def list_tasks(self, anno_key: str) -> list[TaskStatus]:
        return self._call("list_tasks", locals())

    def get_task(self, task_id: str, *, segment: int | None = None) -> TaskDetail:
        return self._call("get_task", locals())

    def get_task_annotations(
        self, task_id: str, *, frame_ids: Sequence[str] | None = None
    ) -> list[Shape]:
        return self._call("get_task_annotations", locals())

    def save_task_annotations(
        self,
        task_id: str,
        shapes: Sequence[Shape | Mapping[str, Any]],
        *,
        frame_ids: Sequence[str] | None = None,
        dryrun: bool = False,
    ) -> SaveResult:
        return self._call("save_task_annotations", locals())

    def set_task_status(
        self, task_id: str, status: str, *, assignee: str | None = None, dryrun: bool = False
    ) -> TaskStatus:
        return self._call("set_task_status", locals())

    def complete_task(self, task_id: str) -> TaskStatus:
        return self._call("complete_task", locals())

    # -- tags and saved views ---------------------------------------------------------------
    def tag_frames(self, frame_ids: Sequence[str], tag: str, *, dryrun: bool = False) -> TagReport:
        return self._call("tag_frames", locals())

    def untag_frames(
        self, frame_ids: Sequence[str], tag: str, *, dryrun: bool = False
    ) -> TagReport:
        return self._call("untag_frames", locals())

    def tag_rois(
        self, rois: Sequence[RoiRef | Mapping[str, Any]], tag: str, *, dryrun: bool = False
    ) -> TagReport:
        return self._call("tag_rois", locals())

    def untag_rois(
        self, rois: Sequence[RoiRef | Mapping[str, Any]], tag: str, *, dryrun: bool = False
    ) -> TagReport:
        return self._call("untag_rois", locals())

    def get_saved_views(self) -> list[SavedViewInfo]:
        return self._call("get_saved_views", locals())

    def save_view(self, name: str, view: ViewSource, *, dryrun: bool = False) -> SavedViewInfo:
        """A query View travels as its spec."""
        arguments = dict(locals())
        arguments["view"] = view_spec_argument(view)
        return self._call("save_view", arguments)

    def rename_view(self, name: str, new_name: str, *, dryrun: bool = False) -> SavedViewInfo:
        return self._call("rename_view", locals())

    def delete_view(
        self, name: str, *, confirm: bool = False, dryrun: bool = False
    ) -> RemovalReport:
        return self._call("delete_view", locals())

    # -- audit ------------------------------------------------------------------------------
    def audit_log(self, *, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        return self._call("audit_log", locals())

    # -- the wire ---------------------------------------------------------------------------
    def _call(self, name: str, arguments: Mapping[str, Any], **more: Any) -> Any:
        response = self._send(name, {**arguments, **more}, stream=False)
        body = answer_json(response, name)
        if not isinstance(body, dict) or "result" not in body:
            raise ProtocolError(name, "the answer has no result", response.status_code)
        try:
            return METHODS[name].decode(body["result"], self)
        except (ValueError, TypeError, KeyError, WorkbenchError) as exc:
            raise ProtocolError(name, f"unreadable result: {exc}") from exc

    def _headers(self) -> dict[str, str]:
        return {ACTOR_HEADER: self._actor}

    def _send(self, name: str, arguments: Mapping[str, Any], *, stream: bool) -> httpx.Response:
        """POST the call; a response that is not a success is raised as its error here."""
        named = {k: v for k, v in arguments.items() if k != "self"}
        body = request_body(name, named, self._max_body_bytes)  # fails before anything is sent
        request = self._http.build_request(
            "POST",
            f"{self.url}/{name}",
            content=body,
            headers={**self._headers(), "Content-Type": JSON_TYPE},
        )
        try:
            response = self._http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise unreachable(name, self.url, exc) from exc
        if response.is_success:
            return response
        try:
            if stream:
                response.read()
            raise error_of_response(name, response)
        finally:
            response.close()

    def _stream(self, name: str, response: httpx.Response) -> Iterator[Any]:
        decode = METHODS[name].decode
        ended = False
        try:
            for line in response.iter_lines():
                if not line.strip():
                    continue  # the server's heartbeat while the service works
                item = stream_item(name, line)
                if "result" in item:
                    yield decode(item["result"], self)
                elif "end" in item:
                    ended = True
                    break
                else:
                    raise error_of_body(name, item, response.status_code)
        except httpx.HTTPError as exc:
            raise unreachable(name, self.url, exc) from exc
        finally:
            response.close()
        if not ended:
            raise ServerError(name, "the stream of results broke off before its end")


def _share_docs() -> None:
    """Each method's help is its Workbench method's, followed by what differs over HTTP."""
    for name in METHODS:
        method = getattr(WorkbenchClient, name)
        parts = [inspect.getdoc(getattr(Workbench, name)), inspect.getdoc(method)]
        if parts[1]:
            parts[1] = "Over HTTP: " + parts[1]
        method.__doc__ = "\n\n".join(p for p in parts if p) or None


_share_docs()

__all__ = [
    "AccessDenied",
    "ClientError",
    "ProtocolError",
    "ServerError",
    "ServerUnreachable",
    "WorkbenchClient",
    "connect",
]
