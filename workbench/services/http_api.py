"""The service over HTTP: every `Workbench` method as one POST route, for pn.serve or alone.

    GET  /api/v1/           {"api": "workbench", "version": 1, "methods": [...], "actor": ...}
    POST /api/v1/<method>   JSON body of keyword arguments -> {"result": ...}
                            (create_inputs streams NDJSON as results come; see wire.py)

Routes come from `wire.METHODS`, so nothing outside that table can be called. Service calls
run on two thread pools of their own, one for the methods that only read and one for the
actions: DuckDB work never stalls the app's sessions on the same IO loop, and a read never
waits behind actions queued for the catalog's one writer.

What a request may be (docs/http-api.md): a JSON object of at most `max_body_bytes` (413
before the body is read when its Content-Length says more), strict JSON (no NaN or
Infinity, valid UTF-8, at most 1024 levels deep, then the argument checks of
workbench.services.arguments), answered 400 with the argument and the problem. A failure
the API did not foresee is a 500 with a generic message; its traceback goes to the log only.

Who may call (docs/http-api.md):

- with a token (`token=` or $WORKBENCH_API_TOKEN): `Authorization: Bearer <token>`, compared
  in constant time; the caller names its actor in the `X-Workbench-Actor` header;
- without a token, when the app has a login (basic auth, OAuth): that login's cookie, and the
  actor is the logged-in user;
- without either: loopback connections addressed to a loopback host name only.

POSTs must be `application/json` and a browser's `Origin` must be the server itself, so a
web page elsewhere cannot make a visitor's browser call the API (no simple cross-site POST).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from tornado.iostream import StreamClosedError
from tornado.web import Application, RequestHandler, stream_request_body

from workbench.errors import WorkbenchError
from workbench.services import arguments
from workbench.services.errors import InvalidArgument, RequestTooLarge
from workbench.services.wire import (
    ACTOR_HEADER,
    API_PREFIX,
    API_VERSION,
    JSON_TYPE,
    MAX_ACTOR_LENGTH,
    METHODS,
    NDJSON_TYPE,
    TOKEN_ENV,
    Method,
    bind_arguments,
    encode,
    error_body,
    listed_error,
)
from workbench.services.workbench import Workbench
from workbench.store.audit import default_actor
from workbench.store.catalog import open_catalog

log = logging.getLogger(__name__)

# The service for one request, acting as its actor (None: no actor was named).
ServiceFactory = Callable[[str | None], Workbench]

# A stream that yields nothing for this long sends an empty line, so clients' read timeouts
# and proxies do not cut a create_inputs that waits on a slow platform.
HEARTBEAT_SECONDS = 10.0
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
# The largest request body answered (`--max-body-mb`); Tornado's own default is 100 MB.
DEFAULT_MAX_BODY_MB = 8.0
# Threads for the methods that only read, for the actions, and for streams. Reads get
# enough that a few slow ones (a big query_inputs, a remote platform's status) do not hold
# up the others; actions take turns as the catalog's one writer, so more threads would only
# wait for its lock (the executor's queue keeps them in order); a stream (create_inputs)
# may wait on a slow platform for minutes, on threads of its own.
READ_THREADS = 8
WRITE_THREADS = 2
STREAM_THREADS = 4
# A body declared larger than the limit is refused before it is read; up to this many times
# the limit it is still drained after the answer, so the client, still sending, reads the
# 413 instead of a reset connection.
_DRAIN_FACTOR = 2


def per_actor(service: Workbench) -> ServiceFactory:
    """The factory most servers want: `service` acting as each request's actor."""
    return lambda actor: service.as_actor(actor) if actor else service


def max_body_bytes(megabytes: float) -> int:
    """A body limit given in MB (`--max-body-mb`) in bytes; refused unless positive."""
    if not isinstance(megabytes, int | float) or not 0 < megabytes <= 1024:
        raise InvalidArgument(f"max body size {megabytes!r} MB: expected more than 0, at most 1024")
    return int(megabytes * 1024 * 1024)


@dataclass(frozen=True)
class ApiConfig:
    """What every handler of one API shares: who acts, the token, the body limit, and the
    thread pools that run service calls (reads apart from actions)."""

    service_factory: ServiceFactory
    token: str | None
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * 1024 * 1024)
    reads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(READ_THREADS, "workbench-api-read")
    )
    writes: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(WRITE_THREADS, "workbench-api-write")
    )
    streams: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(STREAM_THREADS, "workbench-api-stream")
    )

    def limits(self) -> dict[str, int]:
        """The sizes the API takes, as the index announces them to clients."""
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_name_length": arguments.MAX_NAME_LENGTH,
            "max_text_length": arguments.MAX_TEXT_LENGTH,
            "max_items": arguments.MAX_ITEMS,
            "max_depth": arguments.MAX_DEPTH,
        }


