"""Each stage of a view against the catalog described in query_catalog.py."""

import dataclasses

import pytest

from workbench.errors import QueryError
from workbench.query import View

from .query_catalog import ALL, F9_CONTEXT


def listed(ids: str) -> list[str]:
    return ids.split(" ")


def ids(view: View) -> list[str]:
    return view.frame_ids()


def test_whole_catalog_in_insertion_order(catalog):
    assert ids(catalog.view()) == ALL


def test_views_are_immutable(catalog):
    view = catalog.view()
    rainy = view.match(weather="rain")
    assert view.count() == 10
    assert rainy.count() == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.stages = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"weather": "rain"}, ["f0", "f2", "f4", "f6", "f9"]),
        ({"weather": ["sun", "fog"]}, ["f1", "f3", "f5", "f7"]),
        ({"weather": None}, ["f8"]),
        ({"weather": ("fog", None)}, ["f3", "f8"]),
        ({"speed": 3}, ["f7", "f8"]),
        ({"speed": 7.5}, ["f4"]),
        ({"speed": "fast"}, ["f5"]),
        ({"speed": True}, ["f9"]),
        ({"speed": [2, 10]}, ["f1", "f2"]),
        ({"context_id": "ctx-b"}, ["f4", "f5", "f6"]),
        ({"dataset": "ds2"}, ["f9"]),
        ({"timestamp": [100, 50]}, ["f3", "f9"]),
        ({"weather": "rain", "context_id": "ctx-a"}, ["f0", "f2"]),
        ({"odd key'\"/~": "q"}, ["f0"]),
        ({"metadata.weather": "fog"}, ["f3"]),
        ({"no_such_key": "x"}, []),
        ({"weather": []}, []),
    ],
)
def test_match(catalog, criteria, expected):
    assert ids(catalog.view().match(**criteria)) == expected


def test_metadata_prefix_reads_json_even_when_a_column_has_the_name(catalog):
    # No frame has a "dataset" key in its metadata, although every frame has the column.
    assert ids(catalog.view().match(**{"metadata.dataset": "ds1"})) == []
    assert len(ids(catalog.view().match(dataset="ds1"))) == 9


def test_where_with_parameters(catalog):
    view = catalog.view().where("f.timestamp > ? AND f.timestamp < ?", 100, 201)
    assert ids(view) == ["f0", "f1", "f2", "f4"]
    assert ids(catalog.view().where("f.timestamp IS NULL")) == ["f5"]


def test_where_trailing_comment_does_not_swallow_the_rest(catalog):
    assert ids(catalog.view().where("f.weather = 'fog' -- only fog").limit(5)) == ["f3"]


def test_select_exclude_and_contexts(catalog):
    view = catalog.view()
    assert ids(view.select(["f3", "f1", "missing"])) == ["f1", "f3"]
    assert ids(view.select([])) == []
    assert ids(view.exclude(["f0", "f9"])) == ALL[1:9]
    assert ids(view.select_contexts(["ctx-c", F9_CONTEXT])) == ["f7", "f8", "f9"]


def test_select_long_id_lists(catalog):
    wanted = [f"nope{i}" for i in range(500)] + ["f4", "f2"]
    assert ids(catalog.view().select(wanted)) == ["f2", "f4"]
    assert ids(catalog.view().exclude(wanted)) == [i for i in ALL if i not in ("f2", "f4")]


def test_tags(catalog):
    view = catalog.view()
    assert ids(view.match_tags("review")) == ["f0", "f1"]
    assert ids(view.match_tags("review", "bad")) == ["f0", "f1", "f4"]
    assert ids(view.match_tags("review", "bad", all=True)) == ["f1"]
    assert ids(view.match_tags("check")) == []  # a ROI tag, not a frame tag
    assert ids(view.exclude_tags("bad")) == ["f0", "f2", "f3", "f5", "f6", "f7", "f8", "f9"]
    assert ids(view.exclude_tags("bad", "review")) == ["f2", "f3", "f5", "f6", "f7", "f8", "f9"]


def test_has_and_lacks_rois(catalog):
    view = catalog.view()
    assert ids(view.has_rois()) == [i for i in ALL if i != "f5"]
    assert view.has_rois().count() == 9
    assert view.has_rois("ground_truth").has_rois("predictions").count() == 4  # f0 f1 f4 f7
    assert ids(view.has_rois("predictions")) == ["f0", "f1", "f2", "f4", "f6", "f7", "f8"]
    assert ids(view.has_rois("ground_truth", "car")) == ["f0", "f1", "f7"]
    assert ids(view.lacks_rois("ground_truth")) == ["f2", "f5", "f6", "f8"]
    assert ids(view.lacks_rois(label="car")) == ["f3", "f4", "f5", "f8", "f9"]
    assert ids(view.lacks_rois()) == ["f5"]


def roi_ids(view: View) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in view.rois().to_pylist():
        out.setdefault(row["frame_id"], []).append(row["id"])
    return out


