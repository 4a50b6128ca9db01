"""The workbench app in a notebook: resources that need no network, and a visible message
whenever the front end cannot talk to the kernel.

Two things go wrong in Jupyter without saying so, and this module is where they are handled:

- Panel loads BokehJS and its own JavaScript from a CDN unless told otherwise: offline (most
  data centres) the cell stays blank. `load_extension` loads them inline, from the installed
  packages, unless `PANEL_INLINE` says otherwise.
- JupyterLab and Notebook 7 need Panel's labextension (the `pyviz_comms` package) in the
  environment that runs JupyterLab, which is often not the kernel's. Without it the app is
  drawn but ignores every click. The ipywidget needs `jupyter_bokeh`'s labextension there.

Every output therefore starts with a plain HTML note saying what to install, visible without
any JavaScript. A `ConnectionProbe` in the app sends a message to the kernel, and the kernel's
answer (the probe's `connected`) hides the note: it only goes away once both directions work.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import panel as pn
import param
from bokeh.document import Document

from workbench.ui.text import Html, html

NOTE_CLASS = "wb-notebook-note"
NOTE_STYLE = (
    "border-left: 4px solid #d97706; background: rgba(217, 119, 6, 0.08); color: inherit;"
    " padding: 6px 10px; margin: 4px 0; font-family: sans-serif; font-size: 13px;"
)
NOT_CONNECTED = "The workbench app is not connected to its kernel: it will not respond."
INSTALL_PANEL_EXTENSION = (
    "The Panel extension for JupyterLab is not installed: pip install pyviz_comms in the"
    " environment that runs JupyterLab (or Notebook 7), restart it and reload this page."
)
NOT_TRUSTED = (
    "A notebook reopened from disk: run this cell again. Another front end (VS Code...):"
    " show app.ipywidget() instead (needs jupyter_bokeh)."
)
INSTALL_BOKEH_WIDGET = (
    "The app's widget needs the Bokeh widget extension: pip install jupyter_bokeh in the"
    " environment that runs JupyterLab (or the notebook front end), restart it and reload"
    " this page."
)
NO_WIDGETS = (
    "This front end shows no Jupyter widgets (or this output was saved: run the cell"
    " again). pip install ipywidgets jupyter_bokeh in the environment that runs JupyterLab"
    " (or the notebook front end), restart it and reload this page."
)

# The probe's front end. `note_id` names the HTML note printed before the app. The note
# goes once the kernel has answered a ping; meanwhile it says what the page knows: Panel's
# JupyterLab extension registers the kernel of every Panel output it draws in
# window.PyViz.kernels, and the classic notebook and Colab expose theirs globally.
_PROBE_JS = """
const WAITING = "Connecting to the kernel…";
const SILENT = "No answer from the kernel yet: it may be busy running other cells."
  + " If this stays, run this cell again.";

function kernelReachable() {
  const kernels = window.PyViz && window.PyViz.kernels;
  if (kernels && Object.values(kernels).some(Boolean)) return true;
  if (window.Jupyter && window.Jupyter.notebook && window.Jupyter.notebook.kernel) return true;
  if (window.comm_manager) return true;
  return typeof google !== "undefined" && google.colab !== undefined && !!google.colab.kernel;
}

