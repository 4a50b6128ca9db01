"""How `Workbench` calls travel over HTTP: the method table, JSON values and errors.

Both ends use this module, so the server (`workbench.services.http_api`) and the client
(`workbench.services.client`) cannot disagree about a method's name, how its result is read
back, or which error class a body names. `METHODS` is the one table of what may be called:
routes are generated from it and the client looks results up in it; a name that is not in it
is never called.

    POST /api/v1/<method>   body: {"name": value, ...}  (every argument by name)
    200                     {"result": <value>}
    200 (streams)           NDJSON: {"result": ...} per item, blank heartbeat lines,
                            {"end": true, "count": n} last, or {"error": ...} instead
    4xx / 5xx               {"error": "<class name>", "message": "...", "details": {...}}
"""

from __future__ import annotations

import functools
import inspect
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from workbench.backends.base import Capabilities, TaskStatus
from workbench.backends.local import SaveResult
from workbench.errors import WorkbenchError
from workbench.model.serialise import Serialisable
from workbench.model.shapes import Shape
from workbench.services.annotate import FrameSource
from workbench.services.arguments import MAX_ITEMS, MAX_NAME_LENGTH, check_call, unchecked
from workbench.services.errors import (
    BackendError,
    ConfirmationRequired,
    Conflict,
    InvalidArgument,
    LabelSchemaError,
    RequestTooLarge,
    SceneSpecError,
    ServiceError,
    ShapeError,
    StateError,
    UnknownIds,
)
from workbench.services.models import (
    AuditEntry,
    Batch,
    Input,
    InputCreationResult,
    Project,
    RemovalReport,
    Request,
    SavedViewInfo,
    Scene,
    TagReport,
)
from workbench.services.reports import (
    AnnotationResults,
    AnnotationRunInfo,
    IdMap,
    MergeReport,
    RunService,
    RunStatus,
    TaskDetail,
    UnexpectedLabels,
)
from workbench.services.workbench import Workbench

API_VERSION = 1
API_PREFIX = "/api/v1"
ACTOR_HEADER = "X-Workbench-Actor"
TOKEN_ENV = "WORKBENCH_API_TOKEN"
JSON_TYPE = "application/json"
NDJSON_TYPE = "application/x-ndjson"
# An actor name longer than this is refused: it is stored in every audit row.
MAX_ACTOR_LENGTH = 200

# -- values ---------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A value as plain JSON: dataclasses by `to_dict()`, tuples and sets as lists, datetimes
    as ISO strings, Arrow and NumPy arrays as lists, NumPy numbers as Python numbers."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Serialisable | AnnotationResults):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    # Arrow arrays (view.frame_ids()) and NumPy arrays: ids are often handed over as these.
    for attribute in ("to_pylist", "tolist"):
        convert = getattr(value, attribute, None)
        if callable(convert):
            return encode(convert())
    raise InvalidArgument(f"a {type(value).__name__} cannot be sent over HTTP")


def api_url(url: str) -> str:
    """The API's base URL from the server's address or the API URL itself."""
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise InvalidArgument(f"expected an http(s) URL, got {url!r}")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


def view_argument(view: FrameSource) -> Any:
    """What `annotate(view=...)` sends: a query View as its spec (evaluated by the server on
    its catalog), a spec dict or a list of frame ids as they are."""
    from workbench.query.view import View  # the query layer only when a view is sent

    if isinstance(view, View):
        return view.to_dict()
    if isinstance(view, Mapping):
        return dict(view)
    if isinstance(view, str):
        raise InvalidArgument("expected a view or a list of frame ids, got a string")
    if hasattr(view, "frame_ids"):
        # Some other view-like object: only its frame ids can travel.
        return {"frame_ids": encode(view.frame_ids())}
    return list(view)


