"""bench/coco_writes_bench.py runs and reports every write of a small import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "coco_writes_bench.py"
_ENV = {**os.environ, "PYTHONPATH": str(_BENCH.parents[1])}


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
    assert set(result["steps"]) == {*told, "pieces", "conversion", "digests_before"}
    assert sum(s["runs"] for s in result["statements"]) > 10  # every statement, counted
    # The catalog's statements beside the import's engine's, each engine's total told apart:
    # the writes' ROIs inserted and committed, once a write.
    catalog = {
        s["sql"]: s["runs"] for s in result["statements"] if s["sql"].startswith("catalog: ")
    }
    assert catalog["catalog: INSERT INTO rois BY NAME SELECT * FROM _wb_keyed"] == 3
    assert catalog["catalog: COMMIT"] >= 3
    engines = result["engines"]
    assert engines["catalog"]["runs"] == sum(catalog.values())
    assert engines["import"]["runs"] + engines["catalog"]["runs"] == sum(
        s["runs"] for s in result["statements"]
    )
    assert "statements: import's engine " in done.stdout
    assert done.stdout.count("done,") == 4  # each step told as it ends
    # The sums' disk apart, a part of the folder's (both sampled at the same lines).
    assert 0 <= result["peak_sums_mb"] <= result["peak_spill_mb"]
    assert done.stdout.count(" MB (sums ") >= 4


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


@pytest.fixture(scope="module")
def updated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], str]:
    """The bench's figures (--json) and its output for an import, its update and an update
    of a changed file, at 3,000 images."""
    out = tmp_path_factory.mktemp("updated") / "update.json"
    command = [sys.executable, str(_BENCH), "--images", "3000", "--per-write", "1000"]
    command += ["--update", "--changed", "100", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=_ENV, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text()), done.stdout


def test_the_update_and_a_changed_file_are_reported(
    updated: tuple[list[dict[str, Any]], str],
) -> None:
    first, update, changed = updated[0]
    assert [r["run"] for r in (first, update, changed)] == ["import", "update", "changed"]
    for result in (first, update, changed):
        assert (result["frames"], result["rois"]) == (3000, 12000)
        assert result["catalog_disk_mb"] > 0 and result["hwm_mb"] > 0
    # The first import converts and writes every image; the update finds them all unchanged
    # and only counts them, a share a write; the changed file's every 100th image (30 of
    # them, ids 100..3000, 4 annotations each on average) converted again, the rest found,
    # and written by their place in the file: each write holds its stretch's changed ones.
    assert first["unchanged"] == 0
    assert {w["kind"] for w in first["writes"]} == {"write"}
    assert update["unchanged"] == 3000
    assert [w["kind"] for w in update["writes"]] == ["share"] * 3
    assert changed["changed_images"] == 30 and changed["changed_annotations"] > 30
    assert changed["unchanged"] == 3000 - 30
    assert [w["kind"] for w in changed["writes"]] == ["write"] * 3
    assert update["steps"]["digests_before"] > 0  # the lookup, timed apart


def test_each_update_is_set_against_the_import(
    updated: tuple[list[dict[str, Any]], str],
) -> None:
    (first, *later), stdout = updated
    assert "against_import" not in first
    for result in later:
        ratios = result["against_import"]
        for name in ("cpu_s", "wall_s", "hwm_mb", "peak_spill_mb", "peak_sums_mb"):
            if first[name]:
                assert ratios[name] == pytest.approx(result[name] / first[name], abs=1e-3)
            else:
                assert ratios[name] is None
        line = f"{result['run']} against the import: cpu_s {ratios['cpu_s']:.2f}x"
        assert line in stdout
    # The writes' and the shares' spread, each of its own kind's rows.
    for result in updated[0]:
        for kind in ("write", "share"):
            cpu = [w["cpu_s"] for w in result["writes"] if w["kind"] == kind]
            told = result[f"{kind}s_cpu_s"]
            if not cpu:
                assert told is None
                continue
            assert (told["first"], told["last"]) == (cpu[0], cpu[-1])
            assert told["min"] == min(cpu) <= told["median"] <= told["max"] == max(cpu)
    assert first["shares_cpu_s"] is None and later[0]["writes_cpu_s"] is None


def test_every_figure_is_named_in_the_help(updated: tuple[list[dict[str, Any]], str]) -> None:
    """A reader of the figures finds each in --help: a figure added to the JSON without a
    word there fails here."""
    command = [sys.executable, str(_BENCH), "--help"]
    done = subprocess.run(command, capture_output=True, text=True, env=_ENV, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    named = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")}
    figures = {key for result in updated[0] for key in result}
    rows = {key for result in updated[0] for row in result["writes"] for key in row}
    assert figures - named == set() and rows - named == set()
    assert "[held, spilled] MB" in done.stdout  # what engine_mb is, not only its name


@pytest.mark.parametrize(
    "wrong",
    [["--changed", "0"], ["--per-write", "-1"], ["--copy-dir", "/tmp"]],
)
def test_arguments_that_would_measure_nothing_are_refused(wrong: list[str]) -> None:
    """`--changed 0` would skip the changed run without a word; `--copy-dir` without
    `--changed` and `--file` would copy nothing."""
    command = [sys.executable, str(_BENCH), "--images", "10", *wrong]
    done = subprocess.run(command, capture_output=True, text=True, env=_ENV, check=False)
    assert done.returncode == 2 and "error:" in done.stderr


def test_a_change_in_place_keeps_the_file_s_length(tmp_path: Path) -> None:
    sys.path.insert(0, str(_BENCH.parent))
    try:
        from coco_writes_bench import change_annotations, write_coco_fast
    finally:
        sys.path.remove(str(_BENCH.parent))
    file = tmp_path / "coco.json"
    write_coco_fast(file, 500, chunk=100)
    before = json.loads(file.read_bytes())
    # Blocks small enough that records straddle them.
    changed, images = change_annotations(file, 7, block=4096)
    after = json.loads(file.read_bytes())
    assert after["images"] == before["images"] and after["categories"] == before["categories"]
    edited = [
        a["image_id"]
        for a, b in zip(after["annotations"], before["annotations"], strict=True)
        if a != b
    ]
    assert all(i % 7 == 0 for i in edited) and len(edited) == changed
    expected = [a["image_id"] for a in before["annotations"] if a["image_id"] % 7 == 0]
    assert len(edited) == len(expected) and len(set(edited)) == images
    assert all(a["bbox"][2] == 31.5 for a in after["annotations"] if a["image_id"] % 7 == 0)
