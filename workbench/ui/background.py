"""Slow reads (facets) off the session's event loop, results applied back on it.

A served session handles one event at a time: facets of a million frames take a few hundred
milliseconds, and a click on "next page" right after a new query would wait behind them.
Here they run on a small thread pool with their own DuckDB cursors, and the result is
applied in a next-tick callback of the session's document. The pool thread never touches the
document itself: it hands the result to the server's event loop (tornado's `add_callback`,
the one call made to be called from any thread), and the next-tick callback is added there.
Added from the pool thread, Bokeh's `add_next_tick_callback` announces the callback to the
session through the document's held events, which the loop thread swaps and empties without
a lock whenever it releases a hold (Panel does around every batch of changes): about one
callback in a thousand was never announced, and a page then waited for its facets forever.
Without a served session (a notebook, a test) the work runs at once, so state stays
deterministic where nobody is waiting on a websocket.

Actions (dry runs included: they run in a transaction) have a pool of their own: they take
turns as the catalog's writer, and while they wait for it they must not hold the threads
that the reads of every session need. Every write the app makes (the actions on a
selection, tags, saved views, run renames and deletions, the annotator's saves) goes there:
on the session's event loop, a write waiting for the writer lock held by another session's
long action would stall every session of the server. `guarded` makes sure a background
action ends on screen: what the service did not foresee comes back as an ActionFailed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc
from tornado.ioloop import IOLoop

from workbench.errors import WorkbenchError

log = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="workbench-ui")
_ACTIONS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="workbench-ui-action")
# Background work submitted and not finished yet (see `wait_idle`).
_RUNNING = threading.Condition()
_running = 0


def wait_idle(timeout: float) -> bool:
    """Wait until no background work runs (a benchmark's or a test's end of a step);
    whether it came to that within `timeout` seconds."""
    with _RUNNING:
        return _RUNNING.wait_for(lambda: _running == 0, timeout)


def _counted(task: Callable[[], None]) -> Callable[[], None]:
    global _running
    with _RUNNING:
        _running += 1

    def run() -> None:
        global _running
        try:
            task()
        finally:
            with _RUNNING:
                _running -= 1
                _RUNNING.notify_all()

    return run


def run_in_background[T](
    work: Callable[[], T],
    then: Callable[[T], None],
    failed: Callable[[WorkbenchError], None],
    *,
    action: bool = False,
    delay: float = 0.0,
) -> None:
    """Run `work` off the event loop when served, then `then(result)` (or `failed(error)`)
    back on the session's loop; run all of it now otherwise. `action`: `work` writes (or
    dry-runs) through the service, and runs apart from the reads. `delay`: seconds to wait
    first when served (on the event loop's clock: a waiting read holds no pool thread, so
    it never delays the reads of other sessions, or this one's, queued behind it)."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        try:
            result = work()
        except WorkbenchError as exc:
            failed(exc)
            return
        then(result)
        return

    loop = _event_loop(doc)

    def on_loop(callback: Callable[[], None]) -> None:
        context = doc.session_context
        if context is not None and not context.destroyed:  # else the tab was closed meanwhile
            with set_curdoc(doc):
                pn.state.execute(callback, schedule=True)

    def deliver(callback: Callable[[], None]) -> None:
        loop.add_callback(on_loop, callback)

    def task() -> None:
        try:
            result = work()
        except WorkbenchError as exc:
            error = exc
            deliver(lambda: failed(error))
            return
        except Exception:  # a bug: said in the server's log, not lost in the pool
            log.exception("background work of a session failed")
            raise
        deliver(lambda: then(result))

    pool, counted = (_ACTIONS if action else _POOL), _counted(task)
    if delay > 0:
        loop.add_callback(loop.call_later, delay, pool.submit, counted)
    else:
        pool.submit(counted)


def _event_loop(doc: Document) -> IOLoop:
    """The event loop of the server serving `doc` (the loop this runs on, when asked from
    a session's callback or its app being built)."""
    server = getattr(doc.session_context, "server_context", None)
    application = getattr(server, "application_context", None)
    loop = getattr(application, "io_loop", None)
    return loop if isinstance(loop, IOLoop) else IOLoop.current()


class ActionFailed(WorkbenchError):
    """An action failed for a reason the service did not foresee (its message is shown)."""


def guarded[T](work: Callable[[], T], title: str) -> Callable[[], T]:
    """`work`, with failures the service did not foresee (a full disk, a bug) reported as
    ActionFailed: a background action must end on screen, never in a silent thread."""

    def run() -> T:
        try:
            return work()
        except WorkbenchError:
            raise
        except Exception as exc:
            log.exception("%s failed", title)
            raise ActionFailed(f"{title} failed: {type(exc).__name__}: {exc}") from exc

    return run


def run_action[T](
    title: str,
    work: Callable[[], T],
    then: Callable[[T], None],
    failed: Callable[[WorkbenchError], None],
) -> None:
    """A write through the service: on the action pool when served (guarded), now otherwise."""
    run_in_background(guarded(work, title), then, failed, action=True)
