"""The COCO import's writes one by one: what each costs as the file grows.

    # the engine's tables spill as a multi-GB file's do:
    python bench/coco_writes_bench.py --images 400000 800000 --per-write 40000 \\
        --engine-memory 300MB
    # 2.6 GB:
    python bench/coco_writes_bench.py --images 4800000 --file /tmp/x/coco.json
    # 10 GB, as it goes:
    python bench/coco_writes_bench.py --images 19000000 --per-write 122880 \\
        --file /tmp/x/coco10g.json --sample 30 --statements
    # and its updates, the file unchanged and every 100th image changed:
    python bench/coco_writes_bench.py --images 400000 --update --changed 100

`--update` imports the file a second time into the same catalog (every image found unchanged:
its writes only count them, a "share" row each); `--changed N` then changes every Nth image's
annotations in place (a box's width, byte for byte: in a copy when the file is `--file`) and
imports it again. Each import is measured alike, with its own VmHWM.

Generates the formats bench's COCO file (bench/formats_bench.py: annotations not grouped by
image) of each size, imports it in this process into a fresh catalog, and prints per write
(`--per-write` images each): CPU and wall seconds, the bytes the process read meanwhile
(`rchar`: the engine's spilled blocks come back through read(), mostly from the page cache;
of these, the CPU and reads of the catalog's own write, `write_rows`, apart),
the high-water mark of its RSS (VmHWM), and the memory of the import's engine and of the
catalog's (DuckDB's own count, held and spilled). Then the staging steps' CPU and the total,
with the load average. A write's cost that does not depend on the file's size shows as the
same figures at every size. Each staging step is printed as it ends; `--sample` adds a line
every so many seconds (CPU, VmHWM, RSS, bytes read, the disk the import's temporary folder
holds: the engine's spill, the writes' annotation files and the digests' sums, these apart; the
load), so that a run of an hour tells where it is, and the end its peak; `--statements` the
CPU per statement of the import's engine and of the catalog's cursors (`catalog:` before
these: the writes' INSERTs, COMMITs, the layout's and digests' upkeep), each engine's total
told apart. A statement's CPU is the process's: with the writes overlapped, a write's storing
runs beside the next write's making, and each counts the other's (`--sequential` apart). Disk is counted as `du` counts it, by blocks allocated
(bench/coco_writes_disk.py): the sums' arrays are sparse files made at their full length.

Each write's rows are stored in a thread of their own while the next write's are made
(`_coco_columnar.OVERLAP_WRITES`): a write's row is then printed as its rows are made, its
storing's figures (`store_*`) are those of its thread as far as it got, and the process's CPU
of a write counts the write before's storing beside it. `--sequential` stores each write as
it is made (the per-write figures each their own). The import's line gives the CPU of the
caller's thread and of the writes' threads apart (their own clocks: `time.thread_time`).

Every figure is named below (`--help`, from bench/coco_writes_figures.py); after each
update a line gives its CPU, wall, VmHWM, peak spill and peak sums as multiples of the first
import's (`against_import`), and each import's line the writes' and the shares' CPU spread.

The file is the formats bench's (`formats_bench.write_coco`, byte for byte), written by
`write_coco_fast` (the same bytes from templates: a 10 GB file in minutes, not a quarter hour).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import coco_writes_figures as figures
import orjson
from coco_writes_disk import allocated_mb, sums_mb
from coco_writes_timed import CATALOG, Timed, catalog_cursors
from formats_bench import LABELS

import workbench
from workbench.ingest import _coco_columnar, _coco_digests, _coco_staged, _coco_texts, coco
from workbench.ingest._columnar import MemoryEngine

_IMAGE = b'{"id":%d,"file_name":"s3://bench/coco/%07d.jpg","width":640,"height":480,"license":1}'
_ANN = b'{"id":%d,"image_id":%d,"category_id":%d,"bbox":[%d,%d,30.5,20],'
_BOX = b'"area":610.0,"iscrowd":0}'
_POLYGON = b'"area":300.0,"iscrowd":0,"segmentation":[[%d,%d,%d,%d,%d,%d]]}'


def write_coco_fast(path: Path, images: int, chunk: int = 100_000) -> None:
    """formats_bench.write_coco's file, byte for byte, from templates (no dict, no dumps)."""
    with path.open("wb") as out:
        out.write(b'{"info": {"description": "bench"}, "images": [')
        for start in range(0, images, chunk):
            rows = [_IMAGE % (i + 1, i) for i in range(start, min(start + chunk, images))]
            out.write((b",\n" if start else b"\n") + b",\n".join(rows))
        out.write(b'\n], "annotations": [')
        for start in range(0, images * 4, chunk):
            rows = []
            for a in range(start, min(start + chunk, images * 4)):
                x, y = (a * 7) % 600, (a * 13) % 440
                head = _ANN % (a + 1, (a * 7919) % images + 1, a % len(LABELS) + 1, x, y)
                tail = _POLYGON % (x, y, x + 30, y, x + 15, y + 20) if a % 4 == 3 else _BOX
                rows.append(head + tail)
            out.write((b",\n" if start else b"\n") + b",\n".join(rows))
        cats = [
            {"id": n + 1, "name": name, "supercategory": "thing"} for n, name in enumerate(LABELS)
        ]
        out.write(b'\n], "categories": ' + orjson.dumps(cats))
        out.write(b"}\n")


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


