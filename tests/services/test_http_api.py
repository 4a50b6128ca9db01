"""The service's HTTP API, spoken to raw: routes, JSON errors, NDJSON streams, who may call.

A real API server process (`python -m workbench.services.http_api`) serves a copy of the
service test catalog; `api_server` is also used by test_client.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

import workbench
from workbench.errors import CatalogError
from workbench.services import Workbench, http_api, wire
from workbench.services.http_api import ApiConfig, MethodHandler, per_actor
from workbench.services.wire import METHODS, Method

_URL_LINE = re.compile(r"Serving workbench API on (http://\S+)")
JSON = {"Content-Type": "application/json"}


@dataclass
class ApiServer:
    """A running API server process on `catalog`."""

    url: str
    catalog: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the server closes its catalog and exits
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        return self.process.returncode


def start_api_server(catalog: Path, *args: str, env: dict[str, str] | None = None) -> ApiServer:
    """Start the API server on a free loopback port and wait for its URL."""
    log_path = catalog.with_name(f"{catalog.stem}-api-{time.monotonic_ns()}.log")
    command = [sys.executable, "-m", "workbench.services.http_api", "--catalog", str(catalog)]
    command += ["--port", "0", "--actor", "server", *args]
    # The test's own environment must not hand the server a token it was not given.
    environment = {k: v for k, v in os.environ.items() if k != wire.TOKEN_ENV}
    environment.update({"PYTHONUNBUFFERED": "1", **(env or {})})
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment
        )
    deadline = time.monotonic() + 60
    while True:
        found = _URL_LINE.search(log_path.read_text(errors="replace"))
        if found:
            return ApiServer(found.group(1), catalog, process, log_path)
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the API server did not start:\n" + log_path.read_text())
        time.sleep(0.05)


@contextmanager
def api_server(catalog: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[ApiServer]:
    server = start_api_server(catalog, *args, env=env)
    try:
        yield server
    finally:
        server.stop()


def served_copy(template: Path, folder: Path, name: str = "served.duckdb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    shutil.copyfile(template, path)
    return path


BROKEN_RUN = "broken-run"


def add_broken_run(path: Path) -> None:
    """A run record whose stored config is not an AnnotationConfig: reading it fails inside
    the service in a way nobody foresaw (an unexpected error, not a refusal)."""
    config = '{"backend": "local", "restrictions": "SELECT * FROM secrets"}'
    with workbench.open(path) as catalog, catalog.transaction() as con:
        con.execute(
            "INSERT INTO annotation_runs (anno_key, run_id, backend, label_schema, config, "
            "status) VALUES (?, 'r-broken', 'local', '{}', ?, 'open')",
            [BROKEN_RUN, config],
        )


@pytest.fixture(scope="module")
def server(
    catalog_template: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    path = served_copy(catalog_template[0], tmp_path_factory.mktemp("http-api"))
    add_broken_run(path)
    with api_server(path) as served:
        yield served


@pytest.fixture
def http(server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def call(http: httpx.Client, method: str, actor: str | None = "ana", **arguments: Any):
    headers = {**JSON, **({wire.ACTOR_HEADER: actor} if actor else {})}
    return http.post(f"/{method}", content=json.dumps(arguments), headers=headers)


# -- routes ---------------------------------------------------------------------------------


def test_the_index_lists_every_method_of_the_table(http):
    answer = http.get("/")
    assert answer.status_code == 200
    assert answer.json() == {
        "api": "workbench",
        "version": 1,
        "methods": sorted(METHODS),
        "actor": "server",
        "limits": {
            "max_body_bytes": 8 * 1024 * 1024,
            "max_name_length": 1024,
            "max_text_length": 65_536,
            "max_items": 1_000_000,
            "max_depth": 32,
        },
    }


def test_every_method_of_the_table_has_its_route(http):
    for name, method in METHODS.items():
        answer = call(http, name)
        required = [
            p.name for p in list(method.signature.parameters.values())[1:] if p.default is p.empty
        ]
        if required:
            assert answer.status_code == 400, (name, answer.text)
            assert answer.json()["error"] == "InvalidArgument"
            assert "missing a required argument" in answer.json()["message"]
        else:
            assert answer.status_code == 200, (name, answer.text)
            assert "result" in answer.json()


def test_unknown_methods_and_verbs_answer_json(http):
    answer = call(http, "drop_catalog")
    assert answer.status_code == 404
    assert answer.json()["error"] == "UnknownMethod"
    assert "drop_catalog" in answer.json()["message"]
    # names of the service that are not in the table are not reachable either
    assert call(http, "as_actor", actor="x").status_code == 404
    assert call(http, "__init__").status_code == 404
    wrong_verb = http.get("/get_projects")
    assert wrong_verb.status_code == 405
    assert wrong_verb.headers["content-type"].startswith("application/json")


def test_bodies_must_be_json_objects_of_known_arguments(http):
    not_json = http.post("/get_projects", content=b"{", headers=JSON)
    assert (not_json.status_code, not_json.json()["error"]) == (400, "BadRequest")
    a_list = http.post("/get_projects", content=b"[]", headers=JSON)
    assert (a_list.status_code, a_list.json()["error"]) == (400, "BadRequest")
    # a form post (what a cross-site page can send without asking) is refused
    form = http.post("/get_projects", content=b"{}", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    unknown = call(http, "get_projects", colour="red")
    assert unknown.status_code == 400
    assert "colour" in unknown.json()["message"]


def test_results_are_the_dataclasses_as_json(http):
    created = call(http, "create_project", external_id="raw-1", title="Raw")
    assert created.status_code == 200
    result = created.json()["result"]
    assert (result["external_id"], result["title"], result["backend"]) == ("raw-1", "Raw", "local")
    assert isinstance(result["created"], str)  # datetimes as ISO strings
    # how long the call waited for a thread and ran, for whoever measures the server
    assert re.fullmatch(r"queue;dur=[\d.]+, call;dur=[\d.]+", created.headers["Server-Timing"])
    listed = call(http, "get_projects").json()["result"]
    assert result in listed


# -- errors ---------------------------------------------------------------------------------


def test_service_errors_carry_their_class_status_and_details(http):
    unknown = call(http, "get_scenes_by_uuids", uuids=["nope", "gone"])
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": "UnknownIds",
        "message": "unknown scenes: 'gone', 'nope'",
        "details": {"kind": "scenes", "ids": ["gone", "nope"]},
    }
    call(http, "create_project", external_id="raw-2")
    again = call(http, "create_project", external_id="raw-2")
    assert (again.status_code, again.json()["error"]) == (409, "Conflict")
    bad = call(http, "create_batch", project="raw-2", status="closed")
    assert (bad.status_code, bad.json()["error"]) == (400, "InvalidArgument")


def test_a_refused_destructive_action_sends_its_plan(http):
    call(http, "create_project", external_id="raw-3")
    call(http, "create_batch", project="raw-3")
    lines = call(http, "create_inputs", scenes=[{"frame_ids": ["img-2"]}], project="raw-3")
    created = json.loads(lines.text.splitlines()[0])["result"]
    refused = call(http, "delete_input", uuid=created["input_uuid"])
    assert refused.status_code == 428
    body = refused.json()
    assert body["error"] == "ConfirmationRequired"
    assert body["details"]["plan"]["inputs"] == 1
    assert body["details"]["plan"]["input_uuids"] == [created["input_uuid"]]


def test_an_unexpected_failure_is_a_500_naming_the_method(server, http):
    answer = call(http, "get_annotation_info", anno_key=BROKEN_RUN)
    assert answer.status_code == 500
    body = answer.json()
    assert body == {
        "error": "ServerError",
        "message": "get_annotation_info failed on the server (its log has the details)",
        "details": {"method": "get_annotation_info"},
    }
    assert call(http, "get_projects").status_code == 200  # the server carries on
    # the traceback and the error's text are in its log, not in the answer
    assert "Traceback" in server.log() and "SerialisationError" in server.log()
    assert "Traceback" not in answer.text and "SELECT" not in answer.text


# -- streams --------------------------------------------------------------------------------


def test_create_inputs_streams_ndjson_with_an_end_line(http):
    call(http, "create_project", external_id="raw-4")
    call(http, "create_batch", project="raw-4")
    scenes = [{"context_id": "drive-1"}, {"frame_ids": ["img-1"]}]
    answer = call(http, "create_inputs", scenes=scenes, project="raw-4")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in answer.text.splitlines() if line.strip()]
    assert [line["result"]["external_id"] for line in lines[:-1]] == ["drive-1", "img-1"]
    assert {line["result"]["status"] for line in lines[:-1]} == {"created"}
    assert lines[-1] == {"end": True, "count": 2}


def test_a_stream_that_cannot_start_is_a_plain_error(http):
    answer = call(http, "create_inputs", scenes=[{"frame_ids": ["img-1"]}], project="nowhere")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["details"] == {"kind": "projects", "ids": ["nowhere"]}


# -- who acts, who may call -----------------------------------------------------------------


def test_the_actor_header_is_recorded_in_the_audit_log(http):
    call(http, "create_project", actor="bea", external_id="raw-5")
    call(http, "create_project", actor=None, external_id="raw-6")
    entries = call(http, "audit_log", limit=2, action="create_project").json()["result"]
    assert [(e["actor"], e["target"]["external_id"]) for e in entries] == [
        ("server", "raw-6"),  # no header: the server's own actor
        ("bea", "raw-5"),
    ]
    weird = call(http, "get_projects", actor="x" * 500)
    assert weird.status_code == 400


def test_requests_from_other_origins_or_host_names_are_refused(http):
    evil = http.post(
        "/create_project",
        content=json.dumps({"external_id": "evil"}),
        headers={**JSON, "Origin": "http://evil.example"},
    )
    assert (evil.status_code, evil.json()["error"]) == (403, "Forbidden")
    # a rebound DNS name pointing at loopback is not a loopback name
    rebound = http.post("/get_projects", content=b"{}", headers={**JSON, "Host": "evil.example"})
    assert rebound.status_code == 403
    itself = f"{http.base_url.scheme}://{http.base_url.netloc.decode()}"
    same = http.post("/get_projects", content=b"{}", headers={**JSON, "Origin": itself})
    assert same.status_code == 200
    assert "evil" not in [p["external_id"] for p in same.json()["result"]]


def test_a_token_is_required_when_set(catalog_template, tmp_path):
    path = served_copy(catalog_template[0], tmp_path)
    with (
        api_server(path, env={wire.TOKEN_ENV: "s3cret"}) as served,
        httpx.Client(base_url=served.url, timeout=30) as http,
    ):
        assert http.post("/get_projects", content=b"{}", headers=JSON).status_code == 401
        wrong = {**JSON, "Authorization": "Bearer s3cre"}
        assert http.post("/get_projects", content=b"{}", headers=wrong).status_code == 401
        assert http.get("/").status_code == 401
        right = {**JSON, "Authorization": "bearer s3cret", wire.ACTOR_HEADER: "cy"}
        made = http.post("/create_project", json={"external_id": "t"}, headers=right)
        assert made.status_code == 200
        # with a token the host name does not matter (a proxy, a LAN address)
        proxied = http.post("/audit_log", json={}, headers={**right, "Host": "wb.example"})
        assert proxied.json()["result"][0]["actor"] == "cy"


def test_sigterm_closes_the_catalog(catalog_template, tmp_path):
    path = served_copy(catalog_template[0], tmp_path)
    served = start_api_server(path)
    try:
        with pytest.raises(CatalogError):
            workbench.open(path)  # held open read-write by the server
    finally:
        assert served.stop() == 0
    with workbench.open(path) as catalog:  # released, with nothing to replay
        assert catalog.cursor().execute("SELECT count(*) FROM frames").fetchall() == [(11,)]


# -- mounted next to the app ----------------------------------------------------------------

_PANEL_SERVER = """
import sys, panel as pn, workbench
from workbench.services import Workbench
from workbench.services.http_api import api_patterns, per_actor
catalog = workbench.open(sys.argv[1])
patterns = api_patterns(per_actor(Workbench(catalog, actor="server")), token="")
server = pn.serve({"/": lambda: pn.pane.Markdown("app")}, port=0, address="127.0.0.1",
                  start=False, show=False, basic_auth="pw", cookie_secret="c" * 32,
                  extra_patterns=patterns)