def test_filter_rois_of_one_field_leaves_other_fields_alone(catalog):
    view = catalog.view().filter_rois("predictions", labels=["car"], max_confidence=0.5)
    assert ids(view) == ["f1", "f2", "f6", "f7"]
    assert view.count() == 4  # counted from rois alone: the view's only condition
    assert view.count_contexts() == 3
    assert roi_ids(view) == {
        "f1": ["f1-g1", "f1-g2", "f1-p2"],
        "f2": ["f2-p1"],
        "f6": ["f6-p2"],
        "f7": ["f7-g1", "f7-p1"],
    }


def test_filter_rois_keeping_frames_without_matches(catalog):
    view = catalog.view().filter_rois(
        "predictions", labels="car", max_confidence=0.5, only_matches=False
    )
    assert ids(view) == ALL
    found = roi_ids(view)
    assert found["f0"] == ["f0-g1"]
    assert "f8" not in found  # its only ROI is a prediction that does not match
    assert found["f9"] == ["f9-g1"]


def test_filter_rois_of_every_field(catalog):
    view = catalog.view()
    assert ids(view.filter_rois(labels="car")) == ["f0", "f1", "f2", "f6", "f7"]
    # ROIs without a confidence fail a confidence bound.
    high = view.filter_rois(min_confidence=0.9)
    assert roi_ids(high) == {"f0": ["f0-p1"], "f4": ["f4-p1"], "f6": ["f6-p1"]}
    assert ids(view.filter_rois(kinds=["point", "polygon"])) == ["f3", "f4"]
    assert ids(view.filter_rois(min_area=60)) == ["f0", "f1", "f3", "f7", "f9"]
    assert roi_ids(view.filter_rois(max_area=0)) == {"f4": ["f4-g1"]}


def test_confidence_bounds_are_inclusive(catalog):
    view = catalog.view().filter_rois("predictions", min_confidence=0.5, max_confidence=0.5)
    assert roi_ids(view) == {"f2": ["f2-p1"]}


def test_roi_stages_see_only_the_filtered_rois(catalog):
    cars = catalog.view().filter_rois("predictions", labels="car", only_matches=False)
    assert ids(cars.has_rois("predictions")) == ["f0", "f1", "f2", "f6", "f7"]
    assert ids(cars.lacks_rois("predictions")) == ["f3", "f4", "f5", "f8", "f9"]
    confident = cars.filter_rois("predictions", min_confidence=0.4)
    assert roi_ids(confident) == {
        "f0": ["f0-g1", "f0-p1"],
        "f2": ["f2-p1"],
        "f6": ["f6-p1"],
        "f7": ["f7-g1", "f7-p1"],
    }


def test_bad_roi_filters_are_refused(catalog):
    with pytest.raises(QueryError, match="ellipse"):
        catalog.view().filter_rois(kinds=["ellipse"])
    with pytest.raises(QueryError, match="must be numbers"):
        catalog.view().filter_rois(max_confidence="0.5")  # type: ignore[arg-type]


def test_sort_by_column_nulls_last_both_ways(catalog):
    view = catalog.view()
    assert ids(view.sort_by("timestamp")) == listed("f9 f3 f2 f1 f0 f4 f6 f7 f8 f5")
    assert ids(view.sort_by("timestamp", reverse=True)) == listed("f8 f7 f6 f4 f0 f1 f2 f3 f9 f5")


def test_sort_by_metadata_numbers_before_text(catalog):
    by_speed = catalog.view().sort_by("metadata.speed")
    assert ids(by_speed) == listed("f6 f2 f7 f8 f0 f4 f1 f5 f9 f3")


def test_sort_is_stable(catalog):
    view = catalog.view().sort_by("weather").sort_by("context_id")
    assert ids(view) == ["f9", "f3", "f0", "f2", "f1", "f4", "f6", "f5", "f7", "f8"]


def test_sort_by_unknown_column_names_it(catalog):
    with pytest.raises(QueryError, match="'speeed'"):
        catalog.view().sort_by("speeed")
    assert ids(catalog.view().sort_by("metadata.speeed")) == ALL


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda v: v.skip(2).limit(3), ["f2", "f3", "f4"]),
        (lambda v: v.limit(3).skip(2), ["f2"]),
        (lambda v: v.limit(5).limit(2), ["f0", "f1"]),
        (lambda v: v.skip(8).limit(5), ["f8", "f9"]),
        (lambda v: v.skip(1).skip(1).limit(1), ["f2"]),
        (lambda v: v.limit(0), []),
        (lambda v: v.match(weather="rain").limit(4), ["f0", "f2", "f4", "f6"]),
        # A stage after a window acts on the window's frames.
        (lambda v: v.limit(4).match(weather="rain"), ["f0", "f2"]),
        (lambda v: v.sort_by("timestamp").limit(3).sort_by("id", reverse=True), ["f9", "f3", "f2"]),
        (lambda v: v.skip(1).limit(6).match(weather="rain").skip(1).limit(2), ["f4", "f6"]),
        (lambda v: v.sort_by("timestamp").skip(7).has_rois(), ["f7", "f8"]),
    ],
)
def test_skip_and_limit(catalog, make, expected):
    view = make(catalog.view())
    assert ids(view) == expected
    assert view.count() == len(expected)


def test_negative_window_is_refused(catalog):
    with pytest.raises(QueryError):
        catalog.view().skip(-1)
    with pytest.raises(QueryError):
        catalog.view().limit(True)
