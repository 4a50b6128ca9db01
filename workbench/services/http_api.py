"""The service over HTTP: every `Workbench` method as one POST route, for pn.serve or alone.

    GET  /api/v1/           {"api": "workbench", "version": 1, "methods": [...], "actor": ...}
    POST /api/v1/<method>   JSON body of keyword arguments -> {"result": ...}
                            (create_inputs streams NDJSON as results come; see wire.py)

Routes come from `wire.METHODS`, so nothing outside that table can be called. Service calls
run on a thread pool (DuckDB work must not stall the app's sessions on the same IO loop).

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tornado.iostream import StreamClosedError
from tornado.web import Application, RequestHandler

from workbench.errors import WorkbenchError
from workbench.services.context import default_actor
from workbench.services.errors import InvalidArgument
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

log = logging.getLogger(__name__)

# The service for one request, acting as its actor (None: no actor was named).
ServiceFactory = Callable[[str | None], Workbench]

# A stream that yields nothing for this long sends an empty line, so clients' read timeouts
# and proxies do not cut a create_inputs that waits on a slow platform.
HEARTBEAT_SECONDS = 10.0
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def per_actor(service: Workbench) -> ServiceFactory:
    """The factory most servers want: `service` acting as each request's actor."""
    return lambda actor: service.as_actor(actor) if actor else service


@dataclass(frozen=True)
class ApiConfig:
    service_factory: ServiceFactory
    token: str | None


def api_patterns(
    service_factory: ServiceFactory, *, prefix: str = API_PREFIX, token: str | None = None
) -> list[tuple[Any, ...]]:
    """Tornado URL patterns of the API, for `pn.serve(..., extra_patterns=...)`.

    `token` defaults to $WORKBENCH_API_TOKEN; an empty one means none.
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV)
    config = ApiConfig(service_factory, token or None)
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


class _ApiHandler(RequestHandler):
    config: ApiConfig
    actor: str | None

    def initialize(self, config: ApiConfig) -> None:
        self.config = config
        self.actor = None

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", JSON_TYPE)
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self) -> None:
        # The app's XSRF cookie is for its forms; the API's own checks (token, JSON content
        # type, Origin) stop cross-site requests, and a notebook client has no such cookie.
        return None

    async def prepare(self) -> None:
        try:
            await self._authorise()
        except _Refused as refused:
            self._send_json(refused.status, _body(refused.error, str(refused)))
            self.finish()

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
        self._send_json(
            200,
            {
                "api": "workbench",
                "version": API_VERSION,
                "methods": sorted(METHODS),
                "actor": self.config.service_factory(self.actor).actor,
            },
        )


class UnknownMethodHandler(_ApiHandler):
    def get(self) -> None:
        self._unknown()

    def post(self) -> None:
        self._unknown()

    def _unknown(self) -> None:
        name = self.request.path.rsplit("/", 1)[-1]
        self._send_json(404, _body("UnknownMethod", f"the API has no method {name!r}"))


class MethodHandler(_ApiHandler):
    method: Method

    def initialize(self, config: ApiConfig, method: Method) -> None:  # type: ignore[override]
        super().initialize(config)
        self.method = method

    async def post(self) -> None:
        name = self.method.name
        try:
            arguments = self._arguments()
            service = self.config.service_factory(self.actor)
            call = bind_arguments(self.method, service, arguments)
            result = await asyncio.get_running_loop().run_in_executor(None, call)
            if not self.method.stream:
                body = {"result": _encode_result(result)}
        except _Refused as refused:
            self._send_json(refused.status, _body(refused.error, str(refused)))
            return
        except Exception as exc:  # every failure becomes a JSON answer
            self._send_json(*_failure(name, exc))
            return
        if self.method.stream:
            await self._stream(result)
        else:
            self._send_json(200, body)

    def _arguments(self) -> dict[str, Any]:
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != JSON_TYPE:
            raise _Refused(415, "UnsupportedMediaType", f"send the arguments as {JSON_TYPE}")
        try:
            arguments = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise _Refused(400, "BadRequest", f"the body is not JSON: {exc}") from None
        if not isinstance(arguments, dict):
            raise _Refused(400, "BadRequest", "the body must be a JSON object of arguments")
        return arguments

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

        worker = loop.run_in_executor(None, _drain, self.method.name, items, put, stop)
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
    """The status and body of an exception raised by a service call."""
    if isinstance(exc, WorkbenchError) and listed_error(exc) is not None:
        return error_body(exc)
    log.exception("%s failed on the server", name, exc_info=exc)
    message = f"{name} failed on the server: {type(exc).__name__}: {exc}"
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
) -> None:
    """Serve only the API on `catalog_path` until SIGTERM or Ctrl-C; `port=0` picks one.

    Prints `Serving workbench API on <url>` once it accepts connections. The app's own
    server (`workbench serve`) mounts the same routes next to the app.
    """
    import workbench

    catalog = workbench.open(catalog_path)
    try:
        service = Workbench(catalog, actor=actor or default_actor())
        app = Application(api_patterns(per_actor(service), token=token))
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
    args = parser.parse_args(argv)
    serve_api(
        args.catalog, port=args.port, address=args.address, token=args.token, actor=args.actor
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
