"""A real Ctrl-C for tests: SIGINT sent to this process by another thread once the main thread
stands inside the code a test means (blocked in a call that let go of the GIL, as DuckDB's
statements do), and Python's own handler in place while such a test runs."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from types import FrameType

import pytest

# Looks in a row (20 ms apart) that find the main thread at the same place: inside a call.
_LOOKS = 5


@pytest.fixture(autouse=True)
def python_ctrl_c() -> Iterator[None]:
    """Python's own SIGINT handler for the test (a process may have started with another)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def ctrl_c_when(place: Callable[[FrameType], Hashable | None], seconds: float) -> threading.Thread:
    """A started thread that sends SIGINT once `place` of the main thread's innermost frame
    has been the same value, not None, for _LOOKS looks in a row (or gives up after
    `seconds`); join it after the code under test."""
    main = threading.main_thread().ident
    assert main is not None

    def watch() -> None:
        deadline, last, seen = time.monotonic() + seconds, None, 0
        while time.monotonic() < deadline:
            frame = sys._current_frames().get(main)
            here = place(frame) if frame is not None else None
            seen = seen + 1 if here is not None and here == last else 0
            last = here
            if seen >= _LOOKS - 1:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
