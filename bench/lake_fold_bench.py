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

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

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


def main(catalog: Path, folder: Path) -> None:
    import pyarrow.fs as pafs

    fs = pafs.LocalFileSystem()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    every = _frames(catalog)
    schema = every.schema
    count = [0]

    def place(_: int) -> str:
        count[0] += 1
        return str(folder / f"f{count[0]}.parquet")

    for size in SIZES:
        if size + 20 > every.num_rows:
            break
        base = every.slice(0, size)
        new = every.slice(size, 20)
        (written,) = write_run(Run(0, 0, size - 1, (), base), np.zeros(0, np.int64), schema, place, False, fs)  # fmt: skip
        alone = _best(
            lambda: write_run(Run(0, size, size + 19, (), new), np.zeros(0, np.int64), schema, place, False, fs)  # fmt: skip
        )
        folded = _best(
            lambda: write_run(
                Run(0, 0, size + 19, (written.path,), new), np.zeros(0, np.int64), schema, place, False, fs  # fmt: skip
            )
        )
        print(
            f"file of {size} rows, {written.size / 2**20:.2f} MiB: 20 rows alone {alone:.4f}s, "
            f"folded {folded:.4f}s"
        )
    rows = every.slice(0, min(every.num_rows, 200_000))
    for parts in (1, 10, 100, 1000):
        sub = folder / f"scan{parts}"
        sub.mkdir()
        step = -(-rows.num_rows // parts)
        paths = []
        for at in range(0, rows.num_rows, step):
            (w,) = write_run(
                Run(0, at, at + step - 1, (), rows.slice(at, step)), np.zeros(0, np.int64),
                schema, lambda _: str(sub / f"{len(paths)}.parquet"), False, fs,
            )  # fmt: skip
            paths.append(w.path)
        con = duckdb.connect()
        query = f"SELECT count(*), max(timestamp) FROM read_parquet({paths})"
        con.sql(query).fetchall()  # the footers cached, as the catalog's engine keeps them
        scan = _best(lambda: con.sql(query).fetchall())  # noqa: B023
        print(f"{rows.num_rows} rows in {len(paths)} files: count {scan:.4f}s")
    print("load", Path("/proc/loadavg").read_text().split()[0])
    shutil.rmtree(folder)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
