"""What the frame groups keep per group besides ROI codes: range histograms and value counts
(store/group_ranges.py, store/group_values.py). On a catalog made by bench/lake_bench.py:

    PYTHONPATH=$PWD:$PWD/bench python bench/lake_sketch_bench.py count CATALOG
    PYTHONPATH=$PWD:$PWD/bench python bench/lake_sketch_bench.py facets CATALOG
    PYTHONPATH=$PWD:$PWD/bench python bench/lake_sketch_bench.py promote CATALOG

`count` counts the groups in a transaction rolled back (wall, CPU, peak RSS): run it with
PYTHONPATH on an older checkout for the cost before. `facets` times, under `f.weather =
'rain'`, the first and later calls of the app's range histogram of the metadata key `speed`
(24 bins over its bounds) and the values of `scene` and `speed`, beside the hand-written SQL
over the JSON; the answers are checked equal. `promote` runs `catalog.optimize()` (on a lake:
compaction promoting `scene` and `speed` to columns, then the groups counted). Each prints
the load average; the last line is JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import duckdb
from lake_bench import peak_rss_mb, timed

import workbench
from workbench.store import lake_groups
from workbench.store.catalog import engine_config
from workbench.store.lake import Lake

RAIN = "f.weather = 'rain'"


def _clock(work: Callable[[], Any]) -> tuple[float, float, Any]:
    t, c = time.perf_counter(), time.process_time()
    out = work()
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000, out


def count(path: str) -> dict[str, Any]:
    con = duckdb.connect(path, config=engine_config())
    try:
        lake = Lake.load(con)
        assert lake is not None
        con.execute("BEGIN TRANSACTION")
        lake.prepare(con)
        lake.pin(con)
        ms, cpu, groups = _clock(lambda: lake_groups.build(con, lake))
        con.execute("ROLLBACK")
    finally:
        con.close()
    print(
        f"  {groups} groups counted in {ms:.0f} ms (CPU {cpu:.0f}), peak RSS {peak_rss_mb():.0f} MB"
    )
    return {"groups": groups, "ms": ms, "cpu_ms": cpu, "rss_mb": peak_rss_mb()}


def facets(path: str) -> dict[str, Any]:
    from workbench.query.ranges import numeric_keys, value_histogram

    catalog = workbench.open(path)
    con = catalog.cursor()
    keys = {k.key: k for k in numeric_keys(catalog.view())}
    speed = keys["speed"]
    width = (speed.high - speed.low) / 24
    x = "TRY_CAST(json_extract_string(metadata, '$.speed') AS DOUBLE)"
    hand_hist = (
        f"SELECT least(floor(({x} - {speed.low}) / {width}), 23)::INTEGER AS b, count(*)"
        f" FROM frames f WHERE {RAIN} AND {x} BETWEEN {speed.low} AND {speed.high} GROUP BY 1"
    )
    cases: dict[str, tuple[Callable[[], Any], str]] = {
        "range histogram of speed": (
            lambda: value_histogram(catalog.view().where(RAIN), "speed", speed.low, speed.high, 24),
            hand_hist,
        ),
        "values of scene": (
            lambda: catalog.view().where(RAIN).metadata_values("scene", 30),
            "SELECT json_extract_string(metadata, '$.scene') AS v, count(*) FROM frames f"
            f" WHERE {RAIN} GROUP BY 1",
        ),
        "values of speed": (
            lambda: catalog.view().where(RAIN).metadata_values("speed", 30),
            "SELECT json_extract_string(metadata, '$.speed') AS v, count(*) FROM frames f"
            f" WHERE {RAIN} GROUP BY 1",
        ),
    }
    out: dict[str, Any] = {
        "promoted": sorted(catalog.cursor().execute("SELECT key FROM metadata_columns").fetchall())
    }
    for name, (view_fn, hand) in cases.items():
        first_ms, first_cpu, got = _clock(view_fn)
        ms = timed(view_fn)
        cpu = lake_bench_cpu()
        ref = timed(lambda h=hand: con.execute(h).fetchall())
        ref_cpu = lake_bench_cpu()
        want = dict(con.execute(hand).fetchall())
        if name.startswith("range"):
            assert {i: r["count"] for i, r in enumerate(got.to_pylist()) if r["count"]} == want
        else:  # the 30 commonest: each count is the hand-written one
            assert all(want.get(r["value"]) == r["count"] for r in got.to_pylist())
        out[name] = {"first": [first_ms, first_cpu], "later": [ms, cpu], "hand": [ref, ref_cpu]}
        print(
            f"  {name:26s} first {first_ms:8.1f} ms (CPU {first_cpu:7.1f})  later {ms:7.1f}"
            f" ms (CPU {cpu:6.1f})  hand SQL {ref:8.1f} ms (CPU {ref_cpu:7.1f})"
            f"  first/hand {first_ms / ref:.3f}x"
        )
    catalog.close()
    return out


def lake_bench_cpu() -> float:
    import lake_bench

    return lake_bench.CPU_MS[-1]


def promote(path: str) -> dict[str, Any]:
    with workbench.open(path) as catalog:
        ms, cpu, chosen = _clock(catalog.optimize)
    print(f"  optimize promoted {chosen} in {ms / 1000:.0f} s (CPU {cpu / 1000:.0f} s)")
    return {"promoted": chosen, "ms": ms, "cpu_ms": cpu}


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("count", "facets", "promote"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, path = sys.argv[1:]
    before = os.getloadavg()
    found = {"count": count, "facets": facets, "promote": promote}[mode](path)
    found["load"] = [before, os.getloadavg()]
    print(f"  load average {before} -> {os.getloadavg()}")
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
