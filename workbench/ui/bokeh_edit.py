"""Changing Bokeh models in place from Panel callbacks, served or in a notebook.

The annotator and the embeddings panel replace ColumnDataSource data instead of rebuilding
figures (the viewer, the timeline and the histograms are components of our own, which Panel
updates by itself). Panel runs some callbacks (browser events such as Enter in a text box or
a click message from the grid) without the document lock, and a Bokeh model changed there
directly breaks the session ("_pending_writes should be non-None"). Panel's `hold` collects
the changes and sends them together; a notebook needs them pushed over its comm afterwards.

Inside a callback that holds the document lock (a click, a widget change: Bokeh runs them
on a worker thread with the lock held), changes are made directly instead: Bokeh writes them
with the callback's other changes as soon as it returns. A hold there would release them in
a next-tick callback of its own, which waits for the lock and a worker thread again, and the
browser would draw the frame twice (once per batch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import panel as pn
from bokeh.models import ColumnDataSource


@contextmanager
def editing(*panes: pn.pane.Bokeh) -> Iterator[None]:
    """Hold document events while the body changes Bokeh models, then push `panes`."""
    if _in_locked_callback():
        yield
    else:
        with pn.io.hold():
            yield
    for pane in panes:
        pn.io.push_notebook(pane)


def _in_locked_callback() -> bool:
    """Whether this code runs in a served session's callback that holds its document lock
    (Bokeh collects every change made there and writes them when the callback returns)."""
    doc = pn.state.curdoc
    context = doc.session_context if doc is not None else None
    session = getattr(context, "_session", None)
    return session is not None and getattr(session, "_pending_writes", None) is not None


class PerRender[T]:
    """One copy of some Bokeh models for each time a view is rendered.

    A Bokeh model belongs to one document, and a notebook shows an app in a new document
    each time it is displayed (or wrapped as an ipywidget). The first copy is made up front
    (views update it before anything is shown); every later rendering gets a new one, and
    updates go to all of them.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._copies: list[T] = [make()]
        self._first_taken = False

    @property
    def first(self) -> T:
        return self._copies[0]

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._copies))

    def take(self) -> tuple[T, bool]:
        """A copy for a new rendering, and whether it is new (and needs drawing)."""
        if not self._first_taken:
            self._first_taken = True
            return self._copies[0], False
        copy = self._make()
        self._copies.append(copy)
        return copy, True


def set_data(source: ColumnDataSource, columns: Mapping[str, list[Any]]) -> None:
    """Replace all columns at once: one message to the browser, one redraw. Nothing is
    sent when the source is empty and stays so: each message is one more change for the
    browser to apply and draw."""
    if _empty(columns) and _empty(source.data) and set(columns) == set(source.data):
        return
    source.data = cast(Any, dict(columns))


def _empty(columns: Mapping[str, Any]) -> bool:
    return all(len(values) == 0 for values in columns.values())
