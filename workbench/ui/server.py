"""Serve the workbench as a Panel app: one catalog per process, one app per browser session.

`serve(path)` opens the catalog once (a DuckDB file opened read-write by one process cannot
be opened by another, so every session shares this one `Catalog`), and gives each browser
session its own `create_app(catalog, media)`. Next to the app it serves:

    GET /media/file?uri=...           original media files under the catalog's media roots
    GET /media/thumb/<size>?uri=...   cached thumbnails (see workbench/ui/media_route.py)
    GET /wb-modules/<class>.js?v=...  our components' ES modules (workbench/ui/modules.py)
    GET /api/sessions/<id>/selection  what a live session has selected, as JSON
    /api/v1/...                       the service API (docs/http-api.md), for notebooks
    GET /liveness                     200 once the server is up (no auth, for probes)

It binds to loopback unless told otherwise; docs/serving.md covers auth and exposure.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, cast

import panel as pn
from bokeh.server.views.auth_request_handler import AuthRequestHandler
from tornado.web import HTTPError, authenticated

from workbench.media.thumbnails import ThumbnailCache, default_cache_dir
from workbench.services import Workbench
from workbench.services.http_api import DEFAULT_MAX_BODY_MB, api_patterns, per_actor
from workbench.store.catalog import Catalog, open_catalog
from workbench.ui.app import create_app
from workbench.ui.headers import SecurityHeaders
from workbench.ui.media import RecentRoots, ServedMediaUrls
from workbench.ui.media_route import MediaFiles, media_patterns
from workbench.ui.modules import module_patterns
from workbench.ui.warm_up import warm_up

log = logging.getLogger(__name__)

MEDIA_PREFIX = "/media"
TITLE = "Workbench"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SessionRegistry:
    """The live sessions' apps by Bokeh session id, so HTTP routes can read their state.

    Entries are added when a session's app is built and dropped when Bokeh destroys the
    session; the lock is there because routes may be served while sessions come and go.
    """

    def __init__(self) -> None:
        self._apps: dict[str, Any] = {}
        self._lock = threading.Lock()

    def add(self, session_id: str, app: Any) -> None:
        with self._lock:
            self._apps[session_id] = app

    def discard(self, session_id: str) -> None:
        with self._lock:
            self._apps.pop(session_id, None)

    def get(self, session_id: str) -> Any | None:
        with self._lock:
            return self._apps.get(session_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._apps)


def selection_json(app: Any) -> dict[str, Any]:
    """The app's `selection` as plain JSON (a Selection dataclass or anything dict-like)."""
    selection = getattr(app, "selection", None)
    if selection is None:
        return {"frame_ids": [], "context_ids": [], "scene_uuids": [], "count": 0}
    if is_dataclass(selection) and not isinstance(selection, type):
        data = asdict(selection)
    else:
        data = dict(selection)
    return {k: list(v) if isinstance(v, tuple | list | set) else v for k, v in data.items()}


class SessionSelectionHandler(AuthRequestHandler):
    """GET /api/sessions/<session id>/selection -> {"frame_ids": [...], ..., "count": n}.

    Lets scripts and browser tests read what a person selected in one browser tab. The
    session id is unguessable (it is in the page's signed token), and the route sits behind
    the same auth as the app.
    """

    def initialize(self, sessions: SessionRegistry) -> None:
        self.sessions = sessions

    @authenticated
    def get(self, session_id: str) -> None:
        app = self.sessions.get(session_id)
        if app is None:
            raise HTTPError(404, reason="no such session")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps({"session_id": session_id, **selection_json(app)}))


def app_factory(
    catalog: Catalog, media: ServedMediaUrls, service: Workbench, sessions: SessionRegistry
) -> Callable[[], Any]:
    """The function Panel calls once per browser session to build that session's app.

    With a login (basic auth, OAuth) the session's actions are recorded in the audit log
    under the logged-in user; without one, under the server's own actor.
    """

    def session_app() -> Any:
        user = pn.state.user
        app = create_app(catalog, media, service.as_actor(user) if user else service)
        context = pn.state.curdoc.session_context if pn.state.curdoc else None
        if context is not None:
            session_id = context.id
            sessions.add(session_id, app)
            pn.state.on_session_destroyed(lambda ctx: sessions.discard(ctx.id))
        return app

    return session_app


