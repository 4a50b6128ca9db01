"""The same lake-backed catalog as Delta and as Iceberg tables: making it, reading it, writing it.

    PYTHONPATH=$PWD:$PWD/bench python bench/lake_format_bench.py --frames 100000

One catalog of `--frames` frames (bench/eval_bench.py's: sources, ground truth and
predictions) is copied twice and made lake-backed with `--buckets` buckets, once per table
format (`lake init --format`). Timed per format: `lake init`, opening the catalog (the
pins: each table's latest version and its file list), the look at whether the tables moved
on (what a cursor pays at most every $WORKBENCH_LAKE_REFRESH seconds), a first, a deep and a
filtered page and a count with a ROI filter through the View API, beside hand-written SQL
over the same snapshot's files (DuckDB's `read_parquet`, outside the catalog), a write that
replaces 100 frames, and `lake compact`. Figures are the median of `--runs`, with the load
average.
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

import duckdb
import eval_bench

import workbench
from workbench.ingest import CatalogWriter, Frame
from workbench.store.lake_compact import compact
from workbench.store.lake_write import open_for_lake


def _median_ms(work: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def _hand_count(catalog: workbench.Catalog) -> Callable[[], Any]:
    """Hand-written SQL over the pinned snapshot's files: the ROIs labelled car."""
    assert catalog.lake is not None
    lake = catalog.lake
    files, _ = lake.files("rois", int(lake.tables["rois"].version or 0))
    listed = ", ".join(f"'{f}'" for f in files)
    con = duckdb.connect()
    sql = (
        f"SELECT count(DISTINCT frame_id) FROM read_parquet([{listed}])"
        " WHERE field = 'predictions' AND label = 'car'"
    )
    return lambda: con.execute(sql).fetchall()


def _reads(catalog: workbench.Catalog, runs: int) -> dict[str, float]:
    assert catalog.lake is not None
    lake = catalog.lake
    view = catalog.view()
    count = view.count()
    cars = catalog.view().filter_rois("predictions", labels=["car"])
    return {
        "stale_check_ms": _median_ms(lake.stale, runs),
        "first_page_ms": _median_ms(lambda: catalog.view().page(0, 50), runs),
        "deep_page_ms": _median_ms(lambda: view.page(count // 2, 50), runs),
        "filtered_page_ms": _median_ms(lambda: cars.page(0, 50), runs),
        "roi_filter_count_ms": _median_ms(cars.count, runs),
        "hand_sql_roi_count_ms": _median_ms(_hand_count(catalog), runs),
    }


def _write(catalog: workbench.Catalog) -> float:
    """Seconds to replace 100 frames (their rows written again, in one write)."""
    ids = [r[0] for r in catalog.sql("SELECT id, context_id FROM frames LIMIT 100").fetchall()]
    contexts = dict(catalog.sql("SELECT id, context_id FROM frames LIMIT 100").fetchall())
    start = time.perf_counter()
    with CatalogWriter(catalog, progress=False) as writer:
        for n, frame_id in enumerate(ids):
            writer.add(Frame(id=frame_id, context_id=contexts[frame_id], timestamp=n))
    return round(time.perf_counter() - start, 2)


def bench_format(template: Path, work: Path, fmt: str, buckets: int, runs: int) -> dict[str, Any]:
    folder = work / fmt
    folder.mkdir()
    path = folder / "c.duckdb"
    shutil.copyfile(template, path)
    out: dict[str, Any] = {}
    start = time.perf_counter()
    open_for_lake(
        str(path), str(folder / "lake"), attach=False, buckets=buckets, progress=False, fmt=fmt
    )
    out["init_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    catalog = workbench.open(path)
    out["open_s"] = round(time.perf_counter() - start, 2)
    try:
        out.update(_reads(catalog, runs))
        out["write_100_frames_s"] = _write(catalog)
        start = time.perf_counter()
        compact(catalog, progress=False)
        out["compact_s"] = round(time.perf_counter() - start, 2)
        out.update({f"after_compact_{k}": v for k, v in _reads(catalog, runs).items()})
    finally:
        catalog.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default="/tmp/lake-format-bench")
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    template = work / "template.duckdb"
    eval_bench.generate(template, args.frames)
    out: dict[str, Any] = {"frames": args.frames, "buckets": args.buckets}
    out["load_before"] = [round(x, 1) for x in os.getloadavg()]
    for fmt in ("delta", "iceberg"):
        out[fmt] = bench_format(template, work, fmt, args.buckets, args.runs)
    delta, iceberg = out["delta"], out["iceberg"]
    out["iceberg_over_delta"] = {
        k: round(iceberg[k] / delta[k], 2) for k in delta if delta[k] and k in iceberg
    }
    out["load_after"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
