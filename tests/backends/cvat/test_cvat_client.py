"""The CVAT client and its settings: login, retries, bad answers, request polling."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.backends import BackendError
from workbench.backends.cvat import (
    CvatClient,
    CvatConfig,
    CvatConfigError,
    CvatHTTPError,
    CvatRequestFailed,
    CvatResponseError,
    CvatTimeout,
    configured_backend,
)

from .fake_cvat import Clock, FakeCvat

# -- settings -------------------------------------------------------------------------------


def test_settings_come_from_arguments_then_environment_then_file(tmp_path: Path) -> None:
    path = tmp_path / "cvat.toml"
    path.write_text(
        '[cvat]\nurl = "http://file:8080"\nusername = "file-user"\npassword = "file-pw"\n'
        'image_quality = 90\njob_assignees = ["alice"]\n'
    )
    env = {"CVAT_URL": "http://env:8080", "CVAT_PASSWORD": "env-pw"}
    with pytest.warns(DeprecationWarning, match=r"under \[cvat\] in .*backends.toml"):
        config = CvatConfig.load(config_file=path, environ=env, username="arg-user")
    assert (config.url, config.username, config.password) == (
        "http://env:8080",
        "arg-user",
        "env-pw",
    )
    assert config.image_quality == 90 and config.job_assignees == ("alice",)
    assert "env-pw" not in repr(config)
    with pytest.warns(DeprecationWarning, match="cvat.toml is still read"):
        env_file = CvatConfig.load(environ={"CVAT_CONFIG": str(path)})
    assert env_file.url == "http://file:8080"
    token = CvatConfig.load(environ={"CVAT_URL": "https://cvat.example", "CVAT_TOKEN": "t"})
    assert token.token == "t" and token.username is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "CVAT is not configured (no url)"),
        ({"url": "cvat.example"}, "must be http(s)://host"),
        ({"url": "http://cvat"}, "needs a token (CVAT_TOKEN) or a username and password"),
        ({"url": "http://cvat", "token": "t", "image_quality": 0}, "image_quality must be 1..100"),
        ({"url": "http://cvat", "token": "t", "colour": 1}, "unknown CVAT settings: colour"),
        ({"config_file": "/nonexistent/cvat.toml"}, "does not exist"),
    ],
)
def test_missing_or_bad_settings_raise_instead_of_prompting(kwargs: dict, message: str) -> None:
    with pytest.raises(CvatConfigError, match=re.escape(message)):
        CvatConfig.load(environ={}, **kwargs)


# -- requests -------------------------------------------------------------------------------


def _client(fake: FakeCvat, clock: Clock, **settings: object) -> CvatClient:
    config = CvatConfig(
        **{
            "url": fake.url,
            "username": "admin",
            "password": "secret",
            "retries": 3,
            "backoff": 0.5,
            "jitter": 0,  # the waits are asserted exactly
            **settings,
        }
    )  # type: ignore[arg-type]
    return CvatClient(config, transport=fake.transport, sleep=clock.sleep, clock=clock)


def test_login_once_and_token_auth(fake: FakeCvat, clock: Clock) -> None:
    client = _client(fake, clock)
    client.get("/api/projects")
    client.get("/api/projects")
    assert [p for _, p in fake.log].count("/api/auth/login") == 1
    fake.keys.clear()  # the session key expired: log in again once
    client.get("/api/projects")
    assert [p for _, p in fake.log].count("/api/auth/login") == 2
    bearer = _client(fake, clock, token=fake.token, username=None, password=None)
    fake.log.clear()
    bearer.get("/api/projects")
    assert fake.log == [("GET", "/api/projects")]
    wrong = _client(fake, clock, password="nope")
    with pytest.raises(CvatHTTPError, match="400: Unable to log in"):
        wrong.get("/api/projects")


def test_retries_on_429_503_and_dropped_connections(fake: FakeCvat, clock: Clock) -> None:
    client = _client(fake, clock)
    client.get("/api/projects")
    fake.fail("GET", "/api/projects", "status", status=429, headers={"Retry-After": "3"})
    fake.fail("GET", "/api/projects", "status", status=503)
    fake.fail("GET", "/api/projects", "drop")
    fake.log.clear()
    assert client.get("/api/projects")["count"] == 0
    assert clock.slept == [3.0, 1.0, 2.0]  # Retry-After beats 0.5; then 0.5 * 2**n
    assert (
        len(fake.log) == 2
    )  # 429 and 503 never reached a handler; the dropped one and the last did


def test_retries_are_bounded(fake: FakeCvat, clock: Clock) -> None:
    client = _client(fake, clock)
    fake.fail("GET", "/api/projects", "status", status=502, times=10)
    with pytest.raises(CvatHTTPError, match="502"):
        client.get("/api/projects")
    assert len(clock.slept) == 3


def test_a_post_is_not_resent_once_it_may_have_been_received(fake: FakeCvat, clock: Clock) -> None:
    client = _client(fake, clock)
    client.get("/api/projects")
    fake.fail("POST", "/api/projects", "drop")
    with pytest.raises(CvatHTTPError, match="connection failed"):
        client.request("POST", "/api/projects", json={"name": "p"})
    assert len(fake.projects) == 1  # made once, answer lost, not sent again
    fake.fail("POST", "/api/projects", "refuse")
    client.request("POST", "/api/projects", json={"name": "q"})  # never arrived: resent
    assert sorted(p["name"] for p in fake.projects.values()) == ["p", "q"]


@pytest.mark.parametrize("kind", ["after", "drop", "refuse"])
def test_create_looks_up_before_retrying(fake: FakeCvat, clock: Clock, kind: str) -> None:
    client = _client(fake, clock)
    fake.fail("POST", "/api/projects", kind)
    body = {"name": "run [1]"}
    project, created = client.create(
        "/api/projects", body, lambda: client.find("/api/projects", "run [1]")
    )
    assert list(fake.projects) == [project["id"]]
    assert created == (kind == "refuse")
    again, created = client.create(
        "/api/projects", body, lambda: client.find("/api/projects", "run [1]")
    )
    assert again["id"] == project["id"] and not created and len(fake.projects) == 1


def test_bad_answers_are_clear_errors(fake: FakeCvat, clock: Clock) -> None:
    client = _client(fake, clock)
    fake.fail("GET", "/api/projects", "html")
    with pytest.raises(CvatResponseError, match="text/html, not JSON: '<!DOCTYPE html>"):
        client.get("/api/projects")
    fake.fail("GET", "/api/projects", "truncated")
    with pytest.raises(CvatResponseError, match="malformed or truncated JSON"):
        client.get("/api/projects")
    with pytest.raises(CvatHTTPError, match="404"):
        client.get("/api/tasks/12345")
    assert client.request("DELETE", "/api/tasks/12345", missing_ok=True) is None
    assert issubclass(CvatResponseError, BackendError)


def test_paging_follows_next(fake: FakeCvat, clock: Clock) -> None:
    client = _client(fake, clock)
    for i in range(230):
        fake.projects[1000 + i] = {"id": 1000 + i, "name": f"p{i}"}
    assert [p["name"] for p in client.pages("/api/projects")] == [f"p{i}" for i in range(230)]
    assert [p for _, p in fake.log].count("/api/projects") == 3


# -- background requests --------------------------------------------------------------------


def _data_request(fake: FakeCvat, client: CvatClient) -> str:
    project = client.request("POST", "/api/projects", json={"name": "p", "labels": []})
    task = client.request("POST", "/api/tasks", json={"name": "t", "project_id": project["id"]})
    body = {"image_quality": 70, "remote_files": ["http://m/a.jpg"]}
    return str(client.request("POST", f"/api/tasks/{task['id']}/data/", json=body)["rq_id"])


def test_polling_backs_off_and_finishes(fake: FakeCvat, clock: Clock) -> None:
    fake.polls = 6
    client = _client(fake, clock, poll_interval=1.0)
    rq_id = _data_request(fake, client)
    assert client.wait(rq_id)["status"] == "finished"
    assert clock.slept == [0.25, 0.5, 1.0, 1.0, 1.0, 1.0]  # grows, then capped; never busy


def test_a_failed_request_raises_with_cvats_message(fake: FakeCvat, clock: Clock) -> None:
    client = _client(fake, clock)
    fake.fail_processing = "Could not decode the video"
    rq_id = _data_request(fake, client)
    with pytest.raises(CvatRequestFailed, match=r"create:task.*failed: Could not decode the video"):
        client.wait(rq_id)


def test_polling_times_out(fake: FakeCvat, clock: Clock) -> None:
    fake.polls = 1000
    client = _client(fake, clock, request_timeout=10.0, poll_interval=2.0)
    rq_id = _data_request(fake, client)
    with pytest.raises(CvatTimeout, match=r"still (queued|started) after 10 s"):
        client.wait(rq_id)
    assert sum(clock.slept) <= 10.0 and len(clock.slept) < 10


def test_configured_backend_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/workbench/cvat.toml
    for name in ("CVAT_URL", "CVAT_USERNAME", "CVAT_PASSWORD", "CVAT_TOKEN", "CVAT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert configured_backend() is None
    monkeypatch.setenv("CVAT_URL", "http://cvat.example:8080")
    with pytest.warns(UserWarning, match="CVAT backend left out: CVAT needs a token"):
        assert configured_backend() is None
    monkeypatch.setenv("CVAT_TOKEN", "t")
    backend = configured_backend()
    assert backend is not None and backend.config.url == "http://cvat.example:8080"
    assert backend._client is None  # nothing was contacted
