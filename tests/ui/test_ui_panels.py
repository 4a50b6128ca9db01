"""The query panel and the actions panel, driven through their widgets."""

from bokeh.document import Document

from workbench.query import list_views, load_view, save_view
from workbench.store.catalog import Catalog
from workbench.ui.actions import ActionsPanel
from workbench.ui.grid import TileEvent
from workbench.ui.query_panel import ALL_FIELDS, QueryPanel, counted_options
from workbench.ui.state import WorkbenchState

from .ui_catalog import CONTEXTS


def tile_ids(state: WorkbenchState) -> list[str]:
    return [t["id"] for t in state.tiles]


def type_where(panel: QueryPanel, text: str) -> None:
    panel.where.value_input = text  # what typing does
    panel.apply_button.clicks += 1


def test_where_box_runs_on_apply_and_on_enter(state: WorkbenchState):
    panel = QueryPanel(state)
    panel.where.value_input = "f.context_id = 'ctx-1'"
    assert state.query.where == ""  # typing alone runs nothing
    panel.apply_button.clicks += 1
    assert tile_ids(state) == ["ctx-1"]
    panel.where.value_input = "f.context_id = 'ctx-2'"
    panel.where.enter_pressed = True
    assert tile_ids(state) == ["ctx-2"]
    assert panel.summary.object == "<b>5</b> frames in <b>1</b> context match"


def test_query_errors_show_next_to_the_box(state: WorkbenchState):
    panel = QueryPanel(state)
    assert not panel.error.visible
    type_where(panel, "f.timestamp >")
    assert panel.error.visible
    assert "syntax error" in panel.error.object
    assert "wb-query-error" in panel.error.css_classes
    type_where(panel, "f.id IN (SELECT id FROM read_parquet('x.parquet'))")
    assert "read_parquet() is not allowed" in panel.error.object
    type_where(panel, "")
    assert not panel.error.visible
    assert state.total == 5


def test_filter_widgets_write_the_query_and_facets_fill_their_options(state: WorkbenchState):
    panel = QueryPanel(state)
    assert panel.metadata["weather"].options == {
        "rain (12)": "rain",
        "sun (8)": "sun",
        "fog (3)": "fog",
    }
    panel.metadata["weather"].value = ["fog"]
    assert state.query.metadata == {"weather": ["fog"]}
    assert tile_ids(state) == ["ctx-group"]
    # the counts follow the query, the chosen value stays available
    assert panel.metadata["time_of_day"].options == {"day (3)": "day"}
    assert panel.metadata["weather"].options == {"fog (3)": "fog"}
    panel.metadata["weather"].value = []
    panel.label_field.value = "predictions"
    assert panel.labels.options == {"car (20)": "car", "night (20)": "night"}
    panel.labels.value = ["car"]
    panel.confidence.value = (0.8, 1.0)
    panel.confidence.value_throttled = (0.8, 1.0)  # the slider reports on release
    assert state.query.roi_filter() == {
        "field": "predictions",
        "labels": ["car"],
        "min_confidence": 0.8,
        "max_confidence": None,
    }
    assert [t["lines"][0] for t in state.tiles] == ["1 of 5 frames match"] * 4
    assert [n for _, _, n in state.facets.confidence][-1] == 4
    panel.reset_button.clicks += 1
    assert state.query.roi_filter() is None
    assert panel.labels.value == [] and panel.label_field.value == ALL_FIELDS
    assert panel.confidence.value == (0.0, 1.0)
    assert state.total == 5


def test_query_set_from_python_shows_in_the_widgets(state: WorkbenchState):
    panel = QueryPanel(state)
    state.query.param.update(where="f.timestamp > 100", metadata={"camera": ["rig"]}, tags=["x"])
    assert panel.where.value == "f.timestamp > 100"
    assert panel.metadata["camera"].value == ["rig"]
    assert panel.tags.value == ["x"]
    assert panel.tags.options == {"x (0)": "x"}


def test_counted_options_keep_chosen_values():
    assert counted_options([("a", 2), (None, 5)], ["b"]) == {"a (2)": "a", "b (0)": "b"}


