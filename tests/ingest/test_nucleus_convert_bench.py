"""bench/nucleus_convert_bench.py times the Nucleus conversion each way tried and checks that
each other form makes the import's rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "nucleus_convert_bench.py"


def test_every_form_is_timed_and_makes_the_imports_rows(tmp_path: Path) -> None:
    file = tmp_path / "nucleus.ndjson"
    command = [sys.executable, str(_BENCH), "--scenes", "3", "--runs", "1", "--file", str(file)]
    command += ["--imports", "1"]
    env = {**os.environ, "PYTHONPATH": str(_BENCH.parents[1])}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert file.exists()
    assert "3 scene lines in 1 batches" in done.stdout
    assert "the import's rows: 3,000" in done.stdout
    assert "as before: 0 of 1 batches' rows differ from the import's" in done.stdout
    assert "no key set: 0 of 1 batches' rows differ from the import's" in done.stdout
    timed = [line for line in done.stdout.splitlines() if "CPU median" in line]
    assert len(timed) == 3 + 14 + 5  # the forms, the statements and parts, the reading
    imported = [line for line in done.stdout.splitlines() if "import 1: CPU" in line]
    assert len(imported) == 1
    assert "the groups' recount (groups.build)" in imported[0]
