"""bench/ui_bench.py runs end to end on the demo catalog (one iteration), so it cannot rot.

Only that every figure is produced is checked here; timings depend on the machine and are
recorded in docs/benchmarks.md from a full run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ui_bench.py"


def test_ui_bench_produces_every_figure(spare_demo_catalog: Path, browser: object, tmp_path: Path):
    # `browser` only makes the test skip where Chromium is missing; the bench runs its own.
    out = tmp_path / "figures.json"
    command = [sys.executable, str(BENCH), "--catalog", str(spare_demo_catalog)]
    command += ["--iterations", "1", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "interactive" in result.stdout and "server_rss" in result.stdout

    figures = json.loads(out.read_text())
    summary = figures["summary"]
    assert set(summary) == {
        "interactive",
        "interactive_page",
        "complete",
        "query",
        "page",
        "page_paint",
        *(
            f"{step}{kind}"
            for step in ("frame", "key", "match")
            for kind in ("_step", "_step_paint")
        ),
        "interactive_again",
    }
    assert summary["interactive"]["n"] == 1 and summary["complete"]["n"] == 1
    assert summary["interactive_again"]["n"] == 1
    assert summary["query"]["n"] == 2 and summary["page"]["n"] == 2
    assert summary["page_paint"]["n"] == 2
    assert summary["page_paint"]["median_ms"] < summary["page"]["median_ms"]
    for step in ("frame_step", "key_step", "match_step"):
        assert summary[step]["n"] == 4 and summary[f"{step}_paint"]["n"] == 4
        # input to paint in the page's clock leaves playwright's waits and round trips out
        assert summary[f"{step}_paint"]["median_ms"] < summary[step]["median_ms"]
    for row in summary.values():
        assert row["median_ms"] > 0
        assert row.get("server_cpu_median_ms", 0) >= 0  # none in the page's own clock
    assert summary["interactive"]["server_cpu_median_ms"] > 0  # a session's app was built
    assert len(figures["playback"]) == 1
    drawn, footage = figures["playback"][0]
    assert drawn > 0 and footage > 0  # a context was played and its pictures drawn
    assert figures["frames"] == 180
    assert figures["tiles_per_page"] > 0
    assert 50 < figures["server_hwm_mb"] < 4096


def test_ui_bench_times_the_first_page_of_a_server_started_for_it(
    spare_demo_catalog: Path, browser: object, tmp_path: Path
):
    out = tmp_path / "first.json"
    command = [sys.executable, str(BENCH), "--catalog", str(spare_demo_catalog)]
    command += ["--first-loads", "1", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(out.read_text())["summary"]
    assert set(summary) == {
        "first_load_startup",
        *(f"{name}{part}" for name in ("first_load", "second_load") for part in ("", "_complete")),
    }
    for name in ("first_load", "second_load"):
        assert summary[name]["n"] == 1 and summary[name]["median_ms"] > 0
        assert summary[name]["server_cpu_median_ms"] > 0  # a session's app was built
        assert summary[f"{name}_complete"]["median_ms"] > summary[name]["median_ms"]
    # the server's work before it said it serves: its imports, the catalog, the warm-up
    assert summary["first_load_startup"]["server_cpu_median_ms"] > 0
    assert summary["first_load_startup"]["median_ms"] > 0


PROFILE = BENCH.with_name("ui_step_profile.py")


def test_ui_step_profile_produces_every_figure(
    spare_demo_catalog: Path, browser: object, tmp_path: Path
):
    out = tmp_path / "profile.json"
    command = [sys.executable, str(PROFILE), "--catalog", str(spare_demo_catalog)]
    command += ["--steps", "2", "--loads", "1", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    assert len(figures["steps"]) == 2 and len(figures["loads"]) == 1
    for step in figures["steps"]:
        # a step is a few messages from the server, and some work in the browser
        assert step["in_page_ms"] > 0 and 0 < step["messages"] < 60 and step["TaskDuration"] > 0
        assert "frame_json" in step["changed"]  # the viewer's frame carries the step
    assert figures["loads"][0]["interactive_ms"] > 0
