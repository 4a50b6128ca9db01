"""Ctrl-C held back while a write that has changed a lake's tables commits in the catalog.

A lake-backed catalog's write commits twice: each lake table first (Delta or Iceberg
commits, store/lake_write.py), then the catalog's transaction, which moves its pins to the
new snapshots. A Ctrl-C between the two would roll the catalog back while the lake keeps the
rows, and the next look at the lake (a refresh, the file opened again) would bring them back:
a write the person was told did not happen. So from the lake's first commit on, a Ctrl-C is
noted rather than raised; the catalog commits, and only then is it raised
(`committed_interrupt`, told apart by `after_commit`): the write stands, and its writer
keeps it in its report. The hold belongs to the transaction whose write reached the lake: one begun and ended inside
it lets nothing go. A process that handles Ctrl-C its own way (ignores it, or has a handler
of its own) gets it, once the write committed, as it would have: only Python's own handler's
KeyboardInterrupt is raised as `committed_interrupt`.

Every transaction holds Ctrl-C through its COMMIT likewise (store/catalog.py): a local
catalog's write stands once its COMMIT began, and DuckDB would report a Ctrl-C landing in the
checkpoint after it as an error ("Query interrupted") though the COMMIT stands.

Signals reach Python in the main thread only: a write in another thread holds nothing (its
caller's thread gets the Ctrl-C and waits for it, ingest/_in_thread.py).
"""

from __future__ import annotations

import signal
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any


class _Committed(KeyboardInterrupt):
    """Ctrl-C pressed while a write committed: the write stands, whole (an interruption the
    person asked for, not an error: not in the catalog's exception tree)."""


def committed_interrupt() -> KeyboardInterrupt:
    """The Ctrl-C held while a write committed, raised once it has."""
    return _Committed("interrupted; the write under way was committed first")


# The note on what a process's own Ctrl-C handler raised once the write under way committed.
_NOTE = "(raised by the Ctrl-C handler once the write under way had committed: it stands)"


def after_commit(exc: BaseException) -> bool:
    """Whether `exc` is a Ctrl-C raised once the write under way had committed (or what a
    Ctrl-C handler of the process's own raised then)."""
    return isinstance(exc, _Committed) or _NOTE in getattr(exc, "__notes__", ())


# What DuckDB's Python client raises when Ctrl-C stops one of its statements (the
# KeyboardInterrupt consumed): a RuntimeError with this text (duckdb 2.0).
_STATEMENT_STOPPED = "Query interrupted"


def ctrl_c(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C `exc` stands for, as a KeyboardInterrupt, when it is DuckDB's stopping of
    a statement by Ctrl-C (whose callers would take it for a failure: a writer storing what
    it had queued, an import recorded as failed); None for anything else."""
    if type(exc) is RuntimeError and str(exc) == _STATEMENT_STOPPED:
        return KeyboardInterrupt(f"{_STATEMENT_STOPPED} (Ctrl-C)")
    return None


@contextmanager
def statements_stopped() -> Iterator[None]:
    """Raise DuckDB's stopping of a statement by Ctrl-C inside the block as the
    KeyboardInterrupt it was (`ctrl_c`): a person's query stopped by the notebook's stop
    button is an interruption, not an error of the query."""
    try:
        yield
    except RuntimeError as exc:
        pressed = ctrl_c(exc)
        if pressed is None:
            raise
        raise pressed from exc


class _Held:
    owner: object = None  # what holds it: the connection of the transaction that writes
    caught = False
    previous: Any = None


_held = _Held()


def _note(signum: int, frame: FrameType | None) -> None:
    _held.caught = True


# The transactions (their connections), on any thread, whose write stands from now on: past
# a lake's commits, or in their COMMIT (Catalog.close lets them end rather than interrupt).
_committing: weakref.WeakSet[Any] = weakref.WeakSet()


def committing(owner: object) -> bool:
    """Whether the transaction of `owner` (a connection) is between `hold` and `release`."""
    return owner in _committing


def stop_all_but_committing(cursors: Iterable[Any], mine: object, deadline: float) -> bool:
    """Interrupt what `cursors` run, but for the transactions `committing` (a write that
    stands once begun); wait for those (not `mine`, the caller's own) to end until
    `deadline` (time.monotonic); whether they did."""
    for cursor in list(cursors):
        if not committing(cursor):
            with suppress(Exception):  # a cursor closed meanwhile
                cursor.interrupt()
    while any(c is not mine and committing(c) for c in list(cursors)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def hold(owner: object) -> None:
    """From now until `release(owner)`, a Ctrl-C is noted, not raised (main thread only; a
    handler installed outside Python, which cannot be put back, is left as it is). `owner`
    is the connection of the transaction whose write began: a transaction begun and ended
    inside it (on the same thread) releases nothing, as the outer one has not committed.
    On any thread, `committing(owner)` holds meanwhile."""
    _committing.add(owner)
    if _held.owner is not None or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:
        return
    _held.previous = signal.signal(signal.SIGINT, _note)
    _held.owner, _held.caught = owner, False


def release(owner: object) -> bool:
    """Stop holding if `owner` holds; whether a Ctrl-C came meanwhile (`deliver` it once
    the write has committed)."""
    _committing.discard(owner)
    if _held.owner is None or _held.owner is not owner:
        return False
    signal.signal(signal.SIGINT, _held.previous)
    _held.owner, _held.previous = None, None
    return _held.caught


def deliver() -> None:
    """The Ctrl-C held, now that the write committed: with Python's own handler, raised as
    `committed_interrupt`; else sent again to the handler that was there before, which does
    what the process set it to (ignores it, ends the process, or its own)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        raise committed_interrupt()
    try:
        signal.raise_signal(signal.SIGINT)
    except BaseException as exc:  # the write stands all the same (`after_commit`)
        exc.add_note(_NOTE)
        raise
