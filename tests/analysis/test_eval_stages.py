"""The view stages over evaluation results, checked against hand-written SQL on the tables."""

from __future__ import annotations

import itertools

import pytest

from workbench.errors import QueryError
from workbench.query import View
from workbench.store.catalog import Catalog

_FP_FRAMES = """
    SELECT e.frame_id, count(*) AS n FROM eval_rois e JOIN evaluations v USING (run_id)
    JOIN rois r ON r.frame_id = e.frame_id AND r.id = e.roi_id AND r.field = e.field
    WHERE v.eval_key = 'eval' AND e.outcome = 'fp' AND e.confidence >= ? AND r.label IN ({labels})
    GROUP BY 1
"""


@pytest.fixture
def evaluated(catalog: Catalog) -> Catalog:
    catalog.evaluate_detections("predictions", eval_key="eval")
    return catalog


def _expected(catalog: Catalog, labels: list[str], confidence: float) -> dict[str, int]:
    marks = ", ".join("?" for _ in labels)
    query = _FP_FRAMES.format(labels=marks)
    return dict(catalog.sql(query, [confidence, *labels]).fetchall())


def test_high_confidence_false_positives_most_first(evaluated: Catalog) -> None:
    """The error-mining recipe: high-confidence false positives, frames with most first."""
    view = (
        evaluated.view()
        .filter_rois("predictions", labels=["car", "person"])
        .match_eval("eval", "fp", min_confidence=0.5)
        .sort_by_eval_count("eval", "fp", reverse=True)
    )
    expected = _expected(evaluated, ["car", "person"], 0.5)
    ids = view.frame_ids()
    assert set(ids) == set(expected) and view.count() == len(expected) > 3
    counts = [expected[i] for i in ids]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    # Ties keep stored (insertion) order.
    stored = [r[0] for r in evaluated.sql("SELECT id FROM frames ORDER BY rowid").fetchall()]
    for a, b in itertools.pairwise(ids):
        if expected[a] == expected[b]:
            assert stored.index(a) < stored.index(b)
    page = view.page(0, 50).to_pylist()
    for frame in page:
        predictions = [r for r in frame["rois"] if r["field"] == "predictions"]
        assert len(predictions) == expected[frame["id"]]
        assert all(r["confidence"] >= 0.5 and r["label"] in ("car", "person") for r in predictions)
        truth = [r for r in frame["rois"] if r["field"] == "ground_truth"]
        stored_truth = evaluated.sql(
            "SELECT count(*) FROM rois WHERE frame_id = ? AND field = 'ground_truth'", [frame["id"]]
        ).fetchall()[0][0]
        assert len(truth) == stored_truth  # fp narrows the predictions only
    assert sum(len([r for r in f["rois"] if r["field"] == "predictions"]) for f in page) == sum(
        expected.values()
    )


def test_outcomes_narrow_their_own_fields(evaluated: Catalog) -> None:
    missed = evaluated.view().match_eval("eval", "fn")
    rows = missed.rois()
    fn = evaluated.sql("SELECT count(*) FROM eval_rois WHERE outcome = 'fn'").fetchall()[0][0]
    truth = [f for f in rows["field"].to_pylist() if f == "ground_truth"]
    assert len(truth) == fn
    on_frames = evaluated.sql(
        "SELECT count(*) FROM rois WHERE field = 'predictions' AND frame_id IN"
        " (SELECT frame_id FROM eval_rois WHERE outcome = 'fn')"
    ).fetchall()[0][0]
    assert rows["field"].to_pylist().count("predictions") == on_frames
    found = evaluated.view().match_eval("eval", ["tp"], only_matches=False)
    assert found.count() == evaluated.view().count()
    fields = found.rois()["field"].to_pylist()
    tp = dict(
        evaluated.sql(
            "SELECT field, count(*) FROM eval_rois WHERE outcome = 'tp' GROUP BY 1"
        ).fetchall()
    )
    assert fields.count("predictions") == tp["predictions"] == tp["ground_truth"]
    assert fields.count("ground_truth") == tp["ground_truth"]


