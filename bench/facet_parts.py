"""The app's facets under a WHERE, step by step, on a migrated catalog (scale_bench.py's).

    python bench/facet_parts.py /tmp/scale/b10m/new.duckdb --runs 4
    python bench/facet_parts.py CATALOG --where "f.weather IN ('clear', 'rain')"

Each run makes a new view (as each query of the app does) and times, in order: the frame
groups that answer for the WHERE (store/groups.py; none when the catalog keeps none, or the
WHERE reads other columns), the frame set, its bitmap, the ROI codes counted by label and bin
(read beside the frames when the catalog keeps its codes in step with them, schema 10, and
the WHERE is cheap to evaluate again; else tested against the bitmap), label counts and the
histogram over them, the promoted keys with the count of contexts, tags; then the app's
whole facet count
(`ui.facets.compute_facets`) on another new view, and the whole catalog's label counts and
histogram. Medians of wall and CPU time (this process, all threads), with the load average.

    python bench/facet_parts.py CATALOG --first-page --runs 3
    python bench/facet_parts.py CATALOG --first-page --served

`--first-page` times every query the app's first page issues, in the order it issues them:
the session's state made as the app makes it (label fields, the count and first page of
contexts with their preview frames, the tiles' marks, the facets of the whole catalog) and
its first tile opened, on the cursors the app uses; each query's SQL, wall and CPU time
(this process, all threads: the queries run one after the other). With `--served` the app's
whole first document is built as a served session builds it (bench/ui_bench.py's
--first-document): the facets and marks then run on the app's background threads beside the
document, as when served, and each query's wall time and thread are listed (CPU is the
process's, for the document and its background work together).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import workbench
from workbench.query import facets
from workbench.ui.facets import compute_facets

WHERE = "f.frame_index % 2 = 0"


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


def _steps(catalog: Any, where: str) -> list[tuple[str, Callable[[], Any]]]:
    view = catalog.view().where(where)

    def bitmap() -> None:
        frames = view.frame_set()
        assert frames is not None
        frames.bits(view)

    return [
        ("frame groups of the WHERE", view.groups),
        ("frame set (keys)", view.frame_set),
        ("its bitmap", bitmap),
        ("ROI codes by label and bin", lambda: view.roi_codes(10)),
        ("label counts (from them)", view.label_counts),
        ("histogram (from them)", lambda: view.confidence_histogram("predictions", 10)),
        ("promoted keys and contexts", view.promoted_counts),
        ("tags", view.tag_counts),
        (
            "app's facets, new view",
            lambda: compute_facets(catalog.view().where(where), "predictions"),
        ),
        ("label counts, whole catalog", lambda: catalog.view().label_counts()),
        (
            "histogram, whole catalog",
            lambda: catalog.view().confidence_histogram("predictions", 10),
        ),
    ]


def _beside(catalog: Any, where: str) -> bool:
    """Whether the view's ROI codes are read beside its frames (query/facets.py)."""
    view = catalog.view().where(where)
    beside = getattr(facets, "_beside_frames", None)  # absent from code before schema 10
    if beside is None or view.groups() is not None:  # the groups answer first
        return False
    frames = view.frame_set()
    return frames is not None and beside(view, frames) is not None


@dataclass
class _Query:
    """One query the catalog ran: when it started (ms into the run), on which thread."""

    sql: str
    thread: str
    start: float
    wall: float = 0.0
    cpu: float = 0.0


class _Traced:
    """A catalog cursor that records each query's SQL and time (all else passes through)."""

    def __init__(self, cursor: Any, log: list[_Query], started: float) -> None:
        self._cursor, self._log, self._started = cursor, log, started
        self._last: _Query | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def _timed(self, query: _Query, run: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return run()
        finally:
            query.wall += (time.perf_counter() - wall) * 1000
            query.cpu += (time.process_time() - cpu) * 1000

    def _new(self, sql: str) -> _Query:
        start = (time.perf_counter() - self._started) * 1000
        self._last = _Query(" ".join(sql.split()), threading.current_thread().name, start)
        self._log.append(self._last)
        return self._last

    def execute(self, sql: str, params: Any = None) -> _Traced:
        query = self._new(sql)
        self._timed(query, lambda: self._cursor.execute(sql, params))
        return self

    def fetchall(self) -> Any:
        return self._timed(self._last or self._new("?"), self._cursor.fetchall)

    def fetchone(self) -> Any:
        return self._timed(self._last or self._new("?"), self._cursor.fetchone)

    def sql(self, sql: str, params: Any = None) -> _Relation:
        query = self._new(sql)
        return _Relation(
            self._timed(query, lambda: self._cursor.sql(sql, params=params)), self, query
        )


class _Relation:
    """A relation whose results are timed as part of the query that made it."""

    def __init__(self, relation: Any, cursor: _Traced, query: _Query) -> None:
        self._relation, self._cursor, self._query = relation, cursor, query

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._relation, name)
        if name not in ("to_arrow_table", "arrow", "fetchall", "fetchone", "fetchnumpy", "df"):
            return found
        return lambda *a, **k: self._cursor._timed(self._query, lambda: found(*a, **k))


