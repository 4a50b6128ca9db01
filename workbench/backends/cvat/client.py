"""A small CVAT REST client over httpx: login, retries, JSON checks, paging, request polling.

Errors (all `BackendError`s, so the service layer reports them like any platform failure):

CvatError
 +-- CvatConfigError      settings missing or inconsistent (config.py)
 +-- CvatHTTPError        CVAT refused a request (4xx), or kept failing (5xx, 429, network)
 +-- CvatResponseError    an answer that is not what CVAT sends: HTML, truncated JSON, bad ids
 +-- CvatRequestFailed    a background request (data processing) ended as `failed`
 +-- CvatTimeout          a background request did not finish in time

Retries: connection errors, 429 and 5xx are retried with exponential backoff (honouring
Retry-After) up to `config.retries` times. A POST is retried only when it surely never reached
the server (the connection was refused, or 429); creating objects goes through `create()`,
which looks the object up by name before every attempt, so a retried request whose first
answer was lost never makes a second project or task.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Literal

import httpx

from workbench.backends.base import BackendError
from workbench.backends.cvat.config import CvatConfig

log = logging.getLogger("workbench.backends.cvat")

Retry = Literal["always", "unsent", "never"]
PAGE_SIZE = 100
# How long the first pause between two polls of a background request is.
FIRST_POLL = 0.25


class CvatError(BackendError):
    """Something went wrong talking to CVAT."""


class CvatHTTPError(CvatError):
    def __init__(self, method: str, path: str, status: int | None, detail: str) -> None:
        where = f"{method} {path}"
        super().__init__(f"CVAT {where}: {status or 'no answer'}: {detail}")
        self.method = method
        self.path = path
        self.status = status


class CvatResponseError(CvatError):
    """CVAT (or something in front of it) answered with something CVAT does not send."""


class CvatRequestFailed(CvatError):
    """A background request finished with status `failed`; `.message` is CVAT's reason."""

    def __init__(self, rq_id: str, operation: str, message: str) -> None:
        super().__init__(f"CVAT request {rq_id} ({operation}) failed: {message}")
        self.rq_id = rq_id
        self.message = message


class CvatTimeout(CvatError):
    pass


class _Transient(Exception):
    """A failure worth retrying. `sent`: whether the server may have acted on the request."""

    def __init__(self, error: CvatError, *, sent: bool, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.sent = sent
        self.retry_after = retry_after


class CvatClient(AbstractContextManager["CvatClient"]):
    """One logged-in session with a CVAT server. `transport` replaces the network (tests);
    `sleep` and `clock` replace time (tests of backoff and polling)."""

    def __init__(
        self,
        config: CvatConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._clock = clock
        headers = {"Accept": "application/json"}
        if config.organization:
            headers["X-Organization"] = config.organization
        self._http = httpx.Client(
            base_url=config.base_url,
            headers=headers,
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )
        self._authorization: str | None = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- authentication -------------------------------------------------------------------
    def _auth_header(self) -> str:
        if self._authorization is None:
            if self.config.token:
                self._authorization = f"Bearer {self.config.token}"
            else:
                self._authorization = f"Token {self._login()}"
        return self._authorization

    def _login(self) -> str:
        user = str(self.config.username)
        body = {"email" if "@" in user else "username": user, "password": self.config.password}
        response = self._with_retries("POST", "/api/auth/login", "always", json=body, auth=False)
        data = self._decode(response, "POST", "/api/auth/login")
        key = data.get("key") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key:
            raise CvatResponseError("CVAT login answered without a token key")
        return key

    # -- requests -------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: Retry | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """Send a request and return its decoded JSON (None for an empty answer).

        `retry` defaults to "unsent" for POST and "always" otherwise. `missing_ok` turns a
        404 into None (deleting what is already gone)."""
        policy: Retry = retry or ("unsent" if method == "POST" else "always")
        try:
            response = self._with_retries(
                method,
                path,
                policy,
                params=params,
                json=json,
                data=data,
                files=files,
                headers=headers,
            )
        except CvatHTTPError as exc:
            if missing_ok and exc.status == 404:
                return None
            raise
        return self._decode(response, method, path)

    def _with_retries(
        self, method: str, path: str, policy: Retry, *, auth: bool = True, **kwargs: Any
    ) -> httpx.Response:
        relogged = False
        attempt = 0
        while True:
            try:
                return self._send(method, path, auth=auth, **kwargs)
            except _Transient as exc:
                retryable = policy == "always" or (policy == "unsent" and not exc.sent)
                if not retryable or attempt >= self.config.retries:
                    raise exc.error from exc
                self.pause(attempt, exc.retry_after)
                log.info("retrying %s %s after: %s", method, path, exc.error)
                attempt += 1
            except CvatHTTPError as exc:
                # A login key that expired: log in again once (a token cannot be renewed).
                if exc.status == 401 and auth and not relogged and not self.config.token:
                    self._authorization = None
                    relogged = True
                    continue
                raise

    def _send(
        self,
        method: str,
        path: str,
        *,
        auth: bool,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if auth:
            all_headers["Authorization"] = self._auth_header()
        try:
            response = self._http.request(method, path, headers=all_headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            error = CvatHTTPError(method, path, None, f"cannot connect: {exc}")
            raise _Transient(error, sent=False) from exc
        except httpx.TransportError as exc:
            error = CvatHTTPError(method, path, None, f"connection failed: {exc!r}")
            raise _Transient(error, sent=True) from exc
        status = response.status_code
        if status == 429 or status >= 500:
            error = CvatHTTPError(method, path, status, _detail(response))
            retry_after = _retry_after(response)
            raise _Transient(error, sent=status != 429, retry_after=retry_after)
        if status >= 400:
            raise CvatHTTPError(method, path, status, _detail(response))
        return response

    def pause(self, attempt: int, retry_after: float | None = None) -> None:
        """Sleep before retry number `attempt + 1`: exponential, at least Retry-After."""
        delay = self.config.backoff * 2**attempt
        if retry_after is not None:
            delay = max(delay, retry_after)
        self._sleep(min(delay, self.config.max_backoff))

    def _decode(self, response: httpx.Response, method: str, path: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type:
            raise CvatResponseError(
                f"CVAT {method} {path} answered {response.status_code} with "
                f"{content_type or 'no content type'}, not JSON: {_snippet(response)}"
            )
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CvatResponseError(
                f"CVAT {method} {path}: malformed or truncated JSON ({exc}): {_snippet(response)}"
            ) from exc

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
        attempt = 0
        while True:
            found = find()
            if found is not None:
                return found, False
            try:
                response = self._with_retries("POST", path, "never", json=body)
            except CvatHTTPError as exc:
                transient = exc.status is None or exc.status == 429 or exc.status >= 500
                if not transient or attempt >= self.config.retries:
                    raise
                self.pause(attempt)
                log.info("looking up before retrying POST %s after: %s", path, exc)
                attempt += 1
                continue
            created = self._decode(response, "POST", path)
            if not isinstance(created, dict) or not isinstance(created.get("id"), int):
                raise CvatResponseError(f"CVAT POST {path}: answer without an id: {created!r:.100}")
            return created, True

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


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _snippet(response)
    if isinstance(data, dict) and set(data) == {"detail"}:
        return str(data["detail"])
    return json.dumps(data)[:500]


def _snippet(response: httpx.Response) -> str:
    text = response.content[:160].decode("utf-8", errors="replace")
    return repr(" ".join(text.split()))
