"""evaluate_detections: load, match, accumulate, store; every step over whole arrays."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from workbench.analysis.evaluation import open_images, storage
from workbench.analysis.evaluation.config import EvaluationConfig
from workbench.analysis.evaluation.loading import Rois, load_rois
from workbench.analysis.evaluation.matching import match_range, prepare
from workbench.analysis.evaluation.metrics import Accumulator, class_ap, curves, summarize
from workbench.analysis.evaluation.outcomes import (
    class_counts,
    confusion,
    frame_table,
    outcomes,
    roi_table,
)
from workbench.analysis.evaluation.results import ClassResult, DetectionResults
from workbench.errors import EvaluationError

if TYPE_CHECKING:
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
    overwrite: bool = False,
) -> DetectionResults:
    """Match the view's `pred_field` ROIs to its `gt_field` ROIs, store the run as `eval_key`
    and return its results. See docs/evaluation.md."""
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
    )
    storage.check_writable(view.catalog)
    storage.check_key(eval_key)
    if not isinstance(overwrite, bool):
        raise EvaluationError(f"overwrite must be True or False, got {overwrite!r}")
    _check_fields(view, pred_field, gt_field)
    storage.check_free(view.catalog, eval_key, overwrite)
    rois, regions = load_rois(view, pred_field, gt_field, config.use_masks)
    if config.method == "open-images":
        return _open_images(view, rois, config, eval_key, pred_field, gt_field, overwrite, started)
    prepared = prepare(rois, regions, config)
    ranges = config.area_ranges if config.compute_mAP else config.area_ranges[:1]
    accumulator = Accumulator(rois, prepared, config, len(ranges))
    for index, (_, low, high) in enumerate(ranges):
        match = match_range(prepared, low, high, config.thresholds, config.primary)
        if config.compute_mAP:
            accumulator.add(index, match)
        if index == 0:
            found = outcomes(rois, prepared, match, config.primary)
        del match
    counts = class_counts(rois, found)
    acc = accumulator.result()
    aps = (
        class_ap(acc, config)
        if config.compute_mAP and config.classwise
        else [None] * len(rois.classes)
    )
    stats = summarize(acc, config) if config.compute_mAP else {}
    mAP = stats.get("AP") if stats and stats.get("AP", -1) != -1 else None
    results = DetectionResults(
        eval_key=eval_key,
        pred_field=pred_field,
        gt_field=gt_field,
        config=config,
        mAP=mAP,
        stats=stats,
        classes=tuple(
            ClassResult(
                label,
                aps[k],
                int(counts["tp"][k]),
                int(counts["fp"][k]),
                int(counts["fn"][k]),
                int(counts["support"][k]),
            )
            for k, label in enumerate(rois.classes)
        ),
        curves=tuple(curves(acc, config, rois.classes)) if config.compute_mAP else (),
        confusion=confusion(rois, found),
        frames=0,
        warnings=rois.warnings,
    )
    return storage.save(
        view.catalog,
        view,
        results,
        roi_table(rois, found),
        frame_table(rois, found),
        overwrite=overwrite,
        seconds=time.perf_counter() - started,
    )


def _open_images(
    view: View,
    rois: Rois,
    config: EvaluationConfig,
    eval_key: str,
    pred_field: str,
    gt_field: str,
    overwrite: bool,
    started: float,
) -> DetectionResults:
    """The run by Open Images' rules (workbench/analysis/evaluation/open_images.py)."""
    found, entries, entry_classes = open_images.match(rois, config)
    aps, mAP, pr = open_images.results(rois, found, entries, entry_classes, config)
    counts = class_counts(rois, found)
    results = DetectionResults(
        eval_key=eval_key,
        pred_field=pred_field,
        gt_field=gt_field,
        config=config,
        mAP=mAP if config.compute_mAP else None,
        stats={"AP": mAP if mAP is not None else -1.0} if config.compute_mAP else {},
        classes=tuple(
            ClassResult(
                label,
                aps[k] if config.compute_mAP else None,
                int(counts["tp"][k]),
                int(counts["fp"][k]),
                int(counts["fn"][k]),
                int(counts["support"][k]),
            )
            for k, label in enumerate(rois.classes)
        ),
        curves=tuple(pr) if config.compute_mAP else (),
        confusion=confusion(rois, found),
        frames=0,
        warnings=rois.warnings,
    )
    return storage.save(
        view.catalog,
        view,
        results,
        roi_table(rois, found),
        frame_table(rois, found),
        overwrite=overwrite,
        seconds=time.perf_counter() - started,
    )


def _check_fields(view: View, pred_field: str, gt_field: str) -> None:
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
