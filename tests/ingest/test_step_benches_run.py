"""bench/clearml_cpu_bench.py and bench/store_bench.py time the importers' steps by wrapping
them where the importers call them, and the DuckDB baseline statement by statement
(formats_bench.baseline_by_statement): each runs to its end on today's code, and prints the
steps and the baseline's statements it names. Each runs in a child process: the wrapping
stays there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parents[2] / "bench"


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_clearml_cpu_bench_times_each_step_and_the_baseline() -> None:
    out = _run(str(_BENCH / "clearml_cpu_bench.py"), "--frames", "3000", "--baseline")
    assert "baseline clearml in all" in out and "CREATE TABLE rois" in out
    for step in ("FRAMES (_frames)", "write: write_rows", "write: insert_keyed"):
        assert f"  {step}" in out, step


def test_the_store_bench_times_the_writer_and_the_baseline() -> None:
    out = _run(str(_BENCH / "store_bench.py"), "--only", "nucleus", "--baseline")
    assert "baseline nucleus in all" in out and "CHECKPOINT" in out
    for step in ("CatalogWriter.write_rows", "insert_keyed", "count_outside"):
        assert f"  {step}" in out, step
