"""The COCO import's writes one by one: what each costs as the file grows.

    python bench/coco_writes_bench.py --images 400000 800000 --per-write 40000 \
        --engine-memory 300MB          # the engine's tables spill as a multi-GB file's do
    python bench/coco_writes_bench.py --images 4800000 --file /tmp/x/coco.json   # 2.6 GB

Generates the formats bench's COCO file (bench/formats_bench.py: annotations not grouped by
image) of each size, imports it in this process into a fresh catalog, and prints per write
(`--per-write` images each): CPU and wall seconds, the bytes the process read meanwhile
(`rchar`: the engine's spilled blocks come back through read(), mostly from the page cache;
of these, the CPU and reads of the catalog's own write, `write_rows`, apart),
the high-water mark of its RSS (VmHWM), and the memory of the import's engine and of the
catalog's (DuckDB's own count, held and spilled). Then the staging steps' CPU and the total,
with the load average. A write's cost that does not depend on the file's size shows as the
same figures at every size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from formats_bench import write_coco

import workbench
from workbench.ingest import _coco_columnar, coco


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _proc() -> dict[str, float]:
    """VmHWM and VmRSS (MB) and the bytes read so far (rchar, MB)."""
    found: dict[str, float] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0]) / 1024
    with open("/proc/self/io") as io:
        for line in io:
            key, _, value = line.partition(":")
            if key == "rchar":
                found[key] = int(value) / 1e6
    return found


def _engine_mb(con: Any) -> tuple[int, int]:
    """(held, spilled) MB of a DuckDB connection's database."""
    row = con.execute(
        "SELECT sum(memory_usage_bytes) >> 20, sum(temporary_storage_bytes) >> 20 "
        "FROM duckdb_memory()"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def _timed(name: str, steps: dict[str, float]) -> None:
    """Add the CPU seconds of _coco_columnar's step `name` to `steps`."""
    inner: Callable[..., Any] = getattr(_coco_columnar, name)

    def step(*args: Any, **kwargs: Any) -> Any:
        started = _cpu()
        try:
            return inner(*args, **kwargs)
        finally:
            steps[name] = steps.get(name, 0.0) + _cpu() - started

    setattr(_coco_columnar, name, step)


def measure(file: Path, per_write: int) -> dict[str, Any]:
    """Import `file`, timing each write (the module's own _write, wrapped while it runs)."""
    writes: list[dict[str, Any]] = []
    inner = _coco_columnar._write
    steps: dict[str, float] = {}

    def write(con: Any, path: Path, writer: Any, *args: Any) -> None:
        cpu, wall, before = _cpu(), time.perf_counter(), _proc()
        store = writer.write_rows
        stored = [0.0, 0.0]  # CPU seconds and MB read in the catalog's write_rows

        def write_rows(batch: Any) -> None:
            started, read = _cpu(), _proc()["rchar"]
            store(batch)
            stored[0] += _cpu() - started
            stored[1] += _proc()["rchar"] - read

        writer.write_rows = write_rows
        try:
            inner(con, path, writer, *args)
        finally:
            del writer.write_rows
        after = _proc()
        row = {
            "write": len(writes),
            "cpu_s": round(_cpu() - cpu, 2),
            "store_cpu_s": round(stored[0], 2),
            "store_read_mb": round(stored[1]),
            "wall_s": round(time.perf_counter() - wall, 2),
            "read_mb": round(after["rchar"] - before["rchar"]),
            "hwm_mb": round(after["VmHWM"]),
            "rss_mb": round(after["VmRSS"]),
            "engine_mb": _engine_mb(con),
            "catalog_mb": _engine_mb(writer.catalog._con),
        }
        writes.append(row)
        print("  " + json.dumps(row), flush=True)

    saved = {n: getattr(_coco_columnar, n) for n in ("_read", "_images", "_annotations")}
    _coco_columnar._write = write  # type: ignore[assignment]
    for name in saved:
        _timed(name, steps)
    try:
        with tempfile.TemporaryDirectory(prefix="coco-writes-") as tmp:
            cpu, wall = _cpu(), time.perf_counter()
            with workbench.open(Path(tmp) / "c.duckdb") as catalog:
                report = coco.import_files(
                    catalog, [file], progress=False, id_prefix="bench:", batch_size=per_write
                )
            total = {"cpu_s": _cpu() - cpu, "wall_s": time.perf_counter() - wall}
    finally:
        _coco_columnar._write = inner  # type: ignore[assignment]
        for name, function in saved.items():
            setattr(_coco_columnar, name, function)
    if not writes:
        told = report.warning_examples.get(_coco_columnar.WARN_READ_BY_RECORD, "no warning")
        raise SystemExit(f"{file}: not imported by the columnar path ({told})")
    return {"frames": report.frames, "rois": report.rois, "writes": writes, "steps": steps,
            **total, "hwm_mb": _proc()["VmHWM"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=[400_000, 800_000])
    parser.add_argument("--per-write", type=int, default=40_000, help="images per write")
    parser.add_argument(
        "--engine-memory", help="the import engine's memory limit (default: the importer's)"
    )
    parser.add_argument(
        "--file", type=Path, help="one size only: the file, generated here if missing, kept"
    )
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    if args.file is not None and len(args.images) > 1:
        parser.error("--file takes one --images size")
    if args.engine_memory:
        _coco_columnar.ENGINE_MEMORY = args.engine_memory
    results = []
    with tempfile.TemporaryDirectory(prefix="coco-writes-file-") as tmp:
        for images in args.images:
            file = args.file or Path(tmp) / "coco.json"
            if args.file is None or not file.exists():
                write_coco(file, images)
            load = os.getloadavg()[0]
            print(f"{images:,} images, {file.stat().st_size / 1e6:,.0f} MB, load {load:.1f}")
            done = measure(file, args.per_write)
            per_write = [w["cpu_s"] for w in done["writes"]]
            steps = ", ".join(f"{k} {v:.1f}" for k, v in done["steps"].items())
            print(
                f"  {done['frames']:,} frames, {done['rois']:,} ROIs: CPU {done['cpu_s']:.1f} s "
                f"(staging: {steps}; writes {sum(per_write):.1f}, mean "
                f"{sum(per_write) / len(per_write):.2f} a write), wall {done['wall_s']:.0f} s, "
                f"VmHWM {done['hwm_mb']:,.0f} MB, load {os.getloadavg()[0]:.1f} at the end",
                flush=True,
            )
            results.append({"images": images, "load": [load, os.getloadavg()[0]], **done})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
