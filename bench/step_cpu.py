"""The CPU of named steps inside one import, for the benches that time an importer's parts
in process: wrap a function or method with `timed`, read `SPENT` after the import; and what
the digests' benches share (the load average, a catalog's digests forgotten), and the ClearML
import run one step after the other for the benches that time its steps."""

from __future__ import annotations

import inspect
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import workbench
from workbench.store import line_digests

SPENT: dict[str, float] = {}


def timed(owner: Any, name: str, label: str) -> None:
    """Count the CPU of `owner.name` under `label`."""
    function: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[label] = SPENT.get(label, 0.0) + time.process_time() - started

    setattr(owner, name, wrapper)


def process_cpu() -> float:
    """User and system CPU seconds of this process (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    """The load averages over 1, 5 and 15 minutes."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def forget_digests(db: Path) -> None:
    """Delete every digest the catalog at `db` keeps (as in a catalog migrated from before
    them): its next import converts every record."""
    with workbench.open(db) as catalog, catalog.transaction() as con:
        con.execute(f"DELETE FROM {line_digests.TABLE}")


def one_step_at_a_time() -> None:
    """Make this process's ClearML imports run their steps one after the other
    (`NdjsonImport(overlap=False)`): a step timed by the process's CPU (every thread) is then
    its own, where the overlapped import's other threads would add theirs to it (its total is
    the same: bench/clearml_overlap_bench.py). Nothing to do in checkouts without the overlap."""
    from workbench.ingest import _clearml_columnar as columnar

    init = columnar.NdjsonImport.__init__
    if "overlap" not in inspect.signature(init).parameters:
        return

    def sequential(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **{**kwargs, "overlap": False})

    columnar.NdjsonImport.__init__ = sequential  # type: ignore[method-assign]
