"""`workbench serve`: binding, websocket origins, auth, the session API, and the page itself."""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from bokeh.util.token import get_session_id
from PIL import Image
from tornado.ioloop import IOLoop

import workbench
from workbench.store.catalog import Catalog
from workbench.ui.server import (
    SessionRegistry,
    selection_json,
    serve,
    server_url,
    websocket_origins,
)


@dataclass(frozen=True)
class _Selection:
    frame_ids: tuple[str, ...]
    context_ids: tuple[str, ...]
    count: int


class _App:
    def __init__(self, selection: Any) -> None:
        self.selection = selection


def test_websocket_origins_allow_both_loopback_names():
    assert websocket_origins("127.0.0.1", 5006, None) == ["localhost:5006", "127.0.0.1:5006"]
    assert websocket_origins("0.0.0.0", 80, ["wb.example.org"]) == [
        "localhost:80",
        "127.0.0.1:80",
        "wb.example.org",
    ]
    assert "10.1.2.3:5006" in websocket_origins("10.1.2.3", 5006, None)


def test_server_url():
    assert server_url("127.0.0.1", 5006) == "http://127.0.0.1:5006/"
    assert server_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/"
    assert server_url("::1", 8080) == "http://[::1]:8080/"


def test_selection_json_and_registry():
    app = _App(_Selection(("f1", "f2"), ("c1",), 2))
    assert selection_json(app) == {"frame_ids": ["f1", "f2"], "context_ids": ["c1"], "count": 2}
    assert selection_json(_App(None))["count"] == 0

    sessions = SessionRegistry()
    sessions.add("s1", app)
    assert sessions.get("s1") is app and len(sessions) == 1
    sessions.discard("s1")
    sessions.discard("s1")  # a session destroyed twice is not an error
    assert sessions.get("s1") is None and len(sessions) == 0


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    media = root / "media"
    media.mkdir()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(media / "one.png")
    path = root / "catalog.duckdb"
    with workbench.open(path) as catalog:
        catalog.add_media_roots([media])
    return path


def session_token(html: str) -> str:
    found = re.search(r'"token":\s*"([^"]+)"', html)
    assert found, "the served page carries no Bokeh session token"
    return found.group(1)


def test_served_page_binds_loopback_and_exposes_session_selection(demo_server: Any):
    served = demo_server
    assert served.url.startswith("http://127.0.0.1:")

    page = served.get("/")
    assert page.status_code == 200
    assert "<title>Workbench</title>" in page.text
    session_id = get_session_id(session_token(page.text))

    # The session's app is built when the page is requested, so its state is readable now.
    selection = served.get(f"/api/sessions/{session_id}/selection")
    assert selection.status_code == 200
    assert selection.headers["content-type"] == "application/json"
    body = json.loads(selection.text)
    assert body["session_id"] == session_id
    assert body["count"] == 0 and body["frame_ids"] == []

    assert served.get("/api/sessions/no-such-session/selection").status_code == 404
    assert served.get("/liveness").status_code == 200

    # The service API is mounted next to the app; without a login, loopback may call it.
    api = served.get("/api/v1/")
    assert api.status_code == 200
    assert "annotate" in json.loads(api.text)["methods"]
    client = workbench.connect(served.url)  # asks the server for its API version at once
    client.close()


def test_basic_auth_guards_the_app_and_the_media(small_catalog: Path, serve_catalog: Any):
    served = serve_catalog(small_catalog, "--basic-auth", "s3cret")
    image = small_catalog.parent / "media" / "one.png"
    media_path = f"/media/file?uri={quote(str(image), safe='')}"

    for path in ("/", media_path, "/media/thumb/32?uri=x", "/api/sessions/x/selection", "/api/v1/"):
        response = served.get(path)
        assert response.status_code in (302, 401, 403), path
        assert response.content != image.read_bytes()
    assert served.get("/liveness").status_code == 200  # probes need no login

    wrong = served.client.post("/login", data={"username": "a", "password": "nope"})
    assert "user" not in wrong.cookies
    login = served.client.post("/login", data={"username": "a", "password": "s3cret"})
    assert login.status_code == 302
    response = served.get(media_path)
    assert response.status_code == 200
    assert response.content == image.read_bytes()
    # The service API acts as the logged-in user.
    assert json.loads(served.get("/api/v1/").text)["actor"] == "a"


def test_serve_in_process_reports_ready_and_closes_the_catalog(tmp_path: Path):
    path = tmp_path / "catalog.duckdb"
    workbench.open(path).close()
    started: dict[str, Any] = {}
    up = threading.Event()

    def ready(url: str) -> None:
        started["url"], started["loop"] = url, IOLoop.current()
        up.set()

    thread = threading.Thread(target=serve, args=(path,), kwargs={"port": 0, "ready": ready})
    thread.start()
    try:
        assert up.wait(60), "serve() never called ready()"
        assert started["url"].startswith("http://127.0.0.1:")
        assert httpx.get(started["url"] + "liveness", timeout=30).status_code == 200
    finally:
        if "loop" in started:
            started["loop"].add_callback(started["loop"].stop)
        thread.join(30)
    assert not thread.is_alive()
    # Closed on the way out: another process may open the file now (DuckDB lets only one
    # process at a time hold it, so this fails while the server's connection is open).
    reopen = f"import workbench; workbench.open({str(path)!r}).close()"
    result = subprocess.run([sys.executable, "-c", reopen], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_first_session_s_work_is_done_before_the_server_says_it_serves(catalog: Catalog):
    from workbench.ui.shared import kept_read

    started: dict[str, Any] = {}
    up = threading.Event()

    def ready(url: str) -> None:
        # What a first session reads (kept for every session) is there already, and the
        # warm-up's session was built; the start's objects are out of the collector's scans.
        started["fields"] = kept_read(catalog, ("fields",), served=True)
        started["frozen"] = gc.get_freeze_count()
        started["loop"] = IOLoop.current()
        up.set()

    assert kept_read(catalog, ("fields",), served=True) is None
    thread = threading.Thread(target=serve, args=(catalog,), kwargs={"port": 0, "ready": ready})
    thread.start()
    try:
        assert up.wait(120), "serve() never called ready()"
        assert started["fields"] is not None and started["frozen"] > 0
    finally:
        if "loop" in started:
            started["loop"].add_callback(started["loop"].stop)
        thread.join(30)
        gc.unfreeze()
    assert not thread.is_alive()
