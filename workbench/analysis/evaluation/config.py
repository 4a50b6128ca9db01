"""How an evaluation runs: its method, IoU thresholds, area ranges and detection caps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from workbench.errors import EvaluationError

METHODS: tuple[str, ...] = ("coco", "simple", "open-images")
# COCOeval's defaults, built the way pycocotools builds them (np.linspace), so thresholds
# compare equal to its own.
COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple(
    float(t) for t in np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)
COCO_AREA_RANGES: tuple[tuple[str, float, float], ...] = (
    ("all", 0.0, 1e10),
    ("small", 0.0, 32.0**2),
    ("medium", 32.0**2, 96.0**2),
    ("large", 96.0**2, 1e10),
)
COCO_MAX_DETS: tuple[int, ...] = (1, 10, 100)
# The OKS sigma of every point of a label whose points are not COCO's 17 and that was given no
# sigma list (keypoints.py, docs/evaluation.md).
DEFAULT_KEYPOINT_SIGMA = 0.05
# pycocotools never accepts an IoU of exactly 1 as "at least 1": it compares with 1 - 1e-10.
MAX_IOU = 1 - 1e-10
# COCOeval's defaults for iouType="keypoints": no "small" range, one cap of 20.
COCO_KEYPOINT_AREA_RANGES: tuple[tuple[str, float, float], ...] = (
    ("all", 0.0, 1e10),
    ("medium", 32.0**2, 96.0**2),
    ("large", 96.0**2, 1e10),
)
COCO_KEYPOINT_MAX_DETS: tuple[int, ...] = (20,)


@dataclass(frozen=True)
class EvaluationConfig:
    """The settings of one evaluation run (stored with it as JSON).

    `area_ranges`: (name, min area, max area); the first is the one per-ROI outcomes and mAP
    use. `max_dets`: detection caps per frame, source and class; the last caps what is
    evaluated at all, and () means no cap.
    """

    method: str = "coco"
    iou: float = 0.5
    iou_threshs: tuple[float, ...] = COCO_IOU_THRESHOLDS
    classwise: bool = True
    use_masks: bool = False
    compute_mAP: bool = True
    area_ranges: tuple[tuple[str, float, float], ...] = COCO_AREA_RANGES
    max_dets: tuple[int, ...] = COCO_MAX_DETS
    use_keypoints: bool = False
    # Per label, the OKS sigma of each of its points (keypoints.py); others get COCO's when
    # their points are COCO's 17, else `keypoint_sigma` for every point.
    keypoint_sigmas: tuple[tuple[str, tuple[float, ...]], ...] = ()
    keypoint_sigma: float = DEFAULT_KEYPOINT_SIGMA

    @classmethod
    def build(
        cls,
        *,
        method: str = "coco",
        iou: float = 0.5,
        iou_threshs: Sequence[float] | None = None,
        classwise: bool = True,
        use_masks: bool = False,
        compute_mAP: bool = True,
        area_ranges: Mapping[str, tuple[float, float]] | None = None,
        max_dets: Sequence[int] | None = None,
        use_keypoints: bool = False,
        keypoint_sigmas: Mapping[str, Sequence[float]] | float | None = None,
    ) -> EvaluationConfig:
        """A checked configuration; defaults depend on the method (COCO's, or one threshold,
        one area range and no cap for "simple") and on use_keypoints (COCO's keypoint
        ranges and cap)."""
        if method not in METHODS:
            raise EvaluationError(
                f"unknown method {method!r}: expected one of {', '.join(METHODS)}"
            )
        _flag(classwise, "classwise")
        _flag(use_masks, "use_masks")
        _flag(compute_mAP, "compute_mAP")
        _flag(use_keypoints, "use_keypoints")
        sigmas, sigma = keypoint_sigma_options(keypoint_sigmas)
        if use_keypoints and (use_masks or not classwise or method == "open-images"):
            raise EvaluationError(
                "use_keypoints compares keypoints of the same label by OKS: it cannot be used "
                "with use_masks, classwise=False or method 'open-images'"
            )
        if keypoint_sigmas is not None and not use_keypoints:
            raise EvaluationError("keypoint_sigmas needs use_keypoints=True")
        iou = _threshold(iou, "iou")
        if method == "open-images" and (use_masks or not classwise):
            raise EvaluationError("method 'open-images' compares boxes of the same class only")
        simple = method in ("simple", "open-images")
        if iou_threshs is None:
            threshs = (iou,) if simple else COCO_IOU_THRESHOLDS
        else:
            threshs = tuple(_threshold(t, "iou_threshs") for t in iou_threshs)
            if not threshs:
                raise EvaluationError("iou_threshs needs at least one threshold")
        coco_ranges = COCO_KEYPOINT_AREA_RANGES if use_keypoints else COCO_AREA_RANGES
        ranges = coco_ranges[:1] if simple else coco_ranges
        if area_ranges is not None:
            ranges = _area_ranges(area_ranges)
        coco_caps = COCO_KEYPOINT_MAX_DETS if use_keypoints else COCO_MAX_DETS
        caps = (() if simple else coco_caps) if max_dets is None else _caps(max_dets)
        return cls(
            method,
            iou,
            threshs,
            classwise,
            use_masks,
            compute_mAP,
            ranges,
            caps,
            use_keypoints,
            sigmas,
            sigma,
        )

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The IoU thresholds matching runs at: iou_threshs and iou (only iou without mAP)."""
        if not self.compute_mAP:
            return (self.iou,)
        extra = () if any(math.isclose(t, self.iou) for t in self.iou_threshs) else (self.iou,)
        return tuple(sorted((*self.iou_threshs, *extra)))

    @property
    def primary(self) -> int:
        """Index in `thresholds` of the threshold per-ROI outcomes use."""
        return next(i for i, t in enumerate(self.thresholds) if math.isclose(t, self.iou))

    @property
    def map_thresholds(self) -> list[int]:
        """Indexes in `thresholds` that mAP averages over."""
        return [
            i
            for i, t in enumerate(self.thresholds)
            if any(math.isclose(t, m) for m in self.iou_threshs)
        ]

    @property
    def max_det(self) -> int | None:
        return self.max_dets[-1] if self.max_dets else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["iou_threshs"] = list(self.iou_threshs)
        out["area_ranges"] = [list(r) for r in self.area_ranges]
        out["max_dets"] = list(self.max_dets)
        out["keypoint_sigmas"] = {label: list(values) for label, values in self.keypoint_sigmas}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationConfig:
        return cls(
            method=str(data["method"]),
            iou=float(data["iou"]),
            iou_threshs=tuple(float(t) for t in data["iou_threshs"]),
            classwise=bool(data["classwise"]),
            use_masks=bool(data["use_masks"]),
            compute_mAP=bool(data["compute_mAP"]),
            area_ranges=tuple((str(n), float(lo), float(hi)) for n, lo, hi in data["area_ranges"]),
            max_dets=tuple(int(m) for m in data["max_dets"]),
            # Runs stored before keypoints were evaluated have none of these.
            use_keypoints=bool(data.get("use_keypoints", False)),
            keypoint_sigmas=tuple(
                (str(label), tuple(float(v) for v in values))
                for label, values in dict(data.get("keypoint_sigmas") or {}).items()
            ),
            keypoint_sigma=float(data.get("keypoint_sigma", DEFAULT_KEYPOINT_SIGMA)),
        )


