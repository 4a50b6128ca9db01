"""Greedy matching of predictions to ground truth, the way COCOeval.evaluateImg does it, for
every image of the evaluation at once.

COCO's rule, per image (a source of a frame) and class: detections in decreasing confidence
(ties in stored order), at most `max_det` of them; each takes, among the ground truth still
free (crowds are never used up), the one with the highest IoU at or above the threshold,
preferring ground truth that is not ignored (crowds, or outside the area range) and, among equal
IoUs, the last one in stored order. A detection matched to ignored ground truth is ignored, as
is an unmatched detection outside the area range.

Instead of a loop per image, the loop runs over detection rank: step r handles the r-th
detection of every image at once, for every IoU threshold at once (the free ground truth is a
thresholds x ground-truth boolean array). Candidate pairs (same image, same class unless
classwise=False) are built and their IoUs computed in one vectorised pass beforehand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.analysis.evaluation.config import MAX_IOU, EvaluationConfig
from workbench.analysis.evaluation.loading import Rois
from workbench.model.geometry import box_iou
from workbench.model.regions import CHUNK, Regions, region_iou

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Prepared:
    """Detections and ground truth in matching order, and their candidate pairs.

    Detections (`det_*`, indexed d) are numbered in the order AP accumulates them: by class,
    decreasing confidence, image, then rank in the image (`det_rank`: 0 for the most confident
    of its image and class). Ground truth (`gt_*`, indexed g) is sorted by group (image and
    class) and stored order. Pairs are sorted by detection rank, detection and IoU (then stored
    order), so each rank is one block and each detection's candidates are a segment ordered
    from least to most preferred.
    """

    det_rows: Ints
    det_rank: Ints
    gt_rows: Ints
    gt_crowd: Bools
    gt_area: Floats
    det_area: Floats
    pair_det: Ints
    pair_gt: Ints
    pair_iou: Floats
    pair_slot: Ints  # position of the pair in its detection's segment
    slots: int  # the longest segment
    rank_blocks: Ints  # pair index where each rank starts, and the end
    det_starts: Ints  # pair index where each detection's segment starts (rank order)
    gt_empty: Bools | None = None  # keypoints with no labelled point: ignored, not reusable


@dataclass(frozen=True)
class RangeMatch:
    """The outcome of matching for one area range: thresholds x detections arrays, and at the
    primary threshold who matched whom."""

    matched: Bools  # thresholds x detections
    det_ignored: Bools  # thresholds x detections
    gt_ignored: Bools  # ground truth
    det_gt: Ints  # at the primary threshold: the matched ground truth, or -1
    gt_det: Ints  # at the primary threshold: the last detection matched, or -1
    det_iou: Floats  # at the primary threshold: IoU with the matched ground truth, or NaN


@dataclass(frozen=True)
class Ranking:
    """Detections in the order AP accumulates them (capped), their rank in their image and
    class, ground truth by group (image and class) then stored order, and each row's group."""

    det_rows: Ints
    det_rank: Ints
    gt_rows: Ints
    group: Ints

    def unpaired(self, rois: Rois) -> Prepared:
        """The ranking as a Prepared without candidate pairs: what AP accumulation reads."""
        empty = np.zeros(0, np.int64)
        return Prepared(
            det_rows=self.det_rows,
            det_rank=self.det_rank,
            gt_rows=self.gt_rows,
            gt_crowd=rois.crowd[self.gt_rows],
            gt_area=rois.area[self.gt_rows],
            det_area=rois.area[self.det_rows],
            pair_det=empty,
            pair_gt=empty,
            pair_iou=np.zeros(0),
            pair_slot=empty,
            slots=0,
            rank_blocks=np.zeros(1, np.int64),
            det_starts=empty,
            gt_empty=_empty(rois, self.gt_rows),
        )


def rank(rois: Rois, config: EvaluationConfig) -> Ranking:
    n_classes = max(len(rois.classes), 1)
    det_class = rois.label_codes if config.classwise else np.zeros(len(rois), np.int64)
    group = rois.image * n_classes + det_class
    det_all, ranks = _ranked(rois, det_class, group, n_classes)
    keep = ranks < config.max_det if config.max_det is not None else np.ones(len(ranks), bool)
    gt_rows = np.flatnonzero(~rois.is_pred)
    gt_rows = gt_rows[np.argsort(group[gt_rows], kind="stable")]
    return Ranking(det_all[keep], ranks[keep], gt_rows, group)


