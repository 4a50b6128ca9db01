"""The demo's planted labelling mistakes are what evaluating its predictions points at: the
most confident false positives are the objects drawn without ground truth (and the truck
labelled car), and the missed ground truth of the confusion matrix holds the mislabelled
truck. (Its duplicate sequence and sequence defects: tests/analysis/test_sequence_qa.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import workbench
from workbench.demo import DemoSummary, build_demo
from workbench.store.catalog import Catalog

pytestmark = pytest.mark.slow

CONTEXTS = ("berlin-0001", "hamburg-0002", "munich-0003")  # the three with planted labels
# What a person would look at first: the most confident false positives.
TOP = 40


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalog, DemoSummary]]:
    folder = tmp_path_factory.mktemp("demo-defects")
    catalog = workbench.open(folder / "demo.duckdb")
    summary = build_demo(catalog, folder / "media", progress=False, contexts=CONTEXTS)
    catalog.evaluate_detections("predictions", eval_key="eval")
    yield catalog, summary
    catalog.close()


def _planted(summary: DemoSummary, kind: str) -> list:
    found = [d for d in summary.defects if d.kind == kind]
    assert found, f"the demo planted no {kind}"
    return found


def test_the_most_confident_false_positives_are_the_planted_mistakes(
    demo: tuple[Catalog, DemoSummary],
):
    catalog, summary = demo
    # label each planted frame with what a prediction there should wrongly "find"
    expected: dict[str, str] = {}
    for defect in _planted(summary, "missing_labels"):
        label = "pedestrian" if "pedestrian" in defect.description else "car"
        expected.update(dict.fromkeys(defect.frame_ids, label))
    for defect in _planted(summary, "wrong_label"):
        expected.update(dict.fromkeys(defect.frame_ids, "truck"))
    view = catalog.view().match_eval("eval", "fp", min_confidence=0.5)
    fps = [r for r in view.rois().to_pylist() if r["field"] == "predictions"]
    fps.sort(key=lambda r: -r["confidence"])
    top = fps[:TOP]
    assert len(top) == TOP
    stray = [(r["frame_id"], r["label"], r["confidence"]) for r in top
             if expected.get(r["frame_id"]) != r["label"]]  # fmt: skip
    assert stray == []
    # every planted sequence is represented among them
    contexts = {r["frame_id"].split("/")[0] for r in top}
    assert contexts == set(CONTEXTS)


def test_frames_sorted_by_confident_false_positives_hold_every_missing_object(
    demo: tuple[Catalog, DemoSummary],
):
    catalog, summary = demo
    ranked = (
        catalog.view()
        .match_eval("eval", "fp", min_confidence=0.6)
        .sort_by_eval_count("eval", "fp", reverse=True)
        .frame_ids()
    )
    for defect in _planted(summary, "missing_labels"):
        missing = [f for f in defect.frame_ids if f not in ranked]
        assert missing == [], defect.description


def test_the_mislabelled_truck_is_missed_ground_truth(demo: tuple[Catalog, DemoSummary]):
    catalog, summary = demo
    (defect,) = _planted(summary, "wrong_label")
    track = int(defect.description.split("(track ")[1].split(")")[0])
    cell = catalog.view().match_confusion("eval", "car", "(none)")
    missed = {
        r["frame_id"]
        for r in cell.rois(defect.frame_ids).to_pylist()
        if r["field"] == "ground_truth" and r["track_index"] == track and r["label"] == "car"
    }
    share = len(missed) / len(defect.frame_ids)
    assert share >= 0.9, (sorted(set(defect.frame_ids) - missed), share)
    # and the truck the model saw there is a false positive of the background row
    trucks = catalog.view().match_confusion("eval", "(none)", "truck").frame_ids()
    assert len(set(defect.frame_ids) & set(trucks)) >= 0.9 * len(defect.frame_ids)