class _Watch:
    """What the run is doing, for the progress lines: the step, the engine's spill folder,
    and (with `statements`) the engine's CPU by statement."""

    def __init__(self, statements: bool) -> None:
        self.step = "scan"
        self.spill: str | None = None
        self.peak_spill = self.peak_sums = 0
        self.started = (time.perf_counter(), _cpu())
        self.statements: dict[str, list[float]] | None = {} if statements else None

    def line(self, what: str) -> str:
        wall, cpu = time.perf_counter() - self.started[0], _cpu() - self.started[1]
        now, spill, sums = _proc(), allocated_mb(self.spill), sums_mb(self.spill)
        self.peak_spill = max(self.peak_spill, spill)
        self.peak_sums = max(self.peak_sums, sums)
        return (
            f"  [{wall:7.0f} s wall, {cpu:7.1f} s CPU] {what}: VmHWM {now['VmHWM']:,.0f} MB, "
            f"RSS {now['VmRSS']:,.0f} MB, read {now['rchar']:,.0f} MB, spill {spill:,} MB "
            f"(sums {sums:,} MB), "
            f"load {os.getloadavg()[0]:.1f}"
        )

    def count(self, sql: str, seconds: float, engine: str = "") -> None:
        if self.statements is not None:
            key = engine + " ".join(sql.split())[:90]
            self.statements.setdefault(key, [0, 0.0])
            self.statements[key][0] += 1
            self.statements[key][1] += seconds


def _engine_class(watch: _Watch) -> type[MemoryEngine]:
    class Engine(MemoryEngine):
        """The import's engine, its spill folder told to `watch`, its statements counted."""

        def __enter__(self) -> Any:
            con = super().__enter__()
            return Timed(con, watch) if watch.statements is not None else con

    return Engine


def _timed(
    name: str, steps: dict[str, float], watch: _Watch, owner: Any = _coco_columnar, key: str = ""
) -> None:
    """Add the CPU seconds of `owner`'s step `name` to `steps` (under `key` if given, then
    summed quietly: a step run once a piece or a batch); print it as it ends."""
    inner: Callable[..., Any] = getattr(owner, name)

    def step(*args: Any, **kwargs: Any) -> Any:
        started = _cpu()
        if not key:
            watch.step = name
        try:
            return inner(*args, **kwargs)
        finally:
            steps[key or name] = steps.get(key or name, 0.0) + _cpu() - started
            if not key:
                print(watch.line(f"{name} done, {steps[name]:.1f} s CPU"), flush=True)
                watch.step = "writes" if name == "_annotations" else f"after {name}"

    setattr(owner, name, step)


