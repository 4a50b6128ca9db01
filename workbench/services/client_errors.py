"""What a call through the HTTP client can fail with, and how answers are read.

The service's own errors are rebuilt from their bodies (workbench.services.wire); when the
call itself fails, one of these is raised (re-exported by workbench.services.client),
always `from` the httpx error behind it. See workbench.services.client for the tree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from workbench.errors import WorkbenchError
from workbench.services.errors import InvalidArgument, RequestTooLarge
from workbench.services.wire import encode, error_from_body


class ClientError(WorkbenchError):
    """A call through the HTTP API failed outside the service: no answer, or not a usable one."""

    def __init__(self, method: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.status = status


class ServerUnreachable(ClientError):
    pass


class AccessDenied(ClientError):
    pass


class ServerError(ClientError):
    pass


class ProtocolError(ClientError):
    pass


def request_body(name: str, arguments: Mapping[str, Any], limit: int | None) -> bytes:
    """A call's arguments as the JSON body the server reads: strict JSON (NaN and Infinity
    cannot be sent) no larger than the server's limit."""
    try:
        body = json.dumps(encode(arguments), allow_nan=False).encode()
    except ValueError as exc:
        raise InvalidArgument(f"{name}: {exc}: only finite numbers can be sent") from None
    if limit is not None and len(body) > limit:
        raise RequestTooLarge(
            f"{name}: the arguments take {len(body):,} bytes; the server takes at most "
            f"{limit:,} (its --max-body-mb): send fewer ids at a time, or a view spec"
        )
    return body


def json_of(response: httpx.Response, name: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProtocolError(name, "the answer is not JSON", response.status_code) from exc


def line_of(name: str, line: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(name, f"a stream line is not JSON: {line[:80]!r}") from exc
    if not isinstance(item, dict):
        raise ProtocolError(name, f"a stream line is not an object: {line[:80]!r}")
    return item


def error_of_response(name: str, response: httpx.Response) -> ClientError | WorkbenchError:
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:200] or response.reason_phrase}
    if not isinstance(body, dict):
        body = {"message": str(body)[:200]}
    return error_of(name, body, response.status_code)


def error_of(name: str, body: Mapping[str, Any], status: int) -> ClientError | WorkbenchError:
    """The exception an error body stands for: the service's own, rebuilt, or a ClientError."""
    try:
        rebuilt = error_from_body(body)
    except ValueError as exc:
        return ProtocolError(name, str(exc), status)
    if rebuilt is not None:
        return rebuilt
    message = str(body.get("message") or body.get("error") or "no message")
    if status in (401, 403):
        return AccessDenied(name, message, status)
    if status >= 500 or body.get("error") == "ServerError":
        return ServerError(name, message, status)
    return ProtocolError(name, message, status)


def unreachable(name: str, url: str, exc: httpx.HTTPError) -> ServerUnreachable:
    if isinstance(exc, httpx.TimeoutException):
        return ServerUnreachable(
            name,
            f"no answer from {url} in time ({type(exc).__name__}); the action may still "
            "have happened: check audit_log",
        )
    return ServerUnreachable(name, f"cannot reach {url}: {type(exc).__name__}: {exc}")
