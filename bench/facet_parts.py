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
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalog", type=Path)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--where", default=WHERE, help=f"the view's WHERE (default: {WHERE})")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
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
