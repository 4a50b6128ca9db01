"""A lake write that leaves every data file in stored order, in one commit.

A write (store/lake_write.py) replaces the rows of some frames (a `Where`) by `rows`: new
ones, numbered after every other row, bucket after bucket, and rows it kept as they were,
with their old numbers (`_row`). Neither format keeps the order by itself: deltalake (1.6.6)
writes a file it rewrites with the write's rows BEFORE the ones it kept, Iceberg writes the
kept ones to a file of their own (whose range a row kept with its old number overlaps).

So the write makes the files itself (store/lake_files.py) and the format commits them
(`TableFormat.replace_files`): the files holding rows it replaces are read, the rows it keeps
merged with `rows` by `_row`, and the result cut into runs, the longest stretches of stored
order of one bucket that no other file's rows fall inside (a bucket's kept rows and the
rows it adds after every other bucket's are two runs); each run is written as files of its
own, in order, and the commit removes the files read. A file whose range holds rows of
another run (ranges that overlapped before: a plain overwrite's, another writer's) is read
and written again with them: the smallest set of files whose union is a range. Every file's
range is then disjoint from the others' and the views scan them unsorted (docs/scale-out.md).
The files are read and written through the lake's file system (`arrow_filesystem`: local
disk or S3). Files without `_row` statistics, or a table holding a replaced row's number
twice (another writer's copies: `_row` cannot tell them apart) take the format's own
overwrite (the views sort the ranges that overlap).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa

from workbench.store.lake import BUCKET, ROW, arrow_filesystem
from workbench.store.lake_files import Run, Written, read_numbers, remove, write_run
from workbench.store.lake_format import IsIn, Span, TableFormat, Unkeyed

# A bucket's file up to this size is written again with the rows a write adds right after it
# (one file, not one more small one per update): docs/benchmarks.md, "Twenty-eighth pass".
FOLD_BYTES = 1024 * 1024


def write_in_order(
    fmt: TableFormat,
    name: str,
    rows: pa.Table,
    where: IsIn | Unkeyed,
    replaced: pa.ChunkedArray | pa.Array | None = None,
) -> None:
    """One commit replacing the rows `where` selects by `rows` (which it selects too, or
    which keep their old `_row`), each file left in stored order.
    `replaced`: the numbers (`_row`) of the rows `where` selects, if the caller knows them
    (else they are read)."""
    planned = plan(fmt, name, rows, where, replaced)
    if planned is None:
        fmt.overwrite(name, rows, where)
        return
    written: list[Written] = []
    if not planned.runs and not planned.removed:
        return  # nothing stored, nothing dropped
    try:
        for run, sort in planned.runs:
            written += write_run(
                run, planned.dropped, planned.schema, planned.place, sort, planned.fs
            )
        fmt.replace_files(name, planned.removed, written)
    except BaseException:
        remove(planned.fs, [f.path for f in written])
        raise


@dataclass(frozen=True)
class Plan:
    """What one write makes: the files it removes, the runs it writes (each with whether
    its sources overlap, so are sorted in memory), the numbers of the rows it drops, the
    files' schema, where a bucket's new file goes and the file system they are on."""

    removed: list[Span]
    runs: list[tuple[Run, bool]]
    dropped: np.ndarray
    schema: pa.Schema
    place: Callable[[int], str]
    fs: Any


def plan(
    fmt: TableFormat,
    name: str,
    rows: pa.Table,
    where: IsIn | Unkeyed,
    replaced: pa.ChunkedArray | pa.Array | None,
) -> Plan | None:
    """The write's files (see the module's docstring); None when the format's own
    overwrite makes it."""
    spans = fmt.spans(name)
    if spans is None:
        return None
    schema = fmt.file_schema(name)
    if any(n not in schema.names for n in rows.schema.names):
        return None  # a column the table lacks: the format's own write refuses it
    fs = arrow_filesystem(fmt.root)
    hits = fmt.read(name, where, [BUCKET, ROW]) if replaced is None else pa.table({ROW: replaced})
    dropped = np.unique(hits[ROW].to_numpy())
    if len(dropped) < hits.num_rows:
        return None  # rows replaced share a number (another writer's copies): see below
    rows = _conformed(rows, schema).sort_by(ROW)
    chosen = rewritten(spans, hits)
    kept: dict[Span, np.ndarray] = {}
    held = 0  # the replaced numbers the files read hold
    while True:
        fresh = [s for s in chosen if s not in kept]
        for span, numbers in zip(
            fresh, read_numbers([fmt.file_path(name, s) for s in fresh], fs), strict=True
        ):
            gone = np.isin(numbers, dropped)
            held += int(gone.sum())
            kept[span] = np.sort(numbers[~gone], kind="stable")
        if held > len(hits):
            # A number the table holds twice (another writer's copies of rows): `_row` does
            # not tell the rows replaced from the others, the format's predicate does.
            return None
        numbers, buckets = _written(kept, rows)
        others = [s for s in spans if s not in kept]
        grown = _holding(others, numbers)
        if not grown:
            break
        chosen = [*chosen, *grown]
    folded = _foldable(_runs(numbers, buckets, others), others, numbers)
    if folded:
        for span in folded:
            # every row of the file is kept, and between its bounds lies no other row the
            # write stores (`_foldable`): its bounds alone place it in the runs, unread
            kept[span] = np.array([span.low, span.high], np.int64)
        numbers, buckets = _written(kept, rows)
        others = [s for s in others if s not in kept]
    runs = _runs(numbers, buckets, others)
    planned = _sourced(
        runs, kept, rows, {s: fmt.file_path(name, s) for s in kept}, set(rewritten(spans, hits))
    )
    removed = [s for s in kept if s not in planned[1]]
    return Plan(removed, planned[0], dropped, schema, lambda b: fmt.new_file(name, b), fs)


def _written(kept: dict[Span, np.ndarray], rows: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of every row the write stores (kept ones and its own), sorted, and
    each one's bucket."""
    numbers = [*kept.values(), rows[ROW].to_numpy()]
    buckets = [np.full(len(n), s.bucket, np.int64) for s, n in kept.items()]
    buckets.append(rows[BUCKET].to_numpy().astype(np.int64))
    every, of = np.concatenate(numbers), np.concatenate(buckets)
    order = np.argsort(every, kind="stable")
    return every[order], of[order]


