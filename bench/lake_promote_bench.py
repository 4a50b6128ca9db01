"""Metadata keys promoted to columns on a lake-backed catalog: queries before and after.

    PYTHONPATH=$PWD:$PWD/bench python bench/lake_promote_bench.py --frames 1000000

A catalog of `--frames` frames (bench/synthetic.py's frames: metadata with `scene` and
`speed`) is made lake-backed with `--buckets` buckets. A filter on `scene` (count, first
page, filtered page) is timed through the View API, beside hand-written SQL over the
metadata JSON, before and after `catalog.optimize()` (on a lake: compaction that adds
`metadata_scene` and `metadata_speed` to the Delta frames table and fills them), which is
timed too. Figures are the median of `--runs`, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_bench

import workbench
from workbench.store import layout
from workbench.store.lake_write import open_for_lake

SCENE = "scene-7"


def _median_ms(work: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def _queries(catalog: workbench.Catalog, runs: int) -> dict[str, float]:
    view = catalog.view().match(scene=SCENE)
    hand = (
        "SELECT count(*) FROM frames WHERE json_extract_string(metadata, '/scene') = ?",
        [SCENE],
    )
    return {
        "count_ms": _median_ms(lambda: catalog.view().match(scene=SCENE).count(), runs),
        "first_page_ms": _median_ms(lambda: catalog.view().match(scene=SCENE).page(0, 50), runs),
        "deep_page_ms": _median_ms(lambda: view.page(view.count() // 2, 50), runs),
        "hand_sql_count_ms": _median_ms(lambda: catalog.sql(*hand).fetchall(), runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default="/tmp/lake-promote-bench")
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path = work / "c.duckdb"
    # As past PROMOTE_UP_TO frames, where writes promote nothing: keys stay JSON until
    # optimize (the lake has no promoted column to start from).
    layout.PROMOTE_FROM = 10**15
    eval_bench.generate(path, args.frames)
    with workbench.open(path) as catalog:  # a local catalog this size promotes by itself
        con = catalog.cursor()
        promoted = con.execute("SELECT key FROM metadata_columns").fetchall()
    open_for_lake(str(path), str(work / "lake"), attach=False, buckets=args.buckets, progress=False)
    out: dict[str, Any] = {"frames": args.frames, "buckets": args.buckets, "load": os.getloadavg()}
    out["promoted_before_lake_init"] = [r[0] for r in promoted]
    with workbench.open(path) as catalog:
        if out["promoted_before_lake_init"]:
            print("keys were promoted before lake init: nothing to compare", file=sys.stderr)
        out["before"] = _queries(catalog, args.runs)
        start, cpu = time.perf_counter(), time.process_time()
        out["optimize_keys"] = catalog.optimize()
        out["optimize_s"] = round(time.perf_counter() - start, 1)
        out["optimize_cpu_s"] = round(time.process_time() - cpu, 1)
        out["after"] = _queries(catalog, args.runs)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
