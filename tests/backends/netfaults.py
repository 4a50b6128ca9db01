"""Misbehaving network pieces for the backend tests: a scripted HTTP server on 127.0.0.1 and a
TCP proxy that drops connections on purpose."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Close the connection without answering (after reading the request).
    hang_up: bool = False


class ScriptedServer:
    """An HTTP server that answers each request with the next scripted Reply for its path
    (the last one repeats), recording every request it got."""

    def __init__(self) -> None:
        self.script: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                server.requests.append((self.command, self.path, dict(self.headers), body))
                replies = server.script.get(path) or [Reply(404, {"detail": "Not found."})]
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
                if reply.hang_up:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = reply.body
                if not isinstance(data, bytes | str):
                    data = json.dumps(data)
                raw = data.encode() if isinstance(data, str) else data
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(raw)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def on(self, path: str, *replies: Reply) -> None:
        self.script[path] = list(replies)

    def count(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.requests if p.split("?")[0] == path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FaultyProxy:
    """A TCP proxy in front of a server. Armed with `drop_answer(match)`, it forwards the next
    request whose first line contains `match` but throws the answer away and hangs up, as a
    network losing the response would; with `hang_up_next()`, it closes the next connection
    as soon as it is made. Each fault happens once."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self._drop: bytes | None = None
        self._hang_up = False
        self.faults = 0
        self._lock = threading.Lock()
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def drop_answer(self, match: bytes) -> None:
        self._drop = match

    def hang_up_next(self) -> None:
        self._hang_up = True

    def close(self) -> None:
        self._closing = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                hang_up, self._hang_up = self._hang_up, False
            if hang_up:
                self.faults += 1
                client.recv(65536)  # the request arrives, and the line goes dead
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        dropping = threading.Event()
        threading.Thread(
            target=self._pump, args=(upstream, client, dropping.is_set), daemon=True
        ).start()
        self._pump(client, upstream, lambda: False, dropping)

    def _pump(
        self,
        source: socket.socket,
        target: socket.socket,
        swallow: Callable[[], bool],
        dropping: threading.Event | None = None,
    ) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if (
                    dropping is not None
                    and self._drop
                    and chunk.split(b"\r\n", 1)[0].find(self._drop) >= 0
                ):
                    with self._lock:
                        armed, self._drop = self._drop, None
                    if armed:
                        self.faults += 1
                        dropping.set()
                if swallow():
                    # The server answered a request whose answer is to be lost: let it finish
                    # writing, then hang up on both sides.
                    source.settimeout(0.5)
                    with contextlib.suppress(OSError):
                        while source.recv(65536):
                            pass
                    break
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
