"""The layout's own steps of a write (store/layout_insert.py `insert_keyed`), timed on writes
shaped as the formats bench's, this checkout's code against another's, alternately.

    python bench/layout_steps_bench.py --other /tmp/before        # a `git archive` of a commit
    python bench/layout_steps_bench.py --other /tmp/before --rounds 25

The steps: `layout_arrays.label_rows` (a write's frame_labels rows from its ROIs' keys),
`layout_insert._frame_keys` (each ROI's frame key among the batch's frames) and
`layout_hashes.context_keys` (each frame's context key, new contexts keyed; inside a
transaction rolled back after each call, on a new catalog). Two writes: ClearML's first
(122,880 frames, contexts of 50 frames, 491,520 ROIs, 4 a frame, in frame order) and COCO's
(100,000 frames each its own context named by its file's URI, 400,000 ROIs). Each step runs
`--rounds` times for each side in turn in this process (`time.process_time`, every thread);
prints the medians, the load average before and after, and whether both sides gave the same
result. The other checkout's three modules are loaded from its files beside this one's (the
rest of the package is this checkout's), so only those modules' code differs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa

import workbench

MODULES = ("layout_arrays", "layout_insert", "layout_hashes")
WRITES = {  # frames, frames a context, how a context is named
    "ClearML write": (122_880, 50, "ctx"),
    "COCO write": (100_000, 1, "s3://bench/coco/"),
}


def _load(tree: Path, name: str, side: str) -> ModuleType:
    path = tree / "workbench" / "store" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_{side}_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(frames: int, per_context: int, named: str) -> dict[str, Any]:
    """A write's arrays: its ROIs' frame keys, label keys, confidences and frame ids, its
    frames' ids, contexts and keys."""
    ids = pa.array([f"f{i:07d}" for i in range(frames)])
    of_roi = np.repeat(np.arange(frames), 4)
    contexts = [f"{named}{i // per_context:07d}" for i in range(frames)]
    return {
        "frame_keys": of_roi.astype(np.int64),
        "label_keys": (np.arange(4 * frames) % 7).astype(np.int32),
        "confidence": pa.array((np.arange(4 * frames) % 100) / 100.0),
        "ids": ids,
        "rois": pa.table({"frame_id": pa.chunked_array([ids.take(pa.array(of_roi))])}),
        "frames": pa.table(
            {
                "context_id": pa.array(contexts),
                "frame_key": pa.array(np.arange(frames, dtype=np.int64)),
            }
        ),
    }


def _steps(write: dict[str, Any], con: Any) -> dict[str, Any]:
    """Each step as a call of one side's modules."""
    return {
        "label_rows": lambda m: m["layout_arrays"].label_rows(
            write["frame_keys"], write["label_keys"], write["confidence"]
        ),
        "_frame_keys": lambda m: m["layout_insert"]._frame_keys(write["rois"], write["ids"], 0),
        "context_keys": lambda m: m["layout_hashes"].context_keys(con, write["frames"]),
    }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return bool(np.array_equal(a, b))
    if isinstance(a, pa.Table):
        return bool(a.equals(b))
    return pa.chunked_array([a]).to_pylist() == pa.chunked_array([b]).to_pylist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other", type=Path, required=True, help="another checkout's folder")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    sides = {
        "other": {n: _load(args.other, n, "other") for n in MODULES},
        "this": {n: _load(here, n, "this") for n in MODULES},
    }
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, shape in WRITES.items():
        write = _write(*shape)
        with tempfile.TemporaryDirectory(prefix="layout-steps-") as folder:
            catalog = workbench.open(Path(folder) / "steps.duckdb")
            con = catalog.cursor()
            steps = _steps(write, con)
            for step, run in steps.items():
                times: dict[str, list[float]] = {side: [] for side in sides}
                results: dict[str, Any] = {}
                for _ in range(args.rounds):
                    for side, modules in sides.items():
                        con.execute("BEGIN")
                        started = time.process_time()
                        results[side] = run(modules)
                        times[side].append(time.process_time() - started)
                        con.execute("ROLLBACK")
                same = _same(results["other"], results["this"])
                print(
                    f"{name}, {step}: other {np.median(times['other']):.4f} s,"
                    f" this {np.median(times['this']):.4f} s (medians of {args.rounds};"
                    f" the same result: {same})"
                )
            catalog.close()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
