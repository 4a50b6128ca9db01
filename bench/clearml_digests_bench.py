"""ClearML's update by line digest, in one process: the CPU of a first import and of updates
with and without the digests, alternately, and what the digests' own steps cost in each.

    python bench/clearml_digests_bench.py                  # 200,000 frames, 3 rounds
    python bench/clearml_digests_bench.py --frames 20000 --rounds 5

The file is bench/formats_bench.py's ClearML file. Each round: a first import into a new
catalog; an update with the digests that import kept; the digests deleted (as in a catalog
migrated from before them) and an update without them, which converts every line as before
and digests it. CPU is the process's (every thread); the load average is printed with each
round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from formats_bench import write_clearml
from step_cpu import SPENT, forget_digests, load, one_step_at_a_time, process_cpu, timed

import workbench
from workbench.ingest import _clearml_digests, clearml
from workbench.store import line_digests


def _import(db: Path, path: Path) -> tuple[float, dict[str, float]]:
    SPENT.clear()
    with workbench.open(db) as catalog:
        started = process_cpu()
        report = clearml.import_files(catalog, [path], progress=False)
        spent = process_cpu() - started
    assert report.ok and report.frames, report
    return spent, dict(SPENT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    one_step_at_a_time()  # each step's process CPU its own
    timed(_clearml_digests.LineDigests, "unchanged", "lookup")
    timed(line_digests, "changed_since", "check at the write")
    timed(line_digests, "record", "record")
    timed(line_digests, "unchanged_uris", "unchanged URIs")
    timed(_clearml_digests.LineDigests, "of_lines", "hash")
    timed(_clearml_digests, "digested", "digested rows")
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="clearml-digests-") as folder:
        path = Path(folder) / "clearml.ndjson"
        write_clearml(path, args.frames)
        print(f"{args.frames:,} frames, {path.stat().st_size / 1e6:.0f} MB; load {load()}")
        for round_ in range(args.rounds):
            db = Path(folder) / f"c{round_}.duckdb"
            steps = [("first import", None), ("update with digests", None)]
            steps.append(("update without digests", forget_digests))
            for step, before in steps:
                if before is not None:
                    before(db)
                cpu, parts = _import(db, path)
                figures.setdefault(step, []).append(cpu)
                shown = ", ".join(f"{k} {v:.3f}" for k, v in parts.items() if v >= 0.0005)
                print(f"  {step:24s} CPU {cpu:6.2f} s  (digests' steps: {shown})  load {load()}")
    print("medians:", ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in figures.items()))


if __name__ == "__main__":
    main()
