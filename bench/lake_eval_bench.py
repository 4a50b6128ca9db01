"""Evaluation as a job on a lake-backed catalog, against the catalog's own evaluation.

    PYTHONPATH=$PWD:$PWD/bench ~/.cache/workbench/daft-venv/bin/python \\
        bench/lake_eval_bench.py --frames 100000 --engines local daft

A catalog of `--frames` frames with ground truth and predictions is generated as
bench/eval_bench.py makes it (~4 boxes of each per frame), made lake-backed with `--buckets`
buckets, then evaluated (COCO method, every threshold and area range) by
`catalog.evaluate_detections` and by `jobs.run_evaluation` on each engine, in this process one
after the other. Wall and CPU seconds (every thread of this process) are printed with the load
average, and the job's stored run is checked against the local one (mAP, counts, every
eval_rois row).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_bench

import workbench
from workbench.jobs import EngineConfig, run_evaluation
from workbench.store.lake_write import open_for_lake

ROWS = "frame_id, roi_id, field, label, confidence, outcome, match_id, iou, crowd"


def _rows(catalog: workbench.Catalog, key: str) -> list[tuple[Any, ...]]:
    return catalog.sql(
        f"SELECT {ROWS} FROM eval_rois JOIN evaluations USING (run_id) WHERE eval_key = ?"
        " ORDER BY eval_rois.rowid",
        [key],
    ).fetchall()


def _timed(label: str, work: Any) -> tuple[Any, dict[str, Any]]:
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    figures = {
        "run": label,
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "load": round(load, 1),
    }
    print(json.dumps(figures), flush=True)
    return out, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engines", nargs="*", default=["local", "daft"])
    parser.add_argument("--workdir", default="/tmp/lake-eval-bench")
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path = work / "c.duckdb"
    made = eval_bench.generate(path, args.frames)
    print(json.dumps({"generated": made}), flush=True)
    _timed(
        "lake init",
        lambda: open_for_lake(
            str(path), str(work / "lake"), attach=False, buckets=args.buckets, progress=False
        ),
    )
    figures = []
    with workbench.open(path) as catalog:
        local, f = _timed(
            "catalog.evaluate_detections",
            lambda: catalog.evaluate_detections("predictions", eval_key="local"),
        )
        figures.append(f)
        expected = _rows(catalog, "local")
        for engine in args.engines:
            config = EngineConfig(engine, args.workers)
            job, f = _timed(
                f"run_evaluation on {engine} ({args.workers} workers, {args.buckets} units)",
                lambda config=config, engine=engine: run_evaluation(
                    catalog, "predictions", eval_key=f"job_{engine}", config=config, progress=False
                ),
            )
            figures.append(f)
            same = (
                job.to_dict() | {"eval_key": "local"} == local.to_dict()
                and _rows(catalog, f"job_{engine}") == expected
            )
            print(json.dumps({"engine": engine, "mAP": job.mAP, "same_as_local": same}))
            if not same:
                return 1
    print(json.dumps({"frames": args.frames, "rois": len(expected), "figures": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
