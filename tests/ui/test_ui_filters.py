"""Filters a curator sees and clicks: count bars, removable chips, numeric ranges."""

import json
from typing import Any

import panel as pn
import pytest

from workbench.store.catalog import Catalog
from workbench.ui.bars import bars_json, toggled
from workbench.ui.filters import filter_chips, remove_chip
from workbench.ui.query_panel import QueryPanel
from workbench.ui.state import WorkbenchState


@pytest.fixture
def catalog(make_catalog: Any) -> Catalog:
    catalog = make_catalog("ui")
    with catalog.transaction() as con:  # a numeric metadata key: 0 .. 40 by frame
        con.execute(
            "UPDATE frames SET metadata = json_merge_patch(metadata,"
            " json_object('speed', CAST(timestamp / 10 AS INTEGER)))"
        )
    return catalog


def test_bars_keep_chosen_values_and_say_how_many_more():
    rows = json.loads(bars_json([("car", 9), ("bus", 3), ("van", 1)], ["tram"], limit=2))
    assert rows["rows"] == [
        {"v": "car", "n": 9, "on": False},
        {"v": "bus", "n": 3, "on": False},
        {"v": "tram", "n": 0, "on": True},
    ]
    assert (rows["more"], rows["top"]) == (1, 9)
    assert toggled(["a", "b"], "a") == ["b"] and toggled(["b"], "a") == ["b", "a"]


def test_clicking_count_bars_filters_and_unfilters(state: WorkbenchState):
    panel = QueryPanel(state)
    panel.label_field.value = "ground_truth"
    assert [r["v"] for r in panel.label_bars.rows][:2] == ["car", "lane"]
    panel.label_bars._handle_msg({"value": "truck"})
    assert state.query.labels == ["truck"] and [t["id"] for t in state.tiles] == ["ctx-group"]
    assert [r["v"] for r in panel.label_bars.rows if r["on"]] == ["truck"]
    panel.label_bars.pick("truck")
    assert state.query.labels == [] and state.total == 5
    panel.metadata_bars["weather"].pick("fog")
    assert state.query.metadata == {"weather": ["fog"]}
    assert panel.metadata["weather"].value == ["fog"]  # the box shows it too
    panel.metadata_bars["weather"].pick("fog")
    assert state.query.metadata == {}


def test_chips_show_every_active_filter_and_remove_one(state: WorkbenchState):
    query = state.query
    query.param.update(
        where="f.timestamp >= 0", metadata={"weather": ["rain", "sun"]}, tags=["x"],
        label_field="predictions", labels=["car"], confidence=(0.2, 1.0),
        ranges={"speed": (10.0, None)}, sort_by="timestamp", sort_reverse=True,
    )  # fmt: skip
    texts = [text for _, text in filter_chips(query)]
    assert texts == [
        "WHERE f.timestamp >= 0", "weather: rain", "weather: sun", "speed 10 – …", "tag: x",
        "predictions: car", "confidence 0.2 – 1", "sorted by timestamp ↓",
    ]  # fmt: skip
    panel = QueryPanel(state)
    chips = panel.chips.chips
    assert [text for _, text in chips] == texts
    panel.chips._handle_msg({"key": chips[2][0]})  # a click on "weather: sun"
    assert query.metadata == {"weather": ["rain"]}
    assert "weather: sun" not in [text for _, text in panel.chips.chips]
    for key, _ in filter_chips(query):
        if key.startswith("range"):
            remove_chip(query, key)
    assert query.ranges == {}
    panel.chips._handle_msg({"key": ""})  # "clear all"
    assert filter_chips(query) == [] and panel.chips.chips == []


def test_range_filters_follow_the_numeric_keys(state: WorkbenchState):
    panel = QueryPanel(state)
    assert state.numeric_keys == [] and panel.ranges.filters == {}  # not read until shown
    (numbers,) = [c for c in panel.__panel__().select(pn.Card) if c.title == "Numbers"]
    assert numbers.collapsed
    numbers.collapsed = False  # opening the card finds the keys
    keys = {k.key: k for k in state.numeric_keys}
    assert set(keys) == {"timestamp", "speed"}
    speed = panel.ranges.filters["speed"]
    assert (speed.slider.start, speed.slider.end) == (0.0, 40.0)
    assert json.loads(speed.histogram.counts_json)[0] == 5  # speed 0 on every first frame
    speed.slider._process_events({"value_throttled": (25.0, 40.0)})
    assert state.query.ranges == {"speed": (25.0, None)}
    assert state.facets.frames == 8  # speed 30 and 40 on frames 3 and 4 of the sequences
    assert sum(json.loads(speed.histogram.counts_json)) == state.facets.frames
    state.query.reset()
    assert tuple(speed.slider.value) == (0.0, 40.0)
    state.query.ranges = {"speed": (None, 10.0)}
    assert tuple(speed.slider.value) == (0.0, 10.0)
