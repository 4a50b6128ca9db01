"""Data files a lake write makes itself: one stretch of stored order (a run) of one bucket,
merged from the files it rewrites and the write's own rows, streamed into Parquet files.

store/lake_order.py decides the runs; this module writes each one without holding the
files it reads in memory: their record batches are read in order, the rows the write
replaces dropped, the write's rows put in by `_row`, and the result written a row group at a
time (`ROW_GROUP` rows), a new file begun past `TARGET_BYTES`. The table format then commits
the files written and removes the ones read, in one commit (`TableFormat.replace_files`).
Files are read and written through the lake's pyarrow file system (`lake.arrow_filesystem`:
local or S3), named by their full path or URI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.store.lake import ROW, ROW_GROUP, fs_path

TARGET_BYTES = 128 * 1024 * 1024
# Runs of rows past which a merge in memory copies the rows rather than slicing them.
_SLICES = 4096


@dataclass(frozen=True)
class Written:
    """A data file written for a run: its full path, partition, bytes and footer."""

    path: str
    bucket: int
    size: int
    meta: Any  # pyarrow.parquet.FileMetaData


class _Unsorted(Exception):
    """A file read for a run holds its rows out of `_row` order."""


@dataclass(frozen=True)
class Run:
    """One stretch of stored order to write: bucket, `_row` bounds (both in), the files
    holding its kept rows (full paths, in order) and the write's rows within it."""

    bucket: int
    low: int
    high: int
    sources: tuple[str, ...]
    rows: pa.Table  # the write's rows of this run, sorted by `_row`


