"""One job at a time in a thread of its own, while the caller goes on: a columnar importer
stores one write's rows there while it converts the next lines on its own thread, so the
conversion (DuckDB's statements on one thread, pyarrow: both release the GIL) and the storing
(the catalog's engine) each have a core.

The caller starts a job only once the one before has ended (`wait`): at most one job runs,
so at most one write's rows are held beside those being converted. `wait` gives back what the
job raised, in the caller's thread. Ctrl-C reaches only the caller's thread: while it waits,
the job is let end first (a write commits or rolls back whole; no thread is left running) and
the interruption is raised after.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import suppress


class InThread:
    """Jobs run one at a time in a thread of their own (a new thread per job). With `inline`,
    each job runs at once in the caller's thread instead, and `wait` gives back what it
    raised all the same: for a caller inside the catalog's write transaction, whose lock a
    job's thread would wait for while the caller waits for the job."""

    def __init__(self, name: str, *, inline: bool = False) -> None:
        self.name = name
        self.inline = inline
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._ended = threading.Event()  # set as the job has ended (its thread about to)
        # What the last `wait` raised on behalf of its job (None: it ended without error).
        self.raised: BaseException | None = None

    @property
    def busy(self) -> bool:
        """Whether a job was started and not yet waited for."""
        return self._thread is not None

    def start(self, job: Callable[[], None]) -> None:
        """Run `job` in a new thread (in a copy of the caller's context: the import being
        recorded is found there). The job before must have been waited for."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: a job is still under way")
        context = contextvars.copy_context()
        self._ended.clear()
        if self.inline:
            self._thread = threading.current_thread()
            self._run(context, job)
            return
        thread = threading.Thread(target=self._run, args=(context, job), name=self.name)
        self._thread = thread
        thread.start()

    def _run(self, context: contextvars.Context, job: Callable[[], None]) -> None:
        try:
            context.run(job)
        except BaseException as exc:  # given back to the caller by `wait`
            self._failed = exc
        finally:
            self._ended.set()

    def wait(self) -> None:
        """Wait for the job under way (if any) to end, and raise what it raised. A Ctrl-C
        while waiting is held until the job has ended, then raised (over the job's error)."""
        thread = self._thread
        if thread is None:
            return
        interrupted: KeyboardInterrupt | None = None
        # The job's own end is waited for, not only the thread's: a join interrupted by
        # Ctrl-C may take the thread for ended while it runs on.
        while not self._ended.is_set() or (thread.is_alive() and not self.inline):
            try:
                self._ended.wait()
                thread.join()
            except KeyboardInterrupt as exc:  # the job ends first: its thread is never left
                interrupted = exc
        self._thread = None
        failed, self._failed = self._failed, None
        self.raised = failed
        if interrupted is not None:
            raise interrupted
        if failed is not None:
            raise failed


def ahead[T](items: Iterator[T], name: str) -> Generator[T]:
    """The items of `items`, the next one made in a thread of its own (`name`) while the
    caller works on the one before: one at most ahead. A caller that may stop early closes
    it (`contextlib.closing`): the item under way is let end, and `items` is closed, even
    when another Ctrl-C comes while it waits."""
    made: list[T] = []

    def make() -> None:
        for item in items:
            made.append(item)
            return

    runs = InThread(name)
    try:
        runs.start(make)
        while True:
            runs.wait()
            if not made:
                return
            item = made.pop()
            runs.start(make)
            yield item
    finally:
        try:
            with suppress(Exception):  # stopped early: what the item under way raised is moot
                runs.wait()
        finally:  # closed after a Ctrl-C in the wait too (it is raised once it has ended)
            close = getattr(items, "close", None)
            if close is not None:
                close()
