"""The CPU an import spends counting what it stores (workbench/ingest/_counting.py), one
import at a time: the formats bench's COCO and Labelbox files imported, then imported again
(the update), in this process, with the CPU of every outermost call into the counting summed
(`time.thread_time`, the calling thread's CPU) beside the process's CPU (`time.process_time`,
the engine's threads included).

Run it from the root of the code to measure (PYTHONPATH=$PWD): the same script measures any
copy whose counting has the classes and functions it wraps (Counted, Tally, KeyBits,
LabelCounts, the label writes' count_again and count_queued).

    PYTHONPATH=$PWD python bench/counting_cost_bench.py --coco 100000 --labelbox 200

With `--end-look-up` it also times, after each import, what reading at an import's end which
of the frames it counted are still stored would cost (not done by the import: docs/
benchmarks.md, "Twenty-fourth pass"): one look-up of the stored keys over the span of keys
the import counted (here the catalog's every frame, as a first import's), and the counted
keys not found among them, the median of 5 (the COCO imports: the Labelbox import writes
labels only).
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from formats_bench import write_coco, write_labelbox, write_labelbox_videos

_SPENT = threading.local()


def _timed(function: Callable[..., Any], total: list[float]) -> Callable[..., Any]:
    """`function`, its calls' thread CPU added to `total` unless inside another timed call."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_SPENT, "depth", 0)
        _SPENT.depth = depth + 1
        started = time.thread_time() if depth == 0 else 0.0
        try:
            return function(*args, **kwargs)
        finally:
            _SPENT.depth = depth
            if depth == 0:
                total[0] += time.thread_time() - started

    return call


def _timed_context(function: Callable[..., Any], total: list[float]) -> Callable[..., Any]:
    """`function` (which makes a context manager), its entering and leaving timed."""

    @contextmanager
    def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
        held = function(*args, **kwargs)
        value = _timed(held.__enter__, total)()
        try:
            yield value
        finally:
            _timed(held.__exit__, total)(None, None, None)

    return call


def _wrap_counting(total: list[float]) -> None:
    """Time every method of the counting's classes and the label writes' counting; where
    the copy has them, the label writes' counting's own class, what each write tells the
    imports under way that it runs (`writing`) and the check before each COMMIT of a
    person's deletes."""
    from workbench.ingest import _counted_keys, _counted_labels, _counting, _label_writes

    classes: list[type] = [_counting.Counted, _counting.Tally, _counted_keys.KeyBits]
    classes.append(_counted_labels.LabelCounts)
    classes.extend(c for c in _counting.Counted.__mro__[1:] if c is not object)
    for cls in classes:
        for name, value in list(vars(cls).items()):
            if callable(value) and not name.startswith("__"):
                setattr(cls, name, _timed(value, total))
    for name in ("count_again", "count_queued"):
        setattr(_label_writes, name, _timed(getattr(_label_writes, name), total))
    elsewhere = _counting.elsewhere
    if hasattr(elsewhere, "writing"):
        from workbench.store import before_commit

        elsewhere.writing = _timed_context(elsewhere.writing, total)
        checks = before_commit._CHECKS
        checks[:] = [_timed(check, total) for check in checks]


def _end_look_up(catalog: Any) -> tuple[float, float, float, int]:
    """The thread CPU, process CPU and wall seconds of one look-up of the stored frames' keys
    over the span counted, with the counted keys not found (medians of 5), and the keys
    looked up."""
    from workbench.ingest._counted_keys import KeyBits

    low, high = catalog.sql("SELECT min(frame_key), max(frame_key) FROM frames").fetchall()[0]
    counted = KeyBits()
    counted.add_range(low, high)
    cpu, process, wall = [], [], []
    for _ in range(5):
        started, clock = time.thread_time(), time.perf_counter()
        spent = time.process_time()
        with catalog.transaction() as con:
            stored = con.execute(
                "SELECT frame_key FROM frames WHERE frame_key BETWEEN ? AND ?", [low, high]
            ).fetchnumpy()["frame_key"]
        missing = (high - low + 1) - int(counted.contains(stored).sum())
        cpu.append(time.thread_time() - started)
        process.append(time.process_time() - spent)
        wall.append(time.perf_counter() - clock)
        assert missing == 0
    return sorted(cpu)[2], sorted(process)[2], sorted(wall)[2], len(stored)


def _import_end(db: Path) -> None:
    import workbench

    with workbench.open(db) as catalog:
        cpu, process, wall, keys = _end_look_up(catalog)
    load = Path("/proc/loadavg").read_text().split()[0]
    print(
        f"  the end look-up over {keys} keys: thread CPU {1000 * cpu:.1f} ms, process CPU"
        f" {1000 * process:.1f} ms, wall {1000 * wall:.1f} ms, load {load}",
        flush=True,
    )


def _import(fmt: str, file: Path, db: Path) -> int:
    import workbench
    from workbench.ingest import importer

    options: dict[str, Any] = {"progress": False}
    if fmt == "coco":
        options["id_prefix"] = "bench:"
    with workbench.open(db) as catalog:
        report = importer(fmt)(catalog, [file], **options)
        assert report.ok, report
        return report.frames + report.rois


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coco", type=int, default=100_000, help="images")
    parser.add_argument("--labelbox", type=int, default=200, help="videos of 300 frames")
    parser.add_argument("--end-look-up", action="store_true", help="time the end look-up")
    args = parser.parse_args()
    total = [0.0]
    _wrap_counting(total)
    import workbench
    from workbench.ingest import importer

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        coco, labels = root / "coco.json", root / "labelbox.ndjson"
        write_coco(coco, args.coco)
        write_labelbox_videos(root / "videos.ndjson", args.labelbox)
        write_labelbox(labels, args.labelbox)
        with workbench.open(root / "labelbox.duckdb") as catalog:
            done = importer("clearml")(catalog, [root / "videos.ndjson"], progress=False)
            assert done.ok, done
        for fmt, file, db in (
            ("coco", coco, root / "coco.duckdb"),
            ("labelbox", labels, root / "labelbox.duckdb"),
        ):
            for step in ("import", "update"):
                total[0] = 0.0
                cpu = time.process_time()
                _import(fmt, file, db)
                cpu = time.process_time() - cpu
                share = 100 * total[0] / cpu
                load = Path("/proc/loadavg").read_text().split()[0]
                print(
                    f"{fmt:9} {step:7} process CPU {cpu:6.2f} s, in the counting "
                    f"{total[0]:.4f} s ({share:.2f}%), load {load}",
                    flush=True,
                )
                if args.end_look_up and fmt == "coco":
                    _import_end(db)


if __name__ == "__main__":
    main()
