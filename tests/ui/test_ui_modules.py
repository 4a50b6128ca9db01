"""Our components' modules: one URL in a served session's document, answered by the server's
`/wb-modules` route with every module (cached while its hash holds); inlined in any other
document."""

from __future__ import annotations

import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bokeh.document import Document
from panel.io.state import set_curdoc

import workbench.ui.app  # noqa: F401 - every component of the app registered
from workbench.ui import modules
from workbench.ui.bars import FacetBars
from workbench.ui.frame_view import FrameCanvas
from workbench.ui.grid import TileGrid
from workbench.ui.modules import ROUTE, combined_module, module_text, module_url


class _Served:
    """What a served session's context says of itself, as much as Panel asks."""

    def __init__(self) -> None:
        self.id, self.destroyed = "test", False
        self.server_context = SimpleNamespace(application_context=None, sessions=[])
        self.request = SimpleNamespace(arguments={}, cookies={}, headers={})


def _model(component: Any, served: bool) -> Any:
    doc = Document()
    context = _Served()
    if served:
        doc._session_context = weakref.ref(context)  # type: ignore[assignment]
    with set_curdoc(doc):
        return component.get_root(doc)


def test_every_module_of_ours_is_served_whole() -> None:
    names = set(modules._SERVED)
    assert {"FrameCanvas", "TileGrid", "FacetBars", "PlayControl", "Timeline"} <= names
    text, version = combined_module()
    assert text.count("export ") == 1 and text.endswith("export default modules;\n")
    for name in names:
        assert "export function render" in module_text(name), name
        body = module_text(name).replace("export function render", "function render")
        assert body in text, name
        assert f"modules[{name!r}] = {{ render }};" in text
    assert module_url() == f".{ROUTE}/all.js?v={version}"


def test_a_served_document_names_the_module_and_links_the_css() -> None:
    for component, css in ((FrameCanvas(), "frame_view.css"), (TileGrid(), "grid.css")):
        model = _model(component, served=True)
        assert model.esm == module_url()
        assert model.bundle == "url"  # Panel takes the export named after the class
        urls = [getattr(s, "url", "") for s in model.stylesheets]
        assert any(u.endswith(f"/_stylesheets/{css}") for u in urls), urls


def test_a_notebook_document_inlines_module_and_css() -> None:
    component = FrameCanvas()
    model = _model(component, served=False)
    assert model.esm == module_text("FrameCanvas")
    assert model.bundle is None
    css = (Path(modules.__file__).parent / "frame_view.css").read_text()
    assert css in [s for s in model.stylesheets if isinstance(s, str)]


def test_the_route_answers_our_modules_only_and_caches_the_current_one(demo_server: Any) -> None:
    text, version = combined_module()
    current = demo_server.get(f"{ROUTE}/all.js?v={version}")
    assert current.status_code == 200
    assert current.text == text
    assert current.headers["content-type"].startswith("text/javascript")
    assert "immutable" in current.headers["cache-control"]
    stale = demo_server.get(f"{ROUTE}/all.js?v=0000")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    for path in ("FacetBars.js", "..%2Fserver.js", "all.css", "all.js/x"):
        assert demo_server.get(f"{ROUTE}/{path}").status_code == 404, path
    assert FacetBars.__name__ in modules._SERVED
