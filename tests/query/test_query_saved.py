"""Views as JSON specs, and saved views in the catalog."""

import json

import pytest

from workbench.errors import QueryError
from workbench.query import View, delete_view, list_views, load_view, save_view


def every_stage(catalog) -> View:
    return (
        catalog.view()
        .where("f.timestamp > ?", 0)
        .match(weather=["rain", "sun"], dataset="ds1")
        .filter_rois("predictions", labels=["car"], kinds=["box"], min_confidence=0.1, max_area=1e6)
        .has_rois("ground_truth")
        .lacks_rois("ground_truth", "truck")
        .match_tags("review", "bad", all=False)
        .exclude_tags("nope")
        .select(["f0", "f1", "f2", "f3", "f4"])
        .exclude(["f3"])
        .select_contexts(["ctx-a"])
        .sort_by("metadata.speed", reverse=True)
        .skip(0)
        .limit(10)
    )


def test_spec_round_trips_through_json(catalog):
    view = every_stage(catalog)
    spec = json.loads(json.dumps(view.to_dict()))
    assert spec["version"] == 1
    assert [s["stage"] for s in spec["stages"]][:3] == ["where", "match", "filter_rois"]
    again = View.from_dict(catalog, spec)
    assert again == view
    assert again.frame_ids() == view.frame_ids() == ["f1", "f0"]
    assert again.compile() == view.compile()


@pytest.mark.parametrize(
    "spec",
    [
        {"stages": [{"stage": "__class__"}]},
        {"stages": [{"stage": "limit", "count": 3}]},
        {"stages": [{"no": "stage"}]},
        {"stages": [{"stage": "sort_by", "column": "bogus"}]},
        {"stages": "match"},
        {"version": 99, "stages": []},
    ],
)
def test_bad_specs_are_refused(catalog, spec):
    with pytest.raises(QueryError):
        View.from_dict(catalog, spec)


def test_save_load_list_delete(catalog):
    rainy = catalog.view().match(weather="rain").sort_by("timestamp")
    save_view(catalog, "rainy", rainy)
    save_view(catalog, "all", catalog.view())
    assert [(v.name, v.stages) for v in list_views(catalog)] == [("all", 0), ("rainy", 2)]
    assert load_view(catalog, "rainy").frame_ids() == ["f9", "f2", "f0", "f4", "f6"]
    save_view(catalog, "rainy", rainy.limit(1))  # replaces
    assert load_view(catalog, "rainy").frame_ids() == ["f9"]
    assert delete_view(catalog, "rainy") is True
    assert delete_view(catalog, "rainy") is False
    with pytest.raises(QueryError, match="all"):
        load_view(catalog, "rainy")
