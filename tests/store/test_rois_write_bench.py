"""bench/rois_write_bench.py times the rois table's write column by column, for the catalog and
the DuckDB baseline, the writer's INSERT profiled, and the same rows under other layouts; the
layouts that keep every column store exactly the rows the writer's INSERT stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "rois_write_bench.py"


def test_every_column_and_layout_is_timed_and_the_same_rows_stored(tmp_path: Path) -> None:
    command = [sys.executable, str(_BENCH), "--only", "coco", "--scale", "0.005", "--repeat", "1"]
    env = {**os.environ, "PYTHONPATH": str(_BENCH.parents[1])}
    done = subprocess.run(
        [*command, "--folder", str(tmp_path)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "coco: 500 frames, 2,000 ROIs" in out
    columns = [line.split()[0] for line in out.split("each column")[1].splitlines()[2:24]]
    assert {"*", "frame_id", "id", "geometry", "frame_key", "label_key", "visibility"} <= set(
        columns
    )
    assert out.count("(not stored)") == 8  # the catalog's columns the baseline does without
    assert "BATCH_INSERT" in out and "CAST(mask AS JSON), CAST(attributes AS JSON)" in out
    assert out.count("the same rows stored") == 3
    assert "OTHER ROWS STORED" not in out