def _sampler(watch: _Watch, every: float) -> threading.Event:
    """Print a progress line every `every` seconds until the event is set."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            print(watch.line(watch.step), flush=True)

    threading.Thread(target=run, daemon=True).start()
    return stop


def _write_row(
    n: int, kind: str, con: Any, writer: Any, cpu: float, wall: float, before: dict[str, float],
    stored: list[float],
) -> dict[str, Any]:  # fmt: skip
    """One write's figures, from the CPU, wall and /proc figures taken before it."""
    after = _proc()
    row = {
        "write": n,
        "kind": kind,
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
    print("  " + json.dumps(row), flush=True)
    return row


# The CPU seconds of the writes' own threads (the writes' storing: `_storing`), this import.
_THREADS = {"writes": 0.0}


def _storing(store: Callable[[Any], None], stored: list[float]) -> Callable[[Any], None]:
    """`store` (a writer's write_rows), its CPU seconds and MB read added to `stored`."""

    def write_rows(batch: Any) -> None:
        started, read, own = _cpu(), _proc()["rchar"], time.thread_time()
        store(batch)
        stored[0] += _cpu() - started
        stored[1] += _proc()["rchar"] - read
        _THREADS["writes"] += time.thread_time() - own

    return write_rows


def measure(
    file: Path,
    per_write: int,
    catalog: Path,
    sample: float | None = None,
    statements: bool = False,
) -> dict[str, Any]:
    """Import `file` into `catalog` (made if missing: then a first import, else an update),
    timing each write: the module's own _write, wrapped while it runs, a "write" row each; and
    each write of an update's unchanged images beyond those (`_write_all`'s shares), a
    "share" row each."""
    writes: list[dict[str, Any]] = []
    inner, write_all = _coco_columnar._write, _coco_columnar._write_all
    steps: dict[str, float] = {}
    watch = _Watch(statements)
    found = {"unchanged": 0}  # images an update found unchanged
    # Each import's own peak: the kernel's VmHWM set back to the RSS now (`time -v`'s maximum,
    # from getrusage, is the process's).
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")

    def write(con: Any, path: Path, writer: Any, *args: Any) -> None:
        cpu, wall, before, stored = _cpu(), time.perf_counter(), _proc(), [0.0, 0.0]
        shares = writer.write_rows  # _write_all's, below
        writer.write_rows = _storing(writer.__class__.write_rows.__get__(writer), stored)
        try:
            inner(con, path, writer, *args)
        finally:
            writer.write_rows = shares
        writes.append(_write_row(len(writes), "write", con, writer, cpu, wall, before, stored))

    def all_writes(con: Any, path: Path, writer: Any, *args: Any) -> None:
        """The writes, and after them each share of the unchanged images a row."""

        def share(batch: Any) -> None:
            cpu, wall, before, stored = _cpu(), time.perf_counter(), _proc(), [0.0, 0.0]
            _storing(writer.__class__.write_rows.__get__(writer), stored)(batch)
            writes.append(_write_row(len(writes), "share", con, writer, cpu, wall, before, stored))

        writer.write_rows = share
        try:
            write_all(con, path, writer, *args)
        finally:
            del writer.write_rows

    def look_up(digests: Any, con: Any) -> None:
        look(digests, con)
        found["unchanged"] = digests.unchanged

    names = ("members", "_read", "_images", "_annotations")
    saved = {n: getattr(_coco_columnar, n) for n in (*names, "MemoryEngine")}
    piece = _coco_texts._pieces
    adds = {kind: kind.__dict__["add"] for kind in (_coco_staged.InEngine, _coco_staged.ByWrite)}
    looks = {n: _coco_digests.ImageDigests.__dict__[n] for n in ("before_images", "look_up")}
    look = looks["look_up"]
    _coco_columnar._write = write  # type: ignore[assignment]
    _coco_columnar._write_all = all_writes  # type: ignore[assignment]
    _coco_digests.ImageDigests.look_up = look_up  # type: ignore[method-assign]
    for name in names:
        _timed(name, steps, watch)
    # Quietly, once a group of pieces and once a batch: the pieces' parse (the images' in
    # `_read`, the annotations' after `_images`) and the annotations' conversion, kept by
    # write; and the digests' pass before the images' statement (in an update: the
    # annotations hashed, the images looked up and left out).
    _timed("_pieces", steps, watch, _coco_texts, key="pieces")
    for kind in adds:
        _timed("add", steps, watch, kind, key="conversion")
    _timed("before_images", steps, watch, _coco_digests.ImageDigests, key="digests_before")
    _coco_columnar.MemoryEngine = _engine_class(watch)  # type: ignore[misc]
    uncount = catalog_cursors(watch) if statements else None
    stop = _sampler(watch, sample) if sample else None
    try:
        with tempfile.TemporaryDirectory(prefix="coco-writes-scratch-") as scratch:
            # The import's temporary folders (the engine's spill, the writes' annotations)
            # made in `scratch`, whose size the progress lines give as "spill".
            watch.spill, tempfile.tempdir = scratch, scratch
            cpu, wall, own = _cpu(), time.perf_counter(), time.thread_time()
            _THREADS["writes"] = 0.0
            with workbench.open(catalog) as opened:
                report = coco.import_files(
                    opened, [file], progress=False, id_prefix="bench:", batch_size=per_write
                )
            total = {"cpu_s": _cpu() - cpu, "wall_s": time.perf_counter() - wall,
                     "caller_cpu_s": time.thread_time() - own,
                     "writes_thread_cpu_s": _THREADS["writes"]}  # fmt: skip
            if report.warnings:  # a staging tried again, or a file read record by record
                print(f"  warnings: {dict(report.warning_examples)}", flush=True)
    finally:
        tempfile.tempdir = None
        if uncount is not None:
            uncount()
        if stop is not None:
            stop.set()
        _coco_columnar._write = inner  # type: ignore[assignment]
        _coco_columnar._write_all = write_all  # type: ignore[assignment]
        for name, function in saved.items():
            setattr(_coco_columnar, name, function)
        _coco_texts._pieces = piece  # type: ignore[assignment]
        for kind, add in adds.items():
            kind.add = add  # type: ignore[method-assign]
        for name, method in looks.items():
            setattr(_coco_digests.ImageDigests, name, method)
    if not writes:
        told = report.warning_examples.get(_coco_columnar.WARN_READ_BY_RECORD, "no warning")
        raise SystemExit(f"{file}: not imported by the columnar path ({told})")
    top = sorted((watch.statements or {}).items(), key=lambda kv: -kv[1][1])
    engines = {"import": [0, 0.0], "catalog": [0, 0.0]}
    for key, (runs, seconds) in top:
        side = engines["catalog" if key.startswith(CATALOG) else "import"]
        side[0], side[1] = side[0] + int(runs), side[1] + seconds
    return {"frames": report.frames, "rois": report.rois, "writes": writes, "steps": steps,
            **total, "hwm_mb": _proc()["VmHWM"], "peak_spill_mb": watch.peak_spill,
            "peak_sums_mb": watch.peak_sums, "unchanged": found["unchanged"],
            "catalog_disk_mb": allocated_mb(str(catalog.parent)),
            "statements": [{"sql": k, "runs": n, "cpu_s": round(c, 2)} for k, (n, c) in top],
            "engines": {k: {"runs": n, "cpu_s": round(c, 2)} for k, (n, c) in engines.items()}}  # fmt: skip


def change_annotations(file: Path, every: int, block: int = 1 << 26) -> tuple[int, int]:
    """Change in place, byte for byte, the box of every annotation of every `every`th image
    (image ids divisible by it) of a file of the bench's layout (one record a line; a box's
    width 30.5 made 31.5: the same length, so nothing else moves). Returns (annotations,
    images) changed."""
    marker = b'\n], "annotations": ['
    box = re.compile(rb'"image_id":(\d+),"category_id":\d+,"bbox":\[-?\d+,-?\d+,(30\.5),')
    changed, images = 0, set()
    with file.open("r+b") as out:
        # The annotations' start (the images come first in the bench's file).
        at, tail = 0, b""
        while True:
            chunk = out.read(block)
            if not chunk:
                raise ValueError(f"{file}: no annotations array")
            where = (tail + chunk).find(marker)
            if where >= 0:
                at += where - len(tail) + len(marker)
                break
            tail, at = chunk[-len(marker) :], at + len(chunk)
        while True:
            out.seek(at)
            chunk = out.read(block)
            if not chunk:
                break
            cut = chunk.rfind(b"\n") + 1 if len(chunk) == block else len(chunk)
            chunk = chunk[: cut or len(chunk)]
            for match in box.finditer(chunk):
                image = int(match[1])
                if image % every == 0:
                    out.seek(at + match.start(2))
                    out.write(b"31.5")
                    changed += 1
                    images.add(image)
            at += len(chunk)
    return changed, len(images)


def _told(what: str, done: dict[str, Any]) -> None:
    """Print one import's figures."""
    steps = ", ".join(f"{k} {v:.1f}" for k, v in done["steps"].items())
    rows = []
    for kind in ("write", "share"):
        cpu = [w["cpu_s"] for w in done["writes"] if w["kind"] == kind]
        told = done[f"{kind}s_cpu_s"]
        if told is not None:
            rows.append(
                f"{len(cpu)} {kind}s {sum(cpu):.1f} s, {told['median']:.2f} s each (median; "
                f"{told['min']:.2f}-{told['max']:.2f}, the first {told['first']:.2f}, "
                f"the last {told['last']:.2f})"
            )
    print(
        f"  {what}: {done['frames']:,} frames, {done['rois']:,} ROIs, {done['unchanged']:,} "
        f"images found unchanged: CPU {done['cpu_s']:.1f} s (staging: {steps}; "
        f"{'; '.join(rows) or 'no writes'}; the caller's thread "
        f"{done['caller_cpu_s']:.1f}, the writes' threads {done['writes_thread_cpu_s']:.1f}), "
        f"wall {done['wall_s']:.1f} s, "
        f"VmHWM {done['hwm_mb']:,.0f} MB, peak spill {done['peak_spill_mb']:,} MB (sampled; "
        f"the sums' {done['peak_sums_mb']:,} MB), "
        f"catalog {done['catalog_disk_mb']:,} MB, load {os.getloadavg()[0]:.1f} at the end",
        flush=True,
    )
    if done["statements"]:
        told = ", ".join(
            f"{k}'s engine {v['runs']:,} statements, {v['cpu_s']:.2f} s CPU"
            for k, v in done["engines"].items()
        )
        print(f"  statements: {told}", flush=True)
    for row in done["statements"][:25]:
        print(f"  {row['cpu_s']:8.2f} s CPU, {row['runs']:5d} runs: {row['sql']}")


def _imports(file: Path, args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    """The first import of `file` into a catalog in `folder`, then (as asked) its update with
    the file unchanged and with `--changed` images changed in it (then `file` is a copy)."""
    runs = [("import", None), *([("update", None)] if args.update else [])]
    runs += [("changed", args.changed)] if args.changed else []
    results = []
    for what, every in runs:
        extra: dict[str, Any] = {}
        if every:
            started = time.perf_counter()
            extra["changed_annotations"], extra["changed_images"] = change_annotations(file, every)
            extra["change_wall_s"] = round(time.perf_counter() - started, 1)
            print(f"  changed in place: {extra}", flush=True)
        load = os.getloadavg()[0]
        print(f"  {what}, load {load:.1f}", flush=True)
        done = measure(file, args.per_write, folder / "c.duckdb", args.sample, args.statements)
        done.update(figures.spreads(done))
        _told(what, done)
        if results:  # an update: set against the first import's figures
            done["against_import"] = figures.against(results[0], done)
            print(figures.told_against(what, done["against_import"]), flush=True)
        results.append({"run": what, "load": [load, os.getloadavg()[0]], **extra, **done})
    return results


def _positive(text: str) -> int:
    """An argument that must be a whole number above 0 (`--changed 0` would change nothing)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: a number above 0")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog=figures.epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--images",
        type=_positive,
        nargs="+",
        default=[400_000, 800_000],
        help="the file's images, one size or several (4 annotations each; 400000 and 800000)",
    )
    parser.add_argument(
        "--per-write",
        type=_positive,
        default=40_000,
        help="images per write (the importer's batch_size; 40000; the importer's own: 122880)",
    )
    parser.add_argument(
        "--engine-memory",
        help="the import engine's memory limit, e.g. 300MB (default: the importer's, 1GB); "
        "small enough and the first plan fails, which the importer tries again",
    )
    parser.add_argument(
        "--file",
        type=Path,
        help="one size only: the file, generated here if missing, kept (else a temporary one)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here as JSON (below)")
    parser.add_argument(
        "--sample",
        type=float,
        metavar="SECONDS",
        help="print a progress line every SECONDS (and sample the temporary disk as often)",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="the CPU per statement of the import's engine and of the catalog's cursors "
        "(`catalog:`), the 25 costliest printed after each import",
    )
    parser.add_argument(
        "--update", action="store_true", help="then import the same file again (an update)"
    )
    parser.add_argument(
        "--changed",
        type=_positive,
        metavar="N",
        help="then change every Nth image's annotations in place and import it again (the "
        "file imported is then a copy made in --copy-dir: --file is never written)",
    )
    parser.add_argument(
        "--copy-dir", type=Path, help="where --changed copies --file (default: a temporary folder)"
    )
    parser.add_argument(
        "--sequential", action="store_true", help="each write stored before the next is made"
    )
    args = parser.parse_args()
    if args.sequential:
        _coco_columnar.OVERLAP_WRITES = False
    if args.file is not None and len(args.images) > 1:
        parser.error("--file takes one --images size")
    if args.copy_dir is not None and not (args.changed and args.file):
        parser.error("--copy-dir is where --changed copies --file: give both")
    if args.engine_memory:
        _coco_columnar.ENGINE_MEMORY = args.engine_memory
    results = []
    with tempfile.TemporaryDirectory(prefix="coco-writes-file-") as tmp:
        for images in args.images:
            file = args.file or Path(tmp) / "coco.json"
            if args.file is None or not file.exists():
                write_coco_fast(file, images)
            if args.changed and args.file is not None:
                copy = (args.copy_dir or Path(tmp)) / f"changed-{file.name}"
                started = time.perf_counter()
                shutil.copyfile(file, copy)
                print(f"copied to {copy} in {time.perf_counter() - started:.0f} s", flush=True)
                file = copy
            load = os.getloadavg()[0]
            print(f"{images:,} images, {file.stat().st_size / 1e6:,.0f} MB, load {load:.1f}")
            with tempfile.TemporaryDirectory(prefix="coco-writes-") as folder:
                for done in _imports(file, args, Path(folder)):
                    results.append({"images": images, **done})
            if file != args.file and file.parent != Path(tmp):
                file.unlink()  # the copy
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
