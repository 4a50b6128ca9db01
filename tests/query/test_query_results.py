"""What a view returns: counts, frames, pages with nested sources and ROIs, contexts."""

import pyarrow as pa
import pytest

from workbench.errors import QueryError
from workbench.store import layout

from .query_catalog import ALL, F9_CONTEXT, rows


def test_counts(catalog):
    view = catalog.view()
    assert view.count() == 10
    assert view.count_contexts() == 4
    assert view.match(weather="rain").count_contexts() == 3
    assert view.skip(2).limit(3).count_contexts() == 2  # f2, f3 in ctx-a; f4 in ctx-b


def test_compile_is_one_runnable_select_of_ids_in_order(catalog):
    view = catalog.view().match(weather="rain").sort_by("timestamp", reverse=True).limit(3)
    compiled = view.compile()
    assert "rain" not in compiled.sql  # values travel as parameters
    assert "rain" in compiled.params
    got = [r[0] for r in rows(catalog, compiled.sql, list(compiled.params))]
    assert got == ["f6", "f4", "f0"] == view.frame_ids()


def test_frames_columns_and_paging_inside_the_view(catalog):
    view = catalog.view().skip(2).limit(3)
    table = view.frames(offset=1, limit=5, columns=["id", "weather"])
    assert table.column_names == ["id", "weather"]
    assert table.to_pylist() == [{"id": "f3", "weather": "fog"}, {"id": "f4", "weather": "rain"}]
    everything = catalog.view().frames()
    assert everything.column("id").to_pylist() == ALL
    # Every column but those the store derives (frame keys, promoted metadata copies).
    derived = layout.derived_columns(catalog.cursor(), "frames")
    assert "frame_key" in derived
    described = [r[0] for r in rows(catalog, "DESCRIBE frames")]
    assert everything.column_names == [c for c in described if c not in derived]
    with pytest.raises(QueryError, match="bogus"):
        view.frames(columns=["id", "bogus"])
    with pytest.raises(QueryError, match="-1"):
        view.frames(limit=-1)


def test_page_nests_sources_and_rois(catalog):
    page = catalog.view().sort_by("timestamp").page(1, 3)
    assert page.column("id").to_pylist() == ["f3", "f2", "f1"]
    f1 = page.to_pylist()[2]
    assert [s["uri"] for s in f1["sources"]] == ["/data/f1.jpg"]
    assert f1["sources"][0]["width"] == 640
    assert [r["id"] for r in f1["rois"]] == ["f1-g1", "f1-g2", "f1-p1", "f1-p2"]
    assert f1["rois"][2]["confidence"] == pytest.approx(0.3)
    assert f1["rois"][0]["geometry"] == [[0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0]]
    assert f1["metadata"] is not None and '"speed":10' in f1["metadata"]
    assert pa.types.is_list(page.schema.field("rois").type)


def test_page_rois_honour_filter_and_empty_lists(catalog):
    view = catalog.view().filter_rois("predictions", labels="car", only_matches=False)
    page = {row["id"]: row for row in view.page(0, 50).to_pylist()}
    assert len(page) == 10
    assert [r["id"] for r in page["f1"]["rois"]] == ["f1-g1", "f1-g2", "f1-p2"]
    assert page["f5"]["rois"] == []
    assert page["f8"]["rois"] == []
    assert len(page["f5"]["sources"]) == 1


def test_page_past_the_end_is_empty_with_the_same_columns(catalog):
    full = catalog.view().page(0, 2)
    empty = catalog.view().limit(4).page(4, 10)
    assert empty.num_rows == 0
    assert empty.column_names == full.column_names


def test_page_within_a_windowed_view(catalog):
    view = catalog.view().skip(3).limit(4)  # f3..f6
    assert view.page(2, 10).column("id").to_pylist() == ["f5", "f6"]


