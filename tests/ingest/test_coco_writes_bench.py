"""bench/coco_writes_bench.py runs and reports every write of a small import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "coco_writes_bench.py"


def test_each_write_is_reported(tmp_path: Path) -> None:
    out = tmp_path / "writes.json"
    command = [sys.executable, str(_BENCH), "--images", "3000", "--per-write", "1000"]
    env = {**os.environ, "PYTHONPATH": str(_BENCH.parents[1])}
    done = subprocess.run(
        [*command, "--json", str(out)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads(out.read_text())
    assert (result["frames"], result["rois"]) == (3000, 12000)
    assert [w["write"] for w in result["writes"]] == [0, 1, 2]
    assert all(0 <= w["store_cpu_s"] <= w["cpu_s"] for w in result["writes"])
    assert set(result["steps"]) == {"_read", "_images", "_annotations"}
