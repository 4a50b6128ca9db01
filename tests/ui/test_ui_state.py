"""WorkbenchState without a browser: the query drives tiles, totals, facets and errors."""

from typing import Any

import pytest

from workbench.store.catalog import Catalog
from workbench.ui.facets import Outdated, compute_facets
from workbench.ui.media import ServedMediaUrls
from workbench.ui.state import WorkbenchState

from .ui_catalog import CONTEXTS

ALL_CONTEXTS = [*CONTEXTS, "ctx-group"]


@pytest.fixture(scope="module")
def catalog(read_only_catalogs: Any) -> Catalog:
    return read_only_catalogs("ui")  # read-only tests: one copy for the module


def tile_ids(state: WorkbenchState) -> list[str]:
    return [t["id"] for t in state.tiles]


def test_initial_page_has_one_tile_per_context(state: WorkbenchState):
    assert tile_ids(state) == ALL_CONTEXTS
    assert state.total == 5
    assert state.error == ""
    first = state.tiles[0]
    assert first["kind"] == "context"
    assert first["lines"][:2] == ["5 of 5 frames match", "t 0 – 400"]
    assert first["thumb"].startswith("/media/thumb/256?uri=")
    assert first["thumb"].endswith("ctx-0%2Ff0.jpg")
    assert (first["width"], first["height"]) == (64, 48)
    assert {r["k"] for r in first["rois"]} == {"poly", "line", "pt"}
    assert first["badges"] == [{"t": "night", "c": first["badges"][0]["c"]}]
    group = state.tiles[-1]
    assert "2 cameras" in group["lines"]
    assert state.fields == ["ground_truth", "predictions"]


def test_where_changes_tiles_and_counts(state: WorkbenchState):
    state.query.where = "f.weather = 'rain' AND f.timestamp >= 200"
    assert tile_ids(state) == CONTEXTS
    assert state.tiles[0]["lines"][0] == "2 of 5 frames match"
    assert state.tiles[0]["lines"][1] == "t 200 – 400"
    assert state.facets.frames == 8
    assert state.facets.contexts == 4
    assert dict(state.facets.metadata["weather"]) == {"rain": 8}


def test_bad_sql_sets_the_error_and_a_fix_clears_it(state: WorkbenchState):
    state.query.where = "f.no_such_column = 1"
    assert "no_such_column" in state.error
    assert state.tiles == []
    assert state.total == 0
    state.query.where = "f.timestamp = 0"
    assert state.error == ""
    assert state.total == 5


def test_writing_sql_is_refused_with_the_read_only_message(state: WorkbenchState):
    state.query.where = "f.id IN (SELECT id FROM read_csv('/etc/passwd'))"
    assert "not allowed" in state.error
    assert state.tiles == []


def test_filters_compose_with_where(state: WorkbenchState):
    state.query.metadata = {"time_of_day": ["night"]}
    assert tile_ids(state) == ["ctx-1"]
    state.query.metadata = {}
    state.query.param.update(label_field="predictions", labels=["car"], confidence=(0.6, 1.0))
    # car predictions of confidence .7 and .9 are on frames f3 and f4 of every sequence
    assert tile_ids(state) == CONTEXTS
    assert state.tiles[0]["lines"][0] == "2 of 5 frames match"
    # the histogram counts only the ROIs that passed the filter
    assert sum(n for _, _, n in state.facets.confidence) == 8
    state.query.param.update(labels=["truck"], label_field="", confidence=(0.0, 1.0))
    assert tile_ids(state) == ["ctx-group"]


def test_facets_follow_the_query(state: WorkbenchState):
    assert dict(state.facets.labels_of("ground_truth"))["car"] == 23
    assert dict(state.facets.labels_of("predictions")) == {"car": 20, "night": 20}
    state.query.where = "f.context_id = 'ctx-group'"
    assert dict(state.facets.labels_of(None)) == {"car": 3, "road": 3, "truck": 3}
    assert dict(state.facets.metadata["camera"]) == {"rig": 3}
    assert sum(n for _, _, n in state.facets.confidence) == 0


def test_frames_mode_pages_frames(state: WorkbenchState):
    state.mode = "frames"
    assert state.total == 23
    assert state.tiles[0]["kind"] == "frame"
    assert state.tiles[0]["context_id"] == "ctx-0"
    assert tile_ids(state)[:2] == ["ctx-0/f0", "ctx-0/f1"]
    state.query.where = "f.context_id = 'ctx-group'"
    assert tile_ids(state) == ["ctx-group/f0", "ctx-group/f1", "ctx-group/f2"]


def test_pages_of_48(make_catalog: Any):
    catalog = make_catalog("ui-many")
    state = WorkbenchState(catalog, ServedMediaUrls())
    assert state.total == 105
    assert state.pages == 3
    assert len(state.tiles) == 48
    first_page = tile_ids(state)
    state.next_page()
    assert state.page == 1
    assert len(state.tiles) == 48
    assert not set(first_page) & set(tile_ids(state))
    state.next_page()
    state.next_page()  # stays on the last page
    assert state.page == 2
    assert len(state.tiles) == 105 - 96
    state.query.where = "f.weather = 'snow'"  # a new query starts at page 0
    assert state.page == 0
    assert state.total == 100
    state.previous_page()
    assert state.page == 0


def test_facets_stop_once_the_query_is_outdated(catalog: Catalog):
    calls = []

    def current() -> bool:
        calls.append(1)
        return len(calls) < 3

    with pytest.raises(Outdated):
        compute_facets(catalog.view(), None, current)
    assert len(calls) == 3  # stopped before the third query
    facets = compute_facets(catalog.view().where("f.context_id = 'ctx-0'"), "predictions")
    assert (facets.frames, facets.contexts) == (5, 1)
    assert [n for _, _, n in facets.confidence] == [0, 1, 0, 1, 0, 1, 0, 1, 5, 1]
