"""The stages of a view: small frozen records, each knowing how it narrows or orders a plan.

Stages serialise to plain dicts (`{"stage": "match", ...}`) for saved views; `stage_from_dict`
is the only way back, so a saved spec can never name anything but these classes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from workbench.errors import QueryError
from workbench.query._sql import (
    INLINE_LIST_MAX,
    TRUE,
    Compiled,
    all_of,
    in_list,
    json_pointer,
    sql,
)
from workbench.query.plan import OrderTerm, Plan
from workbench.store.schema import PROMOTED_KEYS, ROI_KINDS
from workbench.store.sqlsafe import embed_where, quote_ident

METADATA_PREFIX = "metadata."
# Frame columns match() and sort_by() must not treat as plain values.
_NOT_MATCHABLE = frozenset({"metadata"})


class Stage:
    """One step of a view. Subclasses are frozen dataclasses with JSON-friendly fields."""

    kind: ClassVar[str]
    # Stages that act on the result of an earlier skip()/limit() need that window sealed.
    seals: ClassVar[bool] = True

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            out[f.name] = _jsonable(getattr(self, f.name))
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _frozen(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _strings(values: Sequence[str] | str | None, what: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return (values,)
    out = tuple(values)
    if not all(isinstance(v, str) for v in out):
        raise QueryError(f"{what} must be strings, got {list(out)!r}")
    return out


# -- frame filters ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Where(Stage):
    """A boolean SQL expression over `frames f`, typed by a person; values as `?` params.

    The view checks, before it runs, that the fragment is one expression on its own
    (`sqlsafe.check_where`): it is embedded exactly as that check parsed it.
    """

    kind: ClassVar[str] = "where"
    sql: str
    params: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise QueryError("a where stage needs a SQL expression")
        if not isinstance(self.params, tuple):
            raise QueryError(f"where params must be a list, got {type(self.params).__name__}")

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        plan.conditions.append(Compiled(embed_where(self.sql), tuple(self.params)))
        plan.raw_sql = True
        plan.reorders = True  # it may hold a subquery


@dataclass(frozen=True)
class Match(Stage):
    """key == value (or IN a list) on frame columns, promoted keys, or metadata JSON."""

    kind: ClassVar[str] = "match"
    criteria: tuple[tuple[str, Any], ...]

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        for key, value in self.criteria:
            plan.conditions.append(_match_one(key, value, frame_columns))


def metadata_expr(key: str, frame_columns: frozenset[str]) -> tuple[Compiled, bool]:
    """The SQL of a frame column or metadata key, and whether it reads the JSON metadata.

    `metadata.<key>` always means the metadata key; a bare key is a frame column when one has
    that name. Promoted keys read their own column either way: no JSON parsing per frame.
    """
    name = key.removeprefix(METADATA_PREFIX)
    forced = key.startswith(METADATA_PREFIX)
    if name in PROMOTED_KEYS or (not forced and name in frame_columns - _NOT_MATCHABLE):
        return Compiled("f." + quote_ident(name)), False
    return sql("json_extract_string(f.metadata, ?)", json_pointer(name)), True


def _json_text(value: Any) -> Any:
    """A Python value as `json_extract_string` shows it: strings bare, the rest as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _match_one(key: str, value: Any, frame_columns: frozenset[str]) -> Compiled:
    expr, is_json = metadata_expr(key, frame_columns)
    promoted = key.removeprefix(METADATA_PREFIX) in PROMOTED_KEYS

    def convert(v: Any) -> Any:
        if is_json:
            return _json_text(v)
        # Promoted columns hold str(value), as the writer stores them.
        return str(v) if promoted and v is not None and not isinstance(v, str) else v

    values = list(value) if isinstance(value, list | tuple) else [value]
    if not values:
        return Compiled("FALSE")  # in an empty list: nothing matches
    present = [convert(v) for v in values if v is not None]
    parts: list[Compiled] = []
    if present:
        single = len(present) == 1 and len(values) == 1
        parts.append(expr + sql(" = ?", present[0]) if single else _in(expr, present))
    if len(present) < len(values):
        parts.append(expr + " IS NULL")
    return Compiled.join(parts, " OR ") if len(parts) > 1 else parts[0]


def _in(expr: Compiled, values: list[Any]) -> Compiled:
    marks = ", ".join("?" for _ in values)
    return expr + Compiled(f" IN ({marks})", tuple(values))


@dataclass(frozen=True)
class SelectFrames(Stage):
    kind: ClassVar[str] = "select"
    frame_ids: tuple[str, ...]

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        plan.conditions.append(in_list("f.id", self.frame_ids, "VARCHAR"))
        plan.reorders |= len(self.frame_ids) > INLINE_LIST_MAX


@dataclass(frozen=True)
class ExcludeFrames(Stage):
    kind: ClassVar[str] = "exclude"
    frame_ids: tuple[str, ...]

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        if self.frame_ids:
            plan.conditions.append("NOT (" + in_list("f.id", self.frame_ids, "VARCHAR") + ")")
            plan.reorders |= len(self.frame_ids) > INLINE_LIST_MAX