def conformed(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.Table:
    """`batch` with `schema`'s columns in order and types (the ones it lacks null)."""
    names = batch.schema.names
    columns = [
        batch.column(names.index(f.name)).cast(f.type)
        if f.name in names
        else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def kept_batches(
    run: Run, dropped: np.ndarray, schema: pa.Schema, fs: Any, *, check: bool = True
) -> Iterator[pa.Table]:
    """The rows of `run.sources` within the run's bounds and not `dropped` (sorted `_row`
    numbers), batch by batch; `_Unsorted` if a file's rows are out of order (with `check`)."""
    last = None
    for path in run.sources:
        with fs.open_input_file(fs_path(path)) as source:
            for batch in pq.ParquetFile(source).iter_batches(batch_size=ROW_GROUP):
                numbers = batch.column(batch.schema.names.index(ROW)).to_numpy()
                if check and len(numbers):
                    if (last is not None and numbers[0] <= last) or np.any(np.diff(numbers) <= 0):
                        raise _Unsorted(path)
                    last = int(numbers[-1])
                keep = (numbers >= run.low) & (numbers <= run.high)
                if len(dropped):
                    at = np.searchsorted(dropped, numbers)
                    hit = dropped[np.minimum(at, len(dropped) - 1)] == numbers
                    keep &= ~hit
                if not keep.any():
                    continue
                rows = batch if keep.all() else batch.filter(pa.array(keep))
                yield conformed(rows, schema)


def merged_batches(kept: Iterator[pa.Table], rows: pa.Table) -> Iterator[pa.Table]:
    """Two streams sorted by `_row` merged: `kept` batch by batch, `rows` put in place."""
    numbers = rows[ROW].to_numpy() if rows.num_rows else np.zeros(0, np.int64)
    at = 0
    for batch in kept:
        high = int(batch[ROW][-1].as_py())
        upto = int(np.searchsorted(numbers, high, side="right"))
        if upto == at:
            yield batch
            continue
        both = pa.concat_tables([batch, rows.slice(at, upto - at)])
        order = np.argsort(both[ROW].to_numpy(), kind="stable")
        yield both.take(pa.array(order))
        at = upto
    if at < len(numbers):
        yield rows.slice(at)


class Sink:
    """Parquet files of one bucket, written a row group at a time through `fs`, a new one
    past `TARGET_BYTES`; `files` once closed."""

    def __init__(self, schema: pa.Schema, bucket: int, place: Any, fs: Any) -> None:
        self.schema, self.bucket, self.place, self.fs = schema, bucket, place, fs
        self.files: list[Written] = []
        self._held: list[pa.Table] = []
        self._count = 0
        self._writer: Any = None
        self._stream: Any = None
        self._path = ""

    def add(self, rows: pa.Table) -> None:
        self._held.append(rows)
        self._count += rows.num_rows
        if self._count >= ROW_GROUP:
            self._flush(whole=True)

    def _flush(self, *, whole: bool) -> None:
        held = pa.concat_tables(self._held) if len(self._held) > 1 else self._held[0]
        size = (held.num_rows // ROW_GROUP) * ROW_GROUP if whole else held.num_rows
        if size:
            if self._writer is None:
                self._path = self.place(self.bucket)
                self._stream = self.fs.open_output_stream(fs_path(self._path))
                self._writer = pq.ParquetWriter(
                    self._stream, self.schema, compression="zstd", use_dictionary=_coded(held)
                )
            self._writer.write_table(held.slice(0, size), row_group_size=ROW_GROUP)
            if self._stream.tell() >= TARGET_BYTES:
                self._end()
        rest = held.slice(size)
        self._held, self._count = ([rest] if rest.num_rows else []), rest.num_rows

    def _end(self) -> None:
        self._writer.close()
        meta = self._writer.writer.metadata
        size = self._stream.tell()
        self._stream.close()  # on S3: the upload completes here
        self.files.append(Written(self._path, self.bucket, size, meta))
        self._writer = self._stream = None

    def close(self) -> list[Written]:
        if self._count:
            self._flush(whole=False)
        if self._writer is not None:
            self._end()
        return self.files

    def discard(self) -> None:
        """Remove what was written (the run is written another way, or the write failed)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
                self._stream.close()
            self.files.append(Written(self._path, self.bucket, 0, None))
        remove(self.fs, [f.path for f in self.files])
        self.files, self._writer, self._stream, self._held, self._count = [], None, None, [], 0


def remove(fs: Any, paths: Sequence[str]) -> None:
    """Delete the files `paths` (full paths or URIs) where they are; a missing one is fine."""
    for path in paths:
        with contextlib.suppress(OSError, FileNotFoundError):
            fs.delete_file(fs_path(path))


def _coded(rows: pa.Table) -> list[str]:
    """The columns worth dictionary pages: all but the integer and text ones whose values
    are mostly distinct in `rows` (a file's first rows; `_row`, keys, ids), which a
    dictionary only makes larger and slower to write (half the CPU of writing a frames
    file without it)."""
    plain = [
        f.name for f in rows.schema if pa.types.is_integer(f.type) or pa.types.is_string(f.type)
    ]
    mostly_distinct = {n for n in plain if pc.count_distinct(rows[n]).as_py() * 2 > rows.num_rows}
    return [n for n in rows.schema.names if n not in mostly_distinct]


def delta_stats(meta: Any, schema: pa.Schema) -> str:
    """A Delta add action's statistics from a file's footer: the row count and, for its
    top-level integer, text and boolean columns, the bounds and null counts (floats,
    timestamps and nested columns are left out: no reader of ours prunes by them)."""
    lows: dict[str, Any] = {}
    highs: dict[str, Any] = {}
    nulls: dict[str, int | None] = {}
    top = {f.name for f in schema}
    for group in range(meta.num_row_groups):
        found = meta.row_group(group)
        for at in range(found.num_columns):
            column = found.column(at)
            name = column.path_in_schema
            if name not in top:
                continue
            stats = column.statistics
            if stats is None or not stats.has_null_count:
                nulls[name] = None  # unknown for the file
            elif nulls.get(name, 0) is not None:
                nulls[name] = (nulls.get(name) or 0) + int(stats.null_count)
            if stats is None or not stats.has_min_max or not _plain_bound(stats.min, stats.max):
                lows[name] = highs[name] = None  # unknown for the file
            elif name not in lows:
                lows[name], highs[name] = stats.min, stats.max
            elif lows[name] is not None:
                lows[name], highs[name] = min(lows[name], stats.min), max(highs[name], stats.max)
    bounds = [n for n, v in lows.items() if v is not None]
    return orjson.dumps(
        {
            "numRecords": meta.num_rows,
            "minValues": {n: lows[n] for n in bounds},
            "maxValues": {n: highs[n] for n in bounds},
            "nullCount": {n: c for n, c in nulls.items() if c is not None},
        }
    ).decode()


def _plain_bound(*values: Any) -> bool:
    """Whether bounds go into the log as they are: integers, booleans, short text (not
    floats: a footer's bounds leave NaN out)."""
    return all(isinstance(v, bool | int) or (isinstance(v, str) and len(v) <= 64) for v in values)


def write_run(
    run: Run, dropped: np.ndarray, schema: pa.Schema, place: Any, sort: bool, fs: Any
) -> list[Written]:
    """The run's rows as files of its bucket (`place(bucket)`: a new file's path), streamed
    through `fs`; `sort`: the sources overlap, so their rows are read whole and sorted
    (`_Unsorted` from a streamed file falls back to that too). A failure removes what the
    run wrote."""
    sink = Sink(schema, run.bucket, place, fs)
    try:
        if not sort:
            try:
                for part in merged_batches(kept_batches(run, dropped, schema, fs), run.rows):
                    sink.add(part)
                return sink.close()
            except _Unsorted:
                sink.discard()
        kept = list(kept_batches(run, dropped, schema, fs, check=False))
        read = pa.concat_tables(kept) if kept else run.rows.slice(0, 0)
        sink.add(merged(read, np.zeros(read.num_rows, dtype=bool), run.rows))
        return sink.close()
    except BaseException:
        sink.discard()
        raise


def merged(read: pa.Table, dropped: np.ndarray, rows: pa.Table) -> pa.Table:
    """The rows of `read` but those `dropped` (a mask) and `rows` (same schema), by `_row`.

    Both usually come in order and the rows kept lie in long runs (a write replaces few of
    a file's rows): the result is then slices of the two, not a copy of every row."""
    both = pa.concat_tables([read, rows])
    numbers = both[ROW].to_numpy()
    kept = np.concatenate([np.flatnonzero(~dropped), np.arange(len(read), len(both))])
    order = kept[np.argsort(numbers[kept], kind="stable")]
    starts = np.flatnonzero(np.diff(order) != 1) + 1
    if len(starts) >= _SLICES:
        return both.take(pa.array(order))
    bounds = np.concatenate([[0], starts, [len(order)]])
    pieces = [both.slice(int(order[a]), int(b - a)) for a, b in pairwise(bounds) if b > a]
    return pa.concat_tables(pieces) if pieces else both.slice(0, 0)


def read_numbers(paths: Sequence[str], fs: Any) -> list[np.ndarray]:
    """The `_row` column of each file."""
    return [pq.read_table(fs_path(p), columns=[ROW], filesystem=fs)[ROW].to_numpy() for p in paths]
