"""What taking a small file into a write costs (store/lake_order.py `FOLD_BYTES`), and what
a file more costs the views' scans: the bound between them.

    PYTHONPATH=$PWD python bench/lake_fold_bench.py CATALOG.duckdb /tmp/fold

From the frames of a catalog (the one bench/lake_update_order_bench.py keeps beside its
folder), files of a bucket of growing size are written as a lake write writes them
(store/lake_files.py); for each, the process CPU (best of 3) of writing 20 new rows as a
file of their own, and of writing them together with that file (read, merged, written
again); then the CPU (best of 3) of DuckDB counting the same rows from one file and from
the files of 10, 100 and 1,000 updates' worth (each one small file more). Prints the load.
"""

from __future__ import annotations

import functools
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from workbench.store.lake import BUCKET, ROW
from workbench.store.lake_files import Run, write_run

SIZES = (2_000, 10_000, 40_000, 160_000, 320_000)


def _best(run: Callable[[], object], times: int = 3) -> float:
    out = []
    for _ in range(times):
        started = time.process_time()
        run()
        out.append(time.process_time() - started)
    return min(out)


def _frames(catalog: Path) -> pa.Table:
    with duckdb.connect(str(catalog), read_only=True) as con:
        rows = con.sql("SELECT * FROM frames").to_arrow_table()
    rows = rows.append_column(ROW, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    return rows.append_column(BUCKET, pa.array(np.zeros(rows.num_rows, np.int32)))


def _write(rows: pa.Table, low: int, sources: tuple[str, ...], path: Path) -> str:
    """`rows` (and `sources`' rows from `low` on) as one file at `path`, as a write makes it."""
    fs = pafs.LocalFileSystem()
    high = int(rows[ROW][-1].as_py())
    run = Run(0, low, high, sources, rows)
    (written,) = write_run(run, np.zeros(0, np.int64), rows.schema, lambda _: str(path), False, fs)
    return written.path


def main(catalog: Path, folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    every = _frames(catalog)
    for size in SIZES:
        if size + 20 > every.num_rows:
            break
        base = _write(every.slice(0, size), 0, (), folder / f"base{size}.parquet")
        new = every.slice(size, 20)
        alone = _best(functools.partial(_write, new, size, (), folder / "alone.parquet"))
        folded = _best(functools.partial(_write, new, 0, (base,), folder / "folded.parquet"))
        mib = Path(base).stat().st_size / 2**20
        print(
            f"file of {size} rows, {mib:.2f} MiB: 20 rows alone {alone:.4f}s, folded {folded:.4f}s"
        )
    rows = every.slice(0, min(every.num_rows, 200_000))
    for parts in (1, 10, 100, 1000):
        sub = folder / f"scan{parts}"
        sub.mkdir()
        step = -(-rows.num_rows // parts)
        paths = [
            _write(rows.slice(at, step), at, (), sub / f"{at}.parquet")
            for at in range(0, rows.num_rows, step)
        ]
        con = duckdb.connect()
        query = f"SELECT count(*), max(timestamp) FROM read_parquet({paths})"
        con.sql(query).fetchall()  # the footers cached, as the catalog's engine keeps them
        scan = _best(functools.partial(con.execute, query))
        print(f"{rows.num_rows} rows in {len(paths)} files: count {scan:.4f}s")
    print("load", Path("/proc/loadavg").read_text().split()[0])
    shutil.rmtree(folder)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