def _free_port(address: str) -> int:
    # Bokeh needs the port before binding to allow websocket origins on it; port 0 means
    # "any free one", so pick it here (the tiny race is harmless for a local server).
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def websocket_origins(address: str, port: int, extra: list[str] | None) -> list[str]:
    """Hosts whose pages may open the app's websocket.

    Bokeh's default is only `localhost:<port>`, which refuses a browser pointed at
    http://127.0.0.1:<port>/ (the URL printed on start); loopback names are always allowed.
    """
    origins = [f"localhost:{port}", f"127.0.0.1:{port}"]
    if address not in ("0.0.0.0", "::", "") and address not in _LOOPBACK:
        origins.append(f"{address}:{port}")
    return origins + list(extra or [])


def server_url(address: str, port: int) -> str:
    host = "127.0.0.1" if address in ("0.0.0.0", "") else address
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/"


def serve(
    catalog_path: str | Path | Catalog,
    *,
    port: int = 5006,
    address: str = "127.0.0.1",
    allow_websocket_origin: list[str] | None = None,
    basic_auth: str | None = None,
    cookie_secret: str | None = None,
    oauth_provider: str | None = None,
    oauth_key: str | None = None,
    oauth_secret: str | None = None,
    show: bool = False,
    ready: Callable[[str], None] | None = None,
    max_body_mb: float = DEFAULT_MAX_BODY_MB,
) -> None:
    """Serve the workbench on `catalog_path` until interrupted (Ctrl-C or SIGTERM).

    `catalog_path` may be a catalog already open in this process: it is served as it is and
    left open. `port=0` picks a free port. `basic_auth` is a password or the path of a JSON file of
    {"user": "password"}; `oauth_*` are Panel's OAuth options. Auth without a
    `cookie_secret` gets a random one, so logins last until the server restarts. `ready`
    is called with the URL once the server accepts connections. `max_body_mb` is the
    largest request body the service API answers (413 beyond it).
    """
    owned = not isinstance(catalog_path, Catalog)
    catalog = catalog_path if isinstance(catalog_path, Catalog) else open_catalog(catalog_path)
    try:
        if port == 0:
            port = _free_port(address)
        thumbnails = ThumbnailCache(default_cache_dir(catalog.path))
        roots = RecentRoots(catalog.media_roots)
        files = MediaFiles(roots, thumbnails)
        media_urls = ServedMediaUrls(MEDIA_PREFIX, roots=roots)
        sessions = SessionRegistry()
        service = Workbench(catalog)
        patterns: list[Any] = [
            *media_patterns(files, MEDIA_PREFIX),
            *module_patterns(),  # our components' modules, cached by the browser
            (r"/api/sessions/([^/]+)/selection", SessionSelectionHandler, {"sessions": sessions}),
            # token from $WORKBENCH_API_TOKEN, else the app's login, else loopback only
            *api_patterns(per_actor(service), max_body_mb=max_body_mb),
        ]
        if (basic_auth or oauth_provider) and not cookie_secret:
            cookie_secret = secrets.token_hex(32)
        server = cast(
            Any,
            pn.serve(
                {"/": app_factory(catalog, media_urls, service, sessions)},
                port=port,
                address=address,
                websocket_origin=websocket_origins(address, port, allow_websocket_origin),
                show=False,
                start=False,
                title=TITLE,
                verbose=False,
                basic_auth=basic_auth,
                cookie_secret=cookie_secret,
                oauth_provider=oauth_provider,
                oauth_key=oauth_key,
                oauth_secret=oauth_secret,
                liveness=True,
                extra_patterns=patterns,
            ),
        )
        # CSP, nosniff and Referrer-Policy on every response: pages, media, API, static files
        server._tornado.add_transform(SecurityHeaders)
        _run(server, server_url(address, int(server.port)), show=show, ready=ready)
    finally:
        if owned:
            catalog.close()


def _run(server: Any, url: str, *, show: bool, ready: Callable[[str], None] | None) -> None:
    loop = server.io_loop

    def stop(*_: Any) -> None:
        loop.asyncio_loop.call_soon_threadsafe(loop.stop)

    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a test fixture, systemd, docker stop) stops like Ctrl-C, so the catalog
        # is closed cleanly instead of leaving a WAL to replay.
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    async def started() -> None:
        # The first session's one-time work, before anyone is told the server is there.
        try:
            await warm_up(server, url)
        except Exception:  # a bug in the warm-up must not keep the server from serving
            log.exception("the warm-up failed")
        print(f"Serving workbench on {url}", flush=True)
        if show:
            server.show("/")
        if ready is not None:
            ready(url)

    server.start()
    loop.add_callback(started)
    try:
        loop.start()
    finally:
        server.stop()
        sys.stdout.flush()
