"""View stages of embeddings, duplicates and sequence QA (docs/embeddings.md, sequence-qa.md).

Most read the analysis tables as plain SQL (`duplicate_groups`, `qa_issues`,
`embedding_scores`), like match_eval reads the evaluation's. Two need a computation no SQL
can do, a k-NN search or a diverse sample: they are *resolved* when the view compiles
(`resolve_stages`), into an ordered list of frame ids that enters the query as one array
parameter joined with its positions (`JOIN (SELECT unnest(?) AS id, unnest(?) AS pos)`). The
saved spec keeps the query, not its result: a saved view searches again when it runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from workbench.errors import QueryError, WorkbenchError
from workbench.model.sequence import QA_KINDS, SEVERITIES
from workbench.model.similarity import Query
from workbench.query import stages as _stages
from workbench.query._sql import Compiled, all_of, in_list, sql
from workbench.query.hooks import HOOKS, missing
from workbench.query.plan import OrderTerm, Plan
from workbench.query.stage_base import strings as _strings
from workbench.query.stages import Stage

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

MAX_IDS = 10_000  # frames or ROIs a stage may name
MAX_VECTOR = 65_536
ROI_SEP = "\x1f"
DUPLICATE_KINDS: tuple[str, ...] = ("exact", "perceptual", "embedding")
DUPLICATE_WHICH: tuple[str, ...] = ("all", "first", "extra")
SCORES: tuple[str, ...] = ("uniqueness", "representativeness")


def _key(value: Any, what: str) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise QueryError(f"{what} must be an embedding key, got {value!r}")


def _count(value: Any, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise QueryError(f"{what} must be a positive integer, got {value!r}")


def _flag(value: Any, what: str) -> None:
    if not isinstance(value, bool):
        raise QueryError(f"{what} must be True or False, got {value!r}")


# -- resolved: an ordered list of frames -------------------------------------------------------
@dataclass(frozen=True)
class OrderedFrames(Stage):
    """Frames in a given order (those not listed after them, or dropped when `only`), and
    optionally only some ROIs: what a similarity or sampling stage resolves to. Never saved."""

    kind: ClassVar[str] = "_ordered_frames"
    frame_ids: tuple[str, ...]
    only: bool
    reverse: bool = False
    roi_keys: tuple[str, ...] | None = None  # `frame_id<US>roi_id` of the ROIs to keep
    roi_fields: tuple[str, ...] = ()  # the fields those ROIs narrow

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        alias = f"_o{plan.source.sql.count(' _o') + 1}"
        ids = list(self.frame_ids)
        joined = Compiled(
            " LEFT JOIN (SELECT unnest(?::VARCHAR[]) AS id, unnest(range(?::BIGINT)) AS pos)"
            f" {alias} ON {alias}.id = f.id",
            (ids, len(ids)),
        )
        plan.source = plan.source + joined
        if self.only:
            plan.conditions.append(Compiled(f"{alias}.pos IS NOT NULL"))
        plan.order = [OrderTerm(Compiled(f"{alias}.pos"), self.reverse), *plan.order]
        plan.reorders = True
        if self.roi_keys is not None:
            fields = in_list("r.field", list(self.roi_fields), "VARCHAR")
            keep = in_list(
                f"(r.frame_id || chr({ord(ROI_SEP)}) || r.id)", list(self.roi_keys), "VARCHAR"
            )
            plan.roi_filters.append("NOT (" + fields + ") OR " + keep)


class Resolved(Stage):
    """A stage that becomes OrderedFrames once the frames before it are known."""

    def resolve(self, catalog: Catalog, candidates: list[str] | None) -> Stage:
        raise NotImplementedError

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        raise QueryError(f"stage {self.kind} must be resolved before it compiles")


@dataclass(frozen=True)
class SortBySimilarity(Resolved):
    """Frames by similarity to a query (frames, ROIs or a vector), most similar first; with
    `k`, only the k most similar (among the view's frames so far)."""

    kind: ClassVar[str] = "sort_by_similarity"
    frame_ids: tuple[str, ...] = ()
    rois: tuple[tuple[str, str], ...] = ()
    vector: tuple[float, ...] | None = None
    k: int | None = None
    key: str | None = None
    reverse: bool = False

    def __post_init__(self) -> None:
        given = [bool(self.frame_ids), bool(self.rois), self.vector is not None]
        if sum(given) != 1:
            raise QueryError("sort_by_similarity() needs one query: frame ids, ROIs or a vector")
        if len(self.frame_ids) > MAX_IDS or len(self.rois) > MAX_IDS:
            raise QueryError(f"sort_by_similarity() takes at most {MAX_IDS} query items")
        _strings(self.frame_ids, "query frame ids")
        for roi in self.rois:
            if not (
                isinstance(roi, tuple) and len(roi) == 2 and all(isinstance(v, str) for v in roi)
            ):
                raise QueryError(f"query ROIs are [frame_id, roi_id] pairs, got {roi!r}")
        if self.vector is not None:
            numbers = all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in self.vector
            )
            if not self.vector or len(self.vector) > MAX_VECTOR or not numbers:
                raise QueryError("a query vector is 1 to 65536 finite numbers")
        _count(self.k, "k")
        _key(self.key, "key")
        _flag(self.reverse, "reverse")

    def query(self) -> dict[str, Any]:
        if self.vector is not None:
            return {"vector": list(self.vector)}
        if self.rois:
            return {"rois": [list(r) for r in self.rois]}
        return {"frame_ids": list(self.frame_ids)}

    def resolve(self, catalog: Catalog, candidates: list[str] | None) -> Stage:
        return _analysis(lambda: self._resolve(catalog, candidates))

    def _resolve(self, catalog: Catalog, candidates: list[str] | None) -> Stage:
        if HOOKS.similar is None:
            raise missing("sort_by_similarity()")
        query = Query.of(self.query())
        found, roi_ids = HOOKS.similar(catalog, query, self.k, self.key, candidates)
        frames = list(dict.fromkeys(found))
        if roi_ids is None:
            return OrderedFrames(tuple(frames), self.k is not None, self.reverse)
        keys = tuple(f"{f}{ROI_SEP}{r}" for f, r in zip(found, roi_ids, strict=True))
        fields = _roi_fields(catalog, found, roi_ids) if self.k else ()
        return OrderedFrames(
            tuple(frames), self.k is not None, self.reverse, keys if self.k else None, fields
        )


