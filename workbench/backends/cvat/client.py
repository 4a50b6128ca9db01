"""A small CVAT REST client: login, JSON checks, paging, creating once, request polling.

Sending, retries and errors are the shared client's (workbench.backends.remote.http): its
error table says what is retried, and every failure is one of this backend's errors
(errors.py), all `BackendError`s, so the service layer reports them like any platform
failure. A plain POST is sent again only when it surely never reached the server (no
connection, or 429); creating objects goes through `create()`, which looks the object up by
name before every attempt, so a request whose answer was lost never makes a second project
or task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from random import random as _random
from typing import Any, ClassVar

import httpx

from workbench.backends.cvat.config import CvatConfig
from workbench.backends.cvat.errors import (
    ERRORS,
    CvatAuthError,
    CvatError,
    CvatHTTPError,
    CvatRejected,
    CvatRequestFailed,
    CvatResponseError,
    CvatTimeout,
)
from workbench.backends.remote import http
from workbench.backends.remote.errors import ErrorKinds

PAGE_SIZE = 100
# How long the first pause between two polls of a background request is.
FIRST_POLL = 0.25


class CvatClient(http.PlatformClient):
    """One logged-in session with a CVAT server. `transport` replaces the network (tests);
    `sleep` and `clock` replace time (tests of backoff and polling), `random` the jitter."""

    errors: ClassVar[ErrorKinds] = ERRORS

    def __init__(
        self,
        config: CvatConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random,
    ) -> None:
        headers = {"X-Organization": config.organization} if config.organization else {}
        super().__init__(
            config.base_url,
            policy=config.retry_policy(),
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0)),
            headers=headers,
            transport=transport,
            sleep=sleep,
            random=random,
        )
        self.config = config
        self._clock = clock
        self._authorization: str | None = None

    # -- authentication -------------------------------------------------------------------
    def _auth_headers(self) -> dict[str, str]:
        if self._authorization is None:
            if self.config.token:
                self._authorization = f"Bearer {self.config.token}"
            else:
                self._authorization = f"Token {self._login()}"
        return {"Authorization": self._authorization}

    def _renew_auth(self) -> bool:
        """After a 401: a login key that expired is renewed by logging in again (a token
        cannot be renewed)."""
        if self.config.token:
            return False
        self._authorization = None
        return True

    def _login(self) -> str:
        user = str(self.config.username)
        body = {"email" if "@" in user else "username": user, "password": self.config.password}
        path = "/api/auth/login"
        try:
            data = self.request("POST", path, json=body, idempotent=True, authenticated=False)
        except CvatRejected as exc:
            raise CvatAuthError(
                f"CVAT POST {path}: refused the user name and password "
                f"({exc.status}: {exc.detail})",
                method="POST",
                path=path,
                status=exc.status,
                detail=exc.detail,
            ) from exc
        key = data.get("key") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key:
            raise CvatResponseError("CVAT login answered without a token key")
        return key

    # -- helpers over requests ------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def get_object(self, path: str, **params: Any) -> dict[str, Any]:
        found = self.get(path, **params)
        if not isinstance(found, dict):
            raise CvatResponseError(f"CVAT GET {path}: expected an object, got {found!r:.100}")
        return found

    def pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list (`{count, next, results}`), page by page."""
        page = 1
        while True:
            found = self.get_object(path, **params, page=page, page_size=PAGE_SIZE)
            results = found.get("results")
            if not isinstance(results, list):
                raise CvatResponseError(f"CVAT GET {path}: a list without results: {found!r:.100}")
            for item in results:
                if not isinstance(item, dict):
                    raise CvatResponseError(f"CVAT GET {path}: a result is not an object")
                yield item
            if not found.get("next") or not results:
                return
            page += 1

    def find(self, path: str, name: str, **params: Any) -> dict[str, Any] | None:
        """The object of a list whose name is exactly `name` (CVAT's filter may match more)."""
        for item in self.pages(path, name=name, **params):
            if item.get("name") == name:
                return item
        return None

    def create(
        self,
        path: str,
        body: Mapping[str, Any],
        find: Callable[[], dict[str, Any] | None],
    ) -> tuple[dict[str, Any], bool]:
        """Create an object once: look it up before each attempt. Returns (object, created)."""
        made: list[dict[str, Any]] = []

        def make() -> dict[str, Any]:
            created = self.request("POST", path, json=body)
            if not isinstance(created, dict) or not isinstance(created.get("id"), int):
                raise CvatResponseError(f"CVAT POST {path}: answer without an id: {created!r:.100}")
            made.append(created)
            return created

        found = http.create_once(self, find, make)
        return found, bool(made)

    def wait(self, rq_id: str) -> dict[str, Any]:
        """Poll a background request until it finishes; pauses grow to `poll_interval`."""
        deadline = self._clock() + self.config.request_timeout
        delay = min(FIRST_POLL, self.config.poll_interval)
        while True:
            found = self.get_object(f"/api/requests/{rq_id}")
            status = found.get("status")
            operation = (found.get("operation") or {}).get("type", "request")
            if status == "finished":
                return found
            if status == "failed":
                raise CvatRequestFailed(rq_id, str(operation), str(found.get("message") or ""))
            if status not in ("queued", "started"):
                raise CvatResponseError(f"CVAT request {rq_id}: unknown status {status!r}")
            if self._clock() + delay > deadline:
                raise CvatTimeout(
                    f"CVAT request {rq_id} ({operation}) still {status} after "
                    f"{self.config.request_timeout:g} s"
                )
            self._sleep(delay)
            delay = min(delay * 2, self.config.poll_interval)


__all__ = [
    "CvatClient",
    "CvatError",
    "CvatHTTPError",
    "CvatRequestFailed",
    "CvatResponseError",
    "CvatTimeout",
]
