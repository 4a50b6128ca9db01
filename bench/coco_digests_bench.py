"""COCO's update by image digest, in one process: the CPU of a first import and of updates
with and without the digests, alternately, and what the digests' own steps cost in each.

    python bench/coco_digests_bench.py                  # 100,000 images, 3 rounds
    python bench/coco_digests_bench.py --images 20000 --rounds 5
    python bench/coco_digests_bench.py --images 400000 --rounds 1 --per-write 40000 \
        --engine-memory 300MB --batch-mb 32      # the staged path: many writes and batches

The file is bench/formats_bench.py's COCO file (4 annotations an image). Each round: a
first import into a new catalog; an update with the digests that import kept; one with an
annotation of one image edited (its text as long as before); the digests deleted (as in a
catalog migrated from before them) and an update without them, which converts every image
as before and digests it. CPU is the process's (every thread); the load average is printed
with each step, and the process's peak RSS (VmHWM) at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from formats_bench import write_coco
from step_cpu import SPENT, forget_digests, load, process_cpu, timed

import workbench
from workbench.ingest import _coco_columnar, _coco_digests, coco

OPTIONS: dict[str, Any] = {}


def _import(db: Path, path: Path) -> tuple[float, int, dict[str, float]]:
    SPENT.clear()
    found: list[int] = []
    close = _coco_digests.ImageDigests.close

    def closing(self: _coco_digests.ImageDigests) -> None:
        found.append(self.unchanged)
        close(self)

    _coco_digests.ImageDigests.close = closing  # type: ignore[method-assign]
    try:
        with workbench.open(db) as catalog:
            started = process_cpu()
            report = coco.import_files(
                catalog, [path], progress=False, id_prefix="bench:", **OPTIONS
            )
            spent = process_cpu() - started
    finally:
        _coco_digests.ImageDigests.close = close  # type: ignore[method-assign]
    assert report.ok and report.frames, report
    return spent, sum(found), dict(SPENT)


def _edit(path: Path) -> None:
    """One annotation's box edited in place, its text as long as before."""
    data = bytearray(path.read_bytes())
    at = data.index(b'"bbox":[', data.index(b'"annotations"')) + len(b'"bbox":[')
    data[at] = ord("1") if data[at] != ord("1") else ord("2")
    path.write_bytes(bytes(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-write", type=int, help="images per write (batch_size)")
    parser.add_argument("--engine-memory", help="the staging engine's memory, such as 300MB")
    parser.add_argument("--batch-mb", type=int, help="MB of annotations' text per batch")
    args = parser.parse_args()
    if args.per_write:
        OPTIONS["batch_size"] = args.per_write
    if args.engine_memory:
        OPTIONS["engine_memory"] = args.engine_memory
    if args.batch_mb:
        _coco_columnar.ANNOTATION_BATCH_BYTES = args.batch_mb << 20
    digests = _coco_digests.ImageDigests
    timed(digests, "before_images", "hash and lookup")
    timed(digests, "look_up", "of it, lookup")
    timed(digests, "hash_annotations", "annotations hashed")
    timed(digests, "digest", "digests made")
    timed(digests, "leave_out", "annotations left out")
    timed(digests, "beside", "digested rows")
    timed(_coco_digests.Beside, "__call__", "check and record at the write")
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="coco-digests-") as folder:
        path = Path(folder) / "coco.json"
        original = Path(folder) / "coco-original.json"
        write_coco(original, args.images)
        print(f"{args.images:,} images, {original.stat().st_size / 1e6:.0f} MB; load {load()}")
        for round_ in range(args.rounds):
            path.write_bytes(original.read_bytes())
            db = Path(folder) / f"c{round_}.duckdb"
            steps: list[tuple[str, Callable[[], None] | None]] = [
                ("first import", None),
                ("update with digests", None),
                ("update, one image edited", lambda: _edit(path)),
                ("update without digests", lambda db=db: forget_digests(db)),  # type: ignore[misc]
            ]
            for step, before in steps:
                if before is not None:
                    before()
                cpu, same, parts = _import(db, path)
                figures.setdefault(step, []).append(cpu)
                shown = ", ".join(f"{k} {v:.3f}" for k, v in parts.items() if v >= 0.0005)
                print(
                    f"  {step:26s} CPU {cpu:6.2f} s  {same:,} unchanged  (digests' steps: "
                    f"{shown})  load {load()}"
                )
    print("medians:", ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in figures.items()))
    peak = [line for line in Path("/proc/self/status").read_text().splitlines() if "VmHWM" in line]
    print(f"peak RSS: {peak[0].split(':')[1].strip() if peak else '?'}; load {load()}")


if __name__ == "__main__":
    main()