def _roi_fields(catalog: Catalog, frames: Sequence[str], rois: Sequence[str]) -> tuple[str, ...]:
    keys = [f"{f}{ROI_SEP}{r}" for f, r in zip(frames, rois, strict=True)]
    query = "SELECT DISTINCT field FROM rois r WHERE " + in_list(
        f"(r.frame_id || chr({ord(ROI_SEP)}) || r.id)", keys, "VARCHAR"
    )
    rows = catalog.cursor().execute(query.sql, list(query.params)).fetchall()
    return tuple(sorted(str(r[0]) for r in rows))


@dataclass(frozen=True)
class SelectDiverse(Resolved):
    """`n` frames of the view that cover it (k-means centres or farthest points)."""

    kind: ClassVar[str] = "select_diverse"
    n: int
    key: str | None = None
    method: str = "kmeans"
    seed: int = 0

    def __post_init__(self) -> None:
        _count(self.n, "n")
        _key(self.key, "key")
        if self.method not in ("kmeans", "fps"):
            raise QueryError(f"select_diverse() method is kmeans or fps, got {self.method!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise QueryError(f"seed must be an integer, got {self.seed!r}")

    def resolve(self, catalog: Catalog, candidates: list[str] | None) -> Stage:
        from workbench.query.view import View

        diverse = HOOKS.diverse
        if diverse is None:
            raise missing("select_diverse()")
        view = View(catalog) if candidates is None else View(catalog).select(candidates)
        picked = _analysis(lambda: diverse(view, self.n, self.key, self.method, self.seed))
        return OrderedFrames(tuple(picked), True)


def _analysis(run: Any) -> Any:
    """Analysis errors (no such key, no vectors...) surface as query errors of the view."""
    try:
        return run()
    except QueryError:
        raise
    except WorkbenchError as exc:
        raise QueryError(str(exc)) from exc


# -- ROIs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SelectRois(Stage):
    """Frames holding any of these ROIs; with `only`, the view's ROIs are just these."""

    kind: ClassVar[str] = "select_rois"
    rois: tuple[tuple[str, str], ...]
    only: bool = True

    def __post_init__(self) -> None:
        if len(self.rois) > MAX_IDS * 10:
            raise QueryError(f"select_rois() takes at most {MAX_IDS * 10} ROIs")
        for roi in self.rois:
            if not (
                isinstance(roi, tuple) and len(roi) == 2 and all(isinstance(v, str) for v in roi)
            ):
                raise QueryError(f"ROIs are [frame_id, roi_id] pairs, got {roi!r}")
        _flag(self.only, "only")

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        frames = sorted({f for f, _ in self.rois})
        plan.conditions.append(in_list("f.id", frames, "VARCHAR"))
        plan.reorders |= len(frames) > 64
        if self.only:
            keys = [f"{f}{ROI_SEP}{r}" for f, r in self.rois]
            plan.roi_filters.append(
                in_list(f"(r.frame_id || chr({ord(ROI_SEP)}) || r.id)", keys, "VARCHAR")
            )


# -- duplicates --------------------------------------------------------------------------------
def _duplicate_rows(kind: str | None, extra: str = "") -> Compiled:
    conditions = [Compiled(extra)] if extra else []
    if kind is not None:
        conditions.append(sql("g.kind = ?", kind))
    return "SELECT g.frame_id FROM duplicate_groups g WHERE " + all_of(conditions)


def _duplicate_kind(kind: Any) -> None:
    if kind is not None and kind not in DUPLICATE_KINDS:
        raise QueryError(f"duplicate kind is one of {', '.join(DUPLICATE_KINDS)}, got {kind!r}")


@dataclass(frozen=True)
class MatchDuplicates(Stage):
    """Frames in duplicate groups (of `kind`): every member, the first of each group, or the
    extra copies; ordered by group, the kept frame first."""

    kind: ClassVar[str] = "match_duplicates"
    duplicate_kind: str | None = None
    which: str = "all"

    def __post_init__(self) -> None:
        _duplicate_kind(self.duplicate_kind)
        if self.which not in DUPLICATE_WHICH:
            raise QueryError(f"which is one of {', '.join(DUPLICATE_WHICH)}, got {self.which!r}")

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        extra = {"all": "", "first": "g.rank = 0", "extra": "g.rank > 0"}[self.which]
        plan.conditions.append("f.id IN (" + _duplicate_rows(self.duplicate_kind, extra) + ")")
        kind = sql(" AND g.kind = ?", self.duplicate_kind) if self.duplicate_kind else Compiled("")
        position = Compiled.join(
            [
                "(SELECT min([CASE g.kind WHEN 'exact' THEN 0 WHEN 'perceptual' THEN 1 ELSE 2 END,"
                " g.group_id, g.rank]) FROM duplicate_groups g WHERE g.frame_id = f.id",
                kind,
                ")",
            ],
            "",
        )
        plan.order = [OrderTerm(position), *plan.order]
        plan.reorders = True


@dataclass(frozen=True)
class ExcludeDuplicates(Stage):
    """Every frame but the extra copies: one frame per duplicate group, and the rest."""

    kind: ClassVar[str] = "exclude_duplicates"
    duplicate_kind: str | None = None

    def __post_init__(self) -> None:
        _duplicate_kind(self.duplicate_kind)

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        rows = _duplicate_rows(self.duplicate_kind, "g.rank > 0")
        plan.conditions.append("f.id NOT IN (" + rows + ")")
        plan.reorders = True


# -- sequence QA -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MatchQa(Stage):
    """Frames with a stored sequence QA issue (of `kinds`, at least `min_severity`); an issue
    of a whole context (jitter) selects every frame of the context."""

    kind: ClassVar[str] = "match_qa"
    kinds: tuple[str, ...] | None = None
    min_severity: str | None = None

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds or () if k not in QA_KINDS]
        if unknown or self.kinds == ():
            raise QueryError(f"QA kinds are among {', '.join(QA_KINDS)}, got {self.kinds!r}")
        if self.min_severity is not None and self.min_severity not in SEVERITIES:
            raise QueryError(f"min_severity is one of {', '.join(SEVERITIES)}")

    def _issues(self) -> list[Compiled]:
        conditions: list[Compiled] = []
        if self.kinds is not None:
            conditions.append(in_list("q.kind", list(self.kinds), "VARCHAR"))
        if self.min_severity is not None:
            wanted = list(SEVERITIES[SEVERITIES.index(self.min_severity) :])
            conditions.append(in_list("q.severity", wanted, "VARCHAR"))
        return conditions

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        issues = self._issues()
        frames = "SELECT q.frame_id FROM qa_issues q WHERE q.frame_id IS NOT NULL AND " + all_of(
            issues
        )
        contexts = "SELECT q.context_id FROM qa_issues q WHERE q.frame_id IS NULL AND " + all_of(
            issues
        )
        plan.conditions.append("f.id IN (" + frames + ") OR f.context_id IN (" + contexts + ")")
        plan.reorders = True


