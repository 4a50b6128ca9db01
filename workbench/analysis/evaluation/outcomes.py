"""Per-ROI outcomes at the run's IoU (first area range), and what they add up to: counts per
class and per frame, and the confusion matrix.

A prediction is `tp` when it matched ground truth of its own label, `fp` when it matched
nothing (or, with classwise=False, ground truth of another label), `ignored` when it matched a
crowd, lies outside the area range unmatched, or is beyond the detection cap. Ground truth is
`tp` when a prediction of its label matched it, `fn` otherwise, `ignored` when it is a crowd or
outside the area range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.evaluation.loading import Rois
from workbench.analysis.evaluation.matching import Prepared, RangeMatch
from workbench.analysis.evaluation.results import BACKGROUND, ConfusionMatrix

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

OUTCOMES: tuple[str, ...] = ("tp", "fp", "fn", "ignored")
TP, FP, FN, IGNORED = range(4)


@dataclass(frozen=True)
class Outcomes:
    """Row-aligned with the loaded ROIs: outcome code, matched row (-1: none), IoU (NaN)."""

    code: npt.NDArray[np.int8]
    match_row: Ints
    iou: Floats


def outcomes(rois: Rois, p: Prepared, match: RangeMatch, primary: int) -> Outcomes:
    n = len(rois)
    code = np.full(n, IGNORED, dtype=np.int8)  # capped detections stay ignored
    match_row = np.full(n, -1, dtype=np.int64)
    iou = np.full(n, np.nan)
    label = rois.label_codes
    det_gt = match.det_gt
    matched = det_gt >= 0
    partner = p.gt_rows[np.maximum(det_gt, 0)]
    same = matched & (label[p.det_rows] == label[partner])
    code[p.det_rows] = np.where(match.det_ignored[primary], IGNORED, np.where(same, TP, FP))
    match_row[p.det_rows[matched]] = partner[matched]
    iou[p.det_rows[matched]] = match.det_iou[matched]
    gt_matched = match.gt_det >= 0
    finder = p.det_rows[np.maximum(match.gt_det, 0)]
    gt_same = gt_matched & (label[p.gt_rows] == label[finder])
    code[p.gt_rows] = np.where(match.gt_ignored, IGNORED, np.where(gt_same, TP, FN))
    match_row[p.gt_rows[gt_matched]] = finder[gt_matched]
    iou[p.gt_rows[gt_matched]] = match.det_iou[match.gt_det[gt_matched]]
    return Outcomes(code, match_row, iou)


def class_counts(rois: Rois, out: Outcomes) -> dict[str, Ints]:
    """tp, fp (predictions), fn (ground truth) and support per class code."""
    k = len(rois.classes)
    pred = rois.is_pred

    def count(mask: npt.NDArray[np.bool_]) -> Ints:
        return np.bincount(rois.label_codes[mask], minlength=k).astype(np.int64)

    return {
        "tp": count(pred & (out.code == TP)),
        "fp": count(pred & (out.code == FP)),
        "fn": count(~pred & (out.code == FN)),
        "support": count(~pred & ((out.code == TP) | (out.code == FN))),
    }


def confusion(rois: Rois, out: Outcomes) -> ConfusionMatrix:
    """Rows: ground truth label (last: none); columns: predicted label (last: none)."""
    k = len(rois.classes)
    pred, code, label = rois.is_pred, out.code, rois.label_codes
    counted = (code == TP) | (code == FP)
    dets = np.flatnonzero(pred & counted)
    partner = out.match_row[dets]
    rows = np.where(partner >= 0, label[np.maximum(partner, 0)], k)
    cells = [rows * (k + 1) + label[dets]]
    lonely = np.flatnonzero(~pred & (code == FN) & (out.match_row < 0))
    cells.append(label[lonely] * (k + 1) + k)
    flat = np.bincount(np.concatenate(cells), minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
    return ConfusionMatrix(
        (*rois.classes, BACKGROUND), tuple(tuple(int(v) for v in row) for row in flat)
    )


def roi_table(rois: Rois, out: Outcomes) -> pa.Table:
    """The eval_rois rows (without run_id) as Arrow columns."""
    has_match = out.match_row >= 0
    match_take = pa.array(np.where(has_match, out.match_row, 0))
    match_ids = rois.roi_ids.take(match_take)
    match_ids = pc.if_else(pa.array(has_match), match_ids, pa.scalar(None, pa.string()))
    names = pa.array(list(OUTCOMES), pa.string())
    return pa.table(
        {
            "frame_id": pa.DictionaryArray.from_arrays(
                pa.array(rois.frame_code.astype(np.int32)), rois.frames
            ),
            "roi_id": rois.roi_ids,
            "field": rois.fields,
            "label": rois.labels,
            "confidence": rois.confidence,
            "outcome": names.take(pa.array(out.code.astype(np.int64))),
            "match_id": match_ids,
            "iou": pa.array(out.iou, mask=np.isnan(out.iou)),
            "crowd": pa.array(rois.crowd),
        }
    )


def frame_table(rois: Rois, out: Outcomes) -> pa.Table:
    """tp, fp (predictions) and fn (ground truth) per frame holding evaluated ROIs."""
    n = len(rois.frames)
    pred, frame = rois.is_pred, rois.frame_code

    def per_frame(mask: npt.NDArray[np.bool_]) -> pa.Array:
        return pa.array(np.bincount(frame[mask], minlength=n).astype(np.int32))

    return pa.table(
        {
            "frame_id": rois.frames,
            "tp": per_frame(pred & (out.code == TP)),
            "fp": per_frame(pred & (out.code == FP)),
            "fn": per_frame(~pred & (out.code == FN)),
        }
    )
