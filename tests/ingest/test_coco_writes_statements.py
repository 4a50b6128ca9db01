"""bench/coco_writes_bench.py's `--statements` counts a statement read through an Arrow reader
from the reader's making, where the engine runs it, not only from its batches' reads."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

_BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench() -> Iterator[Any]:
    sys.path.insert(0, str(_BENCH))
    try:
        import coco_writes_bench

        yield coco_writes_bench
    finally:
        sys.path.remove(str(_BENCH))


def test_a_readers_statement_counted_when_it_runs(bench: Any) -> None:
    """A sort's reader made and not read: its statement is counted once, with the CPU the
    engine spent sorting (the batches then read cost next to nothing)."""
    watch = bench._Watch(statements=True)
    con = duckdb.connect()
    try:
        timed = bench.Timed(con, watch)
        sql = "SELECT hash(range) AS h FROM range(3000000) ORDER BY h"
        timed.sql(sql).to_arrow_reader(1 << 20)
        runs, seconds = watch.statements[" ".join(sql.split())[:90]]
        assert runs == 1
        assert seconds > 0.05
    finally:
        con.close()
