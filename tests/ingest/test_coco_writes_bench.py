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
    command += ["--statements", "--sample", "0.2"]
    env = {**os.environ, "PYTHONPATH": str(_BENCH.parents[1])}
    done = subprocess.run(
        [*command, "--json", str(out)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads(out.read_text())
    assert (result["frames"], result["rois"]) == (3000, 12000)
    assert [w["write"] for w in result["writes"]] == [0, 1, 2]
    assert all(0 <= w["store_cpu_s"] <= w["cpu_s"] for w in result["writes"])
    told = {"members", "_read", "_images", "_annotations"}  # and, summed, once a piece or batch
    assert set(result["steps"]) == {*told, "pieces", "conversion"}
    assert sum(s["runs"] for s in result["statements"]) > 10  # every statement, counted
    assert done.stdout.count("done,") == 4  # each step told as it ends


def test_the_fast_file_is_the_formats_bench_file(tmp_path: Path) -> None:
    sys.path.insert(0, str(_BENCH.parent))
    try:
        from coco_writes_bench import write_coco_fast
        from formats_bench import write_coco
    finally:
        sys.path.remove(str(_BENCH.parent))
    for images in (1, 7, 2500):
        write_coco(tmp_path / "slow.json", images)
        write_coco_fast(tmp_path / "fast.json", images, chunk=1000)
        assert (tmp_path / "fast.json").read_bytes() == (tmp_path / "slow.json").read_bytes()
