"""Slow reads (facets) off the session's event loop, results applied back on it.

A served session handles one event at a time: facets of a million frames take a few hundred
milliseconds, and a click on "next page" right after a new query would wait behind them.
Here they run on a small thread pool with their own DuckDB cursors, and the result is
applied in a next-tick callback of the session's document (the thread-safe way into a
Bokeh document). Without a served session (a notebook, a test) the work runs at once, so
state stays deterministic where nobody is waiting on a websocket.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import panel as pn
from panel.io.state import set_curdoc

from workbench.errors import WorkbenchError

log = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="workbench-ui")
_ACTIONS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="workbench-ui-action")


def run_in_background[T](
    work: Callable[[], T],
    then: Callable[[T], None],
    failed: Callable[[WorkbenchError], None],
    *,
    action: bool = False,
) -> None:
    """Run `work` off the event loop when served, then `then(result)` (or `failed(error)`)
    back on the session's loop; run all of it now otherwise. `action`: `work` writes (or
    dry-runs) through the service, and runs apart from the reads."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        try:
            result = work()
        except WorkbenchError as exc:
            failed(exc)
            return
        then(result)
        return

    def deliver(callback: Callable[[], None]) -> None:
        with set_curdoc(doc):
            pn.state.execute(callback, schedule=True)

    def task() -> None:
        try:
            result = work()
        except WorkbenchError as exc:
            error = exc
            deliver(lambda: failed(error))
            return
        deliver(lambda: then(result))

    (_ACTIONS if action else _POOL).submit(task)


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