def _foldable(
    runs: list[tuple[int, int, int]], others: Sequence[Span], numbers: np.ndarray
) -> list[Span]:
    """The small files (`FOLD_BYTES`) a run of the write may take in: the file just before
    the run's first row, of the run's bucket, with no row the write stores between them (a
    bucket's file and the rows it adds after it make one file while no other bucket's file
    lies between; their ranges stay disjoint)."""
    if not runs or not others:
        return []
    ordered = sorted(others, key=lambda s: s.low)
    lows = np.array([s.low for s in ordered], np.int64)
    out = []
    for bucket, low, _ in runs:
        at = int(np.searchsorted(lows, low)) - 1
        if at < 0:
            continue
        span = ordered[at]
        if span.bucket != bucket or span.size <= 0 or span.size > FOLD_BYTES:
            continue
        before = int(np.searchsorted(numbers, low)) - 1  # the row the write stores before
        if before >= 0 and numbers[before] > span.high:
            continue
        out.append(span)
    return out


def _holding(others: Sequence[Span], numbers: np.ndarray) -> list[Span]:
    """The files whose range holds any of `numbers` (sorted)."""
    out = []
    for span in others:
        at = int(np.searchsorted(numbers, span.low))
        if at < len(numbers) and numbers[at] <= span.high:
            out.append(span)
    return out


def _runs(
    numbers: np.ndarray, buckets: np.ndarray, others: Sequence[Span]
) -> list[tuple[int, int, int]]:
    """(bucket, first, last number) of each run: the rows in order, cut where the bucket
    changes or another file's range lies between two of them."""
    if not len(numbers):
        return []
    lows = np.sort(np.array([s.low for s in others], np.int64))
    below = np.searchsorted(lows, numbers, side="right")
    cut = (np.diff(buckets) != 0) | (np.diff(below) != 0)
    starts = np.concatenate([[0], np.flatnonzero(cut) + 1])
    ends = np.concatenate([starts[1:], [len(numbers)]])
    return [
        (int(buckets[a]), int(numbers[a]), int(numbers[b - 1]))
        for a, b in zip(starts, ends, strict=True)
    ]


def _sourced(
    runs: list[tuple[int, int, int]],
    kept: dict[Span, np.ndarray],
    rows: pa.Table,
    paths: dict[Span, str],
    touched: set[Span],
) -> tuple[list[tuple[Run, bool]], set[Span]]:
    """Each run with the files it reads and the write's rows in it, and whether those files
    overlap; and the files left as they are (read only because their range held rows of
    another run, they turn out a run of their own)."""
    numbers, buckets = rows[ROW].to_numpy(), rows[BUCKET].to_numpy()
    out: list[tuple[Run, bool]] = []
    left: set[Span] = set()
    for bucket, low, high in runs:
        sources = sorted(
            s for s, n in kept.items()
            if s.bucket == bucket and len(n) and n[0] <= high and n[-1] >= low
        )  # fmt: skip
        inside = np.flatnonzero((buckets == bucket) & (numbers >= low) & (numbers <= high))
        if (
            len(sources) == 1
            and not len(inside)
            and sources[0] not in touched
            and kept[sources[0]][0] == low
            and kept[sources[0]][-1] == high
        ):
            left.add(sources[0])
            continue
        part = rows.take(pa.array(inside)) if len(inside) else rows.slice(0, 0)
        overlap = any(a.high >= b.low for a, b in pairwise(sources))
        run = Run(bucket, low, high, tuple(paths[s] for s in sources), part)
        out.append((run, overlap))
    return out, left


def rewritten(spans: Sequence[Span], hits: pa.Table) -> list[Span]:
    """The spans (files) holding any of `hits` (their `_row`, and bucket if known)."""
    numbers = hits[ROW].to_numpy()
    if BUCKET not in hits.schema.names:
        every = np.sort(numbers)
        found = {s.bucket: every for s in spans}
    else:
        buckets = hits[BUCKET].to_numpy()
        found = {int(b): np.sort(numbers[buckets == b]) for b in np.unique(buckets)}
    out = []
    for span in spans:
        inside = found.get(span.bucket)
        if inside is None:
            continue
        at = int(np.searchsorted(inside, span.low))
        if at < len(inside) and inside[at] <= span.high:
            out.append(span)
    return out


def _conformed(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` with `schema`'s columns, in order and types (the ones it lacks null)."""
    columns = [
        rows[f.name].cast(f.type) if f.name in rows.schema.names else pa.nulls(len(rows), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
