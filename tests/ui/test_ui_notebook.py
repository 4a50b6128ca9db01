"""The notebook output of the app, without a browser: the note, the probe, inline resources.

What only a front end shows (the note hidden once the kernel answers, clicks reaching
Python) is tested in a real JupyterLab by tests/notebooks/test_jupyterlab.py.
"""

from __future__ import annotations

import json
import re

import panel as pn
import pytest
from bokeh.models import ImportedStyleSheet, UIElement

from workbench.store.catalog import Catalog
from workbench.ui import notebook
from workbench.ui.app import WorkbenchApp
from workbench.ui.media import ServedMediaUrls
from workbench.ui.selection import Selection


@pytest.fixture
def inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a kernel once `load_extension` ran: the extension loaded, resources inline."""
    monkeypatch.setattr(pn.extension, "_loaded", True)
    monkeypatch.setattr(pn.config, "inline", True)
    monkeypatch.delenv("PANEL_INLINE", raising=False)


def test_the_note_is_plain_html_and_escapes_its_text():
    note = notebook.note_html("wb-note-1", "a <b>", "pip install x & y")
    assert note.startswith('<div id="wb-note-1" class="wb-notebook-note" role="alert"')
    assert "a &lt;b&gt;" in note and "x &amp; y" in note
    assert "<script" not in note


def test_the_app_output_starts_with_the_note_and_loads_nothing_from_a_cdn(
    catalog: Catalog, inline: None
):
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    data, metadata = app._repr_mimebundle_()
    html = data["text/html"]
    note = re.match(r'<div id="(wb-note-[0-9a-f]+)" class="wb-notebook-note"', html)
    assert note is not None
    assert "pip install pyviz_comms in the environment that runs JupyterLab" in html
    # The probe in the rendered document knows which note to hide.
    assert html.count(note.group(1)) >= 2
    # Panel's own output follows: JupyterLab's Panel extension renders it by this id.
    assert "id" in metadata["application/vnd.holoviews_exec.v0+json"]
    # ... as markup, not as escaped text after the note.
    assert "<script" in html and "&lt;script" not in html
    for host in ("cdn.holoviz.org", "cdn.bokeh.org", "cdn.jsdelivr.net", "esm.sh", "unpkg.com"):
        assert host not in html


def test_inline_column_makes_models_with_inline_stylesheets(inline: None):
    from bokeh.document import Document
    from panel.io.resources import set_resource_mode

    doc = Document()
    column = notebook.InlineColumn(pn.widgets.Button(label="x"), pn.pane.HTML("y"))
    with set_resource_mode("inline"):  # as Panel renders for a notebook
        model = column._render_model(doc)
    sheets = [s for m in model.select({"type": UIElement}) for s in m.stylesheets]
    assert sheets  # Panel components do have stylesheets...
    assert not [s for s in sheets if isinstance(s, ImportedStyleSheet)]  # ...all inline


def test_the_ipywidget_links_no_stylesheet(catalog: Catalog, inline: None):
    pytest.importorskip("jupyter_bokeh")
    from panel.io.resources import set_default_resource_mode

    set_default_resource_mode("cdn")  # as pn.extension(inline=True) leaves it in a kernel
    try:
        widget = WorkbenchApp(catalog, media=ServedMediaUrls()).ipywidget()
    finally:
        set_default_resource_mode("server")
    bundle = json.dumps(widget.app.render_bundle)
    assert '"InlineStyleSheet"' in bundle or ":host" in bundle
    assert '"ImportedStyleSheet"' not in bundle


def test_the_probe_is_connected_by_a_ping_only():
    probe = notebook.ConnectionProbe(note_id="wb-note-2")
    probe._handle_msg({"event": "click"})
    assert not probe.connected
    probe._handle_msg("ping")
    assert probe.connected


def test_the_ipywidget_hides_its_note_once_connected(catalog: Catalog):
    pytest.importorskip("jupyter_bokeh")
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    widget = app.ipywidget()
    assert "pip install jupyter_bokeh" in widget.note.value
    assert not widget.connected and widget.note.layout.display != "none"
    widget.probe._handle_msg("ping")
    assert widget.connected and widget.note.layout.display == "none"
    # A front end that cannot show widgets shows the HTML: what to install.
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "pip install ipywidgets jupyter_bokeh" in bundle["text/html"]


def test_outside_a_kernel_nothing_is_loaded(monkeypatch: pytest.MonkeyPatch):
    assert not notebook.in_kernel()  # pytest imports IPython, but runs no kernel
    monkeypatch.setattr(pn.extension, "_loaded", False)
    notebook.load_extension()
    assert not pn.extension._loaded


def test_selection_repr_is_short_whatever_its_size():
    frames = tuple(f"context-{i // 100}/{i:07d}" for i in range(100_000))
    contexts = tuple(dict.fromkeys(f.split("/")[0] for f in frames))
    text = repr(Selection(frame_ids=frames, context_ids=contexts))
    assert text.startswith("Selection(100000 frames ['context-0/0000000', ")
    assert "… 99997 more]" in text and "1000 contexts [" in text and "0 scenes []" in text
    assert len(text) < 300
    long_id = "s3://bucket/" + "x" * 200
    assert len(repr(Selection(frame_ids=(long_id,), context_ids=(long_id,)))) < 200
    assert repr(Selection()) == "Selection(0 frames [], 0 contexts [], 0 scenes [])"


def test_front_ends_that_show_only_widgets_get_the_widget(
    catalog: Catalog, inline: None, monkeypatch: pytest.MonkeyPatch
):
    pytest.importorskip("jupyter_bokeh")
    monkeypatch.setattr(pn.config, "comms", "ipywidgets")
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    data, _ = app._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "pip install ipywidgets jupyter_bokeh" in data["text/html"]


class RecordingComm:
    """The transport seam of a notebook output: what Panel would send to the browser."""

    def __init__(self) -> None:
        self._comm = object()  # open
        self.sent: list[str] = []

    def send(self, data: str | None = None, metadata: object = None, buffers: object = ()) -> None:
        if data is not None:
            self.sent.append(data)


def test_resend_document_sends_the_current_state_in_one_message(inline: None):
    from bokeh.document import Document

    doc = Document()
    grid_html = pn.pane.HTML("page 1", css_classes=["wb-page-label"])
    column = notebook.InlineColumn(grid_html)
    model = column.get_root(doc)
    doc.add_root(model)
    doc.models.flush_synced()  # the browser has the document
    # A change whose message was lost (or overtaken by an older one) on its way.
    grid_html.object = "page 2"
    doc.callbacks._held_events.clear()
    comm = RecordingComm()
    notebook.resend_document(doc, comm)
    header, _metadata, content = comm.sent[:3]
    assert '"msgtype":"PATCH-DOC"' in header.replace(" ", "")
    assert "page 2" in content and "page 1" not in content
    assert "ImportedStyleSheet" not in content and '"esm"' not in content
