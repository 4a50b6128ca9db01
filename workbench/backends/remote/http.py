"""One HTTP client for every remote platform: timeouts, bounded retries, one error table.

`PlatformClient` wraps an `httpx.Client` (whose transport tests may replace) and sends each
request until it has an answer worth returning or a reason to stop. What one attempt's
failure means, and what happens next (the error table):

| failure of one attempt                        | repeatable request    | other POST           |
|-----------------------------------------------|-----------------------|----------------------|
| cannot connect (refused, connect/pool timeout)| retried; Unavailable  | retried; Unavailable |
| 429 Too Many Requests                         | retried; Unavailable  | retried; Unavailable |
| connection lost after sending, read timeout   | retried; Unavailable  | OutcomeUnknown       |
| 5xx                                           | retried; Unavailable  | OutcomeUnknown       |
| Retry-After longer than `max_retry_after`     | Unavailable           | Unavailable          |
| 401 with credentials that can be renewed      | renewed, sent again once                     |
| 401, 403                                      | AuthError                                    |
| other 4xx (404 is None when `missing_ok`)     | Rejected, with the platform's reason         |
| not JSON, truncated or malformed JSON         | BadResponse                                  |

"Retried; Unavailable" means: sent again at most `retries` times, then Unavailable. A request
is repeatable when sending it twice does what sending it once does: GET, HEAD, OPTIONS, PUT,
PATCH (every PATCH these backends send sets fields to values) and DELETE, and a POST the
caller marks `idempotent=True`. A 429 or a connection that never opened means the server did
not act, so any request is sent again. Waits grow as `backoff * 2**n` up to `max_backoff`,
shortened at random by up to `jitter` of themselves (so clients that failed together do not
come back together), and are never shorter than what Retry-After asks (seconds or an HTTP
date).

Each error is the platform's own class of its kind (see errors.py), so callers can catch
`Unavailable` or `LabelStudioUnavailable` alike. `create_once` is the other half of
OutcomeUnknown: look for the thing before making it, and again after an unknown outcome.
"""

from __future__ import annotations

import email.utils
import logging
import random as _random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import httpx
import orjson

from workbench.backends.remote.errors import BadResponse, ErrorKinds, OutcomeUnknown

log = logging.getLogger("workbench.backends.remote")

REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# Statuses that mean the server did not act on the request: any request may be sent again.
REFUSED_STATUSES = frozenset({429})
# Transport failures that happen before the request leaves: it surely did not arrive.
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_SNIPPET = 200
_DETAIL = 2000


@dataclass(frozen=True)
class _Call:
    """One request as messages name it, and whether sending it twice is harmless."""

    where: str  # "Label Studio GET /api/projects"
    method: str
    path: str
    repeatable: bool


