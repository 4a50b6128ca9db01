"""The HTTP client: the same methods, results and errors as Workbench, against a real server.

Most tests drive one API server process (a copy of the service test catalog plus a frame
whose image is missing) through `connect()`; each uses its own projects, run keys and
frames so they do not depend on each other's order. Tests of what a real server never
sends (broken answers, timeouts, a stream arriving slowly) use httpx's MockTransport.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

import workbench
from workbench.backends.base import Capabilities
from workbench.errors import CatalogError
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.services import (
    AnnotationResults,
    AuditEntry,
    ConfirmationRequired,
    Conflict,
    InputCreationResult,
    LabelRef,
    LabelSchemaError,
    Project,
    RemovalReport,
    SceneSpec,
    SceneSpecError,
    ServiceError,
    Shape,
    ShapeError,
    StateError,
    UnexpectedLabels,
    UnknownIds,
    Workbench,
)
from workbench.services.client import (
    AccessDenied,
    ProtocolError,
    ServerError,
    ServerUnreachable,
    WorkbenchClient,
    connect,
)
from workbench.services.wire import ACTOR_HEADER, METHODS, TOKEN_ENV, view_argument

from .test_http_api import BROKEN_RUN, ApiServer, add_broken_run, api_server, served_copy

SEQUENCE = [f"seq-{i}" for i in range(5)]
BOXES = {"ground_truth": {"type": "detections", "classes": ["car", "truck"]}}


@pytest.fixture(scope="module")
def server(
    catalog_template: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("client")
    path = served_copy(catalog_template[0], folder)
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame("lost", sources=[Source("image", str(folder / "gone.jpg"))]))
    add_broken_run(path)
    with api_server(path) as served:
        yield served


@pytest.fixture
def wb(server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkbenchClient]:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    # the app's address, as a person would copy it from the browser
    with connect(server.url.removesuffix("/api/v1") + "/", actor="ana") as client:
        yield client


def _project(wb: WorkbenchClient, name: str) -> str:
    wb.create_project(name)
    wb.create_batch(name)
    return name


# -- the same API ---------------------------------------------------------------------------


def _public(cls: type) -> dict[str, object]:
    return {n: f for n, f in inspect.getmembers(cls, callable) if not n.startswith("_")}


def test_the_client_has_every_method_of_the_service_with_its_signature():
    service, client = _public(Workbench), _public(WorkbenchClient)
    assert set(service) <= set(client), set(service) - set(client)
    for name, method in service.items():
        expected = inspect.signature(method, eval_str=True)
        found = inspect.signature(client[name], eval_str=True)
        if name == "as_actor":  # the same, but it returns another client
            assert found.parameters == expected.parameters
            assert found.return_annotation is WorkbenchClient
        else:
            assert found == expected, name
    assert isinstance(inspect.getattr_static(WorkbenchClient, "actor"), property)
    # help() says what the service's method says
    assert WorkbenchClient.invalidate_scenes.__doc__ == inspect.getdoc(Workbench.invalidate_scenes)
    assert WorkbenchClient.annotate.__doc__.startswith(inspect.getdoc(Workbench.annotate))
    # every method but as_actor travels, and nothing else does
    assert set(METHODS) == set(service) - {"as_actor"}


def test_connect_reports_the_server_and_the_actor(server, wb):
    assert wb.url == server.url
    assert wb.actor == "ana"
    info = wb.ping()
    assert (info["api"], info["version"], info["actor"]) == ("workbench", 1, "ana")
    assert repr(wb) == f"WorkbenchClient({server.url!r}, actor='ana')"
    backends = wb.get_backends()
    assert "local" in backends
    assert all(isinstance(c, Capabilities) for c in backends.values())
    assert backends["local"].supports_task_editing


# -- projects, batches, requests ------------------------------------------------------------


def test_projects_batches_and_requests(wb):
    dry = wb.create_project("c-city", title="City", dryrun=True)
    assert isinstance(dry, Project) and dry.title == "City"
    assert "c-city" not in [p.external_id for p in wb.get_projects()]
    project = wb.create_project("c-city", title="City")
    assert project in wb.get_projects()
    with pytest.raises(Conflict, match="c-city"):
        wb.create_project("c-city")
    batch = wb.create_batch("c-city", external_id="week-1", status="pending")
    assert wb.get_batches("c-city") == [batch]
    opened = wb.set_batch_status("c-city", "week-1", "open")
    assert (opened.id, opened.status) == (batch.id, "open")
    request = wb.create_request("c-city", batch="week-1", title="boxes")
    assert wb.get_requests("c-city", batch="week-1") == [request]
    with pytest.raises(UnknownIds) as unknown:
        wb.get_batches("c-nowhere")
    assert (unknown.value.kind, unknown.value.ids) == ("projects", ("c-nowhere",))


# -- scenes ---------------------------------------------------------------------------------


def test_scenes_are_created_and_dry_runs_create_nothing(wb):
    dry = wb.create_scenes_from_frames(["img-0", "img-1"], dryrun=True)
    assert [(s.frame_ids, s.scene_type, s.status) for s in dry] == [
        (("img-0",), "camera_frame", "created"),
        (("img-1",), "camera_frame", "created"),
    ]
    with pytest.raises(UnknownIds):
        wb.get_scenes_by_uuids([dry[0].uuid])
    (group,) = wb.create_scenes(
        [SceneSpec(frame_ids=("rig-0", "rig-1"), scene_type="frame_group", external_id="c-rig")]
    )
    assert (group.scene_type, group.external_id, group.frame_ids) == (
        "frame_group",
        "c-rig",
        ("rig-0", "rig-1"),
    )
    (sequence,) = wb.create_scenes_from_contexts(["drive-1"])
    assert sequence.frame_ids == tuple(SEQUENCE)
    assert wb.get_scenes_by_uuids([sequence.uuid, group.uuid]) == [sequence, group]
    assert sequence in wb.find_scenes(context_ids=["drive-1"])
    assert group in wb.find_scenes(frame_ids=["rig-1"])
    with pytest.raises(SceneSpecError) as bad:
        wb.create_scenes([{"frame_ids": ["seq-0", "seq-1"], "scene_type": "camera_frame"}])
    assert len(bad.value.problems) == 1 and "camera_frame" in bad.value.problems[0]


# -- inputs ---------------------------------------------------------------------------------


def test_create_inputs_streams_one_result_per_input(wb):
    _project(wb, "c-stream")
    results = wb.create_inputs(
        [SceneSpec(frame_ids=("img-1",)), {"context_id": "drive-1"}, {"frame_ids": ["lost"]}],
        "c-stream",
        wait_timeout=1,
        sleep_time=0.01,
    )
    assert isinstance(results, Iterator)
    done = list(results)
    assert all(isinstance(r, InputCreationResult) for r in done)
    assert [(r.external_id, r.status, r.stage) for r in done] == [
        ("lost", "failed", "scene"),
        ("img-1", "created", None),
        ("drive-1", "created", None),
    ]
    assert "file not found" in done[0].error_message
    stored = {i.uuid for i in wb.query_inputs(project="c-stream")}
    assert stored == {done[1].input_uuid, done[2].input_uuid}
    dry = list(wb.create_inputs([{"context_id": "rig-1"}], "c-stream", dryrun=True))
    assert [(r.status, r.dryrun, r.input_uuid) for r in dry] == [("created", True, None)]
    assert len(wb.query_inputs(project="c-stream")) == 2


def test_create_inputs_checks_the_project_when_called(wb):
    with pytest.raises(UnknownIds, match="unknown projects: 'c-nope'"):
        wb.create_inputs([{"frame_ids": ["img-0"]}], "c-nope")  # no next() needed


def test_query_inputs_and_delete_input_with_and_without_confirmation(wb):
    wb.create_project("c-inputs")
    wb.create_batch("c-inputs", external_id="first")
    wb.create_batch("c-inputs", external_id="second")
    scenes = wb.create_scenes_from_frames(["img-0", "img-1"])
    first = wb.create_inputs_from_scenes("c-inputs", batch="first", scene_uuids=[scenes[0].uuid])
    second = wb.create_inputs_from_scenes("c-inputs", external_ids=["img-1"])  # latest open
    assert wb.query_inputs(project="c-inputs", batch="first") == first
    assert [i.batch for i in second] == ["second"]
    assert wb.query_inputs(scene_uuids=[scenes[1].uuid], project="c-inputs") == second
    assert first[0].view_link == f"/?input={first[0].uuid}"
    uuid = first[0].uuid
    dry = wb.delete_input(uuid, dryrun=True)
    assert isinstance(dry, RemovalReport) and (dry.dryrun, dry.inputs) == (True, 1)
    with pytest.raises(ConfirmationRequired) as refused:
        wb.delete_input(uuid)
    assert refused.value.plan == dataclasses.replace(dry, dryrun=False)
    assert "would remove 1 input" in str(refused.value)
    done = wb.delete_input(uuid, confirm=True)
    assert (done.inputs, done.input_uuids) == (1, (uuid,))
    assert wb.query_inputs(project="c-inputs") == second
    assert wb.delete_inputs([second[0].uuid], confirm=True).inputs == 1
    with pytest.raises(UnknownIds) as unknown:
        wb.delete_inputs([uuid], confirm=True)
    assert unknown.value.kind == "inputs"


def test_invalidate_scenes_round_trips_its_plan(wb):
    _project(wb, "c-invalid")
    (scene,) = wb.create_scenes_from_frames(["img-3"])
    (placed,) = wb.create_inputs_from_scenes("c-invalid", scene_uuids=[scene.uuid])
    with pytest.raises(ConfirmationRequired) as refused:
        wb.invalidate_scenes([scene.uuid], "duplicate")
    plan = refused.value.plan
    assert (plan.action, plan.scenes, plan.inputs, plan.input_uuids) == (
        "invalidate_scenes",
        1,
        1,
        (placed.uuid,),
    )
    assert plan == dataclasses.replace(
        wb.invalidate_scenes([scene.uuid], "duplicate", dryrun=True), dryrun=False
    )
    done = wb.invalidate_scenes([scene.uuid], "duplicate", confirm=True)
    assert (done.scenes, done.inputs) == (1, 1)
    assert wb.get_scenes_by_uuids([scene.uuid])[0].status == "invalidated:duplicate"
    assert wb.query_inputs(project="c-invalid") == []


# -- annotation runs and the local platform's tasks -----------------------------------------


def test_annotate_a_view_spec_then_edit_its_task_and_load_the_annotations(
    wb, catalog_template, tmp_path
):
    # A view built on any catalog travels as its spec and is evaluated on the served one.
    local = served_copy(catalog_template[0], tmp_path, "local.duckdb")
    with workbench.open(local) as copy:
        view = copy.view().select_contexts(["drive-1"]).has_rois("ground_truth")
    dry = wb.annotate(view, "c-view", label_schema=BOXES, project="c-annotate", dryrun=True)
    assert dry.info.dryrun and "c-view" not in wb.list_annotation_runs()
    with pytest.raises(StateError):
        dry.get_status()  # a dry run's results are bound to nothing, as in-process
    results = wb.annotate(view, "c-view", label_schema=BOXES, project="c-annotate")
    assert isinstance(results, AnnotationResults)
    assert results.info.view == view.to_dict()
    assert (results.info.frames, results.info.scenes, results.info.labels) == (5, 1, 5)
    assert results.get_status().annotations == 5  # bound to the client
    (task,) = wb.list_tasks("c-view")
    detail = wb.get_task(task.task_id)
    assert [f.frame_id for f in detail.frames] == SEQUENCE
    assert detail.label_schema.fields["ground_truth"].classes == ("car", "truck")
    added = Shape.box("seq-2", "ground_truth", "truck", 40, 20, 10, 10)
    saved = wb.save_task_annotations(task.task_id, [*detail.shapes, added])
    assert (saved.added, saved.changed, saved.removed) == (1, 0, 0)
    on_frame = wb.get_task_annotations(task.task_id, frame_ids=["seq-2"])
    assert sorted(s.label for s in on_frame) == ["car", "truck"]
    with pytest.raises(ShapeError):
        wb.save_task_annotations(task.task_id, [dataclasses.replace(added, frame_id="img-0")])
    assert wb.set_task_status(task.task_id, "in_progress", assignee="ana").assignee == "ana"
    assert wb.complete_task(task.task_id).status == "done"
    report = results.load_annotations()
    assert [(r.frame_id, r.field) for r in report.added] == [("seq-2", "ground_truth")]
    assert isinstance(report.added[0], LabelRef)
    assert (report.unchanged, report.changed, report.deleted) == (5, (), ())
    assert wb.get_annotation_info("c-view").status == "loaded"


def test_label_schema_errors_name_the_field(wb):
    with pytest.raises(LabelSchemaError) as bad:
        wb.annotate(["img-2"], "c-bad", label_field="c_new_field")
    assert bad.value.field == "c_new_field"
    assert bad.value.problem


def test_unexpected_labels_are_answered_by_the_clients_callback(wb):
    wb.annotate(["img-0", "img-1"], "c-odd", label_schema=BOXES, project="c-odd")
    (task,) = wb.list_tasks("c-odd")
    point = Shape("img-0", "ground_truth", "point", label="car", geometry=((1.0, 2.0),))
    wb.save_task_annotations(task.task_id, [*wb.get_task_annotations(task.task_id), point])
    returned = wb.load_annotations("c-odd", unexpected="return", dryrun=True)
    assert [(u.label_type, u.action, len(u.shapes)) for u in returned.unexpected] == [
        ("keypoints", "returned", 1)
    ]
    asked: list[UnexpectedLabels] = []

    def keep_points(group: UnexpectedLabels) -> str | None:
        asked.append(group)
        return "c_points"

    report = wb.load_annotations("c-odd", on_unexpected=keep_points)
    assert [(g.field, g.label_type, g.action, len(g.shapes)) for g in asked] == [
        ("ground_truth", "keypoints", "prompt", 1)
    ]
    assert [(u.action, u.destination) for u in report.unexpected] == [("kept", "c_points")]
    assert [(r.frame_id, r.field) for r in report.added] == [("img-0", "c_points")]
    entries = wb.audit_log(limit=2, action="load_annotations")
    assert [e.dry_run for e in entries] == [False, True]  # the callback's dry run shows


def test_annotation_runs_are_listed_renamed_cleaned_and_deleted(wb):
    wb.annotate(["img-2"], "c-run-1", label_schema=BOXES, project="c-runs")
    assert "c-run-1" in wb.list_annotation_runs()
    renamed = wb.rename_annotation_run("c-run-1", "c-run-2")
    assert renamed.anno_key == "c-run-2"
    assert wb.get_annotation_info("c-run-2").run_id == renamed.run_id
    loaded = wb.load_annotation_results("c-run-2")
    assert loaded.info == renamed and loaded.id_map().entries[0].frame_id == "img-2"
    assert wb.annotation_id_map("c-run-2") == loaded.id_map()
    assert "c-run-2" in wb.get_annotation_status("c-run-2").describe()
    with pytest.raises(ConfirmationRequired) as refused:
        wb.delete_annotation_run("c-run-2")
    assert refused.value.plan.runs == 1
    cleaned = wb.cleanup_annotation_run("c-run-2", confirm=True)
    assert (cleaned.tasks, cleaned.annotations) == (1, 1)
    assert wb.get_annotation_info("c-run-2").status == "cleaned"
    with pytest.raises(StateError, match="cleaned up"):
        wb.load_annotations("c-run-2")
    # a LabelSchema object (here a finished run's) travels as its dict
    again = wb.annotate(["img-2"], "c-run-3", label_schema=renamed.label_schema, project="c-runs")
    assert again.info.label_schema == renamed.label_schema
    assert wb.delete_annotation_run("c-run-2", confirm=True).runs == 1
    assert "c-run-2" not in wb.list_annotation_runs()
    with pytest.raises(UnknownIds):
        wb.get_annotation_info("c-run-2")


# -- who acts -------------------------------------------------------------------------------


def test_the_audit_log_shows_the_clients_actor(wb):
    wb.create_project("c-audit")
    bob = wb.as_actor("bob")
    bob.create_batch("c-audit")
    bob.close()  # shares ana's connection pool: closing it leaves ana's open
    entries = wb.audit_log(limit=2)
    assert all(isinstance(e, AuditEntry) for e in entries)
    assert [(e.actor, e.action, e.outcome) for e in entries] == [
        ("bob", "create_batch", "ok"),
        ("ana", "create_project", "ok"),
    ]
    assert entries[1].target == {"external_id": "c-audit", "backend": "local"}


def test_the_served_catalog_cannot_be_opened_twice_and_the_client_still_works(server, wb):
    with pytest.raises(CatalogError):
        workbench.open(server.catalog)
    wb.create_project("c-after-lock")
    assert "c-after-lock" in [p.external_id for p in wb.get_projects()]


# -- when the call itself fails -------------------------------------------------------------


def test_an_unexpected_server_failure_names_the_method(wb):
    with pytest.raises(ServerError) as failed:
        wb.get_annotation_info(BROKEN_RUN)
    assert (failed.value.method, failed.value.status) == ("get_annotation_info", 500)
    assert "failed on the server" in str(failed.value)
    assert "SELECT" not in str(failed.value)  # the server's error text stays in its log
    assert not isinstance(failed.value, ServiceError)
    assert wb.get_projects()  # the server carries on


def test_a_server_that_is_not_there():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServerUnreachable, match="cannot reach") as failed:
        connect(f"http://127.0.0.1:{port}")
    assert isinstance(failed.value.__cause__, httpx.ConnectError)


def test_urls_must_be_http():
    with pytest.raises(ServiceError, match="http"):
        connect("127.0.0.1:5006")
    assert WorkbenchClient("https://wb.example/api/v1/").url == "https://wb.example/api/v1"


def test_a_token_server_needs_the_token(catalog_template, tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    path = served_copy(catalog_template[0], tmp_path)
    with api_server(path, env={TOKEN_ENV: "s3cret"}) as served:
        with pytest.raises(AccessDenied) as denied:
            connect(served.url)
        assert denied.value.status == 401
        with pytest.raises(AccessDenied):
            connect(served.url, token="wrong")
        with connect(served.url, token="s3cret", actor="dee") as wb:
            wb.create_project("t")
        monkeypatch.setenv(TOKEN_ENV, "s3cret")
        with connect(served.url) as wb:
            assert wb.audit_log(limit=1)[0].actor == "dee"


# -- the transport seam: what a real server does not send -----------------------------------

URL = "http://wb.test"


def _client(handler) -> WorkbenchClient:
    return WorkbenchClient(URL, actor="ana", transport=httpx.MockTransport(handler))


def _line(value: dict) -> bytes:
    return json.dumps(value).encode() + b"\n"


def _result(external_id: str) -> dict:
    made = InputCreationResult(external_id, "s-" + external_id, "created", "i-" + external_id)
    return {"result": made.to_dict()}


class _Lines(httpx.SyncByteStream):
    def __init__(self, *parts):
        self.parts = parts

    def __iter__(self):
        for part in self.parts:
            yield part() if callable(part) else part


def test_stream_results_are_yielded_as_they_arrive():
    gate = threading.Event()

    def rest() -> bytes:
        # Only sent once the test has the first result: a client that read the whole body
        # before yielding would wait here until the timeout and fail.
        assert gate.wait(5), "the client did not yield the first result on its own"
        return _line(_result("b")) + b"\n" + _line({"end": True, "count": 2})

    def handler(request: httpx.Request) -> httpx.Response:
        stream = _Lines(_line(_result("a")), rest)
        return httpx.Response(200, headers={"Content-Type": "application/x-ndjson"}, stream=stream)

    results = _client(handler).create_inputs([{"frame_ids": ["f"]}], "p")
    assert next(results).external_id == "a"
    gate.set()
    assert [r.external_id for r in results] == ["b"]


def test_an_error_line_ends_a_stream_with_the_rebuilt_error():
    error = {"error": "UnknownIds", "message": "m", "details": {"kind": "frames", "ids": ["x"]}}

    def handler(request):
        return httpx.Response(200, stream=_Lines(_line(_result("a")), _line(error)))

    results = _client(handler).create_inputs([], "p")
    assert next(results).external_id == "a"
    with pytest.raises(UnknownIds) as unknown:
        next(results)
    assert (unknown.value.kind, unknown.value.ids) == ("frames", ("x",))


def test_a_stream_that_breaks_off_is_a_server_error():
    def handler(request):
        return httpx.Response(200, stream=_Lines(_line(_result("a"))))

    results = _client(handler).create_inputs([], "p")
    next(results)
    with pytest.raises(ServerError, match="broke off"):
        next(results)


@pytest.mark.parametrize(
    ("status", "body", "expected", "text"),
    [
        (200, b"<html>", ProtocolError, "not JSON"),
        (200, b'{"result": {"anno_key": 1}}', ProtocolError, "unreadable result"),
        (200, b'{"nothing": 1}', ProtocolError, "no result"),
        (502, b"<html>Bad Gateway</html>", ServerError, "Bad Gateway"),
        (418, b'{"error": "Teapot", "message": "short and stout"}', ProtocolError, "stout"),
        (428, b'{"error": "ConfirmationRequired", "details": {}}', ProtocolError, "details"),
        (403, b'{"error": "Forbidden", "message": "loopback only"}', AccessDenied, "loopback"),
    ],
)
def test_answers_the_client_cannot_use(status, body, expected, text):
    wb = _client(lambda request: httpx.Response(status, content=body))
    with pytest.raises(expected, match=text) as failed:
        wb.get_annotation_info("r")
    assert failed.value.method == "get_annotation_info"


def test_another_api_version_is_refused_at_connect():
    answer = {"api": "workbench", "version": 99, "methods": [], "actor": "x"}
    wb = _client(lambda request: httpx.Response(200, json=answer))
    with pytest.raises(ProtocolError, match="version 99"):
        wb.ping()


def test_timeouts_say_the_action_may_have_happened():
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ServerUnreachable, match="may still have happened") as failed:
        _client(handler).delete_input("u", confirm=True)
    assert isinstance(failed.value.__cause__, httpx.ReadTimeout)


def test_arguments_travel_as_json_with_the_actor_and_token(tmp_path):
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"result": []})

    wb = WorkbenchClient(URL, token="tok", actor="ana", transport=httpx.MockTransport(handler))
    wb.create_scenes([SceneSpec(frame_ids=("a", "b")), {"context_id": "c"}])
    wb.get_scenes_by_uuids(pa.array(["u1", "u2"]))  # ids straight from an Arrow column
    request = sent[0]
    assert str(request.url) == URL + "/api/v1/create_scenes"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers[ACTOR_HEADER] == "ana"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.content)
    assert body["scenes"][0]["frame_ids"] == ["a", "b"]
    assert body == {
        "scenes": [SceneSpec(frame_ids=("a", "b")).to_dict(), {"context_id": "c"}],
        "dryrun": False,
    }
    assert json.loads(sent[1].content) == {"uuids": ["u1", "u2"]}
    with pytest.raises(ServiceError, match="cannot be sent"):
        wb.get_scenes_by_uuids([object()])  # type: ignore[list-item]
    assert len(sent) == 2  # refused before anything was sent


def test_views_travel_as_specs_or_frame_ids(catalog):
    view = catalog.view().match(weather="rain").limit(3)
    assert view_argument(view) == view.to_dict()
    assert view_argument({"frame_ids": ["a"]}) == {"frame_ids": ["a"]}
    assert view_argument(("a", "b")) == ["a", "b"]

    class Picked:
        def frame_ids(self):
            return pa.array(["x", "y"])

    assert view_argument(Picked()) == {"frame_ids": ["x", "y"]}
    with pytest.raises(ServiceError, match="got a string"):
        view_argument("img-0")