def _traced(catalog: Any, log: list[_Query]) -> Callable[[], float]:
    """Record every query the catalog's cursors run into `log`; returns a function that
    starts a new run (clearing the log) and gives its start time."""
    plain = catalog._cursor
    clock = {"start": time.perf_counter()}
    catalog._cursor = lambda: _Traced(plain(), log, clock["start"])

    def restart() -> float:
        log.clear()
        clock["start"] = time.perf_counter()
        return clock["start"]

    return restart


def _first_page(catalog: Any) -> None:
    """The app's first page, as WorkbenchState and the app make it, one query at a time."""
    from workbench.ui.state import WorkbenchState

    state = WorkbenchState(catalog)
    if state.tiles:
        state.open_tile(state.tiles[0]["id"])


class _Session:
    """What a served session's context says of itself, as much as the app asks."""

    def __init__(self, server: Any) -> None:
        from types import SimpleNamespace

        self.id, self.server_context, self.destroyed = "bench", server, False
        self.request = SimpleNamespace(arguments={}, cookies={}, headers={})


def _served_document(catalog: Any, settle: float) -> None:
    """The app's first document as a served session builds it (as ui_bench.py's
    --first-document imitates one: a document whose session context says it is served),
    then `settle` seconds for its background reads to end."""
    import json
    import weakref
    from types import SimpleNamespace

    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc
    from tornado.ioloop import IOLoop

    from workbench.ui.app import create_app
    from workbench.ui.media import RecentRoots, ServedMediaUrls

    application = SimpleNamespace(io_loop=IOLoop(make_current=False))
    server = SimpleNamespace(application_context=application, sessions=[])
    session = _Session(server)
    doc = Document()
    doc._session_context = weakref.ref(session)  # type: ignore[assignment]
    media = ServedMediaUrls("/media", roots=RecentRoots(catalog.media_roots))
    with set_curdoc(doc):
        app = create_app(catalog, media)
        pn.panel(app).server_doc(doc)
        json.dumps(doc.to_json(deferred=False))
    time.sleep(settle)
    doc.clear()


def first_page(path: Path, runs: int, served: bool, settle: float) -> None:
    log: list[_Query] = []
    totals: list[tuple[float, float, float, float, int]] = []
    with workbench.open(path, read_only=True) as catalog:
        restart = _traced(catalog, log)
        for run in range(runs + 1):  # the first run warms the file's pages: not counted
            started, cpu = restart(), time.process_time()
            _served_document(catalog, settle) if served else _first_page(catalog)
            wall = (time.perf_counter() - started) * 1000 - (settle * 1000 if served else 0)
            spent = (time.process_time() - cpu) * 1000
            queries = sum(q.wall for q in log), sum(q.cpu for q in log)
            if run:
                totals.append((wall, spent, *queries, len(log)))
        print(f"{'start':>6} {'wall':>7} {'CPU':>7}  thread        query (the last run)")
        for q in log:
            print(f"{q.start:6.0f} {q.wall:7.1f} {q.cpu:7.1f}  {q.thread[:12]:12}  {q.sql[:150]}")
    what = "document and background" if served else "first page"
    for name, at in ((f"{what}, wall", 0), (f"{what}, CPU", 1), ("queries, wall", 2)):
        print(f"{name:34} {statistics.median(t[at] for t in totals):8.1f} ms")
    if not served:
        print(f"{'queries, CPU':34} {statistics.median(t[3] for t in totals):8.1f} ms")
    print(f"{'queries':34} {statistics.median(t[4] for t in totals):8.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalog", type=Path)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--where", default=WHERE, help=f"the view's WHERE (default: {WHERE})")
    parser.add_argument("--first-page", action="store_true", help="the app's first page")
    parser.add_argument("--served", action="store_true", help="(--first-page) as served")
    parser.add_argument(
        "--settle", type=float, default=3.0, help="(--served) seconds for background reads"
    )
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
    if args.first_page:
        print(f"code {Path(workbench.__file__).parent.parent}, the first page")
        first_page(args.catalog, args.runs, args.served, args.settle)
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
        return 0
    print(f"code {Path(workbench.__file__).parent.parent}, WHERE {args.where}")
    times: dict[str, list[tuple[float, float]]] = {}
    with workbench.open(args.catalog, read_only=True) as catalog:
        warm = catalog.view().where(args.where)
        warm.count()  # warm the file's pages
        print(f"answered by frame groups: {warm.groups() is not None}")
        print(f"ROI codes beside the frames: {_beside(catalog, args.where)}")
        for _ in range(args.runs):
            for name, step in _steps(catalog, args.where):
                times.setdefault(name, []).append(_timed(step))
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:32} {wall:8.1f} ms   CPU {cpu:8.1f} ms")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
