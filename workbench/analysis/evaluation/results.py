"""The results of an evaluation: typed, frozen, serialisable, and printable as a report."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.analysis.evaluation.config import RECALL_THRESHOLDS, EvaluationConfig

# The row and column of the confusion matrix for "nothing": predictions that matched no ground
# truth (row) and ground truth no prediction matched (column).
BACKGROUND = "(none)"


@dataclass(frozen=True)
class ClassResult:
    """One class at the run's IoU: AP (over the run's thresholds; None when the class has no
    ground truth or mAP was not computed) and counts. `support` counts ground truth that is not
    ignored (crowds are); precision, recall and f1 are None when undefined."""

    label: str
    ap: float | None
    tp: int
    fp: int
    fn: int
    support: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.support if self.support else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None


@dataclass(frozen=True)
class PRCurve:
    """COCO's interpolated precision at 101 recall levels for one class and IoU threshold (the
    first area range, the largest cap); `scores[i]` is the confidence reaching `recall[i]`.
    Precision is 0 at recall levels the detections never reach. `label` is "(all)" when the run
    ignored classes (classwise=False)."""

    label: str
    iou: float
    recall: tuple[float, ...]
    precision: tuple[float, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class ConfusionMatrix:
    """counts[i][j]: ground truth of labels[i] matched by a prediction of labels[j] at the run's
    IoU. The last label is BACKGROUND: its row holds unmatched predictions, its column unmatched
    ground truth. Ignored ROIs (crowds, capped detections) are not counted."""

    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    def count(self, truth: str, predicted: str) -> int:
        return self.counts[self.labels.index(truth)][self.labels.index(predicted)]


@dataclass(frozen=True)
class DetectionResults:
    """What `evaluate_detections` found. `mAP` is COCO's AP (IoU thresholds averaged, first
    area range, largest cap), None without mAP; `stats` holds COCO's summary figures (AP,
    AP50, AP75, AP per area range, AR per cap and area range; -1 where undefined, as COCOeval)."""

    eval_key: str
    pred_field: str
    gt_field: str
    config: EvaluationConfig
    mAP: float | None
    stats: Mapping[str, float]
    classes: tuple[ClassResult, ...]
    curves: tuple[PRCurve, ...]
    confusion: ConfusionMatrix
    frames: int
    warnings: tuple[str, ...] = field(default=())

    # -- looking things up ----------------------------------------------------------------------
    @property
    def tp(self) -> int:
        return sum(c.tp for c in self.classes)

    @property
    def fp(self) -> int:
        return sum(c.fp for c in self.classes)

    @property
    def fn(self) -> int:
        return sum(c.fn for c in self.classes)

    @property
    def measure(self) -> str:
        """What the thresholds compare: "OKS" for keypoints, else "IoU"."""
        return "OKS" if self.config.use_keypoints else "IoU"

    def ap(self, label: str) -> float | None:
        return self._class(label).ap

    def counts(self, label: str) -> ClassResult:
        return self._class(label)

    def curve(self, label: str, iou: float | None = None) -> PRCurve:
        """The precision/recall curve of `label` at `iou` (the run's IoU by default)."""
        wanted = self.config.iou if iou is None else iou
        for curve in self.curves:
            if curve.label == label and math.isclose(curve.iou, wanted):
                return curve
        raise KeyError(f"no curve for {label!r} at IoU {wanted}")

    def _class(self, label: str) -> ClassResult:
        for c in self.classes:
            if c.label == label:
                return c
        raise KeyError(f"no class {label!r} in evaluation {self.eval_key!r}")

    # -- reporting -------------------------------------------------------------------------------
    def report(self) -> str:
        """A text table: per class AP, precision, recall, f1, tp/fp/fn and support."""
        head = (
            f"evaluation {self.eval_key!r}: {self.pred_field} against {self.gt_field}, "
            f"{self.config.method} at {self.measure} {self.config.iou:g} over {self.frames} frames"
        )
        lines = [head]
        if self.mAP is not None:
            lines.append(f"mAP {_num(self.mAP)}")
        width = max([len(c.label) for c in self.classes] + [5])
        columns = ("AP", "precision", "recall", "f1", "tp", "fp", "fn", "support")
        lines.append(f"{'class':<{width}}  " + "  ".join(f"{c:>9}" for c in columns))
        for c in (*self.classes, self._total()):
            values = (c.ap, c.precision, c.recall, c.f1, c.tp, c.fp, c.fn, c.support)
            lines.append(f"{c.label:<{width}}  " + "  ".join(f"{_num(v):>9}" for v in values))
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def print_report(self) -> None:
        print(self.report())

    def _total(self) -> ClassResult:
        support = sum(c.support for c in self.classes)
        return ClassResult("(total)", self.mAP, self.tp, self.fp, self.fn, support)

    def __str__(self) -> str:
        return self.report()

    # -- serialising ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "eval_key": self.eval_key,
            "pred_field": self.pred_field,
            "gt_field": self.gt_field,
            "config": self.config.to_dict(),
            "mAP": self.mAP,
            "stats": dict(self.stats),
            "classes": [[c.label, c.ap, c.tp, c.fp, c.fn, c.support] for c in self.classes],
            "curves": [
                {
                    "label": c.label,
                    "iou": c.iou,
                    "precision": list(c.precision),
                    "scores": list(c.scores),
                }
                for c in self.curves
            ],
            "confusion": {
                "labels": list(self.confusion.labels),
                "counts": [list(r) for r in self.confusion.counts],
            },
            "frames": self.frames,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], eval_key: str | None = None) -> DetectionResults:
        recall = tuple(float(r) for r in RECALL_THRESHOLDS)
        return cls(
            eval_key=eval_key if eval_key is not None else str(data["eval_key"]),
            pred_field=str(data["pred_field"]),
            gt_field=str(data["gt_field"]),
            config=EvaluationConfig.from_dict(data["config"]),
            mAP=data["mAP"],
            stats={str(k): float(v) for k, v in data["stats"].items()},
            classes=tuple(
                ClassResult(str(label), ap, int(tp), int(fp), int(fn), int(support))
                for label, ap, tp, fp, fn, support in data["classes"]
            ),
            curves=tuple(
                PRCurve(
                    str(c["label"]),
                    float(c["iou"]),
                    recall,
                    tuple(float(p) for p in c["precision"]),
                    tuple(float(s) for s in c["scores"]),
                )
                for c in data["curves"]
            ),
            confusion=ConfusionMatrix(
                tuple(data["confusion"]["labels"]),
                tuple(tuple(int(v) for v in row) for row in data["confusion"]["counts"]),
            ),
            frames=int(data["frames"]),
            warnings=tuple(data.get("warnings", ())),
        )


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}"
