"""evaluate_detections: load, match, accumulate, store; every step over whole arrays."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from workbench.analysis.evaluation import open_images, storage
from workbench.analysis.evaluation.config import EvaluationConfig
from workbench.analysis.evaluation.loading import Rois, load_rois
from workbench.analysis.evaluation.matching import match_range, prepare
from workbench.analysis.evaluation.metrics import Accumulator, class_ap, curves, summarize
from workbench.analysis.evaluation.outcomes import (
    Outcomes,
    class_counts,
    confusion,
    frame_table,
    outcomes,
    roi_table,
)
from workbench.analysis.evaluation.results import ClassResult, DetectionResults, PRCurve
from workbench.errors import EvaluationError
from workbench.store.keypoints import keypoint_labels

if TYPE_CHECKING:
    from workbench.model.regions import Regions
    from workbench.query.view import View


def evaluate_detections(
    view: View,
    pred_field: str,
    gt_field: str = "ground_truth",
    eval_key: str = "eval",
    *,
    iou: float = 0.5,
    classwise: bool = True,
    method: str = "coco",
    iou_threshs: Sequence[float] | None = None,
    use_masks: bool = False,
    compute_mAP: bool = True,
    area_ranges: Mapping[str, tuple[float, float]] | None = None,
    max_dets: Sequence[int] | None = None,
    use_keypoints: bool = False,
    keypoint_sigmas: Mapping[str, Sequence[float]] | float | None = None,
    overwrite: bool = False,
) -> DetectionResults:
    """Match the view's `pred_field` ROIs to its `gt_field` ROIs, store the run as `eval_key`
    and return its results. `use_keypoints` compares keypoints ROIs by OKS (COCO's
    iouType="keypoints"). See docs/evaluation.md."""
    started = time.perf_counter()
    config = EvaluationConfig.build(
        method=method,
        iou=iou,
        iou_threshs=iou_threshs,
        classwise=classwise,
        use_masks=use_masks,
        compute_mAP=compute_mAP,
        area_ranges=area_ranges,
        max_dets=max_dets,
        use_keypoints=use_keypoints,
        keypoint_sigmas=keypoint_sigmas,
    )
    storage.check_writable(view.catalog)
    storage.check_key(eval_key)
    if not isinstance(overwrite, bool):
        raise EvaluationError(f"overwrite must be True or False, got {overwrite!r}")
    check_fields(view, pred_field, gt_field)
    storage.check_free(view.catalog, eval_key, overwrite)
    rois, regions = load_rois(view, pred_field, gt_field, config.use_masks, config.use_keypoints)
    if rois.keypoints is not None:
        labels = keypoint_labels(view.catalog.cursor(), rois.classes)
        rois = replace(rois, keypoints=rois.keypoints.with_sigmas(rois.classes, labels, config))
    scored = (
        _open_images(rois, config)
        if config.method == "open-images"
        else _coco(rois, regions, config)
    )
    results = detection_results(rois, scored, config, eval_key, pred_field, gt_field)
    return storage.save(
        view.catalog,
        view,
        results,
        roi_table(rois, scored.found),
        frame_table(rois, scored.found),
        overwrite=overwrite,
        seconds=time.perf_counter() - started,
    )


def detection_results(
    rois: Rois,
    scored: Scored,
    config: EvaluationConfig,
    eval_key: str,
    pred_field: str,
    gt_field: str,
) -> DetectionResults:
    """What a method found, as the results a run stores (frames counted when stored)."""
    counts = class_counts(rois, scored.found)
    return DetectionResults(
        eval_key=eval_key,
        pred_field=pred_field,
        gt_field=gt_field,
        config=config,
        mAP=scored.stats.get("AP") if scored.stats.get("AP", -1) != -1 else None,
        stats=scored.stats,
        classes=tuple(
            ClassResult(
                label,
                scored.aps[k],
                int(counts["tp"][k]),
                int(counts["fp"][k]),
                int(counts["fn"][k]),
                int(counts["support"][k]),
            )
            for k, label in enumerate(rois.classes)
        ),
        curves=scored.curves,
        confusion=confusion(rois, scored.found),
        frames=0,
        warnings=rois.warnings,
    )


class Scored(NamedTuple):
    """What a method finds: per-ROI outcomes, per-class AP (None where not computed), the
    summary stats ({} without mAP) and the PR curves."""

    found: Outcomes
    aps: list[float | None]
    stats: dict[str, float]
    curves: tuple[PRCurve, ...]


def area_ranges(config: EvaluationConfig) -> tuple[tuple[str, float, float], ...]:
    """The area ranges matching runs over: all of them for mAP, else the first."""
    return config.area_ranges if config.compute_mAP else config.area_ranges[:1]


def _coco(rois: Rois, regions: Regions | None, config: EvaluationConfig) -> Scored:
    """COCOeval's rules: every area range and threshold at once (matching.py, metrics.py)."""
    prepared = prepare(rois, regions, config)
    ranges = area_ranges(config)
    accumulator = Accumulator(rois, prepared, config, len(ranges))
    for index, (_, low, high) in enumerate(ranges):
        match = match_range(prepared, low, high, config.thresholds, config.primary)
        if config.compute_mAP:
            accumulator.add(index, match)
        if index == 0:
            found = outcomes(rois, prepared, match, config.primary)
        del match
    return coco_scored(rois, found, accumulator, config)


def coco_scored(
    rois: Rois, found: Outcomes, accumulator: Accumulator, config: EvaluationConfig
) -> Scored:
    """The per-ROI outcomes with AP, COCO's summary and the curves from the accumulator."""
    if not config.compute_mAP:
        return Scored(found, [None] * len(rois.classes), {}, ())
    acc = accumulator.result()
    aps: list[float | None] = [None] * len(rois.classes)
    if config.classwise:
        aps = class_ap(acc, config)
    return Scored(found, aps, summarize(acc, config), tuple(curves(acc, config, rois.classes)))


def _open_images(rois: Rois, config: EvaluationConfig) -> Scored:
    """Open Images' rules (open_images.py)."""
    found, entries, entry_classes = open_images.match(rois, config)
    if not config.compute_mAP:
        return Scored(found, [None] * len(rois.classes), {}, ())
    aps, mAP, pr = open_images.results(rois, found, entries, entry_classes, config)
    return Scored(found, aps, {"AP": mAP if mAP is not None else -1.0}, tuple(pr))


def check_fields(view: View, pred_field: str, gt_field: str) -> None:
    for name, value in (("pred_field", pred_field), ("gt_field", gt_field)):
        if not isinstance(value, str) or not value:
            raise EvaluationError(f"{name} must be a label field name, got {value!r}")
    if pred_field == gt_field:
        raise EvaluationError(f"pred_field and gt_field are both {pred_field!r}")
    found = {
        r[0]
        for r in view.catalog.cursor()
        .execute("SELECT DISTINCT field FROM rois WHERE field IN (?, ?)", [pred_field, gt_field])
        .fetchall()
    }
    missing = [f for f in (pred_field, gt_field) if f not in found]
    if missing:
        known = [
            r[0]
            for r in view.catalog.cursor()
            .execute("SELECT DISTINCT field FROM rois ORDER BY 1")
            .fetchall()
        ]
        raise EvaluationError(
            f"no ROIs of field {', '.join(repr(m) for m in missing)} in the catalog "
            f"(fields: {', '.join(known) or 'none'})"
        )