def prepare(rois: Rois, regions: Regions | None, config: EvaluationConfig) -> Prepared:
    ranking = rank(rois, config)
    det_rows, det_rank, gt_rows, group = (
        ranking.det_rows,
        ranking.det_rank,
        ranking.gt_rows,
        ranking.group,
    )
    # Where each group's ground truth starts and how many.
    per_group = np.bincount(group[gt_rows], minlength=int(group.max(initial=-1)) + 1)
    first = (np.cumsum(per_group) - per_group)[group[det_rows]]
    count = per_group[group[det_rows]]
    del per_group
    floor = min(min(config.thresholds), MAX_IOU)
    pair_det, pair_gt, pair_iou = candidate_pairs(
        rois, regions, det_rows, gt_rows, first, count, floor
    )
    # Pairs come per detection in stored order of the ground truth: sorted by rank, detection
    # and IoU (stable: stored order among equal IoUs).
    order = _sort(
        (det_rank[pair_det], pair_det, _descending_codes(-pair_iou)),
        (int(det_rank.max(initial=0)) + 1, max(len(det_rows), 1), len(pair_iou) + 1),
    )
    pair_det, pair_gt, pair_iou = pair_det[order], pair_gt[order], pair_iou[order]
    heads = np.flatnonzero(np.concatenate(([True], pair_det[1:] != pair_det[:-1])))
    heads = heads if len(pair_det) else np.zeros(0, np.int64)  # no pair: no segment
    lengths = np.diff(np.append(heads, len(pair_det)))
    slot = np.arange(len(pair_det)) - np.repeat(heads, lengths)
    pair_rank = det_rank[pair_det[heads]] if len(heads) else np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], pair_rank[1:] != pair_rank[:-1])))
    blocks = heads[starts] if len(heads) else heads
    return Prepared(
        det_rows=det_rows,
        det_rank=det_rank,
        gt_rows=gt_rows,
        gt_crowd=rois.crowd[gt_rows],
        gt_area=rois.area[gt_rows],
        det_area=rois.area[det_rows],
        pair_det=pair_det,
        pair_gt=pair_gt,
        pair_iou=pair_iou,
        pair_slot=slot,
        slots=int(lengths.max(initial=0)),
        rank_blocks=np.append(blocks, len(pair_det)) if len(pair_det) else np.zeros(1, np.int64),
        det_starts=heads,
        gt_empty=_empty(rois, gt_rows),
    )


def _empty(rois: Rois, gt_rows: Ints) -> Bools | None:
    return rois.keypoints.empty[gt_rows] if rois.keypoints is not None else None


def _ranked(rois: Rois, det_class: Ints, group: Ints, n_classes: int) -> tuple[Ints, Ints]:
    """Detections in the order AP accumulates them (class, decreasing confidence, image,
    stored order), and each one's rank in its image and class: within one image and class that
    order is the order matching takes them in."""
    det_all = np.flatnonzero(rois.is_pred)
    n_images = int(rois.image.max(initial=-1)) + 1
    descending = _descending_codes(rois.score[det_all])
    order = _sort(
        (det_class[det_all], descending, rois.image[det_all]),
        (n_classes, int(descending.max(initial=0)) + 1, max(n_images, 1)),
    )
    det_all = det_all[order]
    by_group = np.argsort(group[det_all], kind="stable")
    grouped = group[det_all][by_group]
    heads = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
    rank = np.empty(len(det_all), dtype=np.int64)
    lengths = np.diff(np.append(heads, len(det_all)))
    rank[by_group] = np.arange(len(det_all)) - np.repeat(heads, lengths)
    return det_all, rank


def _descending_codes(values: Floats) -> Ints:
    """Dense integer codes of `values`, 0 for the largest: equal values get equal codes."""
    if not len(values):
        return np.zeros(0, np.int64)
    distinct, codes = np.unique(values, return_inverse=True)
    return (len(distinct) - 1 - codes).astype(np.int64)


def _sort(keys: tuple[Ints, ...], sizes: tuple[int, ...]) -> Ints:
    """The stable order by `keys` (most significant first, each in [0, size)): one argsort of
    a combined integer key when it fits in 62 bits (several times faster than lexsort)."""
    if float(np.prod([float(s) for s in sizes])) < 2.0**62:
        combined = np.zeros(len(keys[0]), dtype=np.int64)
        for key, size in zip(keys, sizes, strict=True):
            combined *= size
            combined += key
        return np.argsort(combined, kind="stable")
    return np.lexsort(tuple(reversed(keys)))


