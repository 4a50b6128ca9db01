"""Facets checked against hand-written SQL over the same catalog."""

import pytest

from workbench.errors import QueryError
from workbench.query import facets

from .query_catalog import rows


def as_tuples(table) -> list[tuple]:
    return [tuple(r.values()) for r in table.to_pylist()]


@pytest.fixture(autouse=True, params=["keys", "bitmap"])
def frame_sets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every facet test twice: a filtered view's frames joined as keys, and as a bitmap (the
    form large sets take)."""
    if request.param == "bitmap":
        monkeypatch.setattr(facets, "BITMAP_FROM", 0)
    return str(request.param)


def test_label_counts_of_the_whole_catalog(catalog):
    expected = rows(
        catalog,
        "SELECT field, label, count(*) FROM rois GROUP BY ALL ORDER BY 3 DESC, 1, 2",
    )
    assert as_tuples(catalog.view().label_counts()) == expected
    assert expected[0] == ("predictions", "car", 6)


def test_label_counts_of_a_field_in_a_filtered_view(catalog):
    view = catalog.view().match(weather="rain")
    expected = rows(
        catalog,
        """SELECT field, label, count(*) FROM rois
           WHERE field = 'predictions' AND frame_id IN (SELECT id FROM frames WHERE weather = 'rain')
           GROUP BY ALL ORDER BY 3 DESC, 1, 2""",
    )
    assert (
        as_tuples(view.label_counts("predictions"))
        == expected
        == [
            ("predictions", "car", 4),
            ("predictions", "person", 1),
        ]
    )


def test_label_counts_honour_filter_rois(catalog):
    view = catalog.view().filter_rois("predictions", max_confidence=0.5)
    expected = rows(
        catalog,
        """SELECT field, label, count(*) FROM rois r
           WHERE (field <> 'predictions' OR confidence <= 0.5)
             AND frame_id IN (SELECT frame_id FROM rois
                              WHERE field = 'predictions' AND confidence <= 0.5)
           GROUP BY ALL ORDER BY 3 DESC, 1, 2""",
    )
    assert as_tuples(view.label_counts()) == expected


def test_label_counts_of_a_window(catalog):
    got = as_tuples(catalog.view().sort_by("timestamp").limit(2).label_counts())  # f9, f3
    assert got == [("ground_truth", "bus", 1), ("ground_truth", "truck", 1)]


def test_metadata_values(catalog):
    expected = rows(
        catalog,
        "SELECT weather, count(*) FROM frames GROUP BY 1 ORDER BY 2 DESC, 1 NULLS LAST",
    )
    got = as_tuples(catalog.view().metadata_values("weather"))
    assert got == expected == [("rain", 5), ("sun", 3), ("fog", 1), (None, 1)]
    assert as_tuples(catalog.view().metadata_values("speed", limit=2)) == [("3", 2), ("1", 1)]
    ctx_b = catalog.view().match(context_id="ctx-b").metadata_values("speed")
    assert as_tuples(ctx_b) == [("1", 1), ("7.5", 1), ("fast", 1)]
    assert as_tuples(catalog.view().metadata_values("context_id", limit=1)) == [("ctx-a", 4)]


def test_confidence_histogram(catalog):
    got = as_tuples(catalog.view().confidence_histogram("predictions", bins=4))
    counted = dict(
        rows(
            catalog,
            """SELECT least(floor(confidence * 4), 3)::INTEGER, count(*) FROM rois
               WHERE field = 'predictions' GROUP BY 1""",
        )
    )
    assert got == [
        (0.0, 0.25, counted[0]),
        (0.25, 0.5, counted[1]),
        (0.5, 0.75, counted[2]),
        (0.75, 1.0, counted[3]),
    ]
    assert [c for _, _, c in got] == [2, 2, 2, 3]  # 1.0 falls in the last bin


def test_confidence_histogram_keeps_empty_bins_and_checks_bins(catalog):
    got = catalog.view().select(["f2"]).confidence_histogram(bins=10)
    assert got.column("count").to_pylist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    with pytest.raises(QueryError):
        catalog.view().confidence_histogram(bins=0)


def test_tag_counts(catalog):
    assert as_tuples(catalog.view().tag_counts()) == [("bad", 2), ("review", 2)]
    assert as_tuples(catalog.view().match(weather="rain").tag_counts()) == [
        ("bad", 1),
        ("review", 1),
    ]
    assert catalog.view().select(["f2"]).tag_counts().num_rows == 0  # "check" tags a ROI
