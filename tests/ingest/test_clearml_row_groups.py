"""A ClearML write's rows reach the catalog in chunks of whole row groups
(`_columnar.in_row_groups`): only the stretches that span two conversions are copied, the
rest handed over as the conversion made them, and the catalog stores exactly what it stored
when every table was first combined into one chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import workbench
from workbench.ingest import CatalogWriter, _columnar, _storing
from workbench.ingest import _clearml_columnar as columnar
from workbench.ingest._columnar import in_row_groups, in_row_groups_already
from workbench.ingest.imports import recorded_import
from workbench.ingest.writer import RowBatch

from .test_clearml_digests import _report
from .test_clearml_overlap import _file, _state


def _chunked(sizes: list[int]) -> pa.Table:
    start, chunks = 0, []
    for size in sizes:
        values = np.arange(start, start + size, dtype=np.int64)
        chunks.append(pa.record_batch({"n": values, "s": pa.array(values.astype(str))}))
        start += size
    return pa.Table.from_batches(chunks)


def test_only_the_stretches_across_chunks_are_copied() -> None:
    rows = _columnar.ROWS_PER_WRITE
    given = _chunked([rows * 4 // 3] * 3)  # three conversions' ROIs: 163,840 rows each
    made = in_row_groups(given)
    assert made.equals(given)
    sizes = [[len(c) for c in column.chunks] for column in made.columns]
    assert sizes == [[rows, rows, rows, rows]] * 2
    assert in_row_groups_already(made) and not in_row_groups_already(given)
    # the first and last row groups lie within one chunk each: handed over, not copied
    for at, chunk in ((0, 0), (3, 2)):
        mine, theirs = made["s"].chunk(at), given["s"].chunk(chunk)
        assert mine.buffers()[2].address == theirs.buffers()[2].address
    # the two that straddle are copied
    assert made["s"].chunk(1).buffers()[2].address != given["s"].chunk(0).buffers()[2].address
    # storing leaves such a table as it is, and combines any other into one chunk
    assert _storing.whole(made)[0] is made
    assert _storing.whole(given)[0]["n"].num_chunks == 1


def test_one_chunk_and_empty_tables_are_left_as_they_are() -> None:
    one = _chunked([1000])
    assert in_row_groups(one) is one
    empty = one.slice(0, 0)
    assert in_row_groups(empty).num_rows == 0


def _import(
    db: Path, path: Path, handed: list[list[list[int]]]
) -> tuple[list[Any], dict[str, Any]]:
    """`path` imported with writes of 23 frames, each converted 7 lines at a time (so a
    write's rows come from several conversions); the chunks of each table handed to
    `write_rows` are added to `handed`."""
    with workbench.open(db) as catalog:
        with recorded_import(catalog, "clearml", [path]) as run:
            with CatalogWriter(catalog, progress=False, unique_ids=True) as writer:
                write_rows = writer.write_rows

                def watched(batch: RowBatch) -> None:
                    tables = (batch.frames, batch.sources, batch.rois)
                    handed.append([[len(c) for c in t.column(0).chunks] for t in tables])
                    write_rows(batch)

                writer.write_rows = watched  # type: ignore[method-assign]
                with columnar.NdjsonImport(writer, 23, overlap=True) as imports:
                    imports.lines_per_batch = 7
                    imports.read(path, path.parent)
            run.report = writer.report
        return _state(catalog), _report(writer.report)


def test_the_catalog_stores_what_it_stored_from_one_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path / "frames.ndjson", 400, seed=11)
    # row groups of 10 rows: the writes' tables span several, and their conversions end
    # inside them
    monkeypatch.setattr(_columnar, "ROWS_PER_WRITE", 10)
    chunked: list[list[list[int]]] = []
    got = _import(tmp_path / "chunked.duckdb", path, chunked)
    monkeypatch.setattr(columnar, "in_row_groups", lambda table: table.combine_chunks())
    combined: list[list[list[int]]] = []
    expected = _import(tmp_path / "combined.duckdb", path, combined)
    assert got == expected
    assert len(chunked) == len(combined) > 5
    for tables in chunked:
        for sizes in tables:
            assert all(size == 10 for size in sizes[:-1]) and all(s <= 10 for s in sizes[-1:])
    assert any(len(sizes) > 2 for tables in chunked for sizes in tables)
    assert all(len(sizes) <= 1 for tables in combined for sizes in tables)