@dataclass(frozen=True)
class SelectContexts(Stage):
    kind: ClassVar[str] = "select_contexts"
    context_ids: tuple[str, ...]

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        plan.conditions.append(in_list("f.context_id", self.context_ids, "VARCHAR"))
        plan.reorders |= len(self.context_ids) > INLINE_LIST_MAX


@dataclass(frozen=True)
class SelectAnnotationRun(Stage):
    """Frames an annotation run holds: those of the scenes placed as inputs in its request."""

    kind: ClassVar[str] = "select_annotation_run"
    anno_key: str

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        plan.conditions.append(
            sql(
                "f.id IN (SELECT unnest(s.frame_ids) FROM annotation_runs a"
                " JOIN inputs i ON i.request_id = a.request_id"
                " JOIN scenes s ON s.uuid = i.scene_uuid WHERE a.anno_key = ?)",
                self.anno_key,
            )
        )
        plan.reorders = True


# -- tags -------------------------------------------------------------------------------------
_FRAME_TAGS = "SELECT t.frame_id FROM tags t WHERE t.roi_id IS NULL AND "


@dataclass(frozen=True)
class MatchTags(Stage):
    """Frames carrying any (or, with all=True, every) one of the frame tags."""

    kind: ClassVar[str] = "match_tags"
    tags: tuple[str, ...]
    all: bool = False

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        tags = sorted(set(self.tags))
        query = Compiled(_FRAME_TAGS) + in_list("t.tag", tags, "VARCHAR")
        if self.all and len(tags) > 1:
            query = query + sql(" GROUP BY t.frame_id HAVING count(DISTINCT t.tag) = ?", len(tags))
        plan.conditions.append("f.id IN (" + query + ")")
        plan.reorders = True


@dataclass(frozen=True)
class ExcludeTags(Stage):
    kind: ClassVar[str] = "exclude_tags"
    tags: tuple[str, ...]

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        if self.tags:
            query = Compiled(_FRAME_TAGS) + in_list("t.tag", sorted(set(self.tags)), "VARCHAR")
            plan.conditions.append("f.id NOT IN (" + query + ")")
            plan.reorders = True


# -- ROIs -------------------------------------------------------------------------------------
def _rois_of_frames(conditions: list[Compiled]) -> Compiled:
    return "SELECT r.frame_id FROM rois r WHERE " + all_of(conditions)


def _field_label(field: str | None, label: str | None) -> list[Compiled]:
    out = []
    if field is not None:
        out.append(sql("r.field = ?", field))
    if label is not None:
        out.append(sql("r.label = ?", label))
    return out


@dataclass(frozen=True)
class FilterRois(Stage):
    """Keep only matching ROIs in the view (of `field`, or of every field when None).

    ROIs of other fields are untouched. With only_matches, frames left without a matching ROI
    of that field are dropped.
    """

    kind: ClassVar[str] = "filter_rois"
    field: str | None = None
    labels: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    min_area: float | None = None
    max_area: float | None = None
    only_matches: bool = True

    def __post_init__(self) -> None:
        bounds = (self.min_confidence, self.max_confidence, self.min_area, self.max_area)
        for bound in bounds:
            if bound is not None and (
                isinstance(bound, bool) or not isinstance(bound, int | float)
            ):
                raise QueryError(f"filter_rois() bounds must be numbers, got {bound!r}")
        for kind in self.kinds or ():
            if kind not in ROI_KINDS:
                raise QueryError(
                    f"unknown ROI kind {kind!r}: expected one of {', '.join(ROI_KINDS)}"
                )

    def condition(self) -> list[Compiled]:
        parts: list[Compiled] = []
        if self.labels is not None:
            parts.append(in_list("r.label", self.labels, "VARCHAR"))
        if self.kinds is not None:
            parts.append(in_list("r.kind", self.kinds, "VARCHAR"))
        bounds = (
            ("r.confidence >= ?", self.min_confidence),
            ("r.confidence <= ?", self.max_confidence),
            ("r.area >= ?", self.min_area),
            ("r.area <= ?", self.max_area),
        )
        parts.extend(sql(text, float(v)) for text, v in bounds if v is not None)
        return parts

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        cond = self.condition()
        if self.only_matches:
            matching = [*_field_label(self.field, None), *cond, *plan.roi_filters]
            plan.roi_sets.append(_rois_of_frames(matching))
            plan.reorders = True
        if cond:
            keep = all_of(cond)
            if self.field is not None:
                keep = sql("r.field <> ? OR ", self.field) + ("(" + keep + ")")
            plan.roi_filters.append(keep)


@dataclass(frozen=True)
class HasRois(Stage):
    """Frames with at least one of the view's ROIs of `field` (and `label`, if given)."""

    kind: ClassVar[str] = "has_rois"
    field: str | None = None
    label: str | None = None

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        matching = [*_field_label(self.field, self.label), *plan.roi_filters]
        plan.roi_sets.append(_rois_of_frames(matching))
        plan.reorders = True