def api_patterns(
    service_factory: ServiceFactory,
    *,
    prefix: str = API_PREFIX,
    token: str | None = None,
    max_body_mb: float = DEFAULT_MAX_BODY_MB,
) -> list[tuple[Any, ...]]:
    """Tornado URL patterns of the API, for `pn.serve(..., extra_patterns=...)`.

    `token` defaults to $WORKBENCH_API_TOKEN; an empty one means none. A request body larger
    than `max_body_mb` is refused with 413.
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV)
    config = ApiConfig(service_factory, token or None, max_body_bytes(max_body_mb))
    prefix = prefix.rstrip("/")
    routes: list[tuple[Any, ...]] = [(rf"{prefix}/?", IndexHandler, {"config": config})]
    for name, method in METHODS.items():
        routes.append((rf"{prefix}/{name}", MethodHandler, {"config": config, "method": method}))
    routes.append((rf"{prefix}/.*", UnknownMethodHandler, {"config": config}))
    return routes


class _Refused(Exception):
    """A request the API answers with an error of its own (not one of the service's)."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


@stream_request_body
class _ApiHandler(RequestHandler):
    """What every route of the API does first: who calls, and the body as it arrives.

    The body is read chunk by chunk (never buffered past the limit). A request refused
    before its body has arrived is answered once the body is read and dropped, so a client
    still sending reads the answer rather than a reset connection; only a body declared far
    larger than the limit is answered at once, and the connection closed.
    """

    config: ApiConfig
    actor: str | None

    def initialize(self, config: ApiConfig) -> None:
        self.config = config
        self.actor = None
        self._refusal: _Refused | None = None
        self._chunks: list[bytes] = []
        self._received = 0

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", JSON_TYPE)
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self) -> None:
        # The app's XSRF cookie is for its forms; the API's own checks (token, JSON content
        # type, Origin) stop cross-site requests, and a notebook client has no such cookie.
        return None

    async def prepare(self) -> None:
        limit = self.config.max_body_bytes
        connection: Any = self.request.connection
        connection.set_max_body_size(_DRAIN_FACTOR * limit)
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > _DRAIN_FACTOR * limit:
            # Far too large to drain: answer now, and close instead of reading it.
            self._answer(_too_large(limit))
            self.set_header("Connection", "close")
            await self.finish()
            connection.close()
            return
        try:
            await self._authorise()
            self._check_request()
        except _Refused as refused:
            self._refusal = refused

    def _check_request(self) -> None:
        """Checks of a route's own, on the headers (before the body arrives)."""

    def data_received(self, chunk: bytes) -> None:
        if self._refusal is not None:
            return  # read and dropped: the refusal is answered once the body is in
        self._received += len(chunk)
        if self._received > self.config.max_body_bytes:
            self._refusal = _too_large(self.config.max_body_bytes)
            self._chunks.clear()
            return
        self._chunks.append(chunk)

    def _take_body(self) -> bytes:
        body = b"".join(self._chunks)
        self._chunks.clear()
        return body

    def _refused(self) -> bool:
        """Answer the refusal recorded while the request arrived, if there is one."""
        if self._refusal is None:
            return False
        if self._refusal.status == 413:
            self.set_header("Connection", "close")
        self._answer(self._refusal)
        return True

    def _answer(self, refused: _Refused) -> None:
        self._send_json(refused.status, _body(refused.error, str(refused)))

    async def _authorise(self) -> None:
        self._check_origin()
        claimed = self._claimed_actor()
        token = self.config.token
        if token is not None:
            given = _bearer(self.request.headers.get("Authorization", ""))
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise _Refused(401, "Unauthorized", "a valid API token is needed (Bearer)")
            self.actor = claimed
            return
        login = await self._login()
        if login is not False:
            if not login:
                raise _Refused(401, "Unauthorized", "log in to the app or use an API token")
            self.actor = str(login)
            return
        if not self._is_loopback():
            raise _Refused(
                403,
                "Forbidden",
                f"without an API token (${TOKEN_ENV}) only loopback requests are answered",
            )
        self.actor = claimed

    def _claimed_actor(self) -> str | None:
        actor = self.request.headers.get(ACTOR_HEADER, "").strip()
        if len(actor) > MAX_ACTOR_LENGTH or not actor.isprintable():
            raise _Refused(400, "InvalidArgument", f"{ACTOR_HEADER}: not a usable name")
        return actor or None

    async def _login(self) -> Any:
        """The app's logged-in user; False when the app has no login (a bare API server)."""
        provider = getattr(self.application, "auth_provider", None)
        if provider is None:
            return False
        if provider.get_user_async is not None:
            return await provider.get_user_async(self)
        if provider.get_user is not None:
            return provider.get_user(self)
        return False

    def _is_loopback(self) -> bool:
        try:
            peer = ipaddress.ip_address(self.request.remote_ip or "")
        except ValueError:
            return False
        return peer.is_loopback and self.request.host_name in _LOOPBACK_NAMES

    def _check_origin(self) -> None:
        origin = self.request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != self.request.host:
            raise _Refused(403, "Forbidden", "cross-origin requests are not allowed")

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.write(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Tornado's own errors (405, a body it cannot read) as JSON too.
        self.set_header("Content-Type", JSON_TYPE)
        self.finish(json.dumps(_body("HTTPError", self._reason)))


class IndexHandler(_ApiHandler):
    def get(self) -> None:
        if self._refused():
            return
        self._send_json(
            200,
            {
                "api": "workbench",
                "version": API_VERSION,
                "methods": sorted(METHODS),
                "actor": self.config.service_factory(self.actor).actor,
                "limits": self.config.limits(),
            },
        )


class UnknownMethodHandler(_ApiHandler):
    def get(self) -> None:
        self._unknown()

    def post(self) -> None:
        self._unknown()

    def _unknown(self) -> None:
        if self._refused():
            return
        name = self.request.path.rsplit("/", 1)[-1]
        self._send_json(404, _body("UnknownMethod", f"the API has no method {name!r}"))


class MethodHandler(_ApiHandler):
    """POST /api/v1/<method>: checks the request, reads its arguments and calls the method
    on the pool of its kind (reads apart from actions)."""

    method: Method

    def initialize(self, config: ApiConfig, method: Method) -> None:  # type: ignore[override]
        super().initialize(config)
        self.method = method

    def _check_request(self) -> None:
        if self.request.method != "POST":
            return  # answered 405 by Tornado
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != JSON_TYPE:
            raise _Refused(415, "UnsupportedMediaType", f"send the arguments as {JSON_TYPE}")
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.config.max_body_bytes:
            raise _too_large(self.config.max_body_bytes)

    async def post(self) -> None:
        if self._refused():
            return
        name = self.method.name
        pool = self.config.reads if self.method.reads else self.config.writes
        body = self._take_body()
        self._submitted = time.perf_counter()
        self._timing = ""
        try:
            result = await asyncio.get_running_loop().run_in_executor(pool, self._call, body)
        except _Refused as refused:
            self._answer(refused)
            return
        except Exception as exc:  # every failure becomes a JSON answer
            self._send_json(*_failure(name, exc))
            return
        finally:
            if self._timing:  # set on the IO loop: handlers are not thread-safe
                self.set_header("Server-Timing", self._timing)
        if self.method.stream:
            await self._stream(result)
        else:
            self._send_json(200, result)

    def _call(self, body: bytes) -> Any:
        """Read the body, check the arguments and make the call (on a worker thread: a large
        body is parsed and checked off the IO loop). How long the call waited for a thread
        and how long it ran are sent as `Server-Timing: queue;dur=.., call;dur=..` (ms)."""
        started = time.perf_counter()
        try:
            service = self.config.service_factory(self.actor)
            call = bind_arguments(self.method, service, parse_body(body))
            result = call()
            return result if self.method.stream else {"result": _encode_result(result)}
        finally:
            queue, ran = started - self._submitted, time.perf_counter() - started
            self._timing = f"queue;dur={queue * 1e3:.1f}, call;dur={ran * 1e3:.1f}"

    async def _stream(self, items: Iterator[Any]) -> None:
        """One NDJSON line per item as the service yields it; the iteration runs on one
        worker thread (the service's generator keeps its cursor) and stops when the client
        goes away."""
        self.set_header("Content-Type", NDJSON_TYPE)
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        stop = threading.Event()

        def put(line: dict[str, Any] | None) -> None:
            loop.call_soon_threadsafe(lines.put_nowait, line)

        worker = loop.run_in_executor(
            self.config.streams, _drain, self.method.name, items, put, stop
        )
        try:
            while True:
                try:
                    line = await asyncio.wait_for(lines.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    self.write(b"\n")
                    await self.flush()
                    continue
                if line is None:
                    break
                self.write(json.dumps(line).encode() + b"\n")
                await self.flush()
        except StreamClosedError:
            log.info("%s: the client went away; stopping", self.method.name)
        finally:
            stop.set()
            await worker


def parse_body(body: bytes) -> dict[str, Any]:
    """A request body as the call's arguments: one JSON object, strictly read (orjson: no
    NaN or Infinity, valid UTF-8 only, at most 1024 levels deep, refused as it parses
    rather than built first); an empty body is no arguments."""
    if not body.strip():
        return {}
    try:
        arguments = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _Refused(400, "BadRequest", f"the body is not JSON: {exc}") from None
    if not isinstance(arguments, dict):
        raise _Refused(400, "BadRequest", "the body must be a JSON object of arguments")
    return arguments


def _too_large(limit: int) -> _Refused:
    return _Refused(
        413,
        RequestTooLarge.__name__,
        f"the request body is larger than this server takes ({limit:,} bytes): send fewer "
        "ids at a time, or pass a view spec instead of its frame ids",
    )


def _drain(
    name: str,
    items: Iterator[Any],
    put: Callable[[dict[str, Any] | None], None],
    stop: threading.Event,
) -> None:
    count = 0
    try:
        for item in items:
            put({"result": _encode_result(item)})
            count += 1
            if stop.is_set():
                break
        else:
            put({"end": True, "count": count})
    except Exception as exc:  # the stream's last line tells the client
        put(_failure(name, exc)[1])
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # a generator stopped early still writes its audit row
        put(None)


def _encode_result(value: Any) -> Any:
    # A result that cannot be sent is the server's fault (a 500), not the caller's argument.
    try:
        return encode(value)
    except InvalidArgument as exc:
        raise TypeError(f"the result cannot be sent: {exc}") from exc


def _failure(name: str, exc: Exception) -> tuple[int, dict[str, Any]]:
    """The status and body of an exception raised by a service call. An error nobody
    foresaw is logged with its traceback and answered without its text, which may quote
    SQL, paths or data."""
    if isinstance(exc, _Refused):
        return exc.status, _body(exc.error, str(exc))
    if isinstance(exc, WorkbenchError) and listed_error(exc) is not None:
        return error_body(exc)
    log.exception("%s failed on the server", name, exc_info=exc)
    message = f"{name} failed on the server (its log has the details)"
    return 500, _body("ServerError", message, {"method": name})


def _body(error: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": error, "message": message, "details": details or {}}


def _bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


# -- a server of the API alone (tests, headless use) ----------------------------------------


def serve_api(
    catalog_path: str | os.PathLike[str],
    *,
    port: int = 0,
    address: str = "127.0.0.1",
    token: str | None = None,
    actor: str | None = None,
    ready: Callable[[str], None] | None = None,
    max_body_mb: float = DEFAULT_MAX_BODY_MB,
) -> None:
    """Serve only the API on `catalog_path` until SIGTERM or Ctrl-C; `port=0` picks one.

    Prints `Serving workbench API on <url>` once it accepts connections. The app's own
    server (`workbench serve`) mounts the same routes next to the app.
    """
    max_body_bytes(max_body_mb)  # a wrong limit fails before the catalog is opened
    catalog = open_catalog(catalog_path)
    try:
        service = Workbench(catalog, actor=actor or default_actor())
        app = Application(api_patterns(per_actor(service), token=token, max_body_mb=max_body_mb))
        asyncio.run(_serve(app, port, address, ready))
    finally:
        catalog.close()


async def _serve(
    app: Application, port: int, address: str, ready: Callable[[str], None] | None
) -> None:
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    sockets = bind_sockets(port, address)
    server = HTTPServer(app)
    server.add_sockets(sockets)
    host, bound = sockets[0].getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{bound}{API_PREFIX}"
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # SIGTERM stops like Ctrl-C, so the catalog is closed cleanly (no WAL left to replay).
        loop.add_signal_handler(signum, stopped.set)
    print(f"Serving workbench API on {url}", flush=True)
    if ready is not None:
        ready(url)
    await stopped.wait()
    server.stop()
    await server.close_all_connections()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workbench.services.http_api",
        description="Serve the workbench service API (no app) on one catalog.",
    )
    parser.add_argument("--catalog", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--token", default=None, help=f"default: ${TOKEN_ENV}")
    parser.add_argument("--actor", default=None, help="who acts when a request names no one")
    parser.add_argument(
        "--max-body-mb",
        type=float,
        default=DEFAULT_MAX_BODY_MB,
        help=f"largest request body answered, in MB (default {DEFAULT_MAX_BODY_MB:g})",
    )
    args = parser.parse_args(argv)
    serve_api(
        args.catalog,
        port=args.port,
        address=args.address,
        token=args.token,
        actor=args.actor,
        max_body_mb=args.max_body_mb,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
