"""The REST client against a scripted local HTTP server: bad answers, retries, tokens."""

import base64
import json
import time
from collections.abc import Iterator

import pytest

from workbench.backends import BackendError
from workbench.backends.labelstudio import (
    LabelStudioAuthError,
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioRequestError,
    LabelStudioResponseError,
    LabelStudioUnavailable,
    OutcomeUnknown,
)

from .ls_netfaults import Reply, ScriptedServer

LEGACY = "0123456789abcdef0123456789abcdef01234567"


def jwt(payload: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}.c2lnbmF0dXJl"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    made = ScriptedServer()
    yield made
    made.close()


@pytest.fixture
def slept() -> list[float]:
    return []


def client(
    server: ScriptedServer, slept: list[float], token: str = LEGACY, **settings
) -> LabelStudioClient:
    # No jitter: the waits are asserted exactly.
    config = LabelStudioConfig(
        url=server.url, token=token, **{"retries": 3, "jitter": 0, **settings}
    )
    return LabelStudioClient(config, sleep=slept.append)


def test_an_html_page_instead_of_json_says_so(server, slept):
    page = "<html><head><title>Welcome to nginx!</title></head><body>hi</body></html>"
    server.on("/api/projects", Reply(200, page, "text/html"))
    with pytest.raises(
        LabelStudioResponseError, match=r"with text/html, not JSON: .*'Welcome to nginx!'"
    ):
        client(server, slept).get("/api/projects")


def test_truncated_json_is_an_error_not_a_partial_result(server, slept):
    server.on("/api/tasks", Reply(200, b'{"tasks": [{"id": 1, "data": {"image": "/a.'))
    with pytest.raises(LabelStudioResponseError, match="malformed or truncated JSON"):
        client(server, slept).get("/api/tasks")
    assert slept == []  # a complete answer that is broken is not retried


def test_json_of_the_wrong_shape_is_caught_where_it_is_used(server, slept):
    server.on("/api/tasks", Reply(200, {"tasks": "none", "total": 1}))
    with pytest.raises(LabelStudioResponseError, match="tasks: expected a JSON array, got str"):
        list(client(server, slept).iter_tasks(1, full=True))


def test_busy_answers_are_retried_waiting_what_retry_after_asks(server, slept):
    server.on(
        "/api/projects",
        Reply(503, "down for maintenance", "text/plain", {"Retry-After": "2"}),
        Reply(429, {"detail": "slow down"}),
        Reply(200, {"results": [], "next": None}),
    )
    assert client(server, slept, backoff=0.25).get("/api/projects") == {"results": [], "next": None}
    assert slept == [2.0, 0.5]  # Retry-After, then exponential backoff (0.25 * 2**1)


def test_a_post_the_server_failed_on_may_have_happened(server, slept):
    server.on(
        "/api/projects", Reply(500, "<html><title>Server Error (500)</title></html>", "text/html")
    )
    with pytest.raises(
        OutcomeUnknown, match=r"failed \(500, an HTML page titled 'Server Error \(500\)'\)"
    ):
        client(server, slept).post("/api/projects", {"title": "x"})
    assert server.count("/api/projects") == 1
    # a refused POST (429) did not happen, so it is sent again
    server.on("/api/projects", Reply(429), Reply(201, {"id": 3}))
    assert client(server, slept).post("/api/projects", {"title": "x"}) == {"id": 3}


def test_reads_are_retried_a_bounded_number_of_times(server, slept):
    server.on("/api/projects/1", Reply(502, "bad gateway", "text/plain"))
    with pytest.raises(LabelStudioUnavailable, match="answered 502; gave up after 4 attempts"):
        client(server, slept, backoff=1.0, max_backoff=3.0).get("/api/projects/1")
    assert server.count("/api/projects/1") == 4
    assert slept == [1.0, 2.0, 3.0]


def test_a_dropped_connection_is_retried_for_reads_and_unknown_for_writes(server, slept):
    server.on("/api/tasks", Reply(hang_up=True), Reply(200, {"tasks": [], "total": 0}))
    assert client(server, slept).get("/api/tasks") == {"tasks": [], "total": 0}
    server.on("/api/projects/1/import", Reply(hang_up=True), Reply(201, {}))
    with pytest.raises(OutcomeUnknown, match="after the request was sent"):
        client(server, slept).post("/api/projects/1/import", [])


def test_an_unreachable_server_is_reported_after_the_retries(slept):
    config = LabelStudioConfig(
        url="http://127.0.0.1:9", token=LEGACY, retries=2, backoff=0.1, jitter=0
    )
    with pytest.raises(LabelStudioUnavailable, match=r"cannot connect.*gave up after 3 attempts"):
        LabelStudioClient(config, sleep=slept.append).get("/api/projects")
    assert slept == [0.1, 0.2]


def test_refusals_carry_the_servers_reason(server, slept):
    server.on(
        "/api/projects",
        Reply(
            400, {"detail": "Validation error", "validation_errors": {"label_config": ["bad XML"]}}
        ),
    )
    with pytest.raises(LabelStudioRequestError, match=r"400 Validation error; .*bad XML") as caught:
        client(server, slept).post("/api/projects", {})
    assert caught.value.status == 400
    server.on("/api/projects", Reply(401, {"detail": "Invalid token."}))
    with pytest.raises(LabelStudioAuthError, match=r"refused the token \(401: Invalid token\.\)"):
        client(server, slept).get("/api/projects")
    assert issubclass(LabelStudioAuthError, BackendError)


def test_a_legacy_token_is_sent_as_is(server, slept):
    server.on("/api/projects/1", Reply(200, {"id": 1}))
    client(server, slept).get("/api/projects/1")
    assert server.requests[-1][2]["Authorization"] == f"Token {LEGACY}"


def test_a_personal_access_token_is_exchanged_and_refreshed(server, slept):
    pat = jwt({"token_type": "refresh", "exp": time.time() + 10**6})
    soon = jwt({"token_type": "access", "exp": time.time() + 10})  # inside the margin
    later = jwt({"token_type": "access", "exp": time.time() + 300})
    server.on("/api/token/refresh/", Reply(200, {"access": soon}), Reply(200, {"access": later}))
    server.on(
        "/api/projects/1",
        Reply(200, {"id": 1}),
        Reply(401, {"detail": "expired"}),
        Reply(200, {"id": 1}),
    )
    api = client(server, slept, token=pat)
    api.get("/api/projects/1")  # refresh -> soon
    api.get("/api/projects/1")  # soon is about to expire: refresh -> later; 401 anyway: refresh
    api.get("/api/projects/1")
    sent = [(m, p.split("?")[0], h.get("Authorization")) for m, p, h, _ in server.requests]
    assert sent == [
        ("POST", "/api/token/refresh/", None),
        ("GET", "/api/projects/1", f"Bearer {soon}"),
        ("POST", "/api/token/refresh/", None),
        ("GET", "/api/projects/1", f"Bearer {later}"),
        ("POST", "/api/token/refresh/", None),
        ("GET", "/api/projects/1", f"Bearer {later}"),
        ("GET", "/api/projects/1", f"Bearer {later}"),
    ]
    assert json.loads(server.requests[0][3]) == {"refresh": pat}


def test_a_refused_personal_access_token_is_an_auth_error(server, slept):
    server.on("/api/token/refresh/", Reply(401, {"detail": "Token is invalid"}))
    with pytest.raises(LabelStudioAuthError, match="personal access token was refused"):
        client(server, slept, token=jwt({"token_type": "refresh"})).get("/api/projects")
