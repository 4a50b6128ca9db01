"""A run of a lake write written by store/lake_files.py: the files it reads streamed a batch
at a time (never whole in memory), the write's rows put in by `_row`, rows it replaces
dropped; a file out of order read whole and sorted; the Delta log's statistics of a file
only what its footer says of every row group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from workbench.store import lake_files
from workbench.store.lake import ROW, ROW_GROUP
from workbench.store.lake_files import Run, delta_stats, write_run

LOCAL = pafs.LocalFileSystem()
SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), (ROW, pa.int64())])


def _rows(numbers: np.ndarray, width: int = 8) -> pa.Table:
    ids = pa.array([f"r{n}" for n in numbers], pa.string())
    text = pa.array(["x" * width] * len(numbers), pa.string())
    return pa.table([ids, text, pa.array(numbers, pa.int64())], schema=SCHEMA)


def _place(tmp_path: Path) -> lake_files.Any:
    made = iter(range(1000))
    return lambda bucket: str(tmp_path / f"out-{bucket}-{next(made)}.parquet")


def _read(files: list[lake_files.Written]) -> pa.Table:
    return pa.concat_tables([pq.read_table(f.path) for f in files])


def test_a_run_is_streamed_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = np.arange(0, 800_000, 2, dtype=np.int64)  # 400,000 rows: 25 row groups
    source = tmp_path / "source.parquet"
    whole = _rows(numbers, width=100)
    pq.write_table(whole, source, row_group_size=ROW_GROUP)
    peak = [0]
    add = lake_files.Sink.add

    def watched(self: lake_files.Sink, rows: pa.Table) -> None:
        peak[0] = max(peak[0], pa.total_allocated_bytes())
        add(self, rows)

    monkeypatch.setattr(lake_files.Sink, "add", watched)
    dropped = np.array([10, 12, 799_998], np.int64)
    new = _rows(np.array([11, 12, 900_000], np.int64), width=100)  # 12 kept in place
    before = pa.total_allocated_bytes()
    run = Run(0, 0, 900_000, (str(source),), new)
    files = write_run(run, dropped, SCHEMA, _place(tmp_path), sort=False, fs=LOCAL)
    out = _read(files)
    expected = sorted({*numbers.tolist()} - {10, 12, 799_998} | {11, 12, 900_000})
    assert out[ROW].to_pylist() == expected
    assert out.filter(pa.compute.equal(out[ROW], 12))["id"].to_pylist() == ["r12"]
    assert peak[0] - before < whole.nbytes // 4  # a few row groups, not the file


def test_a_file_out_of_order_is_read_whole_and_sorted(tmp_path: Path) -> None:
    source = tmp_path / "source.parquet"
    pq.write_table(_rows(np.array([50, 60, 1, 2, 3], np.int64)), source)  # new rows first
    run = Run(0, 0, 100, (str(source),), _rows(np.array([70], np.int64)))
    files = write_run(run, np.array([2], np.int64), SCHEMA, _place(tmp_path), sort=False, fs=LOCAL)
    assert _read(files)[ROW].to_pylist() == [1, 3, 50, 60, 70]
    assert len(files) == 1


def test_a_files_statistics_as_its_footer_gives_them(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    table = pa.table(
        {
            "n": pa.array([3, None, 1, 7], pa.int64()),
            "f": pa.array([1.0, float("nan"), 2.0, 0.5]),
            "s": pa.array(["b", "a", "y" * 100, "c"]),
            "t": pa.array([1, 2, 3, 4], pa.timestamp("us")),
            ROW: pa.array([10, 11, 12, 13], pa.int64()),
        }
    )
    with pq.ParquetWriter(path, table.schema) as writer:
        writer.write_table(table, row_group_size=2)
    stats = orjson.loads(delta_stats(writer.writer.metadata, table.schema))
    assert stats["numRecords"] == 4
    assert stats["minValues"] == {"n": 1, ROW: 10}
    assert stats["maxValues"] == {"n": 7, ROW: 13}
    assert stats["nullCount"]["n"] == 1
