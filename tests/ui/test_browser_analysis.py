"""The analysis panels of the served app in a real headless Chromium: the evaluation panel
(a tap on the confusion matrix narrows the grid), the patches view (crops drawn, a click
selects the frame), a lasso on the embeddings plot narrows the grid, and a QA issue opens
its frame. One `workbench serve` over one demo context (milan-0007: a planted gap), evaluated
and checked before the server opens it; expectations are read from the catalog first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

import workbench
from tests.conftest import BrowserPage, ServedApp
from workbench.demo import build_demo

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=30_000)

GRID = "div.wb-grid-root"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory, serve_catalog: Any) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("analysis-demo")
    path = folder / "demo.duckdb"
    with workbench.open(path) as catalog:
        build_demo(catalog, media_dir=folder / "media", seed=7, progress=False,
                   contexts=("milan-0007",))  # fmt: skip
        results = catalog.evaluate_detections("predictions", eval_key="eval")
        catalog.sequence_qa(progress=False)
        missed_cars = catalog.view().match_confusion("eval", "car", "(none)").count()
        gaps = catalog.view().match_qa("gap").frame_ids()
        boxes = catalog.sql("SELECT count(*) FROM rois WHERE x_min IS NOT NULL").fetchall()
    server = serve_catalog(path)
    return {
        "server": server,
        "missed_cars": missed_cars,
        "car_fn": results.confusion.count("car", "(none)"),
        "gaps": gaps,
        "boxes": boxes[0][0],
    }


@pytest.fixture
def app(browser: Any, analysed: dict[str, Any]) -> Iterator[BrowserPage]:
    server: ServedApp = analysed["server"]
    context = browser.new_context(viewport={"width": 1600, "height": 1100})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.url, wait_until="load")
        loaded = BrowserPage(page, errors)
        loaded.wait_idle()
        expect(page.locator(f"{GRID} .wb-tile").first).to_be_visible()
        yield loaded
    finally:
        context.close()


def open_tab(app: BrowserPage, title: str) -> None:
    app.page.locator(".wb-analysis .bk-tab", has_text=title).first.click()
    app.wait_idle()


def frames_mode(app: BrowserPage) -> None:
    app.page.locator(".wb-grid-mode button", has_text="frames").click()
    expect(app.page.locator(GRID)).to_have_attribute("data-mode", "frames")
    app.wait_idle()


# Screen position of a point of the Bokeh plot inside the element with `css` (a category
# pair for a heatmap: its factors), from the plot view's scales.
PLOT_POINT_JS = """([css, x, y]) => {
  const within = (view) => {
    for (let node = view.el; node; node = node.parentNode || node.host) {
      if (node.classList && node.classList.contains(css)) return true;
    }
    return false;
  };
  const stack = [...Bokeh.index.roots];
  let view = null;
  while (stack.length && view === null) {
    const v = stack.pop();
    if (v.frame && v.el && within(v)) view = v;
    if (v.child_views) stack.push(...v.child_views);
  }
  if (view === null) return null;
  const rect = view.el.getBoundingClientRect();
  const sx = typeof x === 'string' ? view.model.x_range.synthetic(x) : x;
  const sy = typeof y === 'string' ? view.model.y_range.synthetic(y) : y;
  const box = view.frame.bbox;
  return {x: rect.left + view.frame.x_scale.compute(sx),
          y: rect.top + view.frame.y_scale.compute(sy),
          frame: {left: rect.left + box.left, top: rect.top + box.top,
                  width: box.width, height: box.height}};
}"""


def test_a_confusion_cell_narrows_the_grid(app: BrowserPage, analysed: dict[str, Any]):
    page = app.page
    frames_mode(app)
    open_tab(app, "Evaluation")
    expect(page.locator(".wb-eval-classes").first).to_contain_text("mAP")
    expect(page.locator(".wb-eval-confusion canvas").first).to_be_visible()
    expect(page.locator(".wb-eval-pr canvas").first).to_be_visible()
    page.locator(".wb-eval-confusion").first.scroll_into_view_if_needed()
    app.wait_idle()
    cell = page.evaluate(PLOT_POINT_JS, ["wb-eval-confusion", "(none)", "car"])
    assert cell is not None, "no confusion matrix plot found"
    grid = page.locator(GRID)
    before = grid.get_attribute("data-total")
    picked = page.locator(".wb-eval-picked").first
    for _ in range(5):  # the plot may still be settling after the tab opened: tap again
        page.mouse.click(cell["x"], cell["y"])
        try:
            expect(picked).to_contain_text("car", timeout=3_000)
            break
        except AssertionError:
            app.wait_idle()
            cell = page.evaluate(PLOT_POINT_JS, ["wb-eval-confusion", "(none)", "car"])
    expect(grid).to_have_attribute("data-total", str(analysed["missed_cars"]))
    assert before != str(analysed["missed_cars"])
    expect(page.locator(".wb-eval-picked").first).to_contain_text(
        "ground truth car × predicted (none)"
    )
    # every tile's first ROIs are the missed cars: the patches of the view are those cars
    open_tab(app, "Patches")
    page.locator(".wb-patches-field select").select_option("ground_truth")
    expect(page.locator(".wb-patches-label").first).to_contain_text(f"{analysed['car_fn']} ROIs")
    assert app.errors == []


def test_patches_are_crops_and_a_click_selects_the_frame(
    app: BrowserPage, analysed: dict[str, Any]
):
    page = app.page
    open_tab(app, "Patches")
    patches = page.locator(".wb-patches-root .wb-patch")
    expect(patches).to_have_count(60)
    expect(page.locator(".wb-patches-label").first).to_contain_text(f"{analysed['boxes']} ROIs")
    img = patches.first.locator("img")
    expect(img).to_have_attribute("src", re.compile(r"^/media/thumb/256\?uri="))
    # the thumbnail loaded, scaled past the tile so that the ROI's crop fills it
    page.wait_for_function("(i) => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    assert img.evaluate("(i) => parseFloat(i.style.width) > 128")
    frame_id = patches.nth(3).get_attribute("data-frame-id")
    patches.nth(3).click()
    expect(page.locator(".wb-patches-root .wb-patch.wb-selected")).to_have_count(1)
    expect(page.locator(".wb-selection-count").first).to_contain_text("1 frame in 1 context")
    expect(page.locator(".wb-frame-label").first).to_contain_text(str(frame_id))
    page.locator(".wb-patches-next button").first.click()
    expect(page.locator(".wb-patches-root")).to_have_attribute("data-page", "1")
    assert app.errors == []


def test_a_lasso_on_the_embeddings_plot_narrows_the_grid(app: BrowserPage):
    page = app.page
    frames_mode(app)
    grid = page.locator(GRID)
    total = int(grid.get_attribute("data-total") or 0)
    open_tab(app, "Embeddings")
    expect(page.locator(".wb-emb-status").first).to_contain_text(f"{total:,} points")
    page.locator(".wb-emb-plot").first.scroll_into_view_if_needed()
    app.wait_idle()
    plot = page.evaluate(PLOT_POINT_JS, ["wb-emb-plot", 0, 0])
    assert plot is not None, "no embeddings plot found"
    f = plot["frame"]
    # a lasso around the left half of the plot
    corners = [(0.02, 0.02), (0.5, 0.02), (0.5, 0.98), (0.02, 0.98), (0.02, 0.03)]
    xy = [(f["left"] + a * f["width"], f["top"] + b * f["height"]) for a, b in corners]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    status = page.locator(".wb-emb-status").first
    expect(status).to_contain_text("lassoed")
    app.wait_idle()
    found = re.search(r"([\d,]+) lassoed", app.text(".wb-emb-status") or "")
    assert found, app.text(".wb-emb-status")
    lassoed = int(found.group(1).replace(",", ""))
    assert 0 < lassoed < total
    expect(grid).to_have_attribute("data-total", str(lassoed))
    assert app.errors == []


def test_a_qa_issue_opens_its_frame(app: BrowserPage, analysed: dict[str, Any]):
    page = app.page
    open_tab(app, "Sequence QA")
    expect(page.locator(".wb-qa-status").first).to_contain_text("issues in")
    page.locator(".wb-qa-kinds button", has_text="gap (1)").click()
    app.wait_idle()
    (gap,) = analysed["gaps"]
    issues = page.locator(".wb-qa-issues select")
    expect(issues.locator("option")).to_have_count(1)
    issues.select_option(index=0)
    expect(page.locator(".wb-frame-label").first).to_contain_text(gap)
    expect(page.locator(GRID)).to_have_attribute("data-total", "1")
    assert app.errors == []


def test_an_evaluation_run_from_the_page(app: BrowserPage):
    """Last in the module: it stores a second run in the served catalog."""
    page = app.page
    open_tab(app, "Evaluation")
    key = page.locator(".wb-eval-key input").first
    key.fill("loose")
    key.press("Enter")
    page.locator(".wb-eval-iou input").first.fill("0.3")
    page.locator(".wb-eval-iou input").first.press("Enter")
    app.wait_idle()
    page.locator(".wb-eval-new button").first.click()
    summary = page.locator(".wb-eval-classes").first
    expect(summary).to_contain_text("loose: predictions against ground_truth")
    expect(summary).to_contain_text("0.3")
    runs = page.locator(".wb-eval-run select").first
    expect(runs).to_have_value("loose")
    expect(runs.locator("option")).to_have_text(["eval", "loose"])
    # the same name again is refused on the page; nothing more is stored
    page.locator(".wb-eval-new button").first.click()
    expect(page.locator(".wb-eval-error").first).to_contain_text("'loose' is stored")
    assert app.errors == []
