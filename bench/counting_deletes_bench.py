"""The CPU of the check a transaction that is not an import's runs before its COMMIT while an
import is under way (workbench/ingest/_counted_deletes.py): an import's writer stores N
frames (`write_rows`, 100,000 a write) and is held open; five transactions each insert a tag
(deleting no frame) and five each delete one frame; the check's thread and process CPU, the
median of each five.

    PYTHONPATH=$PWD python bench/counting_deletes_bench.py --frames 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import workbench
from tests.ingest.counting_files import row_batch, whole_frame
from workbench.ingest import _counted_deletes
from workbench.ingest.writer import CatalogWriter
from workbench.store import before_commit

_SPENT: list[tuple[float, float]] = []


def _timed(*args: Any) -> Any:
    started, spent = time.thread_time(), time.process_time()
    try:
        return _counted_deletes.check(*args)
    finally:
        _SPENT.append((time.thread_time() - started, time.process_time() - spent))


def _transaction(catalog: Any, kind: str, frame_id: str) -> None:
    with catalog.transaction() as con:
        if kind == "no frame":
            con.execute("INSERT INTO tags (frame_id, tag) VALUES (?, 'seen')", [frame_id])
            return
        for table in ("rois", "sources"):
            con.execute(f"DELETE FROM {table} WHERE frame_id = ?", [frame_id])
        con.execute("DELETE FROM frames WHERE id = ?", [frame_id])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    args = parser.parse_args()
    before_commit._CHECKS[:] = [_timed]
    with (
        tempfile.TemporaryDirectory() as folder,
        workbench.open(Path(folder) / "c.duckdb") as catalog,
        CatalogWriter(catalog, progress=False) as writer,
    ):
        for start in range(0, args.frames, 100_000):
            end = min(args.frames, start + 100_000)
            writer.write_rows(row_batch([whole_frame(f"f{i}", 1) for i in range(start, end)]))
        for kind in ("no frame", "one frame"):
            _SPENT.clear()
            for k in range(5):
                _transaction(catalog, kind, f"f{k}")
            cpu = sorted(s[0] for s in _SPENT)[2]
            process = sorted(s[1] for s in _SPENT)[2]
            load = Path("/proc/loadavg").read_text().split()[0]
            print(
                f"{args.frames} frames counted, deleting {kind}: thread CPU"
                f" {1000 * cpu:.2f} ms, process CPU {1000 * process:.2f} ms, load {load}",
                flush=True,
            )


if __name__ == "__main__":
    main()
