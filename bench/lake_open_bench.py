"""What opening a lake-backed catalog costs, with and without a rolled-back write to undo.

    PYTHONPATH=$PWD:$PWD/bench python bench/lake_open_bench.py CATALOG \
        --trees /tmp/before /tmp/after --rounds 5 [--killed 1000]

Each open runs in a process of its own with one source tree first on its path (`--trees`: a
copy of the code before a change and one after, opened alternately, round after round), and
times `workbench.open(CATALOG).close()` alone (the imports excluded): wall and CPU seconds.
With `--killed N`, every round of the last tree also makes a write of N new frames in a
process that ends itself once the write's lake commits are made, before the catalog's
COMMIT (a process killed mid-write), then times the open that undoes it and the open after.
Prints one line per open and a JSON summary with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

_OPEN = """
import sys, time
import workbench
t, c = time.perf_counter(), time.process_time()
workbench.open(sys.argv[1]).close()
print(time.perf_counter() - t, time.process_time() - c)
"""

_KILLED = """
import os, sys
import workbench
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.store.catalog import Catalog

catalog = workbench.open(sys.argv[1])
pins = lambda lake: {n: t.version for n, t in lake.tables.items()}
pinned = pins(catalog.lake)
keep = Catalog._keep_layout

def killed(self, con):
    if pins(self.lake) != pinned:  # the write's lake commits are made
        os._exit(3)
    keep(self, con)

Catalog._keep_layout = killed
writer = CatalogWriter(catalog, progress=False, batch_size=10**9)
for i in range(int(sys.argv[2])):
    writer.add(Frame(id=f"killed-{i}", sources=[Source("cam", f"/k/{i}.jpg")]))
writer.flush()
"""


def run(tree: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        cwd=tree,  # `python -c` puts its working folder first on the path, before PYTHONPATH
        capture_output=True,
        text=True,
        timeout=1800,
    )


def timed_open(tree: Path, catalog: str) -> tuple[float, float]:
    done = run(tree, _OPEN, catalog)
    if done.returncode:
        raise RuntimeError(done.stderr)
    wall, cpu = map(float, done.stdout.split())
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("catalog")
    parser.add_argument("--trees", type=Path, nargs="+", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--killed", type=int, default=0, help="frames of a killed write")
    args = parser.parse_args()
    found: dict[str, list[tuple[float, float]]] = {}
    for round_ in range(args.rounds):
        for tree in args.trees:
            wall, cpu = timed_open(tree, args.catalog)
            found.setdefault(str(tree), []).append((wall, cpu))
            print(f"round {round_} {tree}: open {wall:.3f} s wall, {cpu:.3f} s CPU", flush=True)
        if args.killed:
            tree = args.trees[-1]
            done = run(tree, _KILLED, args.catalog, str(args.killed))
            if done.returncode != 3:
                raise RuntimeError(done.stderr)
            for label in ("undoing", "after"):
                wall, cpu = timed_open(tree, args.catalog)
                found.setdefault(label, []).append((wall, cpu))
                print(f"round {round_} {label}: open {wall:.3f} s wall, {cpu:.3f} s CPU")
    summary = {
        k: {
            "wall_median": statistics.median(w for w, _ in v),
            "cpu_median": statistics.median(c for _, c in v),
            "cpu_min": min(c for _, c in v),
            "cpu_max": max(c for _, c in v),
        }
        for k, v in found.items()
    }
    print(json.dumps({"load": os.getloadavg(), **summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
