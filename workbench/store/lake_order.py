"""A lake write that leaves every data file in stored order, in one commit.

A write (store/lake_write.py) replaces the rows of some frames (a `Where`) by `rows`: new
ones, numbered after every other row, and rows it kept as they were, with their old numbers
(`_row`). Each file holding a row it replaces is rewritten by the format with the rows it
keeps, and neither keeps the order by itself: deltalake (1.6.6) writes the file with the
write's rows BEFORE the ones it kept, Iceberg writes the kept ones to a file of their own
(whose range a row kept with its old number overlaps).

When the files' `_row` ranges will be disjoint after the write (the views then scan them one
after another unsorted: docs/scale-out.md), the write reads those files' rows itself, merges
them with `rows` by `_row`, and replaces, in one commit, the rows `where` selects and those
files whole (by partition and `_row` range) by the merged rows. Otherwise (ranges that
overlap anyway, which the views sort; files past `MERGE_BYTES`, not read into memory) the
format's own overwrite.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pyarrow as pa

from workbench.store.lake import BUCKET, ROW
from workbench.store.lake_format import (
    AnyOf,
    InSpans,
    IsIn,
    Span,
    TableFormat,
    Unkeyed,
    arrow_filter,
)

# The files one write reads and merges at most (their bytes as stored): past that the
# format rewrites them, streaming, and the views sort the ranges that overlap.
MERGE_BYTES = 128 * 1024 * 1024
# Runs of rows past which a merge copies the rows rather than slicing them.
_SLICES = 4096


def write_in_order(
    fmt: TableFormat,
    name: str,
    rows: pa.Table,
    where: IsIn | Unkeyed,
    replaced: pa.ChunkedArray | pa.Array | None = None,
) -> None:
    """One commit replacing the rows `where` selects by `rows` (which it selects too, or
    which keep their old `_row`), each file left in stored order where that matters.
    `replaced`: the numbers (`_row`) of the rows `where` selects, if the caller knows them
    (else they are read)."""
    found = _merged(fmt, name, rows, where, replaced) if rows.num_rows else None
    if found is None:
        fmt.overwrite(name, rows, where)
    else:
        rows, spans = found
        fmt.overwrite(name, rows, AnyOf((where, InSpans(spans))))


def _merged(
    fmt: TableFormat,
    name: str,
    rows: pa.Table,
    where: IsIn | Unkeyed,
    replaced: pa.ChunkedArray | pa.Array | None,
) -> tuple[pa.Table, tuple[Span, ...]] | None:
    """The rows the files `where` rewrites keep, merged with `rows` by `_row`, and those
    files' spans; None when the plain overwrite does (see the module's docstring)."""
    spans = fmt.spans(name)
    if not spans:
        return None
    hits = fmt.read(name, where, [BUCKET, ROW]) if replaced is None else pa.table({ROW: replaced})
    touched = rewritten(spans, hits)
    if not touched or sum(s.size for s in touched) > MERGE_BYTES:
        return None
    if not disjoint_after(spans, touched, rows):
        return None
    read = fmt.read(name, InSpans(tuple(touched)))
    if any(n not in read.schema.names for n in rows.schema.names):
        return None  # a column the table lacks: the format's own write refuses it
    return merged(read, _selected(read, where), _conformed(rows, read.schema)), tuple(touched)


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


def disjoint_after(spans: Sequence[Span], touched: Sequence[Span], rows: pa.Table) -> bool:
    """Whether the files' `_row` ranges are disjoint once the `touched` files and `rows` are
    written as one range per bucket (from the lowest number of either to the highest)."""
    blocks: dict[int, tuple[int, int]] = {}
    for s in touched:
        low, high = blocks.get(s.bucket, (s.low, s.high))
        blocks[s.bucket] = (min(low, s.low), max(high, s.high))
    ranges = rows.group_by(BUCKET).aggregate([(ROW, "min"), (ROW, "max")]).to_pylist()
    for r in ranges:
        bucket, first, last = int(r[BUCKET]), int(r[f"{ROW}_min"]), int(r[f"{ROW}_max"])
        low, high = blocks.get(bucket, (first, last))
        blocks[bucket] = (min(low, first), max(high, last))
    kept = set(touched)
    every = sorted([(s.low, s.high) for s in spans if s not in kept] + list(blocks.values()))
    return all(a[1] < b[0] for a, b in pairwise(every))


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


def _selected(read: pa.Table, where: IsIn | Unkeyed) -> np.ndarray:
    """Which rows of `read` `where` selects (the format's predicate on them)."""
    column = where.column if isinstance(where, IsIn) else "frame_key"
    numbered = pa.table({column: read[column], "at": pa.array(np.arange(len(read)))})
    at = numbered.filter(arrow_filter(where))["at"].to_numpy()
    mask = np.zeros(len(read), dtype=bool)
    mask[at] = True
    return mask


def _conformed(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` with `schema`'s columns, in order and types (the ones it lacks null)."""
    columns = [
        rows[f.name].cast(f.type) if f.name in rows.schema.names else pa.nulls(len(rows), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