# -- scores ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SortByScore(Stage):
    """Frames by a stored score of an embedding key (the largest of a frame's ROIs for ROI
    keys); frames without one come last."""

    kind: ClassVar[str] = "sort_by_score"
    key: str
    score: str = "uniqueness"
    reverse: bool = True

    def __post_init__(self) -> None:
        _key(self.key, "key")
        if self.score not in SCORES:
            raise QueryError(f"score is one of {', '.join(SCORES)}, got {self.score!r}")
        _flag(self.reverse, "reverse")

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        value = sql(
            f"(SELECT max(s.{self.score}) FROM embedding_scores s WHERE s.key = ?"
            " AND s.frame_id = f.id)",
            self.key,
        )
        plan.order = [OrderTerm(value, self.reverse), *plan.order]


SIMILARITY_STAGES: tuple[type[Stage], ...] = (
    SortBySimilarity,
    SelectDiverse,
    SelectRois,
    MatchDuplicates,
    ExcludeDuplicates,
    MatchQa,
    SortByScore,
)
_stages.STAGES.update({cls.kind: cls for cls in SIMILARITY_STAGES})


def resolve_stages(catalog: Catalog, stages: Sequence[Stage]) -> tuple[Stage, ...]:
    """The stages with each resolved stage replaced by its ordered frames, computed over the
    frames the stages before it keep."""
    if not any(isinstance(s, Resolved) for s in stages):
        return tuple(stages)
    from workbench.query.view import View

    out: list[Stage] = []
    for stage in stages:
        if isinstance(stage, Resolved):
            before = View(catalog, tuple(out))
            candidates = None if before.plan.everything else before.frame_ids()
            stage = stage.resolve(catalog, candidates)
        out.append(stage)
    return tuple(out)
