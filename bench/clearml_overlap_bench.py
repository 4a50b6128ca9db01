"""The ClearML NDJSON import with its writes and its reading in threads of their own, beside
the same import one step after the other (`NdjsonImport(overlap=False)`), alternately.

    python bench/clearml_overlap_bench.py                        # 200,000 frames, 3 pairs
    python bench/clearml_overlap_bench.py --frames 1000000 --rounds 1
    python bench/clearml_overlap_bench.py --batch-size 40960     # writes of 40,960 frames

Generates bench/formats_bench.py's ClearML file and imports it into a new catalog, each
import in a child process of its own (its peak RSS its own), the overlapped import and the
sequential one alternately. Prints for each: wall seconds and frames/s, process CPU (every
thread), the CPU of the import's own threads (the caller's, the reading thread's jobs, the
writes' thread's jobs: `time.thread_time`; the catalog engine's own threads make up the rest
of the process CPU), the time the caller waited for the other threads, peak RSS and the load
average at the start. On an idle machine the wall time of the overlapped import is bounded
below by the largest of its threads' CPU and by half the process CPU (two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import formats_bench


def child(file: Path, db: Path, overlap: bool, batch_size: int) -> dict[str, Any]:
    """One import, in this process: its figures."""
    import workbench
    from workbench.ingest import _in_thread
    from workbench.ingest._clearml_columnar import NdjsonImport
    from workbench.ingest.writer import CatalogWriter

    threads: Counter[str] = Counter()
    run, wait = _in_thread.InThread._run, _in_thread.InThread.wait

    def timed_run(self: Any, context: Any, job: Any) -> None:
        started = time.thread_time()
        try:
            run(self, context, job)
        finally:
            threads[self.name.rsplit("-", 1)[-1]] += time.thread_time() - started

    def timed_wait(self: Any) -> None:
        started = time.perf_counter()
        try:
            wait(self)
        finally:
            threads["waited"] += time.perf_counter() - started

    _in_thread.InThread._run = timed_run  # type: ignore[method-assign]
    _in_thread.InThread.wait = timed_wait  # type: ignore[method-assign]
    before = resource.getrusage(resource.RUSAGE_SELF)
    started, caller = time.perf_counter(), time.thread_time()
    with (
        workbench.open(db) as catalog,
        CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
        NdjsonImport(writer, batch_size, overlap=overlap) as columnar,
    ):
        columnar.read(file, file.parent)
    seconds = time.perf_counter() - started
    threads["caller"] = time.thread_time() - caller
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert writer.report.ok, writer.report
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rss_mb": after.ru_maxrss / 1024,
        "frames": writer.report.frames,
        **threads,
    }


def measure(file: Path, db: Path, overlap: bool, batch_size: int) -> dict[str, Any]:
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    load = os.getloadavg()[0]
    command = [sys.executable, __file__, "--child", str(file), str(db), str(int(overlap))]
    command += ["--batch-size", str(batch_size)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return {"load": load, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=122_880, help="frames per write")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        file, db, overlap = args.child
        print(json.dumps(child(Path(file), Path(db), overlap == "1", args.batch_size)))
        return
    with tempfile.TemporaryDirectory(prefix="clearml-overlap-") as tmp:
        file, db = Path(tmp) / "clearml.ndjson", Path(tmp) / "c.duckdb"
        formats_bench.write_clearml(file, args.frames)
        print(f"{args.frames:,} frames, {file.stat().st_size / 1e6:.0f} MB; writes of "
              f"{args.batch_size:,} frames; {os.cpu_count()} cores")  # fmt: skip
        for _ in range(args.rounds):
            for overlap in (False, True):
                r = measure(file, db, overlap, args.batch_size)
                print(
                    f"  {'overlapped' if overlap else 'sequential':10s} load {r['load']:5.2f}: "
                    f"{r['seconds']:6.2f} s ({r['frames'] / r['seconds']:>7,.0f} frames/s), "
                    f"CPU {r['cpu']:5.2f} s (caller {r['caller']:5.2f}, reading "
                    f"{r.get('read', 0):5.2f}, writes {r.get('write', 0):5.2f}; waited "
                    f"{r.get('waited', 0):5.2f} s), peak RSS {r['rss_mb']:4.0f} MB",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