server.start()
server.io_loop.add_callback(
    lambda: print(f"Serving workbench API on http://127.0.0.1:{server.port}/api/v1", flush=True))
server.io_loop.start()
"""


def test_mounted_in_panel_the_api_follows_the_apps_login(catalog_template, tmp_path):
    path = served_copy(catalog_template[0], tmp_path)
    log_path = tmp_path / "panel.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _PANEL_SERVER, str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "BOKEH_BROWSER": "none"},
        )
    served = ApiServer("", path, process, log_path)
    try:
        deadline = time.monotonic() + 60
        while not (found := _URL_LINE.search(served.log())):
            assert process.poll() is None and time.monotonic() < deadline, served.log()
            time.sleep(0.05)
        api = found.group(1)
        root = api.removesuffix("/api/v1")
        with httpx.Client(timeout=30) as http:
            anonymous = http.post(api + "/get_projects", json={}, headers=JSON)
            assert (anonymous.status_code, anonymous.json()["error"]) == (401, "Unauthorized")
            login = http.post(root + "/login", data={"username": "dana", "password": "pw"})
            assert login.status_code in (200, 302), login.text
            made = http.post(
                api + "/create_project",
                json={"external_id": "logged"},
                headers={wire.ACTOR_HEADER: "someone-else"},
            )
            assert made.status_code == 200, made.text
            entries = http.post(api + "/audit_log", json={"limit": 1}).json()["result"]
            assert entries[0]["actor"] == "dana"  # the login, not what the header claims
    finally:
        served.stop()


# -- the stream machinery, in process -------------------------------------------------------


closed = threading.Event()


def slow_items(service: Workbench, count: int, pause: float) -> Iterator[dict[str, Any]]:
    """A stream that takes its time, like create_inputs waiting on a slow platform."""
    closed.clear()
    try:
        for i in range(count):
            time.sleep(pause)
            yield {"i": i}
    finally:
        closed.set()


@contextmanager
def in_process_api(catalog, method: Method) -> Iterator[str]:
    """A Tornado server in a thread serving one method that is not in the table."""
    config = ApiConfig(per_actor(Workbench(catalog, actor="t")), None)
    routes = [(f"/api/v1/{method.name}", MethodHandler, {"config": config, "method": method})]
    started = threading.Event()
    state: dict[str, Any] = {}

    async def run() -> None:
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(Application(routes))
        server.add_sockets(sockets)
        state["port"] = sockets[0].getsockname()[1]
        state["stop"] = asyncio.Event()
        state["loop"] = asyncio.get_running_loop()
        started.set()
        await state["stop"].wait()
        server.stop()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{state['port']}/api/v1"
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)


def test_slow_streams_send_heartbeats_and_stop_when_the_client_leaves(catalog, monkeypatch):
    monkeypatch.setattr(http_api, "HEARTBEAT_SECONDS", 0.05)
    method = Method(slow_items, lambda data, _service: data, stream=True)
    with in_process_api(catalog, method) as url, httpx.Client(timeout=10) as http:
        body = {"count": 2, "pause": 0.3}
        answer = http.post(url + "/slow_items", json=body)
        lines = answer.text.split("\n")
        assert "" in lines[:-1]  # heartbeats while the first item was being made
        items = [json.loads(line) for line in lines if line]
        assert items == [{"result": {"i": 0}}, {"result": {"i": 1}}, {"end": True, "count": 2}]
        # a client that stops reading: the generator is closed, not run to its end
        body = {"count": 1000, "pause": 0.01}
        with http.stream("POST", url + "/slow_items", json=body) as streamed:
            first = next(streamed.iter_lines())
            assert json.loads(first) == {"result": {"i": 0}}
        assert closed.wait(10)


def unsendable(service: Workbench) -> object:
    return object()


def test_a_result_that_cannot_be_sent_is_the_servers_fault(catalog, caplog):
    method = Method(unsendable, lambda data, _service: data)
    with in_process_api(catalog, method) as url, httpx.Client(timeout=10) as http:
        answer = http.post(url + "/unsendable", json={})
    assert answer.status_code == 500
    assert answer.json()["error"] == "ServerError"
    assert answer.json()["message"] == "unsendable failed on the server (its log has the details)"
    assert "cannot be sent" in caplog.text  # what went wrong is in the log, not the answer
