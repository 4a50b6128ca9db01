"""OKS evaluation of keypoints ROIs equals pycocotools' COCOeval(iouType="keypoints") on the
same COCO files: mAP, per-label AP and the summary figures, within 1e-9."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from workbench.analysis.evaluation import load_results
from workbench.errors import EvaluationError
from workbench.ingest import coco
from workbench.jobs import run_evaluation
from workbench.ui.evaluation_panel import class_table

from .eval_data import PREFIX, assert_outcomes_equal
from .kp_data import HAND_SIGMAS, SIGMAS, cocoeval_keypoints, make_keypoint_dataset

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _catalog(tmp_path: Path, seed: int) -> tuple[workbench.Catalog, object]:
    data = make_keypoint_dataset(tmp_path / "data", seed=seed)
    catalog = workbench.open(tmp_path / "c.duckdb")
    report = coco.import_files(catalog, [data.gt_path], progress=False)
    assert report.ok, str(report)
    report = coco.import_files(catalog, [data.dt_path], id_prefix=PREFIX, progress=False)
    assert report.ok, str(report)
    return catalog, data


def _assert_same(results, verdict) -> None:
    expected = verdict.stats()
    for name, value in expected.items():
        assert results.stats[name] == pytest.approx(value, abs=1e-9), name
    assert results.mAP == pytest.approx(expected["AP"], abs=1e-9)
    assert 0.05 < expected["AP"] < 0.95  # a dataset that discriminates
    aps = verdict.class_ap()
    for c in results.classes:
        assert (c.ap is None) == (aps[c.label] is None), c.label
        if c.ap is not None:
            assert c.ap == pytest.approx(aps[c.label], abs=1e-9), c.label


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oks_map_equals_cocoeval_keypoints(tmp_path: Path, seed: int) -> None:
    catalog, data = _catalog(tmp_path, seed)
    with catalog:
        kinds = catalog.sql("SELECT DISTINCT kind FROM rois").fetchall()
        assert kinds == [("keypoints",)]
        # The data has what makes OKS differ from box IoU: missing points, people with none,
        # crowds, and images with more than 20 detections of a label.
        facts = catalog.sql(
            "SELECT count(*) FILTER (WHERE list_contains(visibility, 0)),"
            " count(*) FILTER (WHERE list_max(visibility) = 0),"
            " count(*) FILTER (WHERE attributes->>'$.iscrowd' = '1')"
            " FROM rois WHERE field = 'ground_truth'"
        ).fetchall()[0]
        assert all(n > 0 for n in facts), facts
        results = catalog.evaluate_detections(
            "predictions", use_keypoints=True, keypoint_sigmas={"hand": HAND_SIGMAS}
        )
        _assert_same(results, cocoeval_keypoints(data))
        # Stored like any other run, with its settings.
        stored = load_results(catalog, "eval")
        assert stored.config.use_keypoints
        assert dict(stored.config.keypoint_sigmas) == {"hand": tuple(HAND_SIGMAS)}
        assert stored.mAP == pytest.approx(results.mAP, abs=1e-12)
        assert "at OKS 0.5" in stored.report()
        assert "at OKS 0.5" in str(class_table(stored))  # the app's summary
        outcomes = dict(
            catalog.sql(
                "SELECT outcome, count(*) FROM eval_rois e JOIN evaluations v USING (run_id)"
                " WHERE v.eval_key = 'eval' GROUP BY 1"
            ).fetchall()
        )
        assert outcomes["tp"] > 0 and outcomes["fp"] > 0 and outcomes["ignored"] > 0


def test_uniform_sigma_and_box_iou_differ(tmp_path: Path) -> None:
    """A uniform sigma for every label without a list; the same data by box IoU gives another
    figure (OKS is really used)."""
    catalog, data = _catalog(tmp_path, 3)
    with catalog:
        results = catalog.evaluate_detections(
            "predictions", eval_key="uniform", use_keypoints=True, keypoint_sigmas=0.08
        )
        sigmas = {**SIGMAS, 3: [0.08] * 5, 4: [0.08] * 3}
        _assert_same(results, cocoeval_keypoints(data, sigmas))
        boxes = catalog.evaluate_detections("predictions", eval_key="boxes")
        assert boxes.mAP != pytest.approx(results.mAP, abs=1e-3)


def test_bad_keypoint_options_are_refused(tmp_path: Path) -> None:
    catalog, _ = _catalog(tmp_path, 4)
    with catalog:
        with pytest.raises(EvaluationError, match="has 2 sigmas"):
            catalog.evaluate_detections(
                "predictions", use_keypoints=True, keypoint_sigmas={"hand": [0.1, 0.2]}
            )
        for options in (
            {"use_masks": True},
            {"classwise": False},
            {"method": "open-images"},
        ):
            with pytest.raises(EvaluationError, match="use_keypoints"):
                catalog.evaluate_detections("predictions", use_keypoints=True, **options)
        with pytest.raises(EvaluationError, match="needs use_keypoints"):
            catalog.evaluate_detections("predictions", keypoint_sigmas=0.1)
        with pytest.raises(EvaluationError, match="positive number"):
            catalog.evaluate_detections("predictions", use_keypoints=True, keypoint_sigmas=-1)
        # Distributed runs do not score OKS: refused rather than scored by box IoU.
        with pytest.raises(EvaluationError, match="do not compare keypoints"):
            run_evaluation(catalog, "predictions", use_keypoints=True)


def test_per_roi_outcomes_equal_eval_imgs(tmp_path: Path) -> None:
    """Each prediction's and ground truth's outcome and partner at OKS 0.5 are COCOeval's
    (evalImgs, area range "all")."""
    catalog, data = _catalog(tmp_path, 5)
    with catalog:
        catalog.evaluate_detections(
            "predictions", use_keypoints=True, keypoint_sigmas={"hand": HAND_SIGMAS}
        )
        rows = catalog.sql(
            "SELECT e.frame_id, e.field, e.roi_id, e.outcome, e.match_id FROM eval_rois e"
            " JOIN evaluations v USING (run_id) WHERE v.eval_key = 'eval'"
        ).fetchall()
    found = {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}
    checked, seen = assert_outcomes_equal(found, cocoeval_keypoints(data).images)
    assert checked > 200
    # Predictions beyond COCOeval's cap of 20 per image and label are ignored.
    beyond = [v for k, v in found.items() if k[1] == "predictions" and k not in seen]
    assert beyond and all(v == ("ignored", None) for v in beyond)
