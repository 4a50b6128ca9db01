"""Open Images' detection evaluation (method="open-images"), as TensorFlow's Object Detection
API computes it for the Open Images challenge (`OpenImagesDetectionChallengeEvaluator`).

Per image (a source of a frame) and class, at the run's single IoU threshold:

- detections in decreasing confidence each take the ground truth they overlap most (IoU),
  if at or above the threshold; ground truth already taken makes the detection a false
  positive (a duplicate): unlike COCO, a detection never falls back to its second best;
- ground truth marked as a group (`attributes.iscrowd`, Open Images' IsGroupOf) is matched
  after: a detection that is not a true positive and lies inside a group box (intersection
  over the detection's area at or above the threshold) is absorbed by the group box it lies
  in most, neither true nor false positive (`ignored`); a group box that absorbed any
  detection is one true positive, at the highest confidence among them (its `match_id`
  names that detection), and one that absorbed none is missed (`fn`);
- AP is the area under the precision/recall curve with precision made monotone
  (PASCAL VOC's since 2010), over every detection ranked by confidence; a class's ground
  truth counts group boxes once each. mAP averages the classes that have ground truth.

Image-level labels (Open Images' verified negatives) are not used: every class is evaluated
on every image. The work loops over (image, class) groups holding both detections and ground
truth, with arrays inside; unlike method="coco" it is not meant for millions of frames.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from workbench.analysis.evaluation.config import RECALL_THRESHOLDS, EvaluationConfig
from workbench.analysis.evaluation.loading import Rois
from workbench.analysis.evaluation.outcomes import FN, FP, IGNORED, TP, Outcomes
from workbench.analysis.evaluation.results import PRCurve

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def _overlaps(dets: Floats, truths: Floats) -> tuple[Floats, Floats]:
    """IoU and intersection over the detection's area, detections x truths."""
    d, g = dets[:, None, :], truths[None, :, :]
    width = np.minimum(d[..., 2], g[..., 2]) - np.maximum(d[..., 0], g[..., 0])
    height = np.minimum(d[..., 3], g[..., 3]) - np.maximum(d[..., 1], g[..., 1])
    inter = np.where((width > 0) & (height > 0), width * height, 0.0)
    det_area = (dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])
    gt_area = (truths[:, 2] - truths[:, 0]) * (truths[:, 3] - truths[:, 1])
    union = det_area[:, None] + gt_area[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    ioa = np.divide(inter, det_area[:, None], out=np.zeros_like(inter), where=det_area[:, None] > 0)
    return iou, ioa


def match(rois: Rois, config: EvaluationConfig) -> tuple[Outcomes, Floats, Ints]:
    """Outcomes of every row, and the entries AP ranks: (score, true positive?) per counted
    detection or detected group box, with its class code."""
    n = len(rois)
    code = np.where(rois.is_pred, FP, FN).astype(np.int8)
    match_row = np.full(n, -1, dtype=np.int64)
    iou_out = np.full(n, np.nan)
    entries: list[tuple[float, float, int]] = []  # score, tp, class
    threshold = config.iou
    # group key: image and class (any class when classwise=False)
    cls = rois.label_codes if config.classwise else np.zeros(n, dtype=np.int64)
    key = rois.image.astype(np.int64) * (int(cls.max(initial=0)) + 1) + cls
    order = np.lexsort((np.arange(n), key))
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for group in np.split(order, bounds):
        dets = group[rois.is_pred[group]]
        truths = group[~rois.is_pred[group]]
        dets = dets[np.argsort(-rois.score[dets], kind="stable")]
        _match_group(rois, dets, truths, threshold, code, match_row, iou_out)
        for d in dets:
            if code[d] != IGNORED:
                entries.append((float(rois.score[d]), float(code[d] == TP), int(cls[d])))
        for g in truths[rois.crowd[truths]]:
            if code[g] == TP:
                score = float(rois.score[match_row[g]])
                entries.append((score, 1.0, int(cls[g])))
    if not entries:
        return Outcomes(code, match_row, iou_out), np.empty((0, 2)), np.empty(0, np.int64)
    table = np.asarray([(s, t) for s, t, _ in entries], dtype=np.float64)
    classes = np.asarray([c for _, _, c in entries], dtype=np.int64)
    return Outcomes(code, match_row, iou_out), table, classes


def _match_group(
    rois: Rois,
    dets: Ints,
    truths: Ints,
    threshold: float,
    code: npt.NDArray[np.int8],
    match_row: Ints,
    iou_out: Floats,
) -> None:
    plain = truths[~rois.crowd[truths]]
    groups = truths[rois.crowd[truths]]
    if len(dets) and len(plain):
        iou, _ = _overlaps(rois.boxes[dets], rois.boxes[plain])
        best = np.argmax(iou, axis=1)
        taken = np.zeros(len(plain), dtype=bool)
        for i, d in enumerate(dets):
            j = best[i]
            if iou[i, j] >= threshold and not taken[j]:
                taken[j] = True
                code[d], code[plain[j]] = TP, TP
                match_row[d], match_row[plain[j]] = plain[j], d
                iou_out[d] = iou_out[plain[j]] = iou[i, j]
    if len(dets) and len(groups):
        _, ioa = _overlaps(rois.boxes[dets], rois.boxes[groups])
        best = np.argmax(ioa, axis=1)
        for i, d in enumerate(dets):  # in decreasing confidence: the first is the highest
            k = best[i]
            if code[d] != TP and ioa[i, k] >= threshold:
                code[d] = IGNORED
                match_row[d] = groups[k]
                iou_out[d] = ioa[i, k]
                g = groups[k]
                if code[g] != TP:
                    code[g], match_row[g], iou_out[g] = TP, d, ioa[i, k]


def average_precision(scores: Floats, tp: Floats, gt: int) -> tuple[float, Floats, Floats]:
    """VOC AP of ranked entries against `gt` objects, and the curve (recall, precision)."""
    order = np.argsort(-scores, kind="stable")
    hits = tp[order]
    tps, fps = np.cumsum(hits), np.cumsum(1.0 - hits)
    precision = tps / np.maximum(tps + fps, np.finfo(np.float64).eps)
    recall = tps / gt
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    changes = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[changes] - r[changes - 1]) * p[changes])), recall, p[1:-1]


