"""Our components' ES modules served as one file the browser keeps, instead of inlined in
the page's document.

A Panel `JSComponent` sends its module's text in its Bokeh model, so every first document
carried all of ours (some 49 KB of the ~150 KB a served page pulls over its websocket), and
the browser compiled each again on every load. A component made with `ServedModule` tells a
served session's page a URL instead: `/wb-modules/all.js?v=<hash>`, one module holding every
component's (`export default {<class name>: {render}, ...}`, from which Panel takes the one
named after the class), answered by `ModuleHandler` from the module texts the classes hold
(the package's files, never a CDN), with a year's `Cache-Control`: the hash changes with the
text. A first load fetches it once for all the components; the next load asks for nothing.
Outside a served session (a notebook, JupyterLab, an exported file) each module stays
inlined, as Panel does it.

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
ALL = "all"
# A module's one export, made a plain function inside the block that holds it.
_EXPORT = re.compile(r"^([ \t]*)export function render\(", re.MULTILINE)
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
            properties.update(esm=module_url(), bundle="url", importmap={})
        return properties


def module_text(name: str) -> str:
    """The module of the served class `name`, as Panel would inline it."""
    cls = _SERVED[name]
    return textwrap.dedent(cls._render_esm(compiled=True, server=False))


@cache
def _combined(names: tuple[str, ...]) -> tuple[str, str]:
    parts = []
    for name in names:
        # each module in a block of its own: its functions and constants stay its own
        body = _EXPORT.sub(r"\1function render(", module_text(name))
        parts.append(f"// {name}\n{{\n{body}\nmodules[{name!r}] = {{ render }};\n}}\n")
    text = "const modules = {};\n" + "".join(parts) + "export default modules;\n"
    return text, hashlib.sha256(text.encode()).hexdigest()[:16]


def combined_module() -> tuple[str, str]:
    """(text, version) of the one module holding every served class's."""
    return _combined(tuple(sorted(_SERVED)))


def module_url() -> str:
    """Where a served page imports our modules from (relative to the page)."""
    return f".{ROUTE}/{ALL}.js?v={combined_module()[1]}"


class ModuleHandler(RequestHandler):
    """GET /wb-modules/all.js[?v=<hash>]: every served class's module. The URL with the
    current hash is kept for a year (`immutable`); any other is checked each time."""

    def get(self, name: str) -> None:
        if name != ALL:
            raise HTTPError(404)
        text, version = combined_module()
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        if self.get_argument("v", "") == version:
            self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        else:
            self.set_header("Cache-Control", "no-cache")
        self.write(text)


def module_patterns() -> list[tuple[str, type[RequestHandler]]]:
    """The route to add to the server (`extra_patterns`)."""
    return [(rf"{ROUTE}/([^/]+)\.js", ModuleHandler)]
