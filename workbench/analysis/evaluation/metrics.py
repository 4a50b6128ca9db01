"""Average precision as COCOeval.accumulate and summarize compute it.

For each class, area range and detection cap, the evaluated detections of every image are
ranked by decreasing confidence (ties: image order, then rank in the image), true and false
positives are summed along that ranking for every IoU threshold at once, precision is made
monotone from the right, and read at 101 recall levels (0 where recall never gets there). AP is
the mean over recall levels and thresholds of the classes that have ground truth; -1 marks
"undefined", as in COCOeval, and becomes None in the results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.analysis.evaluation.config import RECALL_THRESHOLDS, EvaluationConfig
from workbench.analysis.evaluation.loading import Rois
from workbench.analysis.evaluation.matching import Prepared, RangeMatch
from workbench.analysis.evaluation.results import PRCurve

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

ALL_CLASSES = "(all)"
_EPS = float(np.spacing(1))


@dataclass(frozen=True)
class Accumulated:
    """COCOeval's eval arrays: precision and scores [T, R, K, A, M], recall [T, K, A, M]."""

    precision: Floats
    recall: Floats
    scores: Floats


class Accumulator:
    """Fills the arrays one area range at a time, so only one range's matches are in memory.

    Only the true positives are looked at one by one: precision can only rise at a true
    positive, so the interpolated precision (the best precision at any later rank) is the best
    among later true positives, and recall first reaches a level at a true positive. The
    arithmetic on each value is COCOeval's, so the figures are the same to the last bit.
    """

    def __init__(self, rois: Rois, prepared: Prepared, config: EvaluationConfig, ranges: int):
        self.config = config
        p = prepared
        n_classes = len(rois.classes) if config.classwise else 1
        self.caps: list[int | None] = list(config.max_dets) if config.max_dets else [None]
        shape = (len(config.thresholds), len(RECALL_THRESHOLDS), n_classes, ranges, len(self.caps))
        self.precision = -np.ones(shape)
        self.scores = -np.ones(shape)
        self.recall = -np.ones((shape[0], n_classes, ranges, len(self.caps)))
        # Detections are numbered by class already (matching.prepare).
        det_class = rois.label_codes[p.det_rows] if config.classwise else None
        self.class_starts = (
            np.searchsorted(det_class, np.arange(n_classes + 1))
            if det_class is not None
            else np.array([0, len(p.det_rows)])
        )
        self.gt_class = (
            rois.label_codes[p.gt_rows] if config.classwise else np.zeros(len(p.gt_rows), np.int64)
        )
        self.rank = p.det_rank
        self.score = rois.score[p.det_rows]
        self.max_rank = int(p.det_rank.max(initial=-1))

    def add(self, area_index: int, match: RangeMatch) -> None:
        ignored = match.det_ignored
        hits = match.matched & ~ignored
        n_classes = self.precision.shape[2]
        positives = np.bincount(self.gt_class[~match.gt_ignored], minlength=n_classes)
        for k in range(n_classes):
            if positives[k] == 0:
                continue  # no ground truth: AP undefined, as COCOeval leaves it at -1
            lo, hi = self.class_starts[k], self.class_starts[k + 1]
            done: dict[int, int] = {}
            for m, cap in enumerate(self.caps):
                # A cap above every image's detection count changes nothing: reuse.
                binding = self.max_rank + 1 if cap is None else min(cap, self.max_rank + 1)
                if binding in done:
                    self._copy(k, area_index, done[binding], m)
                    continue
                done[binding] = m
                if binding > self.max_rank:
                    kept: slice | Ints = slice(lo, hi)
                else:
                    kept = np.flatnonzero(self.rank[lo:hi] < binding) + lo
                self._fill(
                    (k, area_index, m),
                    hits[:, kept],
                    ignored[:, kept],
                    self.score[kept],
                    int(positives[k]),
                )

    def _copy(self, k: int, a: int, source: int, m: int) -> None:
        self.precision[:, :, k, a, m] = self.precision[:, :, k, a, source]
        self.scores[:, :, k, a, m] = self.scores[:, :, k, a, source]
        self.recall[:, k, a, m] = self.recall[:, k, a, source]

    def _fill(
        self,
        at: tuple[int, int, int],
        hits: npt.NDArray[np.bool_],
        skip: npt.NDArray[np.bool_],
        scores: Floats,
        positives: int,
    ) -> None:
        """One class, area range and cap: `hits` (true positives) and `skip` (ignored) are
        thresholds x ranked detections."""
        k, a, m = at
        n_thr, found = hits.shape
        precision = np.zeros((n_thr, len(RECALL_THRESHOLDS)))
        score = np.zeros_like(precision)
        recall = np.zeros(n_thr)
        for t in range(n_thr if found else 0):
            pos = np.flatnonzero(hits[t])
            nth = np.arange(1, len(pos) + 1)
            skipped = np.searchsorted(np.flatnonzero(skip[t]), pos)
            tp_sum = nth.astype(np.float64)
            fp_sum = (pos + 1 - skipped - nth).astype(np.float64)
            rc = tp_sum / positives
            pr = tp_sum / (fp_sum + tp_sum + _EPS)
            self._sample(precision[t], score[t], rc, pr, pos, scores)
            recall[t] = rc[-1] if len(rc) else 0.0
        self.recall[:, k, a, m] = recall
        self.precision[:, :, k, a, m] = precision
        self.scores[:, :, k, a, m] = score

    @staticmethod
    def _sample(
        precision: Floats, score: Floats, rc: Floats, pr: Floats, pos: Ints, scores: Floats
    ) -> None:
        """COCOeval's reading of one curve at the recall levels, from its true positives."""
        best = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
        at = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        reached = at < len(rc)
        precision[reached] = best[at[reached]]
        score[reached] = scores[pos[at[reached]]]
        # Recall 0 is reached at the first detection, true positive or not.
        zero = RECALL_THRESHOLDS <= 0
        precision[zero] = best[0] if len(best) else 0.0
        score[zero] = scores[0]

    def result(self) -> Accumulated:
        return Accumulated(self.precision, self.recall, self.scores)


