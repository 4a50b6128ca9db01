"""bench/store_bench.py tells each COMMIT of an import apart: its CPU in order, and which
COMMIT checkpointed (the catalog's file written, the WAL left empty). Run in a child
process: the bench's wrapping stays there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "store_bench.py"


def test_each_commit_of_a_first_import_is_told_apart() -> None:
    done = subprocess.run(
        [sys.executable, str(_BENCH), "--only", "nucleus"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    step = done.stdout.split("nucleus import")[1].split("nucleus update")[0]
    told = re.search(r"^  each COMMIT: (.*) s$", step, re.MULTILINE)
    assert told is not None, step
    commits = re.findall(r"(\d+\.\d{3})(?: \(checkpoint: file ([\d.]+) -> ([\d.]+) MB)?", told[1])
    total = re.search(r"^\s+(\d+\.\d{3}) s  commit$", step, re.MULTILINE)
    assert total is not None, step
    assert abs(sum(float(c[0]) for c in commits) - float(total[1])) < 0.005 * len(commits)
    checkpoints = [c for c in commits if c[1]]
    # the first write's rows (100,000 frames, under a row group) stored by its COMMIT
    assert len(checkpoints) >= 1, told[1]
    assert all(float(after) > float(before) for _, before, after in checkpoints), told[1]
