"""`workbench.connect` against a real `workbench serve`: the boundary's refusals arrive as the
exceptions the service raises in process (InvalidArgument naming the argument,
RequestTooLarge), values JSON cannot carry are refused before anything is sent, and answers
a client never provokes from a real server (a body that is not JSON, a media type) are
ProtocolErrors."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import workbench
from workbench.services import InvalidArgument, UnknownIds
from workbench.services.client import ProtocolError, WorkbenchClient
from workbench.services.errors import RequestTooLarge

from .api_catalog import prepare_work

MAX_BODY_MB = 1


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, catalog_templates: Any, serve_catalog: Any
) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("api-client")
    path = catalog_templates.copy("api", folder / "build")
    with workbench.open(path) as catalog:
        prepare_work(catalog)
    served_path = folder / "served.duckdb"
    shutil.copyfile(path, served_path)
    served = serve_catalog(served_path, "--max-body-mb", str(MAX_BODY_MB))
    yield served
    served.stop()


@pytest.fixture
def client(app: Any) -> Iterator[WorkbenchClient]:
    with workbench.connect(app.url, actor="ana") as connected:
        yield connected


def test_wrong_types_are_invalid_arguments_naming_the_argument(client: WorkbenchClient):
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("create_project", {"external_id": 12345}, "external_id"),
        ("create_batch", {"project": "p", "status": ["open"]}, "status"),
        ("get_scenes_by_uuids", {"uuids": "one-uuid"}, "uuids"),
        ("query_inputs", {"scene_uuids": [1, 2]}, "scene_uuids"),
        ("audit_log", {"limit": "many"}, "limit"),
        ("get_task", {"task_id": "t", "segment": 1.5}, "segment"),
        ("create_scenes", {"scenes": [{"frame_ids": "f0"}]}, "scenes"),
        ("invalidate_scenes", {"uuids": ["u"], "reason": "duplicate", "dryrun": "yes"}, "dryrun"),
        ("create_project", {"external_id": "x" * 5000}, "external_id"),
    ]
    for method, arguments, argument in cases:
        with pytest.raises(InvalidArgument) as refused:
            getattr(client, method)(**arguments)
        assert refused.value.argument == argument, (method, str(refused.value))
        assert argument in str(refused.value), (method, str(refused.value))
    assert "12345" not in [p.external_id for p in client.get_projects()]


def test_unknown_ids_are_still_unknown_ids(client: WorkbenchClient):
    with pytest.raises(UnknownIds) as unknown:
        client.get_scenes_by_uuids(["nope"])
    assert unknown.value.ids == ("nope",)


def test_nan_and_infinity_are_refused_before_sending(client: WorkbenchClient):
    for value in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(InvalidArgument, match="only finite numbers"):
            client.create_inputs([{"context_id": "c0"}], "p", wait_timeout=value)


def test_arguments_over_the_servers_limit(app: Any, client: WorkbenchClient):
    ids = [f"frame-{i:09d}" for i in range(100_000)]  # about 1.7 MB of JSON
    # the limit announced by the server is checked before sending
    with pytest.raises(RequestTooLarge, match="at most 1,048,576"):
        client.find_scenes(frame_ids=ids)
    # a client that never asked (no ping) hears the server's 413, as the same error
    unasked = WorkbenchClient(app.url, actor="ana")
    try:
        with pytest.raises(RequestTooLarge, match="larger than this server takes") as refused:
            unasked.find_scenes(frame_ids=ids)
        assert isinstance(refused.value, InvalidArgument)
    finally:
        unasked.close()


def answering(status: int, body: dict[str, Any]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"api": "workbench", "version": 1, "methods": []})
        return httpx.Response(status, content=json.dumps(body).encode())

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "BadRequest"), (415, "UnsupportedMediaType"), (404, "UnknownMethod")],
)
def test_answers_about_the_request_itself_are_protocol_errors(status: int, error: str):
    body = {"error": error, "message": "the body is not JSON", "details": {}}
    transport = answering(status, body)
    with (
        workbench.connect("http://wb.test", transport=transport) as client,
        pytest.raises(ProtocolError) as failed,
    ):
        client.get_projects()
    assert failed.value.status == status


def test_a_413_is_request_too_large_with_its_message():
    body = {"error": "RequestTooLarge", "message": "too large", "details": {}}
    transport = answering(413, body)
    with (
        workbench.connect("http://wb.test", transport=transport) as client,
        pytest.raises(RequestTooLarge, match="too large"),
    ):
        client.get_projects()


def test_the_argument_named_by_the_server_is_kept():
    body = {"error": "InvalidArgument", "message": "m: x bad", "details": {"argument": "x"}}
    transport = answering(400, body)
    with (
        workbench.connect("http://wb.test", transport=transport) as client,
        pytest.raises(InvalidArgument) as refused,
    ):
        client.get_projects()
    assert refused.value.argument == "x"