def test_tagging_the_selection_writes_tags(state: WorkbenchState, catalog: Catalog):
    actions = ActionsPanel(state)
    assert actions.tag_button.disabled
    state.tile_click(TileEvent("ctx-1"))
    state.tile_click(TileEvent("ctx-2", shift=True))
    assert not actions.tag_button.disabled
    actions.tag_input.value_input = "review"
    actions.tag_button.clicks += 1
    rows = catalog.sql(
        "SELECT frame_id FROM tags WHERE tag = 'review' AND roi_id IS NULL ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == [f"ctx-{k}/f{i}" for k in (1, 2) for i in range(5)]
    assert actions.message.object == "tagged 10 frames &#x27;review&#x27;"
    assert dict(state.facets.tags) == {"review": 10}
    actions.tag_button.clicks += 1  # tagging twice adds nothing
    assert catalog.sql("SELECT count(*) FROM tags").fetchall()[0][0] == 10
    # the new tag filters the grid
    state.query.tags = ["review"]
    assert tile_ids(state) == ["ctx-1", "ctx-2"]
    state.tile_click(TileEvent("ctx-1"))
    actions.untag_button.clicks += 1
    assert tile_ids(state) == ["ctx-2"]
    assert catalog.sql("SELECT count(*) FROM tags").fetchall()[0][0] == 5


def test_bad_tag_is_reported_not_raised(state: WorkbenchState, catalog: Catalog):
    actions = ActionsPanel(state)
    state.tile_click(TileEvent("ctx-0"))
    actions.tag_input.value_input = "   "
    actions.tag_button.clicks += 1
    assert actions.message.alert_type == "danger"
    assert "needs some text" in actions.message.object
    assert catalog.sql("SELECT count(*) FROM tags").fetchall()[0][0] == 0


def test_save_and_reopen_a_view(state: WorkbenchState, catalog: Catalog):
    actions = ActionsPanel(state)
    state.query.param.update(
        where="f.timestamp >= 200",
        metadata={"weather": ["rain"]},
        label_field="predictions",
        labels=["car"],
        confidence=(0.4, 1.0),
    )
    expected = tile_ids(state)
    assert expected == CONTEXTS
    actions.view_name.value_input = "late rain"
    actions.save_button.clicks += 1
    assert [v.name for v in list_views(catalog)] == ["late rain"]
    assert actions.views.options == ["late rain"]
    assert load_view(catalog, "late rain").count() == state.view.count() == 8

    state.query.reset()
    assert state.total == 5
    actions.views.value = "late rain"
    actions.open_button.clicks += 1
    query = state.query
    assert query.where == "f.timestamp >= 200"
    assert query.metadata == {"weather": ["rain"]}
    assert (query.label_field, query.labels, query.confidence) == (
        "predictions",
        ["car"],
        (0.4, 1.0),
    )
    assert query.base is None
    assert tile_ids(state) == expected
    assert state.facets.frames == 8


def test_reopening_a_view_the_filters_cannot_show_keeps_it_whole(
    state: WorkbenchState, catalog: Catalog
):
    save_view(
        catalog,
        "sorted",
        catalog.view()
        .match(weather="sun")
        .exclude(["ctx-3/f1"])
        .sort_by("timestamp", reverse=True),
    )
    state.saved_views = [v.name for v in list_views(catalog)]
    state.open_view("sorted")
    assert state.query.where == "" and state.query.metadata == {}
    assert state.query.base is not None
    assert state.mode == "contexts"
    state.mode = "frames"
    assert [t["id"] for t in state.tiles][:2] == ["ctx-0/f3", "ctx-1/f3"]
    assert state.total == 7
    # filters still apply on top of it
    state.query.where = "f.context_id = 'ctx-2'"
    assert [t["id"] for t in state.tiles] == ["ctx-2/f3", "ctx-2/f1"]


def test_saving_a_failing_query_is_refused(state: WorkbenchState, catalog: Catalog):
    actions = ActionsPanel(state)
    state.query.where = "f.nope = 1"
    actions.view_name.value_input = "broken"
    actions.save_button.clicks += 1
    assert actions.message.alert_type == "danger"
    assert "fix it before saving" in actions.message.object
    assert list_views(catalog) == []


def shown_choices(model) -> list[str]:
    """The labels a Bokeh MultiChoice shows as chosen: those of options whose value it holds."""
    labels = dict(model.options)
    return [labels[v] for v in model.value if v in labels]


def test_a_chosen_label_stays_in_the_box_when_its_count_changes(state: WorkbenchState):
    panel = QueryPanel(state)
    model = panel.labels.get_root(Document())
    panel.label_field.value = "predictions"
    panel.labels.value = ["car"]
    assert shown_choices(model) == ["car (20)"]
    panel.confidence._process_events({"value_throttled": (0.6, 1.0)})  # let go at 0.6
    assert state.query.labels == ["car"]
    assert shown_choices(model) == ["car (8)"]
    type_where(panel, "f.context_id = 'ctx-1'")
    assert shown_choices(model) == ["car (2)"]
    type_where(panel, "f.context_id = 'ctx-group'")
    assert shown_choices(model) == ["car (0)"]
    # what the browser sends back is the value, whatever the count in its label
    panel.labels._process_events({"value": []})
    assert state.query.labels == []
    type_where(panel, "")
    assert shown_choices(model) == []
    panel.labels._process_events({"value": ["night"]})
    assert state.query.labels == ["night"]
    assert shown_choices(model) == ["night (20)"]


def test_ranges_and_sorting_round_trip_through_saved_views(state: WorkbenchState):
    state.query.param.update(
        ranges={"frame_index": (1, 3)}, metadata={"weather": ["rain"]}, sort_by="timestamp",
        sort_reverse=True,
    )  # fmt: skip
    spec = state.query.view(state.catalog).to_dict()
    assert [s["stage"] for s in spec["stages"]] == ["match", "match_range", "sort_by"]
    state.query.reset()
    assert state.query.ranges == {} and state.query.sort_by == ""
    state.query.apply_spec(spec)
    assert state.query.base is None
    assert state.query.ranges == {"frame_index": (1, 3)} and state.query.sort_reverse
    assert state.query.view(state.catalog).to_dict() == spec
