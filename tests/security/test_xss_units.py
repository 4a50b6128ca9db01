"""Values from data are shown as text: the helpers of workbench.ui.text, and what the app's
widgets and panes hand to Bokeh when the catalog is full of payloads (no browser).

The last tests keep every ui module on the one mechanism: no HTML-rendering Panel pane or
MultiChoice used directly, no markup written from data in grid.js.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import HoverTool
from bokeh.models import MultiChoice as BkMultiChoice

import workbench
from workbench.backends import LocalBackend
from workbench.services import Workbench
from workbench.store.catalog import Catalog
from workbench.ui.app import WorkbenchApp
from workbench.ui.media import ServedMediaUrls
from workbench.ui.text import (
    Html,
    TextAlert,
    TextMultiChoice,
    TextPane,
    choice_option,
    css_class,
    join,
    text,
)
from workbench.ui.text import (
    html as html_of,
)

from . import xss_catalog as x

UI = Path(workbench.__file__).parent / "ui"
PAYLOADS = [x.IMG, x.SVG, x.SCRIPT, x.DQ_ATTR, x.SQ_ATTR, x.LINK, x.MD_LINK, x.MD_IMAGE]


class Markup(HTMLParser):
    """The elements and attributes a piece of HTML makes, as a browser would parse it."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data

    def dangers(self) -> list[str]:
        found = []
        for tag, attrs in self.tags:
            if tag in ("script", "img", "svg", "a", "iframe", "object", "embed"):
                found.append(tag)
            for name, value in attrs.items():
                if name.startswith("on") or (value or "").strip().lower().startswith("javascript"):
                    found.append(f"{tag} {name}")
        return found


# -- the helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_is_inert_and_reads_as_itself(payload: str):
    escaped = text(payload)
    assert isinstance(escaped, Html)
    parsed = Markup(f"<div title='{escaped}' data-x=\"{escaped}\">{escaped}</div>")
    assert parsed.dangers() == []
    assert parsed.text == payload
    ((_, attrs),) = parsed.tags
    assert attrs == {"title": payload, "data-x": payload}


def test_text_of_none_html_and_numbers():
    assert text(None) == "" and text(3) == "3"
    made = html_of("<b>{}</b>", "x")
    assert text(made) is made  # already markup: not escaped twice
    assert text("it's", quote=False) == "it's" and text("it's") == "it&#x27;s"


def test_html_fills_a_template_with_text_and_numbers():
    made = html_of("<b>{}</b> {:.2f} {n}", x.IMG, 0.5, n=x.SVG)
    assert made == f"<b>{html.escape(x.IMG)}</b> 0.50 {html.escape(x.SVG)}"
    assert isinstance(made, Html) and Markup(made).dangers() == []


def test_join_and_adding_escape_what_is_not_markup():
    joined = join([html_of("<i>{}</i>", "a"), x.IMG], "<br>")
    assert joined == f"<i>a</i><br>{html.escape(x.IMG)}"
    assert isinstance(html_of("<b>x</b>") + x.IMG, Html)
    assert html_of("<b>x</b>") + x.IMG == "<b>x</b>" + html.escape(x.IMG)
    assert x.IMG + html_of("<b>x</b>") == html.escape(x.IMG) + "<b>x</b>"
    assert Markup(join([x.IMG, x.SVG])).dangers() == []


def test_css_class_is_one_token():
    assert css_class("wb-attribute-", "occluded") == "wb-attribute-occluded"
    assert css_class("wb-attribute-", x.SQ_ATTR) == "wb-attribute-__onmouseover_window___xss_1_x__"


def rendered_text(pane: Any) -> str:
    """The HTML the browser renders for a Panel HTML-like pane (its model's text)."""
    model = pane.get_root(Document())
    return html.unescape(model.text)  # Panel escapes it once more for the wire


@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_pane_and_alert_show_strings_as_text(payload: str):
    for pane in (TextPane(payload), TextAlert(payload, alert_type="danger")):
        shown = rendered_text(pane)
        assert Markup(shown).dangers() == [] and Markup(shown).text == payload
    assert rendered_text(TextPane(html_of("<b>{}</b>", payload))) == f"<b>{text(payload)}</b>"


def test_text_alert_renders_no_markdown():
    shown = rendered_text(TextAlert("**bold** [m](javascript:x) <b>b</b>"))
    assert Markup(shown).tags == [] and Markup(shown).text == "**bold** [m](javascript:x) <b>b</b>"


