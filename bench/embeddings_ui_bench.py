"""The embeddings panel at scale, in a real headless Chromium against `workbench serve`.

    python bench/embeddings_ui_bench.py --frames 1000000 --workdir /tmp/embui
    python bench/embeddings_ui_bench.py --frames 100000                   # a quicker run

A catalog of `--frames` frames (bench/embeddings_bench.py's: contexts of 50 frames, four
tracked boxes each) gets clustered vectors (`--dim`, 32 by default: the panel only reads
their 2-D projection) and their PCA projection, stored before the server starts. Then, in the
browser, timed from the click until the page shows the change and Bokeh is idle:

  projection shown   open the Embeddings tab until the scatter is drawn        (< 2 s)
  lasso -> grid      a lasso around ~100,000 points until the grid shows them   (< 1 s)

and in the same run, for comparison, hand-written SQL reading the projection's x and y
(`SELECT x, y FROM projections WHERE ...`) and the frame ids of the lasso's rectangle, and the
panel's own steps in-process (reading the view's points, testing every point against the
lasso, the grid's first page of the lassoed view). Figures print with the load average, and
as JSON at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import embeddings_bench
from ui_bench import _HELPERS_JS, CHROMIUM, CHROMIUM_ARGS, served

import workbench

TARGETS_MS = {"projection_shown": 2000.0, "lasso_to_grid": 1000.0}
LASSO_POINTS = 100_000
TIMEOUT_MS = 120_000


def say(name: str, value: Any) -> None:
    print(f"{name:>36}: {value}   (load {embeddings_bench.load_average()})", flush=True)


def prepare(path: Path, frames: int, dim: int) -> dict[str, Any]:
    out = embeddings_bench.generate(path, frames)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    labels = rng.integers(0, len(centres), frames)
    vectors = centres[labels] + 0.6 * rng.standard_normal((frames, dim), dtype=np.float32)
    with workbench.open(path) as catalog:
        started = time.perf_counter()
        catalog.add_embeddings("bench", vectors, ids=[f"f{i:09d}" for i in range(frames)])
        out["store_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        catalog.view().projection("bench", "pca")
        out["pca_s"] = round(time.perf_counter() - started, 2)
    say("catalog, vectors, PCA (s)", f"{out['generate_s']}, {out['store_s']}, {out['pca_s']}")
    return out


def lasso_of(path: Path, frames: int) -> dict[str, float]:
    """A box from the left edge of the projection holding about LASSO_POINTS points."""
    with workbench.open(path) as catalog:
        stored = catalog.sql("SELECT x, y FROM projections").fetchnumpy()
    xs, ys = np.asarray(stored["x"]), np.asarray(stored["y"])
    share = min(LASSO_POINTS, frames // 10) / frames
    return {
        "x0": float(xs.min()) - 1e-3,
        "x1": float(np.quantile(xs, share)),
        "y0": float(ys.min()) - 1e-3,
        "y1": float(ys.max()) + 1e-3,
    }


def by_hand(path: Path, lasso: dict[str, float]) -> dict[str, Any]:
    """What the panel's reads cost as bare SQL, and the panel's steps in-process."""
    from workbench.ui.embeddings_panel import Points
    from workbench.ui.media import ServedMediaUrls
    from workbench.ui.state import WorkbenchState

    out: dict[str, Any] = {}
    with workbench.open(path) as catalog:
        started = time.perf_counter()
        catalog.sql("SELECT frame_id, x, y FROM projections WHERE key = 'bench'").fetchnumpy()
        out["sql_points_ms"] = round((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        table = catalog.view().projection("bench", "pca")
        points = Points(table)
        out["panel_points_ms"] = round((time.perf_counter() - started) * 1000)
        polygon = ([lasso["x0"], lasso["x1"], lasso["x1"], lasso["x0"]],
                   [lasso["y0"], lasso["y0"], lasso["y1"], lasso["y1"]])  # fmt: skip
        started = time.perf_counter()
        inside = points.inside(polygon)
        out["point_in_lasso_ms"] = round((time.perf_counter() - started) * 1000)
        out["lassoed"] = len(inside)
        started = time.perf_counter()
        catalog.sql(
            "SELECT frame_id FROM projections WHERE key = 'bench' AND x BETWEEN ? AND ?"
            " AND y BETWEEN ? AND ?",
            [lasso["x0"], lasso["x1"], lasso["y0"], lasso["y1"]],
        ).fetchall()
        out["sql_lasso_ms"] = round((time.perf_counter() - started) * 1000)
        state = WorkbenchState(catalog, ServedMediaUrls())
        state.mode = "frames"
        stage = catalog.view().select_region(*polygon, key="bench").stages
        started = time.perf_counter()
        state.query.set_panel_stages("embeddings", stage)
        out["grid_page_ms"] = round((time.perf_counter() - started) * 1000)
        assert state.total == len(inside), (state.total, len(inside))
        ids = points.frame_ids.take(inside).to_pylist()
        started = time.perf_counter()
        state.query.set_panel_stages("embeddings", catalog.view().select(ids).stages)
        out["grid_page_select_ids_ms"] = round((time.perf_counter() - started) * 1000)
    say("points: SQL / panel (ms)", f"{out['sql_points_ms']} / {out['panel_points_ms']}")
    say("lasso: SQL box / point test (ms)", f"{out['sql_lasso_ms']} / {out['point_in_lasso_ms']}")
    say(
        "grid page + facets of the lasso, in-process (ms)",
        f"{out['grid_page_ms']} (as select(ids): {out['grid_page_select_ids_ms']})",
    )
    return out


_FRAME_JS = """() => {
  const within = (view) => {
    for (let node = view.el; node; node = node.parentNode || node.host) {
      if (node.classList && node.classList.contains('wb-emb-plot')) return true;
    }
    return false;
  };
  const stack = [...Bokeh.index.roots];
  while (stack.length) {
    const v = stack.pop();
    if (v.frame && v.el && within(v)) {
      const r = v.el.getBoundingClientRect(), f = v.frame;
      return {left: r.left, top: r.top, x: [f.x_scale.compute(0), f.x_scale.compute(1)],
              y: [f.y_scale.compute(0), f.y_scale.compute(1)],
              drawn: v.model.renderers[0].data_source.data.x.length};
    }
    if (v.child_views) stack.push(...v.child_views);
  }
  return null;
}"""
_IDLE = "Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"


def in_browser(url: str, frames: int, lasso: dict[str, float]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        errors: list[str] = []

        def tab() -> Any:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.add_init_script(_HELPERS_JS)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
            page.wait_for_function(f"() => {_IDLE}", timeout=TIMEOUT_MS)
            page.locator(".wb-grid-mode button", has_text="frames").click()
            page.wait_for_function(f"() => {_IDLE}", timeout=TIMEOUT_MS)
            # The facets of the page are counted after it is drawn: let them finish first,
            # as a person reading the page would.
            page.wait_for_function(
                "() => (__wb.text('.wb-label-counts') ?? '').length > 0", timeout=TIMEOUT_MS
            )
            page.wait_for_timeout(1000)
            page.wait_for_function(f"() => {_IDLE}", timeout=TIMEOUT_MS)
            return page

        def show(page: Any) -> float:
            started = time.perf_counter()
            page.locator(".wb-analysis .bk-tab", has_text="Embeddings").first.click()
            page.wait_for_function(
                f"() => ({_FRAME_JS})() !== null", timeout=TIMEOUT_MS, polling="raf"
            )
            out["plot_on_screen_ms"] = round((time.perf_counter() - started) * 1000)
            page.wait_for_function(
                f"() => {{ const f = ({_FRAME_JS})(); return f !== null && f.drawn > 0"
                f" && {_IDLE}; }}",
                timeout=TIMEOUT_MS,
                polling="raf",
            )
            return (time.perf_counter() - started) * 1000

        # A first tab warms the server's imports up, as a person's first visit after
        # `workbench serve` would (as in bench/ui_bench.py); it is not counted.
        warm = tab()
        out["projection_first_ms"] = round(show(warm))
        warm.context.close()
        page = tab()
        out["projection_shown_ms"] = round(show(page))
        say("projection shown in the browser (ms)", out["projection_shown_ms"])
        page.locator(".wb-emb-plot").first.scroll_into_view_if_needed()
        page.wait_for_function(f"() => {_IDLE}", timeout=TIMEOUT_MS)
        frame = page.evaluate(_FRAME_JS)

        def screen(x: float, y: float) -> tuple[float, float]:
            sx = frame["left"] + frame["x"][0] + x * (frame["x"][1] - frame["x"][0])
            sy = frame["top"] + frame["y"][0] + y * (frame["y"][1] - frame["y"][0])
            return sx, sy

        corners = [(lasso["x0"], lasso["y0"]), (lasso["x1"], lasso["y0"]),
                   (lasso["x1"], lasso["y1"]), (lasso["x0"], lasso["y1"])]  # fmt: skip
        page.mouse.move(*screen(*corners[0]))
        page.mouse.down()
        for x, y in corners[1:]:
            page.mouse.move(*screen(x, y), steps=6)
        started = time.perf_counter()
        page.mouse.up()
        page.wait_for_function(
            "(n) => __wb.idle() && __wb.grid() !== null && __wb.grid().total !== n",
            arg=frames,
            timeout=TIMEOUT_MS,
            polling="raf",
        )
        out["lasso_to_grid_ms"] = round((time.perf_counter() - started) * 1000)
        out["lasso_status"] = page.evaluate("() => __wb.text('.wb-emb-status')")
        out["grid_total"] = page.evaluate("() => __wb.grid().total")
        out["errors"] = errors
        page.context.close()
        browser.close()
    say("first projection after start (ms)", out["projection_first_ms"])
    say("empty plot on screen (ms)", out["plot_on_screen_ms"])
    say("lasso to grid in the browser (ms)", f"{out['lasso_to_grid_ms']} ({out['lasso_status']})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/embuibench"))
    parser.add_argument(
        "--reuse", action="store_true", help="use the catalog a previous run left in --workdir"
    )
    args = parser.parse_args(argv)
    path = args.workdir / "bench.duckdb"
    results: dict[str, Any] = {"frames": args.frames, "load_start": embeddings_bench.load_average()}
    if not (args.reuse and path.exists()):
        shutil.rmtree(args.workdir, ignore_errors=True)
        args.workdir.mkdir(parents=True)
        results |= prepare(path, args.frames, args.dim)
    results["lasso"] = lasso_of(path, args.frames)
    results |= by_hand(path, results["lasso"])
    with served(path) as (url, _pid):
        results |= in_browser(url, args.frames, results["lasso"])
    results["load_end"] = embeddings_bench.load_average()
    results["cpus"] = os.cpu_count()
    results["targets_ms"] = TARGETS_MS
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
