"""Parts of a page added once the page is on screen.

A served session's first document is built, sent and drawn before anything else happens;
what a person does not need at once (the actions and runs panels) is added right after,
all of it in one batch: one callback once the page is on
screen, its changes held and sent together, so the browser lays the page out once more
rather than once per part. In a notebook or a script there is no such moment: the parts are
added at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

import panel as pn
import param
from bokeh.document import Document
from panel.io import hold

# Per served document, the callbacks waiting for its page to be on screen; None once they
# ran (a part made by one of them, which waits for the page in its turn, is filled at once:
# it is not on screen yet, and comes in the same batch).
_WAITING: WeakKeyDictionary[Document, list[Callable[[], None]] | None] = WeakKeyDictionary()


def after_first_render(callback: Callable[[], None]) -> None:
    """When served, run `callback` once the page is on screen (with every other part
    waiting, in one batch); in a notebook or a script, or once the page is on screen, at
    once."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        callback()
        return
    if doc in _WAITING and _WAITING[doc] is None:
        callback()
        return
    waiting = _WAITING.get(doc)
    if waiting is None:
        waiting = _WAITING[doc] = []
        pn.state.onload(lambda: run_waiting(doc))
    waiting.append(callback)


def run_waiting(doc: Document) -> None:
    """Run the callbacks waiting for `doc`'s page, now, in one batch (once: a second call,
    or the page then coming on screen, finds none)."""
    callbacks = _WAITING.get(doc) or []
    _WAITING[doc] = None
    with hold():
        for each in callbacks:
            each()


def wrapping_row(*objects: Any, **params: Any) -> pn.Column:
    """`objects` side by side, wrapping onto more lines in a narrow page or notebook cell.

    A Column laid out as a wrapping row: Panel gives a Row the sum of its children's widths
    as its least width (so it never wraps below that and widens a notebook cell), a Column
    only the widest child's."""
    styles = {"flex-direction": "row", "flex-wrap": "wrap", "align-items": "center"}
    params.setdefault("sizing_mode", "stretch_width")
    params["styles"] = {**styles, **params.get("styles", {})}
    return pn.Column(*objects, **params)


def built_when_shown(part: Any, owner: param.Parameterized, name: str) -> pn.Column:
    """A column that takes `part` the first time `owner.<name>` is set (truthy), and keeps
    it: a part hidden until then (a confirmation, a dialog in the page) is not built in the
    browser, nor sent, until someone needs it. Its widgets exist on the server from the
    start (what they do is bound there); only their models wait."""
    box = pn.Column(sizing_mode="stretch_width", margin=0)

    def place(*events: param.parameterized.Event) -> None:
        if getattr(owner, name) and not box.objects:
            box[:] = [part]

    owner.param.watch(place, [name])
    place()
    return box