export function render({ model }) {
  const started = Date.now();
  const note = () => (model.note_id ? document.getElementById(model.note_id) : null);

  function update() {
    const node = note();
    if (node === null) return;
    if (model.connected) {
      node.hidden = true;
      node.style.display = "none";
      return;
    }
    const detail = node.querySelector(".wb-note-detail");
    if (detail === null) return;
    // The script runs, so the output is trusted: what is left to say is what is missing.
    const reachable = kernelReachable();
    node.dataset.state = reachable ? "connecting" : "no-extension";
    if (!reachable) {
      detail.textContent = model.missing;
    } else {
      detail.textContent = Date.now() - started > 30000 ? SILENT : WAITING;
    }
  }

  // The extension registers the kernel after the output's scripts ran, and a message sent
  // before the comm is open is lost: ping until the kernel answers (it answers once free),
  // every second at first, then every ten.
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
    if (model.connected || Date.now() - started > 600000) {
      clearInterval(timer);
    } else if (ticks < 30 || ticks % 10 === 0) {
      model.send_msg("ping");
    }
    update();
  }, 1000);
  model.send_msg("ping");
  model.on("connected", update);
  update();
  return document.createElement("span");
}
"""


# Panel retries a push every 0.1 s until the comm is open: this is well after the last.
RESYNC_DELAY_S = 0.5
# Properties that do not follow the app's state, and would make the browser redo work.
_STATIC_PROPERTIES = frozenset(
    {"stylesheets", "esm", "importmap", "bundle", "dev", "tags", "name", "subscribed_events"}
    | {"js_property_callbacks", "js_event_callbacks"}
)


def resend_document(doc: Document, comm: Any) -> None:
    """Send every model's current (non-default) properties over `comm` in one message."""
    from bokeh.document.events import DocumentChangedEvent, ModelChangedEvent
    from bokeh.models.css import StyleSheet
    from panel.io.model import diff
    from panel.io.notebook import push

    events: list[DocumentChangedEvent] = [
        ModelChangedEvent(doc, model, attr, value)
        for model in list(doc.models)
        if not isinstance(model, StyleSheet)
        for attr, value in model.properties_with_values(include_defaults=False).items()
        if attr not in _STATIC_PROPERTIES
    ]
    message = diff(doc, events=events)
    if message is not None:
        push(doc, comm, msg=message)


class ConnectionProbe(pn.custom.JSComponent):
    """A zero-size component whose `connected` turns True once its front end has pinged
    the kernel: both directions of the comm work. It then hides the note `note_id`."""

    note_id = param.String(default="", doc="Id of the HTML note this probe hides.")
    missing = param.String(
        default=INSTALL_PANEL_EXTENSION,
        doc="What the note says when the page has no way to reach the kernel.",
    )
    connected = param.Boolean(default=False, doc="Whether a ping from the browser arrived.")

    _esm = _PROBE_JS

    def __init__(self, **params: Any) -> None:
        params.setdefault("width", 0)
        params.setdefault("height", 0)
        params.setdefault("margin", 0)
        super().__init__(**params)

    def _handle_msg(self, data: Any) -> None:
        if data != "ping" or self.connected:
            return
        self.connected = True
        # Updates made before the browser connected (the notebook's next cells run before
        # the output is on screen) wait in Panel's queue and are sent, once the comm is
        # open, interleaved with newer ones: the page can end up showing an older state.
        # Send the current state of every model again once that queue has drained.
        from tornado.ioloop import IOLoop

        IOLoop.current().call_later(RESYNC_DELAY_S, self._resync)

    def _resync(self) -> None:
        for ref in list(self._models):
            view = pn.state._views.get(ref)
            if view is not None and view[3] is not None:
                resend_document(view[2], view[3])


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel, not just imported)."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


class InlineColumn(pn.Column):
    """A Column whose notebook rendering inlines its stylesheets as the models are made.

    With inline resources Panel replaces every component's stylesheet links (to its CDN) by
    their CSS once the models are in their Document, and each replacement makes Bokeh walk
    the whole Document again: 15 s for the app (200 models) on a busy 2-core machine.
    Registering the Document as inline before the models are made gives them inline CSS at
    once, and leaves that pass nothing to replace.
    """

    def _render_model(self, doc: Document | None = None, comm: Any = None) -> Any:
        if pn.config.inline:
            doc = doc if doc is not None else Document()
            pn.state._inline_stylesheets.setdefault(doc, {})
        return super()._render_model(doc, comm)


def _inline_leftover_stylesheets(root: Any) -> bool:
    """Inline the stylesheets still linked to Panel's CDN (a few models get theirs after
    they are made); as Panel does for its own inline output. Whether any was."""
    from bokeh.models import ImportedStyleSheet
    from bokeh.models.ui import UIElement
    from panel.io.notebook import patch_inline_stylesheets

    leftovers = [
        model
        for model in root.references()
        if isinstance(model, UIElement)
        and any(isinstance(sheet, ImportedStyleSheet) for sheet in model.stylesheets)
    ]
    for model in leftovers:
        patch_inline_stylesheets(model, root.document)
    return bool(leftovers)


