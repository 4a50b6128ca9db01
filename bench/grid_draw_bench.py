"""How long the thumbnail grid takes to draw a page in the browser: DOM nodes vs innerHTML.

    python bench/grid_draw_bench.py                  # grid.js now against grid.js at a commit
    python bench/grid_draw_bench.py --base 05bab6c --repeat 30

grid.js builds each tile with createElement/textContent (values from data are never parsed
as markup); the grid it replaced wrote one escaped HTML string per page into innerHTML. Both
versions run in the same headless Chromium, in the same page, alternating, on the same
pages of tiles: 48 tiles with few ROIs (typical) and 48 tiles with 150 ROIs of 48 points each
(the most a tile carries, tiles.MAX_TILE_ROIS). A draw is timed from handing the page to the
component until the browser has laid it out (a forced layout). Prints the median and max
per version and the ratio, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GRID_JS = "workbench/ui/grid.js"
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
ORIGIN = "http://grid-bench.invalid"

PAGE = """<!doctype html><html><body><div id="old"></div><div id="new"></div>
<script type="module">
import * as before from "./before.js";
import * as now from "./now.js";
function mount(impl, host) {
  const handlers = {};
  const model = {page_json: "{}", selected: [], active: "",
    on(names, fn) { for (const n of [].concat(names)) handlers[n] = fn; }, send_msg() {}};
  host.append(impl.render({model, el: host}));
  return (json) => {
    model.page_json = json;
    const t0 = performance.now();
    handlers.page_json();
    host.getBoundingClientRect();
    document.body.offsetHeight;
    return performance.now() - t0;
  };
}
window.draws = {before: mount(before, document.getElementById("old")),
                now: mount(now, document.getElementById("new"))};
window.ready = true;
</script></body></html>"""


def tiles(count: int, rois: int, points: int, variant: int) -> str:
    ring = [float(v) for i in range(points) for v in (10 + i * 3 + variant, 20 + (i * 7) % 50)]
    page = []
    for t in range(count):
        page.append(
            {
                "id": f"ctx-{variant}-{t}",
                "kind": "context",
                "title": f"ctx-{variant}-{t} <b>&</b>",
                "tooltip": f"ctx-{variant}-{t}",
                "lines": ["12 of 40 frames match", "2024-05-18 11:08:15 · 5.9 s"],
                "thumb": "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
                "width": 1920,
                "height": 1080,
                "rois": [{"k": "poly", "p": [ring], "c": "#1f77b4"} for _ in range(rois)],
                "badges": [{"t": "urban", "c": "#ff7f0e"}],
            }
        )
    return json.dumps(
        {"mode": "contexts", "page": 0, "total": count, "empty_text": "", "tiles": page}
    )


def source_at(commit: str | None) -> str:
    if commit is None:
        return (REPO / GRID_JS).read_text()
    return subprocess.run(
        ["git", "-C", str(REPO), "show", f"{commit}:{GRID_JS}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def run(base: str, repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    files = {"before.js": source_at(base), "now.js": source_at(None), "": PAGE}
    scenarios = {
        "48 tiles, 4 ROIs": (48, 4, 12),
        "48 tiles, 150 ROIs x 48 points": (48, 150, 48),
    }
    results: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        page = browser.new_page()

        def serve(route: Any) -> None:
            name = route.request.url.removeprefix(ORIGIN + "/")
            kind = "text/html" if name == "" else "text/javascript"
            route.fulfill(status=200, content_type=kind, body=files[name])

        page.route(f"{ORIGIN}/**", serve)
        page.goto(ORIGIN + "/")
        page.wait_for_function("() => window.ready === true")
        for name, (count, rois, points) in scenarios.items():
            pages = [tiles(count, rois, points, v) for v in range(2)]
            times: dict[str, list[float]] = {"before": [], "now": []}
            for i in range(repeat + 2):
                for version in ("before", "now") if i % 2 else ("now", "before"):
                    ms = page.evaluate(
                        "([v, json]) => window.draws[v](json)", [version, pages[i % 2]]
                    )
                    if i >= 2:  # the first two draws warm the JIT up
                        times[version].append(ms)
            results[name] = times
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="05bab6c", help="commit of the innerHTML grid.js")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    results = run(args.base, args.repeat)
    print(
        f"grid.js draw, ms ({args.repeat} draws each): DOM nodes (now) vs innerHTML ({args.base})"
    )
    print(f"{'page':34} {'innerHTML med/max':>18} {'DOM med/max':>14} {'ratio':>6}")
    for name, times in results.items():
        before, now = times["before"], times["now"]
        ratio = statistics.median(now) / statistics.median(before)
        print(
            f"{name:34} {statistics.median(before):8.1f} / {max(before):6.1f}"
            f" {statistics.median(now):6.1f} / {max(now):6.1f} {ratio:6.2f}"
        )
    print(f"load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
