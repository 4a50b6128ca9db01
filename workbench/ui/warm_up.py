"""The first session's one-time work, done when the server starts instead of in the first
person's page load.

A server's first session paid for much that no later session pays again: the page template
compiled, the static resources' versions hashed, our components' module put together
(workbench/ui/modules.py), the first use of every widget class and model, and the catalog's
first reads (the label fields, the first page of tiles, its facets and marks), which later
sessions share (workbench/ui/shared.py). `warm_up` does it all before the server says it
serves: it asks for the app's page from the server itself (the same request handler, so the
session and its document are built and the page rendered as for a browser), then runs the
parts added once a page is on screen (workbench/ui/later.py) in that session and waits for
its background reads. Nobody ever connects to that session: Bokeh drops it as any session
whose page never connected.

With a login (basic auth, OAuth) the page is not served without one: the warm-up then does
nothing, and the first session pays as before.

Before it, what the server holds from its start (the modules imported, the catalog open:
some 240,000 objects) is set apart from the garbage collector's scans (`gc.freeze`): it
lives as long as the server, and a full collection that went through it cost 100-200 ms,
the first one landing in the first session's page load, later ones in a page change.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

from bokeh.document import Document
from bokeh.server.callbacks import NextTickCallback
from panel.io.state import set_curdoc
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from workbench.ui.background import wait_idle
from workbench.ui.later import run_waiting

log = logging.getLogger(__name__)

# Bounds on the warm-up: the server says it serves after at most this long anyway (the
# page's request; then its background reads).
TIMEOUT_S = 120.0
IDLE_TIMEOUT_S = 30.0


async def warm_up(server: Any, url: str, app_path: str = "/") -> bool:
    """Build the app once in `server` (a Bokeh server, started, on this event loop) from
    the page at `url`, as a first browser session would; whether it did."""
    freeze_startup_objects()
    known = {session.id for session in server.get_sessions(app_path)}
    try:
        await AsyncHTTPClient().fetch(url, request_timeout=TIMEOUT_S, follow_redirects=False)
    except HTTPClientError as exc:  # a login in front of the page: nothing to warm
        (log.warning if exc.code >= 500 else log.info)("no warm-up: the page answered %s", exc.code)
        return False
    except OSError as exc:
        log.warning("no warm-up: the page could not be asked for: %s", exc)
        return False
    documents = [s.document for s in server.get_sessions(app_path) if s.id not in known]
    for doc in documents:
        with set_curdoc(doc):
            run_waiting(doc)
    # Until the background reads are done and their answers, and the models of the parts
    # added (Panel builds them in next-tick callbacks: nobody is connected), are applied.
    asked = time.monotonic()
    while time.monotonic() - asked < IDLE_TIMEOUT_S:
        if wait_idle(0) and not any(map(_ticks_due, documents)):
            await asyncio.sleep(0.05)  # an answer on its way to the loop
            if wait_idle(0) and not any(map(_ticks_due, documents)):
                break
        await asyncio.sleep(0.02)
    return True


def _ticks_due(doc: Document) -> bool:
    return any(isinstance(c, NextTickCallback) for c in doc.session_callbacks)


def freeze_startup_objects() -> None:
    """Collect the garbage of the start, then keep every object left out of the garbage
    collector's later scans (they live as long as the process)."""
    gc.collect()
    gc.freeze()