def results(
    rois: Rois, out: Outcomes, entries: Floats, entry_classes: Ints, config: EvaluationConfig
) -> tuple[list[float | None], float | None, list[PRCurve]]:
    """Per-class AP (None without ground truth), mAP, and each class's curve read at COCO's
    101 recall levels (for plotting: the highest precision at that recall or beyond)."""
    classes = rois.classes if config.classwise else ("(all)",)
    gt_class = rois.label_codes if config.classwise else np.zeros(len(rois), dtype=np.int64)
    counted = ~rois.is_pred & ((out.code == TP) | (out.code == FN))
    aps: list[float | None] = []
    curves = []
    levels = np.asarray(RECALL_THRESHOLDS, dtype=np.float64)
    for k, label in enumerate(classes):
        gt = int(np.sum(counted & (gt_class == k)))
        mine = entry_classes == k
        if gt == 0:
            aps.append(None)
            continue
        scores, tp = entries[mine, 0], entries[mine, 1]
        ap, recall, precision = average_precision(scores, tp, gt)
        aps.append(ap)
        ranked = np.sort(scores)[::-1]
        at = np.searchsorted(recall, levels, side="left")
        reached = at < len(recall)
        curve_p = np.where(reached, precision[np.minimum(at, len(precision) - 1)], 0.0)
        curve_s = np.where(reached, ranked[np.minimum(at, len(ranked) - 1)], 0.0)
        curves.append(
            PRCurve(label, config.iou, tuple(float(v) for v in levels),
                    tuple(float(v) for v in curve_p), tuple(float(v) for v in curve_s))
        )  # fmt: skip
    known = [a for a in aps if a is not None and not math.isnan(a)]
    mean = float(np.mean(known)) if known else None
    if not config.classwise:
        aps = [None] * len(rois.classes)
    return aps, mean, curves