def view_spec_argument(view: Any) -> Any:
    """What `save_view(view=...)` sends: a view's spec (`to_dict()`), or a spec dict as it is."""
    if isinstance(view, Mapping):
        return dict(view)
    to_dict = getattr(view, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise InvalidArgument(
        f"expected a view or its spec, got a {type(view).__name__}", argument="view"
    )


# Decoders turn a JSON result back into what Workbench returns; `service` is the client, for
# results bound to the service that made them (AnnotationResults).
Decoder = Callable[[Any, RunService], Any]


def _one(cls: type[Serialisable]) -> Decoder:
    return lambda data, _service: cls.from_dict(data)


def _many(cls: type[Serialisable]) -> Decoder:
    def decode(data: Any, _service: RunService) -> list[Any]:
        if not isinstance(data, list):
            raise ValueError(f"expected a list of {cls.__name__}, got {type(data).__name__}")
        return [cls.from_dict(d) for d in data]

    return decode


def _by_name(cls: type[Serialisable]) -> Decoder:
    def decode(data: Any, _service: RunService) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ValueError(f"expected a dict of {cls.__name__}, got {type(data).__name__}")
        return {str(k): cls.from_dict(v) for k, v in data.items()}

    return decode


def _strings(data: Any, _service: RunService) -> list[str]:
    if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
        raise ValueError("expected a list of strings")
    return list(data)


def _results(data: Any, service: RunService) -> AnnotationResults:
    # A dry run's results are not bound to a service, in-process or not: the run does not exist.
    bound = not (isinstance(data, Mapping) and data.get("dryrun"))
    return AnnotationResults.from_dict(data, service if bound else None)


# -- the method table -----------------------------------------------------------------------

Prepare = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Method:
    """One service method as the API offers it.

    `call` is the Workbench method itself (the server calls nothing else); `decode` reads its
    result on the client; `reads` methods only read the catalog (the server runs them apart
    from writers, so they never wait for one); `stream` methods answer in NDJSON, one line
    per item; `prepare` turns wire-only arguments into the service's (for what JSON cannot
    carry: callbacks).
    """

    call: Callable[..., Any]
    decode: Decoder
    reads: bool = False
    stream: bool = False
    prepare: Prepare | None = None

    @property
    def name(self) -> str:
        return self.call.__name__

    @property
    def signature(self) -> inspect.Signature:
        return _signature(self.call)


@functools.cache
def _signature(call: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(call)


def bind_arguments(method: Method, service: Workbench, arguments: Mapping[str, Any]) -> Any:
    """`method.call(service, **arguments)`, its arguments checked against the method's hints
    first (workbench.services.arguments): a missing, unknown or ill-typed argument is an
    InvalidArgument naming it, not a TypeError or a database error from inside the service."""
    kwargs = dict(arguments)
    if method.prepare is not None:
        kwargs = method.prepare(kwargs)
    try:
        bound = check_call(method.call, (service,), kwargs)
    except TypeError as exc:
        named = re.search(r"argument:? '(\w+)'", str(exc))
        raise InvalidArgument(
            f"{method.name}: {exc}", argument=named.group(1) if named else None
        ) from None
    return functools.partial(unchecked(method.call), *bound.args, **bound.kwargs)


def _unexpected_fields(arguments: dict[str, Any]) -> dict[str, Any]:
    """load_annotations: `unexpected_fields` (what the client's on_unexpected chose per group)
    becomes the server-side callback; a callback cannot travel as JSON."""
    if "on_unexpected" in arguments:
        raise InvalidArgument(
            "load_annotations: on_unexpected is a Python callable and cannot be sent; "
            "send unexpected_fields=[{field, label_type, destination}] instead",
            argument="on_unexpected",
        )
    chosen = arguments.pop("unexpected_fields", None)
    if chosen is None:
        return arguments
    arguments["on_unexpected"] = chosen_fields(chosen)
    return arguments


def chosen_fields(chosen: Any) -> Callable[[UnexpectedLabels], str | None]:
    """The on_unexpected callback that answers each group as `chosen` says (unlisted: skip)."""
    if not isinstance(chosen, list) or len(chosen) > MAX_ITEMS:
        raise InvalidArgument(
            "unexpected_fields must be a list of {field, label_type, destination}",
            argument="unexpected_fields",
        )
    destinations: dict[tuple[str, str], str | None] = {}
    for item in chosen:
        if (
            not isinstance(item, Mapping)
            or set(item) != {"field", "label_type", "destination"}
            or not isinstance(item["field"], str)
            or not isinstance(item["label_type"], str)
            or not isinstance(item["destination"], str | None)
            or max(len(item["field"]), len(item["label_type"]), len(item["destination"] or ""))
            > MAX_NAME_LENGTH
        ):
            raise InvalidArgument(
                "unexpected_fields: each entry is {field: str, label_type: str, "
                "destination: str or null}",
                argument="unexpected_fields",
            )
        destinations[(item["field"], item["label_type"])] = item["destination"]
    return lambda group: destinations.get((group.field, group.label_type))


def unexpected_choices(
    groups: Sequence[UnexpectedLabels], choose: Callable[[UnexpectedLabels], str | None]
) -> list[dict[str, Any]]:
    """The client's side of `chosen_fields`: ask `choose` once per group, as a JSON list."""
    out = []
    for group in groups:
        prompt = UnexpectedLabels(
            group.field, group.label_type, group.count, "prompt", None, group.shapes
        )
        out.append(
            {"field": group.field, "label_type": group.label_type, "destination": choose(prompt)}
        )
    return out


W = Workbench
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(W.get_backends, _by_name(Capabilities), reads=True),
        Method(W.create_project, _one(Project)),
        Method(W.get_projects, _many(Project), reads=True),
        Method(W.create_batch, _one(Batch)),
        Method(W.get_batches, _many(Batch), reads=True),
        Method(W.set_batch_status, _one(Batch)),
        Method(W.create_request, _one(Request)),
        Method(W.get_requests, _many(Request), reads=True),
        Method(W.create_scenes, _many(Scene)),
        Method(W.create_scenes_from_frames, _many(Scene)),
        Method(W.create_scenes_from_contexts, _many(Scene)),
        Method(W.get_scenes_by_uuids, _many(Scene), reads=True),
        Method(W.find_scenes, _many(Scene), reads=True),
        Method(W.invalidate_scenes, _one(RemovalReport)),
        Method(W.create_inputs, _one(InputCreationResult), stream=True),
        Method(W.create_inputs_from_scenes, _many(Input)),
        Method(W.query_inputs, _many(Input), reads=True),
        Method(W.delete_input, _one(RemovalReport)),
        Method(W.delete_inputs, _one(RemovalReport)),
        Method(W.annotate, _results),
        Method(W.load_annotations, _one(MergeReport), prepare=_unexpected_fields),
        Method(W.list_annotation_runs, _strings, reads=True),
        Method(W.get_annotation_info, _one(AnnotationRunInfo), reads=True),
        Method(W.load_annotation_results, _results, reads=True),
        Method(W.get_annotation_status, _one(RunStatus), reads=True),
        Method(W.annotation_id_map, _one(IdMap), reads=True),
        Method(W.rename_annotation_run, _one(AnnotationRunInfo)),
        Method(W.delete_annotation_run, _one(RemovalReport)),
        Method(W.cleanup_annotation_run, _one(RemovalReport)),
        Method(W.list_tasks, _many(TaskStatus), reads=True),
        Method(W.get_task, _one(TaskDetail), reads=True),
        Method(W.get_task_annotations, _many(Shape), reads=True),
        Method(W.save_task_annotations, _one(SaveResult)),
        Method(W.set_task_status, _one(TaskStatus)),
        Method(W.complete_task, _one(TaskStatus)),
        Method(W.tag_frames, _one(TagReport)),
        Method(W.untag_frames, _one(TagReport)),
        Method(W.tag_rois, _one(TagReport)),
        Method(W.untag_rois, _one(TagReport)),
        Method(W.get_saved_views, _many(SavedViewInfo), reads=True),
        Method(W.save_view, _one(SavedViewInfo)),
        Method(W.rename_view, _one(SavedViewInfo)),
        Method(W.delete_view, _one(RemovalReport)),
        Method(W.audit_log, _many(AuditEntry), reads=True),
    )
}

