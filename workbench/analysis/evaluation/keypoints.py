"""Object keypoint similarity (OKS): how close predicted keypoints are to ground truth, the
way pycocotools' COCOeval.computeOks scores them (iouType="keypoints").

For a prediction d and ground truth g of the same label, with g's area A (its stated `area`,
else its box's) and each point's sigma s_i:

    e_i = (dx_i^2 + dy_i^2) / (2 s_i)^2 / (A + eps) / 2,   OKS = mean of exp(-e_i)

over g's labelled points (visibility > 0); points with visibility 0 are ignored. When g has no
labelled point, d's points are measured by how far they lie outside g's box grown by its size
on every side, over all points. A ground truth with no labelled point is ignored (COCO's
`num_keypoints` 0), as crowds are; crowds are scored by OKS like any other.

Sigmas per label: the list given for it (`keypoint_sigmas`), else COCO's person sigmas when the
label's point names are COCO's 17, else `keypoint_sigma` for every point.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.evaluation.config import EvaluationConfig
from workbench.errors import EvaluationError
from workbench.model.keypoints import KeypointLabel

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

COCO_PERSON_KEYPOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# COCOeval's Params.kpt_oks_sigmas, in the order of COCO_PERSON_KEYPOINTS.
COCO_PERSON_SIGMAS: tuple[float, ...] = tuple(
    float(v)
    for v in np.array(
        [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]
    )
    / 10.0
)  # fmt: skip
_EPS = float(np.spacing(1))


@dataclass(frozen=True)
class Keypoints:
    """The points of every loaded ROI, padded to the most points any ROI has.

    `points` n x K x 2 (a ROI's missing points at infinity: they score 0), `labelled` n x K
    (visibility > 0), `counts` the points each ROI has, `empty` ground truth with no labelled
    point, `sigmas` classes x K (NaN beyond a label's points; set by `with_sigmas`).
    """

    points: Floats
    labelled: Bools
    counts: Ints
    empty: Bools
    sigmas: Floats | None = None

    def with_sigmas(
        self,
        classes: tuple[str, ...],
        labels: Mapping[str, KeypointLabel],
        config: EvaluationConfig,
    ) -> Keypoints:
        """The sigmas of every class, as the config and the labels' point names give them."""
        width = self.points.shape[1]
        given = dict(config.keypoint_sigmas)
        table = np.full((max(len(classes), 1), width), np.nan)
        for k, label in enumerate(classes):
            sigmas = label_sigmas(label, labels.get(label), given, config.keypoint_sigma, width)
            table[k, : len(sigmas)] = sigmas[:width]
        return replace(self, sigmas=table)

    def oks(
        self, rows_d: Ints, rows_g: Ints, label_codes: Ints, boxes: Floats, area: Floats
    ) -> Floats:
        """OKS of each pair (rows into the loaded ROIs, ground truth second)."""
        assert self.sigmas is not None
        width = self.points.shape[1]
        sigmas = self.sigmas[label_codes[rows_g]]
        used = np.arange(width)[None, :] < self.counts[rows_g][:, None]
        gt, det = self.points[rows_g], self.points[rows_d]
        labelled = self.labelled[rows_g] & used
        any_labelled = labelled.any(axis=1)
        with np.errstate(invalid="ignore"):  # padding minus padding: NaN, not counted
            dx, dy = det[:, :, 0] - gt[:, :, 0], det[:, :, 1] - gt[:, :, 1]
        # No labelled point: distance outside the box grown by its width/height on each side.
        box = boxes[rows_g]
        w, h = (box[:, 2] - box[:, 0])[:, None], (box[:, 3] - box[:, 1])[:, None]
        x0, x1 = box[:, :1] - w, box[:, :1] + w * 2
        y0, y1 = box[:, 1:2] - h, box[:, 1:2] + h * 2
        xd, yd = det[:, :, 0], det[:, :, 1]
        with np.errstate(invalid="ignore"):
            ox = np.maximum(0.0, x0 - xd) + np.maximum(0.0, xd - x1)
            oy = np.maximum(0.0, y0 - yd) + np.maximum(0.0, yd - y1)
        dx = np.where(any_labelled[:, None], dx, ox)
        dy = np.where(any_labelled[:, None], dy, oy)
        variances = (sigmas * 2) ** 2
        with np.errstate(invalid="ignore", over="ignore"):
            e = (dx**2 + dy**2) / variances / (area[rows_g][:, None] + _EPS) / 2
            scores = np.exp(-e)
        counted = np.where(any_labelled[:, None], labelled, used)
        scores = np.where(counted & ~np.isnan(scores), scores, 0.0)
        n = counted.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, scores.sum(axis=1) / np.maximum(n, 1), 0.0)


def label_sigmas(
    label: str,
    keypoints: KeypointLabel | None,
    given: Mapping[str, tuple[float, ...]],
    uniform: float,
    width: int,
) -> tuple[float, ...]:
    """A label's sigma per point: given, COCO's for COCO's 17 names, else uniform."""
    count = len(keypoints.names) if keypoints is not None else width
    if label in given:
        sigmas = given[label]
        if len(sigmas) != count:
            raise EvaluationError(
                f"keypoint_sigmas[{label!r}] has {len(sigmas)} sigmas, but the label has "
                f"{count} points"
            )
        return sigmas
    if keypoints is not None and keypoints.names == COCO_PERSON_KEYPOINTS:
        return COCO_PERSON_SIGMAS
    return (uniform,) * count


def keypoints_from_columns(
    points: pa.Array, visibility: pa.Array, is_pred: Bools, problems: list[str]
) -> tuple[Keypoints, Floats]:
    """The padded points of `points` (each ROI's ring) and `visibility`, and each ROI's extent
    area ((max x - min x) * (max y - min y) over all its points, as pycocotools measures a
    keypoint detection)."""
    n = len(points)
    lengths = np.asarray(pc.list_value_length(points).fill_null(0).to_numpy(), dtype=np.int64)
    counts = lengths // 2
    width = int(counts.max(initial=0)) or 1
    coords = np.asarray(pc.list_flatten(points).to_numpy(zero_copy_only=False), dtype=np.float64)
    owner = np.repeat(np.arange(n), lengths)
    slot = np.arange(len(coords)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    padded = np.full((n, width, 2), np.inf)
    padded[owner, slot // 2, slot % 2] = coords
    vis_lengths = np.asarray(
        pc.list_value_length(visibility).fill_null(0).to_numpy(), dtype=np.int64
    )
    values = np.asarray(pc.list_flatten(visibility).fill_null(0).to_numpy(), dtype=np.int64)
    vis_owner = np.repeat(np.arange(n), vis_lengths)
    vis_slot = np.arange(len(values)) - np.repeat(np.cumsum(vis_lengths) - vis_lengths, vis_lengths)
    labelled = np.zeros((n, width), dtype=bool)
    inside = vis_slot < width
    labelled[vis_owner[inside], vis_slot[inside]] = values[inside] > 0
    # Ground truth without visibility: every point it has is labelled.
    no_vis = (vis_lengths == 0) & ~is_pred
    labelled[no_vis] = np.arange(width)[None, :] < counts[no_vis][:, None]
    if np.any(vis_lengths[vis_lengths > 0] != counts[vis_lengths > 0]):
        problems.append("some keypoints ROIs have a visibility list unlike their point count")
    finite = np.where(np.isfinite(padded), padded, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a ROI without points: no extent
        extent = np.nanmax(finite, axis=1) - np.nanmin(finite, axis=1)
    area = np.nan_to_num(extent[:, 0] * extent[:, 1], nan=0.0)
    empty = ~labelled.any(axis=1) & ~is_pred
    return Keypoints(padded, labelled, counts, empty), area
