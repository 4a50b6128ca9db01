"""Ctrl-C held back while a write that has changed a lake's tables commits in the catalog.

A lake-backed catalog's write commits twice: each lake table first (Delta or Iceberg
commits, store/lake_write.py), then the catalog's transaction, which moves its pins to the
new snapshots. A Ctrl-C between the two would roll the catalog back while the lake keeps the
rows, and the next look at the lake (a refresh, the file opened again) would bring them back:
a write the person was told did not happen. So from the lake's first commit on, a Ctrl-C is
noted rather than raised; the catalog commits, and only then is it raised
(`committed_interrupt`, told apart by `after_commit`): the write stands, and its writer keeps it in its report.

Signals reach Python in the main thread only: a write in another thread holds nothing (its
caller's thread gets the Ctrl-C and waits for it, ingest/_in_thread.py).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class _Committed(KeyboardInterrupt):
    """Ctrl-C pressed while a write committed: the write stands, whole (an interruption the
    person asked for, not an error: not in the catalog's exception tree)."""


def committed_interrupt() -> KeyboardInterrupt:
    """The Ctrl-C held while a write committed, raised once it has."""
    return _Committed("interrupted; the write under way was committed first")


def after_commit(exc: BaseException) -> bool:
    """Whether `exc` is a Ctrl-C raised once the write under way had committed."""
    return isinstance(exc, _Committed)


class _Held:
    holding = False
    caught = False
    previous: Any = None


_held = _Held()


def _note(signum: int, frame: FrameType | None) -> None:
    _held.caught = True


def hold() -> None:
    """From now until `release`, a Ctrl-C is noted, not raised (main thread only; a handler
    installed outside Python, which cannot be put back, is left as it is)."""
    if _held.holding or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:
        return
    _held.previous = signal.signal(signal.SIGINT, _note)
    _held.holding, _held.caught = True, False


def release() -> bool:
    """Stop holding (if this thread held); whether a Ctrl-C came meanwhile."""
    if not _held.holding or threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGINT, _held.previous)
    _held.holding, _held.previous = False, None
    return _held.caught