# -- errors ---------------------------------------------------------------------------------

# The errors a call may raise on purpose, with their HTTP status. A subclass not listed
# travels as its nearest listed ancestor (same message).
ERROR_STATUS: dict[type[WorkbenchError], int] = {
    ServiceError: 400,
    InvalidArgument: 400,
    RequestTooLarge: 413,
    LabelSchemaError: 400,
    SceneSpecError: 400,
    UnknownIds: 404,
    Conflict: 409,
    StateError: 409,
    ConfirmationRequired: 428,
    BackendError: 502,
    ShapeError: 400,
}
ERRORS: dict[str, type[WorkbenchError]] = {cls.__name__: cls for cls in ERROR_STATUS}


def listed_error(exc: BaseException) -> type[WorkbenchError] | None:
    """The most specific class of ERROR_STATUS that `exc` is, or None (an unexpected error)."""
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return cls
    return None


def error_body(exc: WorkbenchError) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of an error the service raised on purpose."""
    cls = listed_error(exc)
    if cls is None:
        raise ValueError(f"{type(exc).__name__} is not an error the API carries")
    details: dict[str, Any] = {}
    if isinstance(exc, ConfirmationRequired):
        details = {"plan": exc.plan.to_dict()}
    elif isinstance(exc, UnknownIds):
        details = {"kind": exc.kind, "ids": list(exc.ids)}
    elif isinstance(exc, LabelSchemaError):
        details = {"field": exc.field, "problem": exc.problem}
    elif isinstance(exc, SceneSpecError):
        details = {"problems": list(exc.problems)}
    elif isinstance(exc, InvalidArgument) and exc.argument is not None:
        details = {"argument": exc.argument}
    body = {"error": cls.__name__, "message": str(exc), "details": details}
    return ERROR_STATUS[cls], body


def error_from_body(body: Mapping[str, Any]) -> WorkbenchError | None:
    """The error a body names, rebuilt with its attributes; None when it names no listed class.

    Raises ValueError when the body names a listed class but its details are malformed.
    """
    cls = ERRORS.get(str(body.get("error")))
    if cls is None:
        return None
    message = str(body.get("message", ""))
    details = body.get("details") or {}
    try:
        if cls is ConfirmationRequired:
            return ConfirmationRequired(RemovalReport.from_dict(details["plan"]))
        if cls is UnknownIds:
            return UnknownIds(str(details["kind"]), [str(i) for i in details["ids"]])
        if cls is LabelSchemaError:
            return LabelSchemaError(details["field"], str(details["problem"]))
        if cls is SceneSpecError:
            return SceneSpecError([str(p) for p in details["problems"]])
        if issubclass(cls, InvalidArgument):
            argument = details.get("argument")
            return cls(message, argument=None if argument is None else str(argument))
    except (KeyError, TypeError, AttributeError, WorkbenchError) as exc:
        raise ValueError(f"{cls.__name__} with unreadable details: {exc}") from exc
    return cls(message)