def test_stages_serialise_and_follow_renames(evaluated: Catalog) -> None:
    view = (
        evaluated.view()
        .match_eval("eval", "fp", min_confidence=0.3, max_confidence=0.9)
        .sort_by_eval_count("eval", ["fp", "fn"], reverse=True)
        .limit(5)
    )
    spec = view.to_dict()
    assert spec["stages"][0] == {
        "stage": "match_eval",
        "eval_key": "eval",
        "outcomes": ["fp"],
        "min_confidence": 0.3,
        "max_confidence": 0.9,
        "only_matches": True,
    }
    again = View.from_dict(evaluated, spec)
    assert again.frame_ids() == view.frame_ids() and len(view.frame_ids()) == 5
    evaluated.rename_evaluation("eval", "renamed")
    assert View.from_dict(evaluated, spec).frame_ids() == []  # the key names nothing now
    renamed = evaluated.view().match_eval("renamed", "fp", min_confidence=0.3, max_confidence=0.9)
    assert renamed.count() > 0


def test_sort_by_eval_count_without_filters_uses_every_roi(evaluated: Catalog) -> None:
    view = evaluated.view().sort_by_eval_count("eval", "fn", reverse=True)
    ids = view.frame_ids()
    assert len(ids) == evaluated.view().count()
    counts = dict(evaluated.sql("SELECT frame_id, fn FROM eval_frames").fetchall())
    ordered = [counts[i] for i in ids]
    assert ordered == sorted(ordered, reverse=True) and ordered[0] > 0
    ascending = [counts[i] for i in evaluated.view().sort_by_eval_count("eval", "fn").frame_ids()]
    assert ascending == sorted(ascending)


def test_bad_stage_arguments(evaluated: Catalog) -> None:
    with pytest.raises(QueryError, match="outcomes"):
        evaluated.view().match_eval("eval", "wrong")
    with pytest.raises(QueryError, match="outcomes"):
        evaluated.view().sort_by_eval_count("eval", [])
    with pytest.raises(QueryError, match="numbers"):
        evaluated.view().match_eval("eval", "fp", min_confidence="high")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="no evaluation"):
        evaluated.view().sort_by_eval_count("other", "fp")
    with pytest.raises(QueryError, match="match_eval"):
        View.from_dict(
            evaluated, {"stages": [{"stage": "match_eval", "eval_key": "eval", "outcomes": ["x"]}]}
        )


def test_mined_frames_go_to_annotation_and_come_back_as_a_view(evaluated: Catalog) -> None:
    """Evaluate, keep the worst frames, send them to the local platform, find them again."""
    from workbench.services import Workbench

    worst = (
        evaluated.view()
        .match_eval("eval", "fp", min_confidence=0.5)
        .sort_by_eval_count("eval", "fp", reverse=True)
        .limit(4)
    )
    schema = {
        "ground_truth": {"type": "detections", "classes": ["car", "person", "bicycle", "dog"]}
    }
    Workbench(evaluated).annotate(worst, "review", label_schema=schema)
    sent = evaluated.load_annotation_view("review")
    assert set(sent.frame_ids()) == set(worst.frame_ids()) and sent.count() == 4
    assert View.from_dict(evaluated, sent.to_dict()).frame_ids() == sent.frame_ids()
    with pytest.raises(QueryError, match="no annotation run"):
        evaluated.load_annotation_view("other")


def test_the_recipe_without_other_filters_reads_the_run_alone(evaluated: Catalog) -> None:
    """match_eval then sort_by_eval_count of the same run count from eval_rois alone; the
    answer is the one hand-written SQL gives, and the one going through rois gives."""
    view = (
        evaluated.view()
        .match_eval("eval", "fp", min_confidence=0.6)
        .sort_by_eval_count("eval", "fp", reverse=True)
    )
    query = view.compile().sql
    assert "JOIN rois" not in query and "FROM rois" not in query
    expected = dict(
        evaluated.sql(
            "SELECT frame_id, count(*) FROM eval_rois WHERE outcome = 'fp' AND confidence >= 0.6"
            " GROUP BY 1"
        ).fetchall()
    )
    ids = view.frame_ids()
    assert set(ids) == set(expected)
    assert [expected[i] for i in ids] == sorted(expected.values(), reverse=True)
    # A filter of another kind first: the same frames and counts, through rois.
    everything = evaluated.view().filter_rois(None, min_area=0, only_matches=False)
    slow = everything.match_eval("eval", "fp", min_confidence=0.6).sort_by_eval_count(
        "eval", "fp", reverse=True
    )
    assert "FROM rois" in slow.compile().sql
    assert slow.frame_ids() == ids
