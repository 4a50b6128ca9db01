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
on every image. The matching is set-based over every image at once (candidate pairs as
method="coco" builds them, then a few sorts), so it scales like method="coco".
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from workbench.analysis.evaluation.config import RECALL_THRESHOLDS, EvaluationConfig
from workbench.analysis.evaluation.loading import Rois
from workbench.analysis.evaluation.matching import candidate_pairs
from workbench.analysis.evaluation.outcomes import FN, FP, IGNORED, TP, Outcomes
from workbench.analysis.evaluation.results import PRCurve

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def match(rois: Rois, config: EvaluationConfig) -> tuple[Outcomes, Floats, Ints]:
    """Outcomes of every row, and the entries AP ranks: (score, true positive?) per counted
    detection or detected group box, with its class code.

    Set-based: a detection never falls back to its second-best ground truth, so each one's
    choice is made alone, and a contested ground truth goes to the most confident detection
    that chose it; no loop over images or detections.
    """
    n = len(rois)
    code = np.where(rois.is_pred, FP, FN).astype(np.int8)
    match_row = np.full(n, -1, dtype=np.int64)
    iou_out = np.full(n, np.nan)
    cls = rois.label_codes if config.classwise else np.zeros(n, dtype=np.int64)
    group = rois.image.astype(np.int64) * (int(cls.max(initial=0)) + 1) + cls
    # Detections by group, decreasing confidence, stored order; ground truth by group.
    dets = np.flatnonzero(rois.is_pred)
    dets = dets[np.lexsort((dets, -rois.score[dets], group[dets]))]
    truths = np.flatnonzero(~rois.is_pred)
    truths = truths[np.argsort(group[truths], kind="stable")]
    per_group = np.bincount(group[truths], minlength=int(group.max(initial=-1)) + 1)
    first = (np.cumsum(per_group) - per_group)[group[dets]]
    d, g, iou = candidate_pairs(rois, None, dets, truths, first, per_group[group[dets]], config.iou)
    in_group_box = rois.crowd[truths[g]]
    # Each detection's best plain ground truth; the first detection to choose one takes it.
    plain = np.flatnonzero(~in_group_box)
    chose = plain[_firsts(d[plain], -iou[plain], g[plain])]
    won = chose[_firsts(g[chose], d[chose])]
    rd, rg = dets[d[won]], truths[g[won]]
    code[rd] = code[rg] = TP
    match_row[rd], match_row[rg] = rg, rd
    iou_out[rd] = iou_out[rg] = iou[won]
    # Detections left over inside a group box are absorbed by the one they lie in most; a box
    # that absorbed any is one true positive, at its most confident detection.
    left = np.flatnonzero(in_group_box & (code[dets[d]] != TP))
    absorbed = left[_firsts(d[left], -iou[left], g[left])]
    rd, rb = dets[d[absorbed]], truths[g[absorbed]]
    code[rd], match_row[rd], iou_out[rd] = IGNORED, rb, iou[absorbed]
    found = absorbed[_firsts(g[absorbed], d[absorbed])]
    rb = truths[g[found]]
    code[rb], match_row[rb], iou_out[rb] = TP, dets[d[found]], iou[found]
    entries, classes = _entries(rois, code, match_row, cls, group, dets, truths)
    return Outcomes(code, match_row, iou_out), entries, classes


def _firsts(key: Ints, *by: npt.NDArray[np.generic]) -> Ints:
    """Positions of each distinct `key`'s first row, ordered by `by` (ties: position)."""
    order = np.lexsort((np.arange(len(key)), *reversed(by), key))
    ordered = key[order]
    return order[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(key) else order


def _entries(
    rois: Rois,
    code: npt.NDArray[np.int8],
    match_row: Ints,
    cls: Ints,
    group: Ints,
    dets: Ints,
    truths: Ints,
) -> tuple[Floats, Ints]:
    """The ranked entries, in the order a loop over groups would make them (AP breaks ties
    between equal scores by that order): each group's counted detections by decreasing
    confidence, then its detected group boxes."""
    counted = dets[code[dets] != IGNORED]
    boxes = truths[rois.crowd[truths] & (code[truths] == TP)]
    rows = np.concatenate([counted, boxes])
    if not len(rows):
        return np.empty((0, 2)), np.empty(0, np.int64)
    scores = np.concatenate([rois.score[counted], rois.score[match_row[boxes]]])
    hits = np.concatenate([code[counted] == TP, np.ones(len(boxes), bool)]).astype(np.float64)
    kind = np.repeat([0, 1], [len(counted), len(boxes)])
    order = np.lexsort((np.arange(len(rows)), kind, group[rows]))
    return np.column_stack([scores, hits])[order], cls[rows][order]


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