@dataclass(frozen=True)
class LacksRois(Stage):
    """Frames with none of the view's ROIs of `field` (and `label`, if given)."""

    kind: ClassVar[str] = "lacks_rois"
    field: str | None = None
    label: str | None = None

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        matching = [*_field_label(self.field, self.label), *plan.roi_filters]
        plan.conditions.append("f.id NOT IN (" + _rois_of_frames(matching) + ")")
        plan.reorders = True


# -- evaluation outcomes ----------------------------------------------------------------------
# What evaluate_detections records per ROI (docs/evaluation.md); the tables it writes are read
# here as plain SQL, so this module needs nothing of workbench.analysis.
EVAL_OUTCOMES: tuple[str, ...] = ("tp", "fp", "fn", "ignored")
# Which of an evaluation's two fields can hold each outcome.
_OUTCOME_FIELDS = {"tp": ("pred", "gt"), "fp": ("pred",), "fn": ("gt",), "ignored": ("pred", "gt")}


def _eval_value(column: str, eval_key: str) -> Compiled:
    """A column of the evaluation named `eval_key`, as a scalar subquery (NULL if none)."""
    return sql(f"(SELECT {column} FROM evaluations WHERE eval_key = ?)", eval_key)


def _outcomes(values: Sequence[str] | str, what: str) -> tuple[str, ...]:
    found = _strings(values, what) or ()
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
                plan.roi_sets.append(_rois_of_frames(matching))
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
        rows = [*_eval_rows(self.eval_key, self.outcomes), Compiled("e.frame_id = f.id")]
        earlier = _eval_only(plan, self.eval_key)
        if earlier is None:
            count = Compiled.join(
                [
                    "(SELECT count(*) FROM eval_rois e JOIN rois r ON r.frame_id = e.frame_id"
                    " AND r.id = e.roi_id AND r.field = e.field WHERE ",
                    all_of([*rows, *plan.roi_filters]),
                    ")",
                ],
                "",
            )
        else:  # only match_eval filters of this run: its own rows say it all
            count = "(SELECT count(*) FROM eval_rois e WHERE " + all_of([*rows, *earlier]) + ")"
        plan.order = [OrderTerm(count, self.reverse), *plan.order]


# -- order and window -------------------------------------------------------------------------
@dataclass(frozen=True)
class SortBy(Stage):
    """Order by a frame column or `metadata.<key>`; earlier order breaks ties (stable sort)."""

    kind: ClassVar[str] = "sort_by"
    column: str
    reverse: bool = False

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        plan.order = [*sort_terms(self.column, self.reverse, frame_columns), *plan.order]


def sort_terms(column: str, reverse: bool, frame_columns: frozenset[str]) -> list[OrderTerm]:
    if column.startswith(METADATA_PREFIX):
        expr, is_json = metadata_expr(column, frame_columns)
        if not is_json:
            return [OrderTerm(expr, reverse)]
        # Numbers sort as numbers (2 before 10), then everything else as text.
        numeric = "TRY_CAST(" + expr + " AS DOUBLE)"
        return [OrderTerm(numeric, reverse), OrderTerm(expr, reverse)]
    if column not in frame_columns:
        raise QueryError(
            f"cannot sort by {column!r}: not a frame column "
            f"({', '.join(sorted(frame_columns))}) nor metadata.<key>"
        )
    return [OrderTerm(Compiled("f." + quote_ident(column)), reverse)]


@dataclass(frozen=True)
class Skip(Stage):
    kind: ClassVar[str] = "skip"
    seals: ClassVar[bool] = False
    n: int

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        plan.offset += self.n
        if plan.limit is not None:
            plan.limit = max(plan.limit - self.n, 0)


@dataclass(frozen=True)
class Limit(Stage):
    kind: ClassVar[str] = "limit"
    seals: ClassVar[bool] = False
    n: int

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        plan.limit = self.n if plan.limit is None else min(plan.limit, self.n)


STAGES: dict[str, type[Stage]] = {
    cls.kind: cls
    for cls in (
        Where,
        Match,
        SelectFrames,
        ExcludeFrames,
        SelectContexts,
        SelectAnnotationRun,
        MatchTags,
        ExcludeTags,
        FilterRois,
        HasRois,
        LacksRois,
        MatchEval,
        SortByEvalCount,
        SortBy,
        Skip,
        Limit,
    )
}


def stage_from_dict(data: dict[str, Any]) -> Stage:
    if not isinstance(data, dict) or "stage" not in data:
        raise QueryError(f"a view stage must be a dict with a 'stage' key, got {data!r}")
    args = dict(data)
    kind = args.pop("stage")
    cls = STAGES.get(kind)
    if cls is None:
        raise QueryError(f"unknown view stage {kind!r}: expected one of {', '.join(STAGES)}")
    try:
        return cls(**{k: _frozen(v) for k, v in args.items()})
    except TypeError as exc:
        raise QueryError(f"bad arguments for stage {kind!r}: {exc}") from exc


def build_plan(stages: Sequence[Stage], frame_columns: frozenset[str]) -> Plan:
    plan = Plan()
    for stage in stages:
        if stage.seals:
            plan.seal()
        stage.apply(plan, frame_columns)
    return plan


# The stages of embeddings, duplicates and sequence QA register themselves in STAGES.
import workbench.query.similarity_stages  # noqa: E402, F401