def _mean(values: Floats) -> float:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else -1.0


def summarize(acc: Accumulated, config: EvaluationConfig) -> dict[str, float]:
    """COCOeval.summarize's figures, named: AP, AP50, AP75, AP_<area>, AR<cap>, AR_<area>."""
    thresholds = config.thresholds
    every = config.map_thresholds
    last = acc.precision.shape[4] - 1
    ranges = config.area_ranges[: acc.precision.shape[3]]
    stats = {"AP": _mean(acc.precision[every][:, :, :, 0, last])}
    for wanted in (0.5, 0.75):
        at = [i for i in every if np.isclose(thresholds[i], wanted)]
        if at and len(every) > 1:
            stats[f"AP{round(wanted * 100)}"] = _mean(acc.precision[at][:, :, :, 0, last])
    for a, (name, _, _) in enumerate(ranges[1:], start=1):
        stats[f"AP_{name}"] = _mean(acc.precision[every][:, :, :, a, last])
    caps: list[int | None] = [*config.max_dets] or [None]
    for m, cap in enumerate(caps):
        stats["AR" if cap is None else f"AR{cap}"] = _mean(acc.recall[every][:, :, 0, m])
    for a, (name, _, _) in enumerate(ranges[1:], start=1):
        stats[f"AR_{name}"] = _mean(acc.recall[every][:, :, a, last])
    return stats


def class_ap(acc: Accumulated, config: EvaluationConfig) -> list[float | None]:
    """AP of each class (first area range, largest cap), None where undefined."""
    every = config.map_thresholds
    last = acc.precision.shape[4] - 1
    out: list[float | None] = []
    for k in range(acc.precision.shape[2]):
        value = _mean(acc.precision[every][:, :, k, 0, last])
        out.append(None if value == -1 else value)
    return out


def curves(acc: Accumulated, config: EvaluationConfig, labels: tuple[str, ...]) -> list[PRCurve]:
    """Precision/recall curves of every class with ground truth, at every threshold."""
    recall = tuple(float(r) for r in RECALL_THRESHOLDS)
    last = acc.precision.shape[4] - 1
    names = labels if config.classwise else (ALL_CLASSES,)
    out = []
    for k, label in enumerate(names):
        for t, iou in enumerate(config.thresholds):
            precision = acc.precision[t, :, k, 0, last]
            if precision[0] == -1:
                continue
            out.append(
                PRCurve(
                    label,
                    float(iou),
                    recall,
                    tuple(float(v) for v in precision),
                    tuple(float(v) for v in acc.scores[t, :, k, 0, last]),
                )
            )
    return out
