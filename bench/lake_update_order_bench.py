"""The CPU and peak memory of an import update that stores frames again on a Delta lake,
whether the lake lists them last afterwards (as a local catalog does), and whether its
files' ranges are disjoint after it (the views then scan them unsorted).

    PYTHONPATH=$PWD python bench/lake_update_order_bench.py 200000 /tmp/lake-order [BUCKETS]

A catalog of N frames (the frames of tests/store/test_frames_left_without_rois.py) is made
once (kept beside `folder`), copied and moved into a lake of BUCKETS buckets (default one);
then one update stores every (N/10)th frame again without ROIs. Prints the update's process
CPU (every thread: deltalake's too), its wall time, the process's peak resident memory
during it (VmHWM, reset before it), whether `frame_ids()` ends with those frames, whether
every table's files are disjoint, and the load average.

The catalog holds about a third of the N frames: the generator's predictions have a
confidence of 0.05 * i, past 1 from f21 on, and the writer refuses those frames (at N =
1,000,000: 333,347 frames, 28 ROIs). Most of the frames the update stores are so new ones;
f00 is stored again, and the files of frames and sources are rewritten whole.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import workbench
from tests.store.test_frames_left_without_rois import _frame, _rois
from workbench.ingest import CatalogWriter
from workbench.store.lake_write import open_for_lake


def _peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to the current VmRSS


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(frames: int, folder: Path, buckets: int = 1) -> None:
    made = folder.parent / f"{folder.name}-{frames}.duckdb"
    if not made.exists():
        with workbench.open(made) as catalog, CatalogWriter(catalog, progress=False) as writer:
            for i in range(frames):
                writer.add(_frame(i, _rois(i)))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / "catalog.duckdb"
    shutil.copyfile(made, path)
    open_for_lake(str(path), str(folder / "lake"), attach=False, buckets=buckets, progress=False)
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
    shutil.rmtree(folder)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), *(int(a) for a in sys.argv[3:4]))
