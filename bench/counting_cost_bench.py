"""The CPU an import spends counting what it stores (workbench/ingest/_counting.py), one
import at a time: the formats bench's COCO and Labelbox files imported, then imported again
(the update), in this process, with the CPU of every outermost call into the counting summed
(`time.thread_time`, the calling thread's CPU) beside the process's CPU (`time.process_time`,
the engine's threads included).

Run it from the root of the code to measure (PYTHONPATH=$PWD): the same script measures any
copy whose counting has the classes and functions it wraps (Counted, Tally, KeyBits,
LabelCounts, the label writes' count_again and count_queued).

    PYTHONPATH=$PWD python bench/counting_cost_bench.py --coco 100000 --labelbox 200
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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


def _wrap_counting(total: list[float]) -> None:
    """Time every method of the counting's classes and the label writes' counting."""
    from workbench.ingest import _counted_keys, _counted_labels, _counting, _label_writes

    classes = [_counting.Counted, _counting.Tally, _counted_keys.KeyBits]
    classes.append(_counted_labels.LabelCounts)
    for cls in classes:
        for name, value in list(vars(cls).items()):
            if callable(value) and not name.startswith("__"):
                setattr(cls, name, _timed(value, total))
    for name in ("count_again", "count_queued"):
        setattr(_label_writes, name, _timed(getattr(_label_writes, name), total))


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


if __name__ == "__main__":
    main()
