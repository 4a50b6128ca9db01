"""Where a frame step's time goes in the browser, measured in a real headless Chromium.

    python bench/ui_step_profile.py --catalog demo.duckdb --steps 24 --loads 3 [--mode frames]

Starts `workbench serve` (as bench/ui_bench.py does), opens the app, clicks the first tile,
then clicks "frame ▶" / "◀ frame" in turn. For each step it records, in the page's own clock
(no playwright round trips in it), the time from the button's `pointerdown` until the player's
label names the new frame, Bokeh is idle, the viewer has drawn that frame (when the viewer
says what it drew) and two animation frames have passed; the websocket messages the server
sent until its frame came (the page may draw a frame it holds before that) and their bytes;
and Chromium's own counters over the step (CDP `Performance.getMetrics`: main-thread task,
script, layout and style time). With --loads,
first loads too (each in a new context): "interactive" in the page's clock and the counters
up to then.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from ui_bench import _HELPERS_JS, CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, served

# Installed after the helpers: the step's end in the page's clock.
_STEP_JS = """
window.__step = {
  start: null,
  arm() {
    this.start = null;
    document.addEventListener('pointerdown', () => { this.start = performance.now(); },
                              {capture: true, once: true});
  },
  done(before) {
    // As __wb.stepped, but a viewer that does not say what it drew (a Bokeh plot) is
    // taken as drawn once Bokeh is idle.
    if (!__wb.idle() || __wb.text('.wb-frame-label') === before) return false;
    const viewer = __wb.viewer ? __wb.viewer() : null;
    return viewer === null || viewer.frame === __wb.labelFrame();
  },
  wait(before) {
    return new Promise((resolve) => {
      const poll = () => {
        if (this.done(before)) {
          requestAnimationFrame(() => requestAnimationFrame(
            () => resolve(performance.now() - this.start)));
        } else requestAnimationFrame(poll);
      };
      poll();
    });
  },
};
"""
# The first page's "interactive" in the page's clock (ms since navigation started): tiles on
# screen and Bokeh idle, as bench/ui_bench.py's interactive.
_LOAD_JS = """
window.__loadAt = null;
(function poll() {
  try {
    if (__wb.idle() && (__wb.grid()?.tiles ?? 0) > 0) { window.__loadAt = performance.now(); return; }
  } catch (e) {}
  requestAnimationFrame(poll);
})();
"""
METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def loads(browser: Any, url: str, count: int) -> list[dict[str, float]]:
    """`count` first loads, each in a new browser context (an empty cache): interactive in
    the page's clock, and Chromium's counters up to then."""
    rows = []
    for n in range(count + 1):
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        context.add_init_script(_HELPERS_JS)
        context.add_init_script(_LOAD_JS)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        page.wait_for_function("() => window.__loadAt !== null", timeout=TIMEOUT_MS, polling=50)
        metrics = _metrics(cdp)
        at = float(page.evaluate("() => window.__loadAt"))
        if n:  # the first load warms the server up, as in bench/ui_bench.py
            rows.append(
                {
                    "interactive_ms": round(at, 1),
                    **{k: round(v * 1000, 1) for k, v in metrics.items()},
                }
            )
        context.close()
    return rows


def profile(url: str, steps: int, load_count: int = 0, mode: str = "contexts") -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        loaded = loads(browser, url, load_count) if load_count else []
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        context.add_init_script(_HELPERS_JS)
        context.add_init_script(_STEP_JS)
        page = context.new_page()
        received: list[int] = []
        changes: list[str] = []  # what the Bokeh messages of a step changed

        def on_frame(payload: Any) -> None:
            received.append(len(payload))
            changes.extend(_changed(payload))

        def on_socket(ws: Any) -> None:
            ws.on("framereceived", on_frame)

        page.on("websocket", on_socket)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        page.wait_for_function("() => __wb.idle() && (__wb.grid()?.tiles ?? 0) > 0")
        page.wait_for_function("() => __wb.idle() && __wb.find('.wb-runs') !== null")
        if mode == "frames":  # a tile per frame, as bench/ui_bench.py pages the demo
            page.locator(".wb-grid-mode button", has_text="frames").click()
            page.wait_for_function("() => __wb.idle() && __wb.grid()?.mode === 'frames'")
        page.locator(".wb-tile").first.click()
        page.wait_for_function(
            "() => __wb.idle() && __wb.find('.wb-tile')?.classList.contains('wb-active')"
            " && /^frame \\d+ \\/ \\d+/.test(__wb.text('.wb-frame-label') ?? '')",
            timeout=TIMEOUT_MS,
        )
        page.wait_for_timeout(500)
        rows = []
        for n in range(steps):
            button = ".wb-next button" if n % 2 == 0 else ".wb-prev button"
            before = page.evaluate("() => __wb.text('.wb-frame-label')")
            metrics = _metrics(cdp)
            received.clear()
            changes.clear()
            page.evaluate("() => __step.arm()")
            page.locator(button).first.click()
            in_page = page.evaluate("(b) => __step.wait(b)", before)
            # The page draws a step to a frame it holds before the server answers: the
            # step's messages and counters run until the server's frame has come.
            waited = 0
            while "frame_json" not in changes and waited < TIMEOUT_MS:
                page.wait_for_timeout(10)
                waited += 10
            after = _metrics(cdp)
            rows.append(
                {
                    "in_page_ms": round(in_page, 1),
                    "messages": len(received),
                    "bytes": sum(received),
                    "changed": sorted(changes),
                    **{k: round((after[k] - metrics[k]) * 1000, 1) for k in METRICS},
                }
            )
        browser.close()
    medians: dict[str, Any] = {
        k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "changed"
    }
    medians["changed"] = _most_common([" ".join(r["changed"]) for r in rows])
    if loaded:
        medians.update({f"load_{k}": statistics.median(r[k] for r in loaded) for k in loaded[0]})
    return {
        "steps": rows,
        "loads": loaded,
        "median": medians,
        "load_average": os.getloadavg()[0],
    }


def _changed(payload: Any) -> list[str]:
    """The model attributes a Bokeh message (a websocket frame holding JSON) changed."""
    if not isinstance(payload, str) or '"events"' not in payload:
        return []
    try:
        events = json.loads(payload).get("events", [])
    except (ValueError, AttributeError):
        return []
    return [str(e.get("attr", e.get("kind"))) for e in events if isinstance(e, dict)]


def _most_common(values: list[str]) -> str:
    return max(set(values), key=values.count) if values else ""


def _metrics(cdp: Any) -> dict[str, float]:
    found = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {k: float(found.get(k, 0.0)) for k in METRICS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--loads", type=int, default=0, help="first loads to measure first")
    parser.add_argument(
        "--mode", choices=("contexts", "frames"), default="contexts", help="the grid's tiles"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with served(args.catalog) as (url, _pid):
        result = profile(url, args.steps, args.loads, args.mode)
    result["load_average"] = [round(load, 2), round(result["load_average"], 2)]
    print(json.dumps(result["median"]), "load", result["load_average"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
