"""The embeddings panel, driven by its parameters: the view's points, colours, a lasso that
becomes a view stage (checked against the points' positions), the grid selection drawn in
the plot, find similar, and sampling past max_points."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis.embeddings import compute_embeddings
from workbench.query import View
from workbench.query.region_stage import inside
from workbench.store.catalog import Catalog
from workbench.ui.embeddings_panel import EmbeddingsPanel, Points
from workbench.ui.grid import TileEvent
from workbench.ui.state import WorkbenchState


@pytest.fixture
def panel(catalog: Catalog, state: WorkbenchState) -> EmbeddingsPanel:
    compute_embeddings(View(catalog), "descriptor", progress=False)
    panel = EmbeddingsPanel(state)
    panel.state.active = True
    return panel


def test_the_view_is_plotted_and_coloured(panel: EmbeddingsPanel, state: WorkbenchState):
    s = panel.state
    assert s.total == s.shown == 23 and s.error == ""
    plot = panel._copies.first
    assert len(plot.points.data["x"]) == 23
    s.colour_by = "weather"
    legend = dict(s.points.legend)
    assert set(legend) == {"rain", "sun", "fog"} and len(set(legend.values())) == 3
    state.query.where = "f.weather = 'fog'"
    assert s.total == 3 and dict(s.points.legend).keys() == {"fog"}
    s.colour_by = "uniqueness"  # no scores stored: no value
    assert s.points.legend == []


def test_a_lasso_becomes_a_view_stage_and_the_grid_follows(
    panel: EmbeddingsPanel, state: WorkbenchState
):
    s = panel.state
    points = s.points
    xs, ys = points.x, points.y
    cx, cy = float(np.median(xs)), float(np.median(ys))
    w, h = float(np.ptp(xs)), float(np.ptp(ys))
    triangle = {"type": "poly", "x": [cx - w, cx + w, cx - w], "y": [cy - h, cy - h, cy + h]}
    s.select_region(triangle)
    # the same test by hand: below the line from (cx + w, cy - h) to (cx - w, cy + h)
    inside = {
        points.frame_ids[i].as_py()
        for i in range(len(points))
        if (xs[i] - cx) / w + (ys[i] - cy) / h < 0 and xs[i] > cx - w and ys[i] > cy - h
    }
    assert 0 < len(inside) < 23 and s.lassoed == len(inside)
    state.mode = "frames"
    assert set(state.view.frame_ids()) == inside and state.total == len(inside)
    assert s.total == 23  # the plot keeps the view without its own lasso
    (stage,) = state.query.panels["embeddings"]
    assert stage.to_dict()["stage"] == "select_region" and len(stage.xs) == 3  # no ids
    s.select_region({"type": "rect", "x0": cx, "x1": cx + w, "y0": cy - h, "y1": cy + h})
    assert state.total == int(((xs >= cx) & (ys >= cy - h) & (ys <= cy + h)).sum())
    s.clear_region()
    assert state.total == 23 and "embeddings" not in state.query.panels


def test_the_grid_selection_is_drawn_in_the_plot(panel: EmbeddingsPanel, state: WorkbenchState):
    state.tile_click(TileEvent("ctx-1"))
    rings = panel._copies.first.rings.data
    assert len(rings["x"]) == 5  # the five frames of ctx-1
    picked = {panel.state.points.frame_ids[int(i)].as_py() for i in panel.state.highlight}
    assert picked == set(state.selection.frame_ids)
    state.clear_selection()
    assert len(panel._copies.first.rings.data["x"]) == 0


def test_find_similar_sorts_the_view(panel: EmbeddingsPanel, state: WorkbenchState):
    s = panel.state
    state.mode = "frames"
    state.open_tile("ctx-2/f3")
    s.k = 4
    s.find_similar("frame")
    assert state.total == 4 and state.tiles[0]["id"] == "ctx-2/f3"
    assert state.view.stages[-1].kind == "sort_by_similarity"
    state.tile_click(TileEvent(state.tiles[1]["id"]))
    s.find_similar("selection")
    assert state.total == 4 and s.error == ""
    s.clear_similar()
    assert state.total == 23


def test_past_max_points_a_fixed_sample_of_the_visible_range_is_drawn(
    panel: EmbeddingsPanel,
):
    s = panel.state
    s.max_points = 100
    import pyarrow as pa

    rng = np.random.default_rng(1)
    n = 5000
    table = pa.table({
        "frame_id": [f"f{i}" for i in range(n)],
        "x": rng.normal(size=n).astype(np.float32),
        "y": rng.normal(size=n).astype(np.float32),
        "colour": [str(i % 3) for i in range(n)],
    })  # fmt: skip
    points = Points(table)
    everywhere = points.sample(None, 100)
    assert len(everywhere) == 100
    zoomed = points.sample((0.0, 0.5, 0.0, 0.5), 100)
    assert len(zoomed) == 100
    assert np.all((points.x[zoomed] >= 0) & (points.x[zoomed] <= 0.5))
    small = points.sample((0.0, 0.05, 0.0, 0.05), 100)
    in_box = (points.x >= 0) & (points.x <= 0.05) & (points.y >= 0) & (points.y <= 0.05)
    assert len(small) == int(in_box.sum()) < 100  # zoomed in: every point
    # the sample is stable: points drawn at one zoom stay drawn when zooming in
    assert set(points.sample((0.0, 0.5, 0.0, 0.5), 100)) >= set(everywhere) & set(
        np.flatnonzero((points.x >= 0) & (points.x <= 0.5) & (points.y >= 0) & (points.y <= 0.5))
    )


def test_the_region_test_agrees_with_the_even_odd_rule():
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-1, 1, 20000), rng.uniform(-1, 1, 20000)
    # a square with a square notch: a concave polygon
    px = np.array([-0.5, 0.5, 0.5, 0.0, 0.0, -0.5])
    py = np.array([-0.5, -0.5, 0.5, 0.5, 0.0, 0.0])
    found = set(np.flatnonzero(inside(x, y, px, py)))
    expected = {
        i
        for i in range(len(x))
        if (-0.5 < x[i] < 0.5 and -0.5 < y[i] < 0.0) or (0.0 < x[i] < 0.5 and 0.0 <= y[i] < 0.5)
    }
    assert found == expected


def test_find_similar_to_patches_picked_on_roi_embeddings(catalog: Catalog, state: WorkbenchState):
    from workbench.ui.analysis_tabs import AnalysisTabs

    report = compute_embeddings(
        View(catalog).filter_rois("ground_truth", kinds=["box"]), "cars",
        target="rois", field="ground_truth", progress=False,
    )  # fmt: skip
    assert report.written > 0
    tabs = AnalysisTabs(state)
    tabs.open("patches")
    patches = tabs.patches.state
    patches.field = "ground_truth"
    car = next(p for p in patches.patches if p["title"] == "car")
    patches.click(TileEvent(car["id"]))
    assert patches.picked_rois() == [(car["frame_id"], car["id"].split("\x1f")[1])]
    emb = tabs.embeddings.state
    emb.refresh_keys()
    emb.param.update(key="cars", k=3)
    emb.find_similar("rois")
    assert emb.error == ""
    state.mode = "frames"
    assert state.tiles[0]["id"] == car["frame_id"] and state.total == 3
    state.clear_selection()
    emb.find_similar("rois")
    assert "no picked patch" in emb.error


def test_embed_the_view_stores_the_descriptor_of_what_is_missing(
    catalog: Catalog, state: WorkbenchState
):
    panel = EmbeddingsPanel(state)
    s = panel.state
    s.active = True
    assert s.key is None and "No embeddings" in s.error
    state.query.where = "f.weather = 'fog'"
    s.embed()
    assert s.working == "" and s.key == "descriptor" and s.error == ""
    assert s.embedded.startswith("embeddings 'descriptor'") and "3 written" in s.embedded
    assert s.total == 3
    stored = "SELECT count FROM embeddings WHERE key = 'descriptor'"
    assert catalog.sql(stored).fetchall()[0][0] == 3
    state.query.where = ""
    s.embed()  # the fog frames are kept, the others added
    assert "20 written, 3 already there" in s.embedded and s.total == 23
    assert catalog.sql(stored).fetchall()[0][0] == 23
    s.embed_target = "rois"
    s.embed()
    boxes = "SELECT count(*) FROM rois WHERE x_max > x_min AND y_max > y_min"  # with an area
    done = [int(s.embedded.split(word)[0].split()[-1]) for word in (" written", " refused")]
    assert s.key == "roi_descriptor" and done[0] > 0
    assert sum(done) == catalog.sql(boxes).fetchall()[0][0]
    # a refusal names its ROI once, then says why
    assert "; first refused: roi '" in s.embedded and s.embedded.count("roi '") == 1