def keypoint_sigma_options(
    value: Mapping[str, Sequence[float]] | float | None,
) -> tuple[tuple[tuple[str, tuple[float, ...]], ...], float]:
    """`keypoint_sigmas` as (per-label lists, uniform sigma): a number is the uniform sigma of
    every label without COCO's names, a mapping gives labels their lists."""
    if value is None:
        return (), DEFAULT_KEYPOINT_SIGMA
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (), _sigma(value)
    if not isinstance(value, Mapping):
        raise EvaluationError(
            f"keypoint_sigmas must be a number or {{label: [sigma, ...]}}, got {value!r}"
        )
    out = []
    for label, values in value.items():
        if not isinstance(label, str) or isinstance(values, str | bytes):
            raise EvaluationError(f"keypoint_sigmas: {label!r} must name a label's sigma list")
        try:
            sigmas = tuple(_sigma(v) for v in values)
        except TypeError:
            raise EvaluationError(
                f"keypoint_sigmas[{label!r}] must be a list of numbers, got {values!r}"
            ) from None
        if not sigmas:
            raise EvaluationError(f"keypoint_sigmas[{label!r}] is empty")
        out.append((label, sigmas))
    return tuple(sorted(out)), DEFAULT_KEYPOINT_SIGMA


def _sigma(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise EvaluationError(f"a keypoint sigma must be a positive number, got {value!r}")
    return float(value)


def _flag(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise EvaluationError(f"{name} must be True or False, got {value!r}")


def _threshold(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise EvaluationError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _area_ranges(ranges: Mapping[str, tuple[float, float]]) -> tuple[tuple[str, float, float], ...]:
    out = []
    for name, bounds in ranges.items():
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise EvaluationError(
                f"area range {name!r} must be (min, max), got {bounds!r}"
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise EvaluationError(f"area range {name!r} must be finite with min <= max")
        out.append((str(name), lo, hi))
    if not out:
        raise EvaluationError("area_ranges needs at least one range")
    return tuple(out)


def _caps(values: Sequence[int]) -> tuple[int, ...]:
    caps = tuple(values)
    if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in caps):
        raise EvaluationError(f"max_dets must be positive integers, got {list(caps)!r}")
    if list(caps) != sorted(caps):
        raise EvaluationError(f"max_dets must be in increasing order, got {list(caps)!r}")
    return caps