def test_rois_in_view_order_and_for_given_frames(catalog):
    view = catalog.view().sort_by("timestamp", reverse=True).select(["f7", "f1"])
    table = view.rois()
    assert table.column("id").to_pylist() == ["f7-g1", "f7-p1", "f1-g1", "f1-g2", "f1-p1", "f1-p2"]
    derived = layout.derived_columns(catalog.cursor(), "rois")
    assert table.column_names == [
        r[0] for r in rows(catalog, "DESCRIBE rois") if r[0] not in derived
    ]
    assert catalog.view().rois().num_rows == rows(catalog, "SELECT count(*) FROM rois")[0][0]
    assert view.rois(["f1", "f0"]).column("id").to_pylist() == ["f1-g1", "f1-g2", "f1-p1", "f1-p2"]


def test_contexts_of_the_whole_catalog(catalog):
    got = catalog.view().contexts().to_pylist()
    assert [c["context_id"] for c in got] == [F9_CONTEXT, "ctx-a", "ctx-b", "ctx-c"]
    assert got[1] == {
        "context_id": "ctx-a",
        "frames": 4,
        "total_frames": 4,
        "first_timestamp": 100,
        "last_timestamp": 103,
        "first_frame_id": "f3",
    }
    # f5 has no timestamp: the first frame is the earliest one that has one.
    assert got[2]["first_frame_id"] == "f4"


def test_contexts_of_a_filtered_view_match_hand_written_sql(catalog):
    got = catalog.view().match(weather="rain").contexts()
    expected = rows(
        catalog,
        """
        SELECT m.context_id, m.n, (SELECT count(*) FROM frames a WHERE a.context_id = m.context_id),
               m.lo, m.hi, m.first
        FROM (SELECT context_id, count(*) AS n, min(timestamp) AS lo, max(timestamp) AS hi,
                     arg_min(id, timestamp) AS first
              FROM frames WHERE weather = 'rain' GROUP BY context_id) m
        ORDER BY m.context_id
        """,
    )
    assert [tuple(r.values()) for r in got.to_pylist()] == expected
    assert got.to_pylist()[1]["frames"] == 2 and got.to_pylist()[1]["total_frames"] == 4


def test_contexts_paging_and_sorted_order(catalog):
    view = catalog.view()
    assert view.contexts(1, 2).column("context_id").to_pylist() == ["ctx-a", "ctx-b"]
    assert view.contexts(4, 2).num_rows == 0
    latest_first = view.sort_by("timestamp", reverse=True).contexts()
    assert latest_first.column("context_id").to_pylist() == ["ctx-c", "ctx-b", "ctx-a", F9_CONTEXT]


def test_context_frames_in_timestamp_order(catalog):
    view = catalog.view()
    assert view.context_frames("ctx-a").column("id").to_pylist() == ["f3", "f2", "f1", "f0"]
    ctx_b = view.context_frames("ctx-b")
    assert ctx_b.column("id").to_pylist() == ["f4", "f6", "f5"]
    assert [r["id"] for r in ctx_b.to_pylist()[0]["rois"]] == ["f4-g1", "f4-p1"]
    assert view.match(weather="rain").context_frames("ctx-a").column("id").to_pylist() == [
        "f2",
        "f0",
    ]
    assert view.limit(2).context_frames("ctx-a").column("id").to_pylist() == ["f1", "f0"]
    assert view.context_frames("no such context").num_rows == 0


def test_context_frames_rois_honour_filter(catalog):
    view = catalog.view().filter_rois("ground_truth", labels="car", only_matches=False)
    frames = view.context_frames("ctx-a").to_pylist()
    assert [[r["id"] for r in f["rois"]] for f in frames] == [
        [],
        ["f2-p1"],
        ["f1-g1", "f1-p1", "f1-p2"],
        ["f0-g1", "f0-p1"],
    ]


def test_fields(catalog):
    assert catalog.view().fields() == ["ground_truth", "predictions"]
    assert catalog.view().select(["f3", "f9"]).fields() == ["ground_truth"]
    assert catalog.view().filter_rois("predictions", labels="day").fields() == ["predictions"]