def candidate_pairs(
    rois: Rois,
    regions: Regions | None,
    det_rows: Ints,
    gt_rows: Ints,
    first: Ints,
    count: Ints,
    floor: float,
) -> tuple[Ints, Ints, Floats]:
    """Every (detection, ground truth) pair of a group whose IoU can reach `floor`: indexes into
    `det_rows` and `gt_rows`, in detection order then ground-truth order. A crowd's IoU is the
    intersection over the detection's area."""
    found: list[tuple[Ints, Ints, Floats]] = []
    total = np.cumsum(count)
    lo = 0
    while lo < len(det_rows):
        base = total[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(total, base + CHUNK, side="right")), lo + 1)
        dets = np.arange(lo, hi)
        n = count[lo:hi]
        d = np.repeat(dets, n)
        g = np.repeat(first[lo:hi] - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
        rows_d, rows_g = det_rows[d], gt_rows[g]
        crowd = rois.crowd[rows_g]
        if rois.keypoints is not None:  # OKS; crowds scored like any other
            iou = rois.keypoints.oks(rows_d, rows_g, rois.label_codes, rois.boxes, rois.area)
        elif regions is None:
            iou = box_iou(rois.boxes[rows_d], rois.boxes[rows_g], crowd)
        else:
            iou = region_iou(regions, rows_d, regions, rows_g, crowd)
        kept = iou >= floor if floor > 0 else np.ones(len(iou), bool)
        found.append((d[kept], g[kept], iou[kept]))
        lo = hi
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return (
        np.concatenate([f[0] for f in found]).astype(np.int64),
        np.concatenate([f[1] for f in found]).astype(np.int64),
        np.concatenate([f[2] for f in found]),
    )


def match_range(
    prepared: Prepared, low: float, high: float, thresholds: tuple[float, ...], primary: int
) -> RangeMatch:
    """Match at every threshold with ground truth outside [low, high] ignored."""
    p = prepared
    n_det, n_gt, n_thr = len(p.det_rows), len(p.gt_rows), len(thresholds)
    gt_ignored = p.gt_crowd | (p.gt_area < low) | (p.gt_area > high)
    if p.gt_empty is not None:
        gt_ignored |= p.gt_empty
    limits = np.minimum(np.asarray(thresholds, dtype=np.float64), MAX_IOU)
    taken = np.zeros((n_thr, n_gt), dtype=bool)
    matched = np.zeros((n_thr, n_det), dtype=bool)
    # An unmatched detection outside the area range is ignored; a matched one is ignored when
    # its ground truth is (set as matches are made).
    outside = (p.det_area < low) | (p.det_area > high)
    det_ignored = np.repeat(outside[None, :], n_thr, axis=0)
    det_gt = np.full(n_det, -1, dtype=np.int64)
    gt_det = np.full(n_gt, -1, dtype=np.int64)
    det_iou = np.full(n_det, np.nan)
    slots = max(p.slots, 1)
    # Preference of a pair within its detection's segment: not ignored first, then IoU, then
    # stored order (the segment is sorted by IoU and stored order): higher is better.
    preference = (1 + p.pair_slot + np.where(gt_ignored[p.pair_gt], 0, slots)).astype(np.int64)
    heads = p.det_starts
    for start, end in zip(p.rank_blocks[:-1], p.rank_blocks[1:], strict=True):
        gts, ious = p.pair_gt[start:end], p.pair_iou[start:end]
        crowd = p.gt_crowd[gts]
        segments = heads[np.searchsorted(heads, start) : np.searchsorted(heads, end)] - start
        # One threshold at a time: the same work as all at once, a tenth of the memory.
        for t in range(n_thr):
            free = (~taken[t, gts] | crowd) & (ious >= limits[t])
            best = np.maximum.reduceat(np.where(free, preference[start:end], 0), segments)
            seg = np.flatnonzero(best)
            chosen = start + segments[seg] + (best[seg] - 1) % slots
            g, d = p.pair_gt[chosen], p.pair_det[chosen]
            matched[t, d] = True
            det_ignored[t, d] = gt_ignored[g]
            taken[t, g] = True
            if t == primary:
                det_gt[d], gt_det[g], det_iou[d] = g, d, p.pair_iou[chosen]
    return RangeMatch(matched, det_ignored, gt_ignored, det_gt, gt_det, det_iou)
