"""The formats bench's DuckDB baseline for the Labelbox export writes what the workbench's
export writes (the ratio the bench prints compares the same work), and the check the bench
prints tells two different exports apart."""

from __future__ import annotations

import json
from pathlib import Path

from tests.benches import bench_module


def test_baseline_export_is_the_workbench_export(tmp_path: Path) -> None:
    bench = bench_module("formats_bench")
    videos, file = tmp_path / "videos.ndjson", tmp_path / "labelbox.ndjson"
    bench.write_labelbox_videos(videos, 3)
    bench.write_labelbox(file, 3)
    ours, theirs = tmp_path / "wb.duckdb", tmp_path / "base.duckdb"
    bench.workbench_setup(videos, ours)
    bench.baseline_setup(videos, theirs)
    assert (
        bench.workbench_import("labelbox", file, ours)["rois"]
        == (bench.baseline_import("labelbox", file, theirs)["rois"])
    )
    our_out, their_out = tmp_path / "wb.ndjson", tmp_path / "base.ndjson"
    bench.workbench_export("labelbox", ours, our_out)
    bench.baseline_export("labelbox", theirs, their_out)
    assert bench.same_lines(our_out, their_out)

    # Each kind of line says everything it holds: segments with keyframes, answers with
    # their value and frame ranges.
    lines = [json.loads(line) for line in their_out.read_text().splitlines()]
    assert len(lines) == 3 * 4
    track = next(line for line in lines if line["segments"])
    assert track["segments"][0]["keyframes"][0]["frame"] == 1
    answer = next(line for line in lines if line["frames"])
    assert answer["answer"] == {"name": "clear"}
    assert answer["frames"] == [{"start": 1, "end": bench.LABELBOX_FRAMES // 2}]

    # A line that differs (a keyframe dropped, the answer's range cut) is told apart.
    changed = [dict(line) for line in lines]
    changed[-1] = {**changed[-1], "frames": [{"start": 1, "end": 2}]}
    cut = tmp_path / "changed.ndjson"
    cut.write_text("".join(json.dumps(line) + "\n" for line in changed))
    assert not bench.same_lines(our_out, cut)
