"""The CPU of named steps inside one import, for the benches that time an importer's parts
in process: wrap a function or method with `timed`, read `SPENT` after the import."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any

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
