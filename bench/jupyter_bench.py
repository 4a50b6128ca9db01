"""How fast the app answers in a real JupyterLab 4, measured in headless Chromium.

    .ci/jupyterlab-venv                 # once: the JupyterLab environment
    python bench/jupyter_bench.py       # --repeat N (default 3), --json PATH

It starts JupyterLab from its own virtualenv (with pyviz_comms and jupyter_bokeh; the kernel
is this Python, as in tests/notebooks), opens notebooks/quickstart.ipynb in a 1000 px wide
window, runs every cell from the Run menu, then re-runs the app cell (`app = catalog.app()`)
with Shift+Enter, several times, and measures what a person waits for:

  cell_run      Shift+Enter until the cell's execution count shows            (< 3 s)
  interactive   the cell done until the app answers: tiles drawn and the      (< 3 s)
                kernel got the browser's ping (the "not connected" note gone)
  tile_click    a click on a tile until the viewer shows its first frame      (< 1.5 s)

and, once, how long Run All took (it builds the demo dataset). The load average is printed
with the figures: on the 2-core machines shared by several people it is often far above 2,
and every figure grows with it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "notebooks"))

from labserver import LAB_VENV, start_lab  # noqa: E402
from notebook_page import NotebookPage, outside_loopback  # noqa: E402

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip
TARGETS_S = {"cell_run": 3.0, "interactive": 3.0, "tile_click": 1.5}
TILES = ".wb-grid-root .wb-tile"
NOTE = ".wb-notebook-note"


def wait_connected(page: Any, cell: Any, timeout_ms: float = 120_000) -> None:
    cell.locator(TILES).first.wait_for(state="visible", timeout=timeout_ms)
    cell.locator(NOTE).first.wait_for(state="hidden", timeout=timeout_ms)


def measure_cell(notebook: NotebookPage, cell: Any) -> dict[str, float]:
    from playwright.sync_api import expect

    """Re-run the app cell; seconds until it ran, then until it answered, then for a click
    on the second tile to reach the viewer."""
    page = notebook.page
    cell_run = notebook.run_cell(cell)
    start = time.monotonic()
    wait_connected(page, cell)
    interactive = time.monotonic() - start
    tile = cell.locator(TILES).nth(1)
    tile_id = tile.get_attribute("data-context-id") or ""
    label = cell.locator(".wb-frame-label").first
    start = time.monotonic()
    tile.click()
    # The label's text is in its shadow root, which expect() looks into.
    expect(label).to_contain_text(re.compile(rf"frame 1 / \d+ · {re.escape(tile_id)}"))
    tile_click = time.monotonic() - start
    return {"cell_run": cell_run, "interactive": interactive, "tile_click": tile_click}


def run(repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="workbench-jupyter-bench-") as home:
        lab = start_lab(LAB_VENV, Path(home), [REPO / "notebooks" / "quickstart.ipynb"])
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                context = browser.new_context(viewport={"width": 1000, "height": 1000})
                notebook = NotebookPage.open(context, lab.lab_url("quickstart.ipynb"))
                run_all = notebook.run_all()
                cell = notebook.code_cell("app = catalog.app()")
                wait_connected(notebook.page, cell)
                samples = [measure_cell(notebook, cell) for _ in range(repeat)]
                external = outside_loopback(notebook.requests)
                browser.close()
        finally:
            lab.stop()
    return {
        "run_all_s": run_all,
        "samples": samples,
        "median_s": {k: statistics.median(s[k] for s in samples) for k in TARGETS_S},
        "requests_outside_loopback": external,
        "loadavg": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not (LAB_VENV / "bin" / "jupyter-lab").exists():
        print(f"no JupyterLab at {LAB_VENV}: run .ci/jupyterlab-venv", file=sys.stderr)
        return 2
    before = os.getloadavg()
    result = run(args.repeat)
    print(f"load average before: {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
          f"after: {result['loadavg'][0]:.2f} {result['loadavg'][1]:.2f} "
          f"{result['loadavg'][2]:.2f} ({os.cpu_count()} cores)")  # fmt: skip
    print(f"Run All (builds the demo): {result['run_all_s']:.1f} s")
    print(f"{'measure':<12} {'median':>8} {'target':>8}   samples")
    for key, target in TARGETS_S.items():
        samples = " ".join(f"{s[key]:.2f}" for s in result["samples"])
        median = result["median_s"][key]
        print(f"{key:<12} {median:>7.2f}s {target:>7.1f}s   {samples}")
    print(f"requests outside loopback: {len(result['requests_outside_loopback'])}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
