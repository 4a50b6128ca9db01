"""The shared HTTP client against a real HTTP server on 127.0.0.1: what is retried, how long it
waits, and which error each failure becomes (the error table of remote/http.py)."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Iterator
from typing import ClassVar

import httpx
import pytest

from workbench.backends import BackendError
from workbench.backends.remote import (
    AuthError,
    BadResponse,
    ConfigurationError,
    ErrorKinds,
    NotConfigured,
    OutcomeUnknown,
    PlatformClient,
    PlatformError,
    Rejected,
    RetryPolicy,
    Unavailable,
    create_once,
)
from workbench.backends.remote.http import parse_retry_after

from ..netfaults import Reply, ScriptedServer


class DemoError(PlatformError):
    pass


class DemoConfigError(DemoError, ConfigurationError):
    pass


class DemoNotConfigured(DemoConfigError, NotConfigured):
    pass


class DemoAuthError(DemoError, AuthError):
    pass


class DemoUnavailable(DemoError, Unavailable):
    pass


class DemoOutcomeUnknown(DemoUnavailable, OutcomeUnknown):
    pass


class DemoRejected(DemoError, Rejected):
    pass


class DemoBadResponse(DemoError, BadResponse):
    pass


DEMO = ErrorKinds(
    platform="Demo",
    base=DemoError,
    configuration=DemoConfigError,
    not_configured=DemoNotConfigured,
    auth=DemoAuthError,
    unavailable=DemoUnavailable,
    outcome_unknown=DemoOutcomeUnknown,
    rejected=DemoRejected,
    bad_response=DemoBadResponse,
    credentials="the demo key",
    auth_hint="check DEMO_KEY",
)


class DemoClient(PlatformClient):
    """A platform of its own: a key that can be renewed once after a 401."""

    errors: ClassVar[ErrorKinds] = DEMO

    def __init__(
        self,
        url: str,
        slept: list[float],
        transport: httpx.BaseTransport | None = None,
        **policy: float,
    ) -> None:
        super().__init__(
            url,
            policy=RetryPolicy(**{"retries": 3, "backoff": 0.5, "jitter": 0.0, **policy}),
            timeout=httpx.Timeout(5.0, connect=1.0),
            transport=transport,
            sleep=slept.append,
        )
        self.keys = iter(["k1", "k2", "k3"])
        self.key = next(self.keys)

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self.key}"}

    def _renew_auth(self) -> bool:
        self.key = next(self.keys)
        return True


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    made = ScriptedServer()
    yield made
    made.close()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(server: ScriptedServer, slept: list[float]) -> Iterator[DemoClient]:
    with DemoClient(server.url, slept) as made:
        yield made


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- retried ------------------------------------------------------------------------------


def test_429_with_retry_after_in_seconds_waits_that_long(server, client, slept):
    server.on("/items", Reply(429, {"detail": "slow down"}, headers={"Retry-After": "3"}), Reply())
    assert client.request("GET", "/items") is None
    assert slept == [3.0] and server.count("/items") == 2


def test_retry_after_as_an_http_date_is_honoured(server, client, slept):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.on("/items", Reply(503, "busy", "text/plain", {"Retry-After": when}), Reply(200, [1]))
    assert client.request("GET", "/items") == [1]
    assert 25.0 < slept[0] <= 30.0


def test_a_retry_after_past_the_cap_is_unavailable_at_once(server, slept):
    server.on("/items", Reply(503, "down", "text/plain", {"Retry-After": "3600"}))
    with (
        DemoClient(server.url, slept, max_retry_after=60.0) as client,
        pytest.raises(DemoUnavailable, match=r"answered 503, retry after 3600 s") as caught,
    ):
        client.request("GET", "/items")
    assert slept == [] and caught.value.status == 503


def test_503_then_200_is_an_answer_after_backoff(server, client, slept):
    server.on("/items", Reply(503, "busy", "text/plain"), Reply(502), Reply(200, {"ok": True}))
    assert client.request("GET", "/items") == {"ok": True}
    assert slept == [0.5, 1.0]  # backoff * 2**n


def test_repeated_failures_give_up_after_the_retries(server, client, slept):
    server.on("/items", Reply(500, "<html><title>Oops</title></html>", "text/html"))
    with pytest.raises(Unavailable, match="answered 500; gave up after 4 attempts") as caught:
        client.request("PUT", "/items", json={"a": 1})
    assert isinstance(caught.value, DemoUnavailable) and not isinstance(
        caught.value, OutcomeUnknown
    )
    assert (caught.value.method, caught.value.path, caught.value.status) == ("PUT", "/items", 500)
    assert slept == [0.5, 1.0, 2.0] and server.count("/items") == 4


def test_waits_are_capped_and_jittered_below_the_backoff():
    policy = RetryPolicy(backoff=1.0, max_backoff=4.0, jitter=0.5)
    assert [policy.delay(n, None, lambda: 0.0) for n in range(4)] == [1.0, 2.0, 4.0, 4.0]
    assert policy.delay(2, None, lambda: 1.0) == 2.0  # at most half of 4 s taken off
    assert policy.delay(0, 7.0, lambda: 1.0) == 7.0  # never shorter than Retry-After


def test_a_dropped_connection_is_retried_for_reads(server, client, slept):
    server.on("/items", Reply(hang_up=True), Reply(200, {"n": 1}))
    assert client.request("GET", "/items") == {"n": 1}
    assert len(slept) == 1


def test_a_refused_connection_is_retried_then_unavailable(slept):
    with (
        DemoClient(f"http://127.0.0.1:{free_port()}", slept, retries=2) as client,
        pytest.raises(DemoUnavailable, match=r"cannot connect .*gave up after 3 attempts"),
    ):
        client.request("POST", "/items", json={})  # never sent, so even a POST is retried
    assert slept == [0.5, 1.0]


# -- not retried: the outcome is unknown ---------------------------------------------------


def test_a_lost_answer_to_a_post_is_an_unknown_outcome(server, client, slept):
    server.on("/items", Reply(hang_up=True), Reply(201, {"id": 1}))
    with pytest.raises(OutcomeUnknown, match="no answer: the connection failed") as caught:
        client.request("POST", "/items", json={"name": "x"})
    assert isinstance(caught.value, DemoOutcomeUnknown)
    assert server.count("/items") == 1 and slept == []


def test_a_5xx_to_a_post_is_an_unknown_outcome_unless_marked_idempotent(server, client, slept):
    server.on("/items", Reply(503, "<html><title>Gateway</title></html>", "text/html"))
    with pytest.raises(DemoOutcomeUnknown, match=r"failed \(503, an HTML page titled 'Gateway'\)"):
        client.request("POST", "/items", json={})
    assert server.count("/items") == 1
    server.on("/items", Reply(503), Reply(200, {"id": 2}))
    assert client.request("POST", "/items", json={}, idempotent=True) == {"id": 2}
    server.on("/items", Reply(429), Reply(201, {"id": 3}))  # a 429 was never acted on
    assert client.request("POST", "/items", json={}) == {"id": 3}


def test_a_put_marked_not_idempotent_is_not_retried(server, client):
    server.on("/items", Reply(502), Reply(200))
    with pytest.raises(DemoOutcomeUnknown):
        client.request("PUT", "/items", json={}, idempotent=False)
    assert server.count("/items") == 1


def test_read_timeouts_follow_the_table():
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) % 2:
            raise httpx.ReadTimeout("read timed out", request=request)
        return httpx.Response(200, json={"ok": True})

    client = DemoClient("http://demo.test", [], transport=httpx.MockTransport(handler))
    assert client.request("DELETE", "/items/1") == {"ok": True}  # retried
    with pytest.raises(DemoOutcomeUnknown, match="read timed out"):
        client.request("POST", "/items", json={})
    assert calls == ["DELETE", "DELETE", "POST"]


# -- answers that are errors ----------------------------------------------------------------


def test_an_html_page_is_a_bad_response_naming_its_title(server, client):
    page = "<html><head><title>Log in - proxy</title></head><body>...</body></html>"
    server.on("/items", Reply(200, page, "text/html"))
    with pytest.raises(DemoBadResponse, match=r"with text/html, not JSON: .*'Log in - proxy'"):
        client.request("GET", "/items")


def test_truncated_json_is_a_bad_response_and_not_retried(server, client, slept):
    server.on("/items", Reply(200, b'{"items": [1, 2'))
    with pytest.raises(BadResponse, match=r"malformed or truncated JSON \(15 bytes\)"):
        client.request("GET", "/items")
    assert slept == []


def test_json_of_an_unexpected_shape_is_a_bad_response(client):
    assert client.expect([1], list, "GET /items") == [1]
    with pytest.raises(DemoBadResponse, match="GET /items: expected a JSON object, got list"):
        client.expect([1], dict, "GET /items")


def test_a_4xx_is_rejected_with_the_platforms_reason(server, client):
    server.on("/items", Reply(400, {"detail": "bad name", "validation_errors": {"name": ["x"]}}))
    with pytest.raises(DemoRejected, match=r"Demo POST /items: 400 bad name; \{'name'") as caught:
        client.request("POST", "/items", json={})
    assert caught.value.status == 400 and caught.value.detail.startswith("bad name")
    server.on("/items/9", Reply(404, {"detail": "Not found."}))
    assert client.request("DELETE", "/items/9", missing_ok=True) is None
    with pytest.raises(Rejected, match=r"404 Not found\."):
        client.request("GET", "/items/9")


def test_a_401_renews_the_credentials_once_then_is_an_auth_error(server, client):
    server.on("/items", Reply(401, {"detail": "expired"}), Reply(200, {"ok": 1}))
    assert client.request("GET", "/items") == {"ok": 1}
    sent = [h["Authorization"] for _, _, h, _ in server.requests]
    assert sent == ["Key k1", "Key k2"]
    server.on("/items", Reply(403, {"detail": "no access"}))
    with pytest.raises(
        DemoAuthError, match=r"refused the demo key \(403: no access\); check DEMO_KEY"
    ):
        client.request("GET", "/items")


def test_every_error_is_a_backend_error_of_its_platform():
    for kind in (DemoUnavailable, DemoOutcomeUnknown, DemoRejected, DemoBadResponse):
        assert issubclass(kind, DemoError) and issubclass(kind, BackendError)
    with pytest.raises(TypeError, match="is not a DemoError"):
        ErrorKinds(
            platform="x",
            base=DemoError,
            configuration=DemoConfigError,
            not_configured=DemoNotConfigured,
            auth=DemoAuthError,
            unavailable=Unavailable,
            outcome_unknown=DemoOutcomeUnknown,
            rejected=DemoRejected,
            bad_response=DemoBadResponse,
        )


# -- creating once --------------------------------------------------------------------------


def test_create_once_looks_again_after_an_unknown_outcome(server, client, slept):
    server.on("/things", Reply(200, []), Reply(200, [7]))
    attempts: list[int] = []

    def look() -> int | None:
        found = client.request("GET", "/things")
        return found[0] if found else None

    def lost() -> int:
        attempts.append(1)
        raise DemoOutcomeUnknown("the answer was lost; the thing was made")

    assert create_once(client, look, lost) == 7  # found, not made a second time
    assert attempts == [1] and slept == [0.5]
    server.on("/things", Reply(200, []))
    with pytest.raises(DemoOutcomeUnknown):
        create_once(client, look, lost)  # never found: gives up after the retries
    assert len(attempts) == 1 + 4
    assert create_once(client, look, lambda: 8) == 8


def test_retry_after_parsing():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert parse_retry_after(past) == 0.0
