"""Changing Bokeh models in place from Panel callbacks, served or in a notebook.

The viewer, the timeline and the histogram replace ColumnDataSource data instead of
rebuilding figures. Panel runs some callbacks (browser events such as Enter in a text box or
a click message from the grid) without the document lock, and a Bokeh model changed there
directly breaks the session ("_pending_writes should be non-None"). Panel's `hold` collects
the changes and sends them together; a notebook needs them pushed over its comm afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import panel as pn


@contextmanager
def editing(*panes: pn.pane.Bokeh) -> Iterator[None]:
    """Hold document events while the body changes Bokeh models, then push `panes`."""
    with pn.io.hold():
        yield
    for pane in panes:
        pn.io.push_notebook(pane)
