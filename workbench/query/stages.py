"""The stages of a view: small frozen records, each knowing how it narrows or orders a plan.

By family: frame filters, tags, ROIs, order and window here; the evaluation stages in
workbench.query.eval_stages; what a stage is in workbench.query.stage_base.

Stages serialise to plain dicts (`{"stage": "match", ...}`) for saved views; `stage_from_dict`
is the only way back, so a saved spec can never name anything but these classes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.errors import QueryError
from workbench.model.records import PROMOTED_KEYS, ROI_KINDS
from workbench.query._sql import (
    INLINE_LIST_MAX,
    TRUE,
    Compiled,
    all_of,
    in_list,
    json_pointer,
    sql,
)
from workbench.query.eval_stages import MatchConfusion, MatchEval, SortByEvalCount
from workbench.query.plan import KeySet, LabelFilter, OrderTerm, Plan
from workbench.query.stage_base import Stage, frozen
from workbench.store.sqlsafe import embed_where, quote_ident

METADATA_PREFIX = "metadata."
# Frame columns match() and sort_by() must not treat as plain values.
_NOT_MATCHABLE = frozenset({"metadata"})


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
            plan.conditions.append(_match_one(key, value, frame_columns, plan.promoted))


def metadata_expr(
    key: str, frame_columns: frozenset[str], promoted: dict[str, str] | None = None
) -> tuple[Compiled, bool]:
    """The SQL of a frame column or metadata key, and whether it holds JSON metadata text.

    `metadata.<key>` always means the metadata key; a bare key is a frame column when one has
    that name. Promoted keys read their own column either way: no JSON parsing per frame.
    Keys the catalog promoted from its data (`promoted`: key -> column) read a column holding
    exactly what `json_extract_string` gives.
    """
    name = key.removeprefix(METADATA_PREFIX)
    forced = key.startswith(METADATA_PREFIX)
    if name in PROMOTED_KEYS or (not forced and name in frame_columns - _NOT_MATCHABLE):
        return Compiled("f." + quote_ident(name)), False
    if promoted and name in promoted:
        return Compiled("f." + quote_ident(promoted[name])), True
    return sql("json_extract_string(f.metadata, ?)", json_pointer(name)), True


def key_column(key: str, frame_columns: frozenset[str], promoted: dict[str, str]) -> str | None:
    """The frame column `number_expr` reads a key's values from, or None for a metadata key
    read from the JSON (not promoted) and the promoted text keys (weather, camera...)."""
    name = key.removeprefix(METADATA_PREFIX)
    if name in PROMOTED_KEYS:
        return None
    if name == key and name in frame_columns - _NOT_MATCHABLE:
        return name
    return promoted.get(name)


def _json_text(value: Any) -> Any:
    """A Python value as `json_extract_string` shows it: strings bare, the rest as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _match_one(
    key: str, value: Any, frame_columns: frozenset[str], promoted: dict[str, str]
) -> Compiled:
    expr, is_json = metadata_expr(key, frame_columns, promoted)
    as_text = key.removeprefix(METADATA_PREFIX) in PROMOTED_KEYS

    def convert(v: Any) -> Any:
        if is_json:
            return _json_text(v)
        # Promoted columns hold str(value), as the writer stores them.
        return str(v) if as_text and v is not None and not isinstance(v, str) else v

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
# ROI stages read the per-frame label summaries (frame_labels, one row per frame and label,
# with its ROI count and confidence range) when what they ask is about fields, labels and
# confidences only; anything else (kinds, areas, an evaluation's outcomes) reads the ROIs.
def _field_label(field: str | None, label: str | None) -> list[Compiled]:
    out = []
    if field is not None:
        out.append(sql("r.field = ?", field))
    if label is not None:
        out.append(sql("r.label = ?", label))
    return out


def _summarised(plan: Plan) -> bool:
    """Whether the view's ROI filters so far read fields and labels only."""
    return all(isinstance(f, LabelFilter) for f in plan.roi_filters)


def _label_keys(conditions: list[Compiled]) -> Compiled:
    """The frame_labels rows (alias l) of the labels meeting `conditions` (over `r.field`,
    `r.label`)."""
    if not conditions:
        return TRUE
    return "l.label_key IN (SELECT r.label_key FROM label_keys r WHERE " + all_of(conditions) + ")"


def _summary_frames(conditions: list[Compiled], unique: bool) -> KeySet:
    query = "SELECT l.frame_key FROM frame_labels l WHERE " + _label_keys(conditions)
    return KeySet(query.sql, query.params, unique)


