"""bench/clearml_engine_bench.py's prototype (a ClearML import converted in the catalog's own
engine) stores what the importer stores, so the figures it prints compare the same work, and
its check of that tells two catalogs apart."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import duckdb

_BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_and_file(tmp_path: Path) -> tuple[Any, Path]:
    """The bench's module, and the formats bench's ClearML file of 3,000 frames."""
    sys.path.insert(0, str(_BENCH))
    try:
        import clearml_engine_bench as bench
        import formats_bench
    finally:
        sys.path.remove(str(_BENCH))
    file = tmp_path / "clearml.ndjson"
    formats_bench.write_clearml(file, 3_000)
    return bench, file


def test_the_prototype_stores_the_importers_rows(tmp_path: Path) -> None:
    bench, file = _bench_and_file(tmp_path)
    engine, writer = tmp_path / "engine.duckdb", tmp_path / "writer.duckdb"
    bench.engine_import(engine, file)
    bench.writer_import(writer, file)
    same = bench.same_rows(engine, writer)
    assert same == dict.fromkeys(same, True)
    assert set(same) >= {"frames", "sources", "rois", "label_keys", "frame_labels"}
    with duckdb.connect(str(engine), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM frames").fetchall() == [(3_000,)]

    # One ROI's label key changed: the check says so for that table only.
    other = tmp_path / "other.duckdb"
    shutil.copy(engine, other)
    with duckdb.connect(str(other)) as con:
        con.execute("UPDATE rois SET label_key = label_key + 1 WHERE id = 'r0' AND frame_key = 7")
    differs = bench.same_rows(other, writer)
    assert [table for table, equal in differs.items() if not equal] == ["rois"]


def test_the_importers_steps_are_timed(tmp_path: Path) -> None:
    """The bench's importer side runs with its steps wrapped where the importer calls them:
    each step it names took CPU, and storing is inside the writes."""
    bench, file = _bench_and_file(tmp_path)
    steps = bench.run("writer", file, tmp_path / "writer.duckdb", None)["steps"]
    assert set(steps) == {
        "insert_keyed",
        "write_rows (insert_keyed in it)",
        "_frames (the frames' statement)",
        "_convert (the other statements, fetches, _write)",
        "_write (rows picked, write_rows)",
    }
    cpu = {name: figures[0] for name, figures in steps.items()}
    assert all(seconds > 0 for seconds in cpu.values()), cpu
    assert cpu["insert_keyed"] <= cpu["write_rows (insert_keyed in it)"]
