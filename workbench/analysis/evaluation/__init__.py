"""Detection evaluation: match predictions to ground truth, compute AP, store per-ROI outcomes.

    results = catalog.evaluate_detections("predictions", "ground_truth", eval_key="eval")
    results.print_report()
    catalog.view().match_eval("eval", "fp", min_confidence=0.8).sort_by_eval_count(
        "eval", "fp", reverse=True)

See docs/evaluation.md for the method, the tables and the differences from pycocotools.
"""

from workbench.analysis.evaluation.config import EvaluationConfig
from workbench.analysis.evaluation.outcomes import OUTCOMES
from workbench.analysis.evaluation.results import (
    BACKGROUND,
    ClassResult,
    ConfusionMatrix,
    DetectionResults,
    PRCurve,
)
from workbench.analysis.evaluation.run import evaluate_detections
from workbench.analysis.evaluation.storage import (
    EvaluationInfo,
    EvaluationRemoval,
    delete,
    list_evaluations,
    load_results,
    load_view,
    rename,
)

__all__ = [
    "BACKGROUND",
    "OUTCOMES",
    "ClassResult",
    "ConfusionMatrix",
    "DetectionResults",
    "EvaluationConfig",
    "EvaluationInfo",
    "EvaluationRemoval",
    "PRCurve",
    "delete",
    "evaluate_detections",
    "list_evaluations",
    "load_results",
    "load_view",
    "rename",
]