def _roi_frames(conditions: list[Compiled]) -> KeySet:
    query = "SELECT r.frame_key FROM rois r WHERE " + all_of(conditions)
    return KeySet(query.sql, query.params)


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

    def _labels(self) -> list[Compiled]:
        return [in_list("r.label", self.labels, "VARCHAR")] if self.labels is not None else []

    def condition(self) -> list[Compiled]:
        parts: list[Compiled] = self._labels()
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

    @property
    def _by_label(self) -> bool:
        """Whether the filter asks about fields, labels and confidences only."""
        return self.kinds is None and self.min_area is None and self.max_area is None

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        cond = self.condition()
        if self.only_matches:
            plan.key_sets.append(self._frames(plan, cond))
            plan.reorders = True
        if cond:
            keep = all_of(cond)
            if self.field is not None:
                keep = sql("r.field <> ? OR ", self.field) + ("(" + keep + ")")
            labels_only = self._by_label and self.min_confidence is None
            labels_only = labels_only and self.max_confidence is None
            plan.roi_filters.append(LabelFilter(keep.sql, keep.params) if labels_only else keep)

    def _frames(self, plan: Plan, cond: list[Compiled]) -> KeySet:
        """The keys of the frames holding a matching ROI (and meeting the earlier filters)."""
        if not (self._by_label and _summarised(plan)):
            return _roi_frames([*_field_label(self.field, None), *cond, *plan.roi_filters])
        labels = [*_field_label(self.field, None), *self._labels(), *plan.roi_filters]
        unique = self.field is not None and self.labels is not None and len(self.labels) == 1
        lo, hi = self.min_confidence, self.max_confidence
        if lo is None and hi is None:
            return _summary_frames(labels, unique and not plan.roi_filters)
        if lo is None or hi is None:
            # One bound: some ROI passes it exactly when the extreme confidence does.
            if lo is not None:
                extra = sql(" AND l.max_confidence >= ?", float(lo))
            else:
                extra = sql(" AND l.min_confidence <= ?", float(hi))  # type: ignore[arg-type]
            found = _summary_frames(labels, False) + extra
            return KeySet(found.sql, found.params, unique and not plan.roi_filters)
        # Two bounds: the summary decides when an extreme confidence lies within them; the
        # frames whose range spans both bounds are checked against their ROIs.
        sure = _summary_frames(labels, False) + sql(
            " AND l.max_confidence >= ? AND l.min_confidence <= ?"
            " AND (l.min_confidence >= ? OR l.max_confidence <= ?)",
            float(lo),
            float(hi),
            float(lo),
            float(hi),
        )
        spanning = _summary_frames(labels, False) + sql(
            " AND l.min_confidence < ? AND l.max_confidence > ?", float(lo), float(hi)
        )
        checked = _roi_frames(
            [
                *_field_label(self.field, None),
                *cond,
                *plan.roi_filters,
                "r.frame_key IN (" + spanning + ")",
            ]
        )
        found = sure + " UNION ALL " + checked
        return KeySet(found.sql, found.params)


def _has(plan: Plan, field: str | None, label: str | None) -> KeySet:
    """The keys of the frames holding one of the view's ROIs of `field` and `label`."""
    matching = [*_field_label(field, label), *plan.roi_filters]
    if not _summarised(plan):
        return _roi_frames(matching)
    unique = field is not None and label is not None and not plan.roi_filters
    return _summary_frames(matching, unique)


@dataclass(frozen=True)
class HasRois(Stage):
    """Frames with at least one of the view's ROIs of `field` (and `label`, if given)."""

    kind: ClassVar[str] = "has_rois"
    field: str | None = None
    label: str | None = None

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        plan.key_sets.append(_has(plan, self.field, self.label))
        plan.reorders = True


@dataclass(frozen=True)
class LacksRois(Stage):
    """Frames with none of the view's ROIs of `field` (and `label`, if given)."""

    kind: ClassVar[str] = "lacks_rois"
    field: str | None = None
    label: str | None = None

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        plan.conditions.append("f.frame_key NOT IN (" + _has(plan, self.field, self.label) + ")")
        plan.reorders = True


# -- order and window -------------------------------------------------------------------------
@dataclass(frozen=True)
class SortBy(Stage):
    """Order by a frame column or `metadata.<key>`; earlier order breaks ties (stable sort)."""

    kind: ClassVar[str] = "sort_by"
    column: str
    reverse: bool = False

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        terms = sort_terms(self.column, self.reverse, frame_columns, plan.promoted)
        plan.order = [*terms, *plan.order]


def sort_terms(
    column: str,
    reverse: bool,
    frame_columns: frozenset[str],
    promoted: dict[str, str] | None = None,
) -> list[OrderTerm]:
    if column.startswith(METADATA_PREFIX):
        expr, is_json = metadata_expr(column, frame_columns, promoted)
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
        MatchConfusion,
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
        return cls(**{k: frozen(v) for k, v in args.items()})
    except TypeError as exc:
        raise QueryError(f"bad arguments for stage {kind!r}: {exc}") from exc


def build_plan(
    stages: Sequence[Stage],
    frame_columns: frozenset[str],
    promoted: dict[str, str] | None = None,
) -> Plan:
    plan = Plan(promoted=dict(promoted or {}))
    for stage in stages:
        if stage.seals:
            plan.seal()
        stage.apply(plan, frame_columns)
    return plan


# The stages of embeddings, duplicates and sequence QA, of numeric ranges and of plot
# regions register themselves in STAGES.
import workbench.query.ranges  # noqa: E402
import workbench.query.region_stage  # noqa: E402
import workbench.query.similarity_stages  # noqa: E402, F401
