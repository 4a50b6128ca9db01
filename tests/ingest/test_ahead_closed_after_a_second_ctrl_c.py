"""`ahead` (ingest/_in_thread.py) stopped by Ctrl-C closes what it reads from even when a
second Ctrl-C comes while it waits for the item under way: the file its items are read from
is closed, and a reading of its own running in a thread (an `ahead` inside) ends. Before, the
second Ctrl-C (held by the wait until the item was made, then raised) skipped the closing:
the file stayed open, as long as anything kept the KeyboardInterrupt's traceback (a
notebook keeps the last one), and the inner reading's generator was never closed.

Both Ctrl-Cs are real: the first a SIGINT the process raises to itself, the second sent by
the thread making the next item (`_thread.interrupt_main`) while the caller waits for it."""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.ctrl_c import python_ctrl_c  # noqa: F401 (the fixture, autouse)
from workbench.ingest._in_thread import InThread, ahead


def _opened(path: Path) -> list[str]:
    """This process's file descriptors open on `path` (by name, so a descriptor another
    test's leftovers close meanwhile, or one reused, does not count)."""
    fds = Path("/proc/self/fd")
    named = []
    for fd in os.listdir(fds):
        try:
            target = os.readlink(fds / fd)
        except OSError:  # closed while listed
            continue
        if target == str(path.resolve()):
            named.append(fd)
    return named


def _main_thread_waits(pressed: threading.Event) -> None:
    """Until the main thread, the first Ctrl-C `pressed`, waits for the item under way
    (inside `ahead`'s `finally`)."""
    main = threading.main_thread().ident
    assert pressed.wait(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(main)
        codes = []
        while frame is not None:
            codes.append(frame.f_code)
            frame = frame.f_back
        if InThread.wait.__code__ in codes and ahead.__code__ in codes:
            return
        time.sleep(0.01)
    raise AssertionError("the main thread never waited for the item under way")


def _lines(path: Path, closed: list[str], pressed: threading.Event) -> Iterator[str]:
    """The file's lines; making the second one (in `ahead`'s thread, while the caller holds
    the first) waits for the caller to wait for it, and sends it the second Ctrl-C."""
    with path.open() as file:
        try:
            for n, line in enumerate(file):
                if n == 1:
                    _main_thread_waits(pressed)
                    _thread.interrupt_main()
                    time.sleep(0.2)  # the Ctrl-C reaches the main thread as it waits
                yield line
        finally:
            closed.append(path.name)


def test_a_second_ctrl_c_while_ahead_waits_still_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {n}\n" for n in range(10)))
    closed: list[str] = []
    pressed = threading.Event()
    reading = ahead(_lines(path, closed, pressed), "workbench-test-ahead")
    # the KeyboardInterrupt kept, with its traceback, as a notebook keeps it
    with pytest.raises(KeyboardInterrupt) as raised, closing(reading) as lines:
        for _ in lines:
            pressed.set()
            signal.raise_signal(signal.SIGINT)  # the first Ctrl-C
    assert raised.value is not None
    assert closed == ["lines.txt"]
    assert _opened(path) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("workbench-test-")]


def test_an_inner_reading_ends_too(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {n}\n" for n in range(10)))
    closed: list[str] = []
    pressed = threading.Event()
    inner = ahead(_lines(path, closed, pressed), "workbench-test-inner")
    outer = ahead(inner, "workbench-test-outer")
    with pytest.raises(KeyboardInterrupt) as raised, closing(outer) as lines:
        for _ in lines:
            pressed.set()
            signal.raise_signal(signal.SIGINT)
    assert raised.value is not None
    assert inner.gi_frame is None, "the inner reading was left open"
    assert closed == ["lines.txt"]
    assert _opened(path) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("workbench-test-")]
