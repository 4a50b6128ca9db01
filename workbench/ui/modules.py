"""Our components' ES modules served as files the browser keeps, instead of inlined in the
page's document.

A Panel `JSComponent` sends its module's text in its Bokeh model, so every first document
carried all of ours (some 45 KB of the ~200 KB a served page pulls over its websocket), and
the browser compiled each again on every load. A component made with `ServedModule` first
tells a served session's page the URL of its module instead: `/wb-modules/<class>.js?v=<hash>`,
answered by `ModuleHandler` from the module text the class holds (the package's files, never
a CDN), with a year's `Cache-Control` because the hash changes with the text. The page
imports it once and keeps it; the next load asks for nothing. Outside a served session (a
notebook, JupyterLab, an exported file) the module stays inlined, as Panel does it.

Stylesheets take Panel's own path: `_stylesheets` name CSS files beside the class's module,
which a served page gets as links (Panel's component resource route) and a notebook inline.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from functools import cache
from typing import Any, ClassVar

from tornado.web import HTTPError, RequestHandler

ROUTE = "/wb-modules"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,80}$")
# Every class made with ServedModule, by name: the only modules the route serves.
_SERVED: dict[str, type[Any]] = {}


class ServedModule:
    """Mixin for a `pn.custom.JSComponent` whose `_esm` a served page imports by URL."""

    _module_name: ClassVar[str] = ""

    def __init_subclass__(cls, **params: Any) -> None:
        super().__init_subclass__(**params)
        if cls.__name__ in _SERVED and _SERVED[cls.__name__].__module__ != cls.__module__:
            raise TypeError(f"two served modules are named {cls.__name__}")
        _SERVED[cls.__name__] = cls

    def _get_properties(self, doc: Any) -> dict[str, Any]:
        properties: dict[str, Any] = super()._get_properties(doc)  # type: ignore[misc]
        context = getattr(doc, "session_context", None)
        if getattr(context, "server_context", None) is not None:
            name = type(self).__name__
            properties.update(esm=f".{ROUTE}/{name}.js?v={module_version(name)}", bundle="url")
            properties["importmap"] = {}
        return properties


@cache
def module_text(name: str) -> str:
    """The module of the served class `name`, as Panel would inline it."""
    cls = _SERVED[name]
    return textwrap.dedent(cls._render_esm(compiled=True, server=False))


@cache
def module_version(name: str) -> str:
    return hashlib.sha256(module_text(name).encode()).hexdigest()[:16]


class ModuleHandler(RequestHandler):
    """GET /wb-modules/<class>.js[?v=<hash>]: the module of one served class. The URL with
    the current hash is kept for a year (`immutable`); any other is checked each time."""

    def get(self, name: str) -> None:
        if not _NAME.match(name) or name not in _SERVED:
            raise HTTPError(404)
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        if self.get_argument("v", "") == module_version(name):
            self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        else:
            self.set_header("Cache-Control", "no-cache")
        self.write(module_text(name))


def module_patterns() -> list[tuple[str, type[RequestHandler]]]:
    """The route to add to the server (`extra_patterns`)."""
    return [(rf"{ROUTE}/([^/]+)\.js", ModuleHandler)]
