"""The stages over an evaluation's outcomes: `match_eval` and `sort_by_eval_count`.

What evaluate_detections records per ROI (docs/evaluation.md) is read here as plain SQL over
the `evaluations` and `eval_rois` tables, so the query layer needs nothing of
workbench.analysis, which sits above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from workbench.errors import QueryError
from workbench.query._sql import TRUE, Compiled, all_of, in_list, sql
from workbench.query.plan import OrderTerm, Plan
from workbench.query.stage_base import Stage, rois_of_frames, strings

EVAL_OUTCOMES: tuple[str, ...] = ("tp", "fp", "fn", "ignored")
# Which of an evaluation's two fields can hold each outcome.
_OUTCOME_FIELDS = {"tp": ("pred", "gt"), "fp": ("pred",), "fn": ("gt",), "ignored": ("pred", "gt")}


def _eval_value(column: str, eval_key: str) -> Compiled:
    """A column of the evaluation named `eval_key`, as a scalar subquery (NULL if none)."""
    return sql(f"(SELECT {column} FROM evaluations WHERE eval_key = ?)", eval_key)


def _outcomes(values: Sequence[str] | str, what: str) -> tuple[str, ...]:
    found = strings(values, what) or ()
    unknown = [v for v in found if v not in EVAL_OUTCOMES]
    if not found or unknown:
        raise QueryError(
            f"{what} must name outcomes among {', '.join(EVAL_OUTCOMES)}, got {list(found)!r}"
        )
    return found


def _eval_rows(eval_key: str, outcomes: Sequence[str]) -> list[Compiled]:
    """Conditions on `eval_rois e`: of the run, with one of the outcomes."""
    return [
        "e.run_id = " + _eval_value("run_id", eval_key),
        in_list("e.outcome", list(outcomes), "VARCHAR"),
    ]


@dataclass(frozen=True)
class _EvalFilter(Compiled):
    """A match_eval ROI filter over `rois r`, and the same filter over the run's own rows
    (`eval_rois e`): stages counting outcomes then need no join with rois."""

    eval_key: str = ""
    on_eval: Compiled = TRUE


def _eval_only(plan: Plan, eval_key: str) -> list[Compiled] | None:
    """The view's ROI filters as conditions on eval_rois rows of `eval_key`, when they all
    come from match_eval stages of that key; None otherwise."""
    if all(isinstance(f, _EvalFilter) and f.eval_key == eval_key for f in plan.roi_filters):
        return [f.on_eval for f in plan.roi_filters if isinstance(f, _EvalFilter)]
    return None


@dataclass(frozen=True)
class MatchEval(Stage):
    """Keep the ROIs an evaluation gave one of `outcomes`, and the frames holding any.

    Only the evaluation's fields that can have those outcomes are narrowed (fp: predictions,
    fn: ground truth, tp and ignored: both); confidence bounds apply to the predictions.
    """

    kind: ClassVar[str] = "match_eval"
    eval_key: str
    outcomes: tuple[str, ...]
    min_confidence: float | None = None
    max_confidence: float | None = None
    only_matches: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.eval_key, str) or not self.eval_key:
            raise QueryError(f"match_eval() needs an evaluation key, got {self.eval_key!r}")
        _outcomes(self.outcomes, "match_eval() outcomes")
        for bound in (self.min_confidence, self.max_confidence):
            if bound is not None and (
                isinstance(bound, bool) or not isinstance(bound, int | float)
            ):
                raise QueryError(f"match_eval() confidence bounds must be numbers, got {bound!r}")

    def _fields(self, alias: str) -> Compiled:
        roles = {role for o in self.outcomes for role in _OUTCOME_FIELDS[o]}
        columns = [_eval_value(f"{role}_field", self.eval_key) for role in sorted(roles)]
        return f"{alias}.field IN (" + Compiled.join(columns, ", ") + ")"

    def _confident(self, alias: str) -> Compiled:
        bounds = []
        if self.min_confidence is not None:
            bounds.append(sql(f"{alias}.confidence >= ?", float(self.min_confidence)))
        if self.max_confidence is not None:
            bounds.append(sql(f"{alias}.confidence <= ?", float(self.max_confidence)))
        if not bounds:
            return Compiled("TRUE")
        pred = _eval_value("pred_field", self.eval_key)
        return f"{alias}.field <> " + pred + " OR (" + all_of(bounds) + ")"

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        in_eval = Compiled.join(
            [
                "EXISTS (SELECT 1 FROM eval_rois e WHERE e.frame_id = r.frame_id"
                " AND e.roi_id = r.id AND e.field = r.field AND ",
                all_of(_eval_rows(self.eval_key, self.outcomes)),
                ")",
            ],
            "",
        )
        keep = [in_eval, self._confident("r")]
        if self.only_matches:
            earlier = _eval_only(plan, self.eval_key)
            if earlier is None:
                matching = [self._fields("r"), *keep, *plan.roi_filters]
                plan.roi_sets.append(rois_of_frames(matching))
            else:  # read the run's rows alone: no join with rois
                rows = [*_eval_rows(self.eval_key, self.outcomes), self._confident("e"), *earlier]
                plan.roi_sets.append(
                    "SELECT e.frame_id AS frame_id FROM eval_rois e WHERE " + all_of(rows)
                )
            plan.reorders = True
        on_rois = "NOT (" + self._fields("r") + ") OR (" + all_of(keep) + ")"
        outcome = in_list("e.outcome", list(self.outcomes), "VARCHAR")
        on_eval = (
            "NOT (" + self._fields("e") + ") OR (" + all_of([outcome, self._confident("e")]) + ")"
        )
        plan.roi_filters.append(_EvalFilter(on_rois.sql, on_rois.params, self.eval_key, on_eval))


@dataclass(frozen=True)
class SortByEvalCount(Stage):
    """Order frames by how many of the view's ROIs an evaluation gave one of `outcomes`
    (ROIs as narrowed by earlier stages); frames the run did not cover count 0."""

    kind: ClassVar[str] = "sort_by_eval_count"
    eval_key: str
    outcomes: tuple[str, ...]
    reverse: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.eval_key, str) or not self.eval_key:
            raise QueryError(f"sort_by_eval_count() needs an evaluation key, got {self.eval_key!r}")
        _outcomes(self.outcomes, "sort_by_eval_count() outcomes")

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        # Counted once per frame by one grouped query joined to the frames (a count per frame
        # as a correlated subquery cost 30x more at 1M frames).
        rows = _eval_rows(self.eval_key, self.outcomes)
        earlier = _eval_only(plan, self.eval_key)
        if earlier is None:
            counted = Compiled.join(
                [
                    "SELECT e.frame_id, count(*) AS n FROM eval_rois e JOIN rois r"
                    " ON r.frame_id = e.frame_id AND r.id = e.roi_id AND r.field = e.field WHERE ",
                    all_of([*rows, *plan.roi_filters]),
                    " GROUP BY e.frame_id",
                ],
                "",
            )
        else:  # only match_eval filters of this run: its own rows say it all
            counted = (
                "SELECT e.frame_id, count(*) AS n FROM eval_rois e WHERE "
                + all_of([*rows, *earlier])
                + " GROUP BY e.frame_id"
            )
        alias = f"_ec{plan.source.sql.count(' _ec') + 1}"
        plan.source = plan.source + (
            " LEFT JOIN (" + counted + f") {alias} ON {alias}.frame_id = f.id"
        )
        count = Compiled(f"coalesce({alias}.n, 0)")
        plan.order = [OrderTerm(count, self.reverse), *plan.order]
        plan.reorders = True


# The confusion matrix's row and column of "nothing" (workbench.analysis.evaluation.BACKGROUND):
# predictions that matched no ground truth, ground truth no prediction matched.
NOTHING = "(none)"


def _partner(eval_key: str, field: str, label: str) -> Compiled:
    """The row `e` matched an ROI of the evaluation's `field` ("pred_field"/"gt_field")
    labelled `label`, or (label NOTHING) matched nothing."""
    if label == NOTHING:
        return Compiled("e.match_id IS NULL")
    return Compiled.join(
        [
            "EXISTS (SELECT 1 FROM eval_rois m WHERE m.run_id = e.run_id"
            " AND m.frame_id = e.frame_id AND m.roi_id = e.match_id AND m.field = ",
            _eval_value(field, eval_key),
            sql(" AND m.label = ?)", label),
        ],
        "",
    )


@dataclass(frozen=True)
class MatchConfusion(Stage):
    """Keep the ROIs of one cell of an evaluation's confusion matrix, and their frames:
    ground truth labelled `truth` matched by predictions labelled `predicted`, both sides of
    each pair. `truth` "(none)": the predictions of `predicted` that matched nothing;
    `predicted` "(none)": the ground truth of `truth` nothing matched. ROIs of other fields
    stay; ignored ROIs (crowds, capped detections) are in no cell."""

    kind: ClassVar[str] = "match_confusion"
    eval_key: str
    truth: str
    predicted: str

    def __post_init__(self) -> None:
        if not isinstance(self.eval_key, str) or not self.eval_key:
            raise QueryError(f"match_confusion() needs an evaluation key, got {self.eval_key!r}")
        for value in (self.truth, self.predicted):
            if not isinstance(value, str) or not value:
                raise QueryError(f"match_confusion() labels must be strings, got {value!r}")
        if self.truth == NOTHING and self.predicted == NOTHING:
            raise QueryError("match_confusion() needs a label on one side at least")

    def _cell(self) -> Compiled:
        """The cell's rows of `eval_rois e` (of any run: callers add the run)."""
        sides: list[Compiled] = []
        if self.predicted != NOTHING:
            sides.append(
                all_of(
                    [
                        "e.field = " + _eval_value("pred_field", self.eval_key),
                        sql("e.label = ?", self.predicted),
                        Compiled("e.outcome IN ('tp', 'fp')"),
                        _partner(self.eval_key, "gt_field", self.truth),
                    ]
                )
            )
        if self.truth != NOTHING:
            sides.append(
                all_of(
                    [
                        "e.field = " + _eval_value("gt_field", self.eval_key),
                        sql("e.label = ?", self.truth),
                        Compiled("e.outcome IN ('tp', 'fn')"),
                        _partner(self.eval_key, "pred_field", self.predicted),
                    ]
                )
            )
        return "(" + Compiled.join(sides, " OR ") + ")"

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        run = "e.run_id = " + _eval_value("run_id", self.eval_key)
        cell = self._cell()
        plan.roi_sets.append(
            "SELECT e.frame_id AS frame_id FROM eval_rois e WHERE " + all_of([run, cell])
        )
        plan.reorders = True
        fields = Compiled.join(
            [
                "r.field IN (",
                _eval_value("pred_field", self.eval_key),
                ", ",
                _eval_value("gt_field", self.eval_key),
                ")",
            ],
            "",
        )
        in_cell = Compiled.join(
            [
                "EXISTS (SELECT 1 FROM eval_rois e WHERE e.frame_id = r.frame_id"
                " AND e.roi_id = r.id AND e.field = r.field AND ",
                all_of([run, cell]),
                ")",
            ],
            "",
        )
        plan.roi_filters.append("NOT (" + fields + ") OR " + in_cell)