def test_text_multichoice_sends_escaped_labels_and_maps_values_back():
    widget = TextMultiChoice(options={f"{x.IMG} (3)": x.IMG, "plain (1)": "plain"})
    model = widget.get_root(Document())
    assert model.options == [
        (f"{x.IMG} (3)", html.escape(f"{x.IMG} (3)")),
        ("plain (1)", "plain (1)"),
    ]
    widget.value = [x.IMG]
    assert model.value == [f"{x.IMG} (3)"]
    # what the browser sends back is the option's value, mapped to the Python value
    assert widget._process_property_change({"value": [f"{x.IMG} (3)"]}) == {"value": [x.IMG]}
    assert choice_option(("v", x.SVG)) == ("v", html.escape(x.SVG))


# -- what the app hands to Bokeh -------------------------------------------------------------


@pytest.fixture(scope="module")
def payload_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    built = x.build_xss_catalog(tmp_path_factory.mktemp("xss-units"))
    catalog = workbench.open(built.path)
    try:
        yield catalog
    finally:
        catalog.close()


@pytest.fixture(scope="module")
def app_models(payload_catalog: Catalog) -> list[Any]:
    """The Bokeh models of the app with every surface filled: a context open, the facets
    counted, a dry run previewed, a run loaded (merge report), a task open in the annotator."""
    service = Workbench(payload_catalog, actor="ana", backends={"local": LocalBackend()})
    app = WorkbenchApp(payload_catalog, media=ServedMediaUrls(), service=service)
    app.state.open_tile(x.C1)
    app.state.select_all()
    app.runs.load(x.RUN)
    app.annotate_run(x.EDIT_RUN)
    send = app.actions_bar.send
    app.actions_bar.open(send)
    send.param.update(
        anno_key="k" + x.IMG, project=x.PROJECT, batch="b" + x.SVG, label_type="detections"
    )
    send.dry_run()
    app.runs.ask_delete(x.EDIT_RUN)
    root = pn.panel(app).get_root(Document())
    assert send.stage == "preview", send.error
    assert app.runs.report is not None
    return list(root.references())


def test_no_html_model_of_the_app_holds_markup_from_data(app_models: list[Any]):
    texts = [
        html.unescape(m.text)
        for m in app_models
        if type(m).__module__.startswith("panel.models")
        and isinstance(getattr(m, "text", None), str)
    ]
    # Count bars (workbench/ui/bars.py) draw their values with textContent from JSON.
    bars = [
        html.escape(row["v"])
        for m in app_models
        if isinstance(getattr(getattr(m, "data", None), "rows_json", None), str)
        for row in json.loads(m.data.rows_json)["rows"]
    ]
    everything = "\n".join(texts + bars)
    for value in (x.LABEL, x.BADGE, x.FRAMES[0], x.RUN, x.EDIT_RUN, x.PROJECT, x.FIELD, x.ACTOR):
        assert html.escape(value) in everything, value  # there, as text
    for source in texts:
        assert Markup(source).dangers() == [], source


def test_multichoice_labels_reach_bokeh_escaped(app_models: list[Any]):
    choices = [m for m in app_models if isinstance(m, BkMultiChoice)]
    assert len(choices) == 6  # labels, four metadata keys, tags
    labels = [label for m in choices for _, label in m.options]
    for value in (x.LABEL, x.WEATHER, x.TIME_OF_DAY, x.CAMERA, x.LOCATION, x.TAG):
        assert any(label.startswith(html.escape(value)) for label in labels), value
    for label in labels:
        assert Markup(label).tags == []


def test_hover_tooltips_are_tuples_without_safe(app_models: list[Any]):
    hovers = [m for m in app_models if isinstance(m, HoverTool)]
    assert hovers
    for hover in hovers:
        assert isinstance(hover.tooltips, list), "a custom HTML tooltip is not escaped"
        for _, field in hover.tooltips:
            assert "{safe}" not in field


# -- the ui modules stay on the mechanism ----------------------------------------------------

RAW_HTML = re.compile(
    r"pn\.pane\.(HTML|Markdown|Alert|Str|DataFrame)\b|pn\.widgets\.MultiChoice\b"
    r"|pn\.state\.notifications|\bDiv\(|innerHTML|outerHTML|insertAdjacentHTML|\{safe\}"
)


@pytest.mark.parametrize(
    "path", sorted(p for p in UI.iterdir() if p.suffix in (".py", ".js")), ids=lambda p: p.name
)
def test_ui_modules_put_nothing_into_html_but_through_ui_text(path: Path):
    if path.name == "text.py":
        return
    source = path.read_text()
    assert RAW_HTML.findall(source) == []
    if path.suffix == ".py":
        assert not re.search(r"^\s*(import html\b|from html import)", source, re.M)
        assert "html.escape" not in source