def load_extension() -> None:
    """Load Panel's extension in a notebook kernel, with its JavaScript inline (no CDN).

    Does nothing outside a kernel (served apps and scripts), when it is loaded inline
    already, or when the person chose with `PANEL_INLINE` (then their choice stands).
    """
    if not in_kernel():
        return
    if pn.extension._loaded and (pn.config.inline or "PANEL_INLINE" in os.environ):
        return
    pn.extension(inline=True)


def note_html(note_id: str, headline: str, detail: str) -> str:
    """The note printed before an output, visible until its probe hides it."""
    note: Html = html(
        '<div id="{}" class="{}" role="alert" style="{}"><b>{}</b>'
        ' <span class="wb-note-detail">{}</span></div>',
        note_id,
        NOTE_CLASS,
        NOTE_STYLE,
        headline,
        detail,
    )
    # A plain str: the output's own HTML is added after it, and an Html would escape that.
    return str(note)


def mimebundle(
    viewable: Any, include: Any = None, exclude: Any = None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """What a notebook shows for `viewable`: Panel's output after a note saying what to
    install, which a `ConnectionProbe` in the output hides once the kernel answers."""
    load_extension()
    if pn.config.comms in ("vscode", "ipywidgets"):
        return _widget_mimebundle(viewable, include, exclude)
    note_id = f"wb-note-{uuid.uuid4().hex}"
    probe = ConnectionProbe(note_id=note_id)
    shown = InlineColumn(probe, viewable, sizing_mode="stretch_width", margin=0)
    rendered = shown._repr_mimebundle_(include, exclude)
    if rendered is None:
        return None
    data, metadata = rendered
    note = note_html(note_id, NOT_CONNECTED, f"{INSTALL_PANEL_EXTENSION} {NOT_TRUSTED}")
    if "text/html" in data:
        data = {**data, "text/html": note + data["text/html"]}
    return data, metadata


def _widget_mimebundle(
    viewable: Any, include: Any, exclude: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    widget = ipywidget(viewable)
    data = widget._repr_mimebundle_(include=include, exclude=exclude)
    if pn.config.comms == "vscode":
        # As Panel does for VS Code: the widget is displayed, the result is an empty div.
        from IPython.display import display

        display(data, raw=True)
        return {"text/html": '<div style="display: none"></div>'}, {}
    return data, {}


def ipywidget(viewable: Any) -> Any:
    """`viewable` as an ipywidget (needs jupyter_bokeh): a note saying what to install, then
    the app; the note hides once the app's front end has answered the kernel."""
    from workbench.ui.notebook_widget import AppWidget

    load_extension()
    from panel.io.resources import set_resource_mode

    probe = ConnectionProbe()
    column = InlineColumn(probe, viewable, sizing_mode="stretch_width", margin=0)
    doc = Document()
    if pn.config.inline:
        # As InlineColumn does for the inline output: stylesheets inline, not CDN links.
        pn.state._inline_stylesheets.setdefault(doc, {})
    with set_resource_mode("inline" if pn.config.inline else "cdn"):
        app = pn.ipywidget(column, doc=doc)
    if pn.config.inline:
        # The widget renders its model in a Document of its own: register that one too,
        # so models made later in it get inline CSS as well.
        pn.state._inline_stylesheets.setdefault(app._model.document, {})
        if _inline_leftover_stylesheets(app._model):
            app.update_from_model(app._model)  # its first document, CSS inline
    note = note_html(f"wb-note-{uuid.uuid4().hex}", NOT_CONNECTED, INSTALL_BOKEH_WIDGET)
    fallback = note_html(f"wb-note-{uuid.uuid4().hex}", NOT_CONNECTED, NO_WIDGETS)
    return AppWidget(app, probe, note_html=note, fallback_html=fallback)
