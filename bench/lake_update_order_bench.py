"""The CPU and peak memory of an import update that stores frames again on a lake, whether
the lake lists them last afterwards (as a local catalog does), whether its files' ranges are
disjoint after it (the views then scan them unsorted), and the files small updates leave.

    PYTHONPATH=$PWD python bench/lake_update_order_bench.py 200000 /tmp/lake-order [BUCKETS]
        [--updates K] [--spread one|every] [--s3] [--format delta|iceberg]

A catalog of N frames (the frames of tests/store/test_frames_left_without_rois.py) is made
once (kept beside `folder`), copied and moved into a lake of BUCKETS buckets (default one;
with --s3 a bucket of moto's S3 server on loopback, .ci/moto-venv); then one update stores
every (N/10)th frame again without ROIs. Prints the update's process CPU (every thread:
deltalake's too), its wall time, the process's peak resident memory during it (VmHWM, reset
before it), whether `frame_ids()` ends with those frames, whether every table's files are
disjoint, and the load average. Then K small updates (default 0) each add 20 new frames:
of one context (`--spread one`, one bucket) or one context in each bucket (`every`); their
CPU, wall and peak together, the frames table's file count after them, whether the files
are disjoint, and the seconds of a count over the frames view (by file) at the end.

The catalog holds about a third of the N frames: the generator's predictions have a
confidence of 0.05 * i, past 1 from f21 on, and the writer refuses those frames (at N =
1,000,000: 333,347 frames, 28 ROIs). Most of the frames the update stores are so new ones;
f00 is stored again, and the files of frames and sources are rewritten whole.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import time
import zlib
from pathlib import Path

import workbench
from tests.store.test_frames_left_without_rois import _frame, _rois
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.store.lake_write import open_for_lake


def _peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to the current VmRSS


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _small_updates(path: Path, count: int, spread: str, buckets: int) -> str:
    """`count` updates of 20 new frames each; the figures as text."""
    contexts = _contexts(buckets) if spread == "every" else ["day"]
    _peak_reset()
    cpu, wall = time.process_time(), time.time()
    for n in range(count):
        with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
            for k in range(20):
                i = n * 20 + k
                writer.add(
                    Frame(f"u{i:06d}", context_id=contexts[k % len(contexts)], timestamp=i,
                          sources=[Source("cam", f"/u/{i}.jpg")], rois=_rois(i % 18))
                )  # fmt: skip
    cpu, wall, peak = time.process_time() - cpu, time.time() - wall, _peak_mib()
    with workbench.open(path) as catalog:
        lake = catalog.lake
        assert lake is not None
        files, disjoint = lake.files("frames", lake.format.version("frames"))
        started = time.process_time()
        catalog.sql("SELECT count(*), max(timestamp) FROM frames").fetchall()
        scan = time.process_time() - started
    return (
        f"{count} updates ({spread}) cpu={cpu:.2f}s wall={wall:.2f}s peak={peak:.0f}MiB "
        f"frames files={len(files)} disjoint={disjoint} scan cpu={scan:.3f}s"
    )


def _contexts(buckets: int) -> list[str]:
    """One context name per bucket."""
    found: dict[int, str] = {}
    for k in range(10_000):
        found.setdefault(zlib.crc32(f"ctx{k}".encode()) % buckets, f"ctx{k}")
        if len(found) == buckets:
            break
    return [found[b] for b in sorted(found)]


def main(
    frames: int,
    folder: Path,
    buckets: int = 1,
    *,
    updates: int = 0,
    spread: str = "one",
    root: str = "",
    fmt: str = "delta",
) -> None:
    made = folder.parent / f"{folder.name}-{frames}.duckdb"
    if not made.exists():
        with workbench.open(made) as catalog, CatalogWriter(catalog, progress=False) as writer:
            for i in range(frames):
                writer.add(_frame(i, _rois(i)))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / "catalog.duckdb"
    shutil.copyfile(made, path)
    catalog_uri = f"sqlite:///{path}.iceberg.db" if fmt == "iceberg" else None
    open_for_lake(
        str(path), root or str(folder / "lake"), attach=False, buckets=buckets,
        progress=False, fmt=fmt, catalog=catalog_uri,
    )  # fmt: skip
    again = [f"f{i:02d}" for i in range(0, frames, frames // 10)]
    _peak_reset()
    cpu, wall = time.process_time(), time.time()
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(0, frames, frames // 10):
            writer.add(_frame(i, []))
    cpu, wall, peak = time.process_time() - cpu, time.time() - wall, _peak_mib()
    with workbench.open(path) as catalog:
        ids = catalog.view().frame_ids()
        tail = ids[-len(again) :]  # several buckets: the write's frames grouped by bucket
        last = tail == again if buckets == 1 else sorted(tail) == sorted(again)
        lake = catalog.lake
        disjoint = all(lake.files(n, lake.format.version(n))[1] for n in lake.tables)
    load = Path("/proc/loadavg").read_text().split()[0]
    print(
        f"N={frames} buckets={buckets} update cpu={cpu:.2f}s wall={wall:.2f}s "
        f"peak={peak:.0f}MiB stored again last={last} disjoint={disjoint} load={load}"
    )
    if updates:
        print(_small_updates(path, updates, spread, buckets), "load=" + _load())
    shutil.rmtree(folder)


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("frames", type=int)
    parser.add_argument("folder", type=Path)
    parser.add_argument("buckets", type=int, nargs="?", default=1)
    parser.add_argument("--updates", type=int, default=0)
    parser.add_argument("--spread", choices=("one", "every"), default="one")
    parser.add_argument("--s3", action="store_true")
    parser.add_argument("--format", choices=("delta", "iceberg"), default="delta")
    args = parser.parse_args()
    run = functools.partial(
        main, args.frames, args.folder, args.buckets, updates=args.updates,
        spread=args.spread, fmt=args.format,
    )  # fmt: skip
    if not args.s3:
        run()
        return
    from tests.lake.s3 import make_bucket, moto_server

    with moto_server():
        make_bucket("bench")
        run(root="s3://bench/lake")


if __name__ == "__main__":
    _cli()
