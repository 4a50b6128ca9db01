"""bench/coco_parse_bench.py times every parse of the annotations and checks the one parse of
the pieces into keys gives the keys the import's two parses give."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "coco_parse_bench.py"


def test_every_parse_is_timed_and_the_keys_agree(tmp_path: Path) -> None:
    file = tmp_path / "coco.json"
    command = [sys.executable, str(_BENCH), "--images", "400", "--runs", "1", "--statement"]
    env = {**os.environ, "PYTHONPATH": str(_BENCH.parents[1])}
    done = subprocess.run(
        [*command, "--file", str(file)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert file.exists()
    assert "1,600 annotations" in done.stdout
    timed = [line for line in done.stdout.splitlines() if "CPU median" in line]
    assert len(timed) == 9  # seven parses, the statement and its parse
    assert "keys from pieces and from texts: 0 records differ" in done.stdout
