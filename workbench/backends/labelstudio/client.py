"""A small REST client for Label Studio: timeouts, bounded retries, token refresh, clear errors.

Errors (all `workbench.backends.BackendError`):

    LabelStudioError
     +-- LabelStudioConfigError     not configured, or the configuration is unreadable
     +-- LabelStudioUnavailable     unreachable, or still failing after every retry
     |    +-- OutcomeUnknown         a request that changes something failed after it was sent:
     |                               it may or may not have happened (look before retrying)
     +-- LabelStudioAuthError       the token was refused (401/403)
     +-- LabelStudioRequestError    the server refused the request (4xx) and said why
     +-- LabelStudioResponseError   an answer the API does not give: an HTML page, truncated or
                                    malformed JSON, JSON of the wrong shape

httpx's errors are translated here, once. What is retried (with exponential backoff, at most
`retries` times, waiting what Retry-After asks when the server says so):

- connection failures before the request was sent, 429 and 503: for every method, because
  the server did not act on the request;
- other network failures and other 5xx: only for requests that can safely be repeated (GET,
  PUT, PATCH, DELETE, and POSTs marked idempotent). A plain POST raises OutcomeUnknown
  instead, so the caller can look for what it meant to create before sending it again.

A personal access token (a JWT) is exchanged for a short-lived access token at
POST /api/token/refresh/, renewed before it expires and once more if the server answers 401.
A legacy token is sent as `Authorization: Token ...` unchanged.
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self

import httpx
import orjson

from workbench.backends.labelstudio.config import LabelStudioConfig, LabelStudioError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# Statuses that mean the server did not act on the request: safe to send again.
REFUSED_STATUSES = frozenset({429, 503})
# An access token is renewed when it has less than this many seconds left.
REFRESH_MARGIN = 30.0
# Label Studio's access tokens live 300 s; used when a token does not say.
ACCESS_LIFETIME = 300.0
# The longest Retry-After honoured; a server asking for more is reported as unavailable.
MAX_RETRY_AFTER = 120.0
_SNIPPET = 200


class LabelStudioUnavailable(LabelStudioError):
    """The server cannot be reached, or kept failing until the retries ran out."""


class OutcomeUnknown(LabelStudioUnavailable):
    """A request that changes something failed after it was sent; it may have taken effect."""


class LabelStudioAuthError(LabelStudioError):
    """The server refused the token."""


class LabelStudioRequestError(LabelStudioError):
    """The server refused a request and said why (a 4xx answer)."""

    def __init__(self, message: str, status: int, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class LabelStudioResponseError(LabelStudioError):
    """The server answered with something the API never returns."""


def is_jwt(token: str) -> bool:
    """Whether a token is a JWT (a personal access token) rather than a legacy token."""
    parts = token.split(".")
    return len(parts) == 3 and _jwt_part(parts[0]).get("alg") is not None


def _jwt_part(segment: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _snippet(response: httpx.Response) -> str:
    """A short, readable excerpt of a body: an HTML page's title, else its first characters."""
    text = response.text
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        return f"an HTML page titled {title.group(1).strip()[:_SNIPPET]!r}"
    flat = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return repr(flat[:_SNIPPET] + ("..." if len(flat) > _SNIPPET else ""))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class LabelStudioClient:
    """One server, one token. Use as a context manager, or call `close()`.

    `transport` replaces the network (tests use an in-process one or a proxy); `sleep` is what
    waits between retries.
    """

    def __init__(
        self,
        config: LabelStudioConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=config.api_url,
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            verify=config.verify,
            transport=transport,
            headers={"User-Agent": "workbench-labelstudio", "Accept": "application/json"},
        )
        self._pat = config.token if is_jwt(config.token) else None
        self._access: str | None = None
        self._access_expires = 0.0

    def __repr__(self) -> str:
        return f"LabelStudioClient({self.config.api_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- requests -------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, *, idempotent: bool = False, **params: Any) -> Any:
        return self.request("POST", path, params=params, json=body, idempotent=idempotent)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str, *, missing_ok: bool = True) -> None:
        """DELETE; a 404 counts as done when `missing_ok` (a retried delete finds nothing)."""
        try:
            self.request("DELETE", path)
        except LabelStudioRequestError as exc:
            if not (missing_ok and exc.status == 404):
                raise

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
    ) -> Any:
        """Send a request, retrying what is safe to retry; the parsed JSON answer (or None)."""
        repeatable = method in SAFE_METHODS if idempotent is None else idempotent
        where = f"{method} {path}"
        content = orjson.dumps(json) if json is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        refreshed = False
        attempt = 0
        while True:
            if authenticated:
                headers.update(self._auth_header())
            send = {"params": params, "content": content, "files": files, "headers": headers}
            outcome = self._attempt(where, repeatable, method, path, **send)
            if isinstance(outcome, httpx.Response):
                if outcome.status_code == 401 and self._pat and authenticated and not refreshed:
                    self._access = None  # expired or revoked early: get a new one, once
                    refreshed = True
                    continue
                return self._parse(where, outcome)
            problem, wait = outcome
            if attempt >= self.config.retries:
                raise LabelStudioUnavailable(
                    f"{where} at {self.config.api_url}: {problem}; gave up after "
                    f"{attempt + 1} attempts"
                )
            self._sleep(wait if wait is not None else self._backoff(attempt))
            attempt += 1

    def _attempt(
        self, where: str, repeatable: bool, method: str, path: str, **send: Any
    ) -> httpx.Response | tuple[str, float | None]:
        """One try: the answer to use, or (what went wrong, how long to wait) when the
        request is worth sending again. Raises OutcomeUnknown when it is not."""
        try:
            response = self._http.request(method, path, **send)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return f"cannot connect ({exc or type(exc).__name__})", None
        except httpx.TransportError as exc:
            problem = f"the connection failed ({exc or type(exc).__name__})"
            if not repeatable:
                raise OutcomeUnknown(f"{where}: {problem} after the request was sent") from exc
            return problem, None
        status = response.status_code
        if status in REFUSED_STATUSES or (status >= 500 and repeatable):
            wait = _retry_after(response)
            if wait is not None and wait > MAX_RETRY_AFTER:
                raise LabelStudioUnavailable(
                    f"{where}: answered {status}, retry after {wait:.0f} s"
                )
            return f"the server answered {status}", wait
        if status >= 500:
            raise OutcomeUnknown(
                f"{where}: the server failed ({status}, {_snippet(response)}); the request may "
                "have taken effect"
            )
        return response

    def wait(self, attempt: int) -> None:
        """Sleep as long as before retry `attempt` (callers that retry by looking first)."""
        self._sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        return float(min(self.config.max_backoff, self.config.backoff * 2**attempt))

    def _parse(self, where: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status in (401, 403):
            raise LabelStudioAuthError(
                f"{where}: Label Studio refused the token ({status}: {self._detail(response)}); "
                "check LABEL_STUDIO_API_KEY (legacy tokens work only where the organisation "
                "enables them; personal access tokens are JWTs)"
            )
        if status >= 400:
            detail = self._detail(response)
            raise LabelStudioRequestError(f"{where}: {status} {detail}", status, detail)
        if status == 204 or not response.content:
            return None
        kind = response.headers.get("content-type", "")
        if "json" not in kind:
            raise LabelStudioResponseError(
                f"{where}: expected JSON, got {kind or 'no content type'} (status {status}): "
                f"{_snippet(response)}; is {self.config.api_url} the Label Studio server?"
            )
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise LabelStudioResponseError(
                f"{where}: malformed or truncated JSON ({len(response.content)} bytes): {exc}"
            ) from exc

    @staticmethod
    def _detail(response: httpx.Response) -> str:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return _snippet(response)
        if isinstance(body, dict):
            parts = [str(body[k]) for k in ("detail", "validation_errors") if body.get(k)]
            if parts:
                return "; ".join(parts)[:2000]
        return json.dumps(body)[:2000]

    # -- authentication -------------------------------------------------------------------
    def _auth_header(self) -> dict[str, str]:
        if self._pat is None:
            return {"Authorization": f"Token {self.config.token}"}
        if self._access is None or time.time() > self._access_expires - REFRESH_MARGIN:
            self._refresh()
        return {"Authorization": f"Bearer {self._access}"}

    def _refresh(self) -> None:
        try:
            body = self.request(
                "POST",
                "/api/token/refresh/",
                json={"refresh": self._pat},
                idempotent=True,
                authenticated=False,
            )
        except (LabelStudioRequestError, LabelStudioAuthError) as exc:
            raise LabelStudioAuthError(
                f"the personal access token was refused at POST /api/token/refresh/ ({exc}); "
                "it may have expired or been revoked"
            ) from exc
        access = body.get("access") if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            raise LabelStudioResponseError(
                f"POST /api/token/refresh/: no access token in {body!r:.200}"
            )
        expires = _jwt_part(access.split(".")[1]).get("exp") if access.count(".") == 2 else None
        self._access = access
        self._access_expires = (
            float(expires) if isinstance(expires, int | float) else time.time() + ACCESS_LIFETIME
        )

    # -- endpoints ------------------------------------------------------------------------
    def projects(self, **filters: Any) -> list[dict[str, Any]]:
        """Every project matching `filters` (e.g. title=..., a case-insensitive substring)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.get("/api/projects", page=page, page_size=100, **filters)
            results = expect(body, dict, "GET /api/projects").get("results")
            out.extend(expect(results, list, "GET /api/projects results"))
            if not body.get("next"):
                return out
            page += 1

    def project(self, project_id: int) -> dict[str, Any]:
        return expect(self.get(f"/api/projects/{project_id}"), dict, "GET /api/projects/{id}")

    def iter_tasks(
        self, project_id: int, *, full: bool
    ) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """A project's tasks page by page, each with the project's task total; `full` adds
        annotations, predictions and drafts."""
        page, seen = 1, 0
        params: dict[str, Any] = {"project": project_id, "page_size": self.config.page_size}
        params["resolve_uri"] = "false"
        if full:
            params["fields"] = "all"
        while True:
            where = f"GET /api/tasks?project={project_id}&page={page}"
            body = expect(self.get("/api/tasks", page=page, **params), dict, where)
            tasks = expect(body.get("tasks"), list, f"{where} tasks")
            total = body.get("total")
            if not isinstance(total, int):
                raise LabelStudioResponseError(f"{where}: no task total in the answer")
            seen += len(tasks)
            yield [expect(t, dict, f"{where} task") for t in tasks], total
            if not tasks or seen >= total:
                return
            page += 1

    def delete_tasks(self, project_id: int, task_ids: list[int]) -> None:
        """Delete tasks in bulk (the Data Manager's action): deleting a gone task is a no-op."""
        for start in range(0, len(task_ids), 1000):
            self.post(
                "/api/dm/actions",
                {"selectedItems": {"all": False, "included": task_ids[start : start + 1000]}},
                idempotent=True,
                id="delete_tasks",
                project=project_id,
            )


def create_once[T](
    client: LabelStudioClient, look: Callable[[], T | None], make: Callable[[], T]
) -> T:
    """What `look()` finds, else what `make()` creates. When making fails after the request
    was sent (OutcomeUnknown), look again before making again: never two of a thing."""
    attempt = 0
    while True:
        found = look()
        if found is not None:
            return found
        try:
            return make()
        except OutcomeUnknown:
            if attempt >= client.config.retries:
                raise
            client.wait(attempt)
            attempt += 1


def expect[T](value: Any, kind: type[T], where: str) -> T:
    """`value` if it is a `kind`, else a LabelStudioResponseError saying what came instead."""
    if not isinstance(value, kind):
        raise LabelStudioResponseError(
            f"{where}: expected a JSON {_JSON_NAMES.get(kind, kind.__name__)}, got "
            f"{type(value).__name__} {str(value)[:_SNIPPET]!r}"
        )
    return value


_JSON_NAMES: dict[type, str] = {dict: "object", list: "array", int: "integer", str: "string"}