@dataclass(frozen=True)
class _Retry:
    """A failed attempt worth repeating: what went wrong, the status, what Retry-After asked."""

    problem: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed request is sent again."""

    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    # Each wait is shortened at random by up to this fraction of itself.
    jitter: float = 0.2
    # The longest Retry-After honoured; a server asking for more is reported unavailable.
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, draw: Callable[[], float]) -> float:
        """How long to wait before retry number `attempt + 1`."""
        wait = min(self.max_backoff, self.backoff * 2**attempt)
        wait *= 1.0 - self.jitter * draw()
        return wait if retry_after is None else max(wait, retry_after)


class PlatformClient:
    """A session with one server of one platform. Use as a context manager, or `close()`.

    Subclasses set `errors` (their ErrorKinds) and may override `_auth_headers` (sent with
    each authenticated attempt) and `_renew_auth` (after a 401: forget credentials that can
    be renewed and say whether it did). `transport` replaces the network, `sleep` the
    waiting between retries and `random` the jitter (tests).
    """

    errors: ClassVar[ErrorKinds]

    def __init__(
        self,
        base_url: str,
        *,
        policy: RetryPolicy,
        timeout: httpx.Timeout,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._sleep = sleep
        self._random = random
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            verify=verify,
            transport=transport,
            headers={"Accept": "application/json", **(headers or {})},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- authentication hooks ---------------------------------------------------------------
    def _auth_headers(self) -> dict[str, str]:
        return {}

    def _renew_auth(self) -> bool:
        return False

    # -- requests ---------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
        missing_ok: bool = False,
    ) -> Any:
        """Send a request (retrying what the table above retries) and return its decoded
        JSON, or None for an empty answer (or a 404 when `missing_ok`)."""
        send: dict[str, Any] = {"params": params, "data": data, "files": files}
        extra = dict(headers or {})
        if json is not None:
            send["content"] = orjson.dumps(json, option=orjson.OPT_NON_STR_KEYS)
            extra["Content-Type"] = "application/json"
        repeatable = method in REPEATABLE_METHODS if idempotent is None else idempotent
        call = _Call(f"{self.errors.platform} {method} {path}", method, path, repeatable)
        response = self._send(call, authenticated, extra, send)
        if missing_ok and response.status_code == 404:
            return None
        return self._decode(call.where, method, path, response)

    def _send(
        self, call: _Call, authenticated: bool, headers: dict[str, str], send: dict[str, Any]
    ) -> httpx.Response:
        """Attempts until an answer not worth retrying (returned as it is, 4xx included), or
        an error of the table."""
        renewed = False
        attempt = 0
        while True:
            sent = {**headers, **(self._auth_headers() if authenticated else {})}
            outcome = self._attempt(call, sent, send)
            if isinstance(outcome, httpx.Response):
                renew = outcome.status_code == 401 and authenticated and not renewed
                if not (renew and self._renew_auth()):
                    return outcome
                renewed = True
                continue
            if attempt >= self.policy.retries:
                raise self.errors.unavailable(
                    f"{call.where} at {self.base_url}: {outcome.problem}; gave up after "
                    f"{attempt + 1} attempts",
                    method=call.method,
                    path=call.path,
                    status=outcome.status,
                )
            log.info("retrying %s after: %s", call.where, outcome.problem)
            self._sleep(self.policy.delay(attempt, outcome.retry_after, self._random))
            attempt += 1

    def _attempt(
        self, call: _Call, headers: dict[str, str], send: dict[str, Any]
    ) -> httpx.Response | _Retry:
        """One try, read with the error table: the answer to use, or what went wrong when it
        is worth sending again. Raises what is not."""
        try:
            response = self._http.request(call.method, call.path, headers=headers, **send)
        except UNSENT as exc:
            return _Retry(f"cannot connect ({exc or type(exc).__name__})")
        except httpx.TransportError as exc:
            problem = f"the connection failed ({exc or type(exc).__name__})"
            if call.repeatable:
                return _Retry(problem)
            raise self.errors.outcome_unknown(
                f"{call.where}: no answer: {problem} after the request was sent; it may have "
                "taken effect",
                method=call.method,
                path=call.path,
            ) from exc
        status = response.status_code
        if status < 500 and status not in REFUSED_STATUSES:
            return response
        if status not in REFUSED_STATUSES and not call.repeatable:
            raise self.errors.outcome_unknown(
                f"{call.where}: the server failed ({status}, {snippet(response)}); the request "
                "may have taken effect",
                status=status,
                method=call.method,
                path=call.path,
            )
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            raise self.errors.unavailable(
                f"{call.where}: answered {status}, retry after {retry_after:.0f} s",
                status=status,
                method=call.method,
                path=call.path,
            )
        return _Retry(f"the server answered {status}", status, retry_after)

    def _decode(self, where: str, method: str, path: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status in (401, 403):
            detail = reason(response)
            hint = f"; {self.errors.auth_hint}" if self.errors.auth_hint else ""
            raise self.errors.auth(
                f"{where}: refused {self.errors.credentials} ({status}: {detail}){hint}",
                method=method,
                path=path,
                status=status,
                detail=detail,
            )
        if status >= 400:
            detail = reason(response)
            raise self.errors.rejected(
                f"{where}: {status} {detail}",
                method=method,
                path=path,
                status=status,
                detail=detail,
            )
        if status == 204 or not response.content:
            return None
        kind = response.headers.get("content-type", "")
        if "json" not in kind:
            raise self.errors.bad_response(
                f"{where}: answered {status} with {kind or 'no content type'}, not JSON: "
                f"{snippet(response)}; is {self.base_url} the {self.errors.platform} server?",
                method=method,
                path=path,
                status=status,
            )
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise self.errors.bad_response(
                f"{where}: malformed or truncated JSON ({len(response.content)} bytes): {exc}",
                method=method,
                path=path,
                status=status,
            ) from exc

    def pause(self, attempt: int) -> None:
        """Wait as long as before retry `attempt + 1` (callers that retry by looking first)."""
        self._sleep(self.policy.delay(attempt, None, self._random))

    def expect[T](self, value: Any, kind: type[T], where: str) -> T:
        """`value` if it is a `kind`, else this platform's BadResponse saying what came."""
        return expect(value, kind, where, self.errors.bad_response)


def create_once[T](
    client: PlatformClient, look: Callable[[], T | None], make: Callable[[], T]
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
        except OutcomeUnknown as exc:
            if attempt >= client.policy.retries:
                raise
            log.info("looking before making again after: %s", exc)
            client.pause(attempt)
            attempt += 1


def expect[T](value: Any, kind: type[T], where: str, error: type[BadResponse] = BadResponse) -> T:
    """`value` if it is a `kind`, else `error` saying what came instead."""
    if not isinstance(value, kind):
        raise error(
            f"{where}: expected a JSON {_JSON_NAMES.get(kind, kind.__name__)}, got "
            f"{type(value).__name__} {str(value)[:_SNIPPET]!r}"
        )
    return value


_JSON_NAMES: dict[type, str] = {dict: "object", list: "array", int: "integer", str: "string"}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def snippet(response: httpx.Response) -> str:
    """A short excerpt of a body: an HTML page's title, else its first characters."""
    text = response.content[: 64 * 1024].decode("utf-8", errors="replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        return f"an HTML page titled {' '.join(title.group(1).split())[:_SNIPPET]!r}"
    flat = " ".join(text.split())
    return repr(flat[:_SNIPPET] + ("..." if len(flat) > _SNIPPET else ""))


def reason(response: httpx.Response) -> str:
    """What the platform said about a refusal: its `detail` (and `validation_errors`), else
    the JSON body, else an excerpt of the body."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return snippet(response)
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("detail", "validation_errors") if body.get(k)]
        if parts:
            return "; ".join(parts)[:_DETAIL]
    return orjson.dumps(body).decode()[:_DETAIL]
