"""What a served session's page reads cost it, in process: the first page of a query and a
page turn, with the answers the served sessions keep (workbench/ui/shared.py) and without.

    python bench/ui_pages_bench.py --catalog demo.duckdb [--calls 200] [--page-size 48]

A session is made as a served one (a Bokeh document with a session context, as
tests/ui/test_ui_shared.py makes it), in frames mode. "First page" switches the mode back and
forth (each switch a query's first read: the count and the page); "page turn" turns to pages
1 and 2 in turn. Each is timed kept (every answer already kept) and read (the kept answers
dropped before each call). The figure is the CPU of the session's thread per call
(`time.thread_time`): the facets and marks read on the pool are not in it, and the other
processes on the machine count far less than in a wall time. Prints one line per figure and
the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace


class _Served:
    """What a served session's context says of itself, as much as the state asks."""

    def __init__(self) -> None:
        self.id, self.destroyed = "bench", False
        self.server_context = SimpleNamespace(application_context=None, sessions=[])
        self.request = SimpleNamespace(arguments={}, cookies={}, headers={})


def run(catalog_path: Path, calls: int, page_size: int) -> dict[str, float]:
    """ms of the session thread's CPU per call: first_kept, first_read, turn_kept, turn_read."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    import workbench
    import workbench.ui.state as state_module
    from workbench.ui import shared
    from workbench.ui.media import InlineMediaUrls
    from workbench.ui.state import WorkbenchState

    # No event loop runs here: the background reads start at once on the pool.
    state_module._served_pause = lambda: 0.0  # type: ignore[attr-defined]
    figures: dict[str, float] = {}
    with workbench.open(catalog_path) as catalog:
        doc, context = Document(), _Served()
        doc._session_context = weakref.ref(context)  # type: ignore[assignment]
        with set_curdoc(doc):
            state = WorkbenchState(catalog, InlineMediaUrls(), page_size=page_size)

            def switch_mode(i: int) -> None:
                state.mode = "contexts" if state.mode == "frames" else "frames"

            def turn(i: int) -> None:
                state.page = 1 + i % 2

            for name, step in (("first", switch_mode), ("turn", turn)):
                state.mode = "frames"
                for i in range(4):  # the answers kept, the marks read
                    step(i)
                time.sleep(1)
                figures[f"{name}_kept"] = _per_call(step, calls, before=None)
                figures[f"{name}_read"] = _per_call(step, calls, before=shared._KEPT.clear)
            time.sleep(2)  # the background reads end before the catalog closes
    return figures


def _per_call(step: Callable[[int], None], calls: int, before: Callable[[], None] | None) -> float:
    spent = 0.0
    for i in range(calls):
        if before is not None:
            before()
        started = time.thread_time()
        step(i)
        spent += time.thread_time() - started
    return spent * 1000 / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=48)
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    figures = run(args.catalog, args.calls, args.page_size)
    for name, ms in figures.items():
        print(f"{name:12s} {ms:8.3f} ms of the session's CPU per call ({args.calls} calls)")
    print(f"load average before/after: {load:.2f} / {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
