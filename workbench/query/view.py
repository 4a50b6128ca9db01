"""Views: immutable chains of stages over a catalog, compiled to one parameterised query.

    v = catalog.view().match(weather="rain").filter_rois("predictions", max_confidence=0.5)
    v.count(); v.page(0, 50); v.contexts(); v.label_counts("predictions")

Every method that narrows or orders returns a new View; nothing runs until a result is asked
for. See docs/queries.md.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Self, cast

import pyarrow as pa

from workbench.errors import QueryError
from workbench.ingest import narrow
from workbench.query import facets, groups, pages, whole
from workbench.query._sql import (
    Compiled,
    execute,
    execute_rows,
    guard,
    guard_where,
    table_columns,
)
from workbench.query.plan import KeySet, Plan
from workbench.query.similarity_stages import resolve_stages
from workbench.query.similarity_view import AnalysisStages
from workbench.query.stages import (
    ExcludeFrames,
    ExcludeTags,
    FilterRois,
    HasRois,
    LacksRois,
    Limit,
    Match,
    MatchConfusion,
    MatchEval,
    MatchTags,
    SelectAnnotationRun,
    SelectContexts,
    SelectFrames,
    Skip,
    SortBy,
    SortByEvalCount,
    Stage,
    Where,
    build_plan,
    sort_terms,
    stage_from_dict,
)
from workbench.store import layout
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

SPEC_VERSION = 1


@dataclass
class _Schema:
    """What views read of a catalog's schema: the public columns of each table and the
    metadata keys promoted to columns. It changes only when a catalog is opened (migrations)
    or optimized, which `catalog.layout_changes` counts."""

    changes: int
    columns: dict[str, list[str]] = field(default_factory=dict)
    promoted: dict[str, str] | None = None


_SCHEMAS: weakref.WeakKeyDictionary[Catalog, _Schema] = weakref.WeakKeyDictionary()


def _schema(catalog: Catalog) -> _Schema:
    changes = getattr(catalog, "layout_changes", 0)
    known = _SCHEMAS.get(catalog)
    if known is None or known.changes != changes:
        known = _SCHEMAS[catalog] = _Schema(changes)
    return known


def catalog_columns(catalog: Catalog, table: str) -> list[str]:
    """The public columns of a catalog table (without the keys and copies the store derives)."""
    known = _schema(catalog)
    if table not in known.columns:
        con = catalog.cursor()
        try:
            derived = layout.derived_columns(con, table)
        finally:
            con.close()
        known.columns[table] = [c for c in table_columns(catalog, table) if c not in derived]
    return known.columns[table]


def promoted_columns(catalog: Catalog) -> dict[str, str]:
    """Metadata keys the catalog keeps in columns of their own -> those columns."""
    known = _schema(catalog)
    if known.promoted is None:
        con = catalog.cursor()
        try:
            known.promoted = layout.promoted_columns(con)
        finally:
            con.close()
    return known.promoted


def _ids(values: Iterable[str] | str, what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    out = tuple(values)
    if not all(isinstance(v, str) for v in out):
        raise QueryError(f"{what} must be strings")
    return out


def _count(n: int, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise QueryError(f"{what} needs a non-negative integer, got {n!r}")
    return n


@dataclass(frozen=True)
class View(AnalysisStages):
    """The frames of `catalog` that pass `stages`, in order; ROIs narrowed by filter_rois.

    `time_limit` bounds each query of a view holding a where() fragment (seconds; None: the
    catalog's limit). It is not part of the spec: whoever runs a view decides it.
    """

    catalog: Catalog
    stages: tuple[Stage, ...] = ()
    time_limit: float | None = field(default=None, compare=False)
    # What the view's facets found once (its facets.FrameSet, the promoted keys' counts),
    # by catalog generation: kept while the catalog is unchanged.
    _found: dict[tuple[int, str], Any] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __eq__(self, other: object) -> bool:
        """The same stages over the same catalog are the same view, whichever class holds
        them (workbench.Catalog's views add entry points, not frames)."""
        if not isinstance(other, View):
            return NotImplemented
        return self.catalog is other.catalog and self.stages == other.stages

    def _then(self, stage: Stage) -> Self:
        return replace(self, stages=(*self.stages, stage))

    def with_time_limit(self, seconds: float | None) -> Self:
        """The same view, its where() queries bounded by `seconds` (None: the catalog's)."""
        return replace(self, time_limit=seconds)

    # -- stages ------------------------------------------------------------------------------
    def where(self, sql: str, *params: Any) -> Self:
        """Keep frames for which a SQL boolean over `frames f` holds; `?` marks `params`.

        The fragment must be one expression, reading catalog tables only: the view refuses
        anything else with ReadOnlyQueryError when it first compiles (see check_where).
        """
        if not isinstance(sql, str) or not sql.strip():
            raise QueryError("where() needs a SQL expression")
        return self._then(Where(sql, tuple(params)))

    def match(self, **metadata: Any) -> Self:
        """Keep frames whose column or metadata key equals the value (or is in a list).

        Promoted keys and frame columns (context_id, dataset, ...) read their own column;
        `**{"metadata.key": v}` forces the metadata JSON. A key no frame has matches nothing.
        """
        if not metadata:
            return self
        criteria = tuple(
            (k, tuple(v) if isinstance(v, list | tuple) else v) for k, v in metadata.items()
        )
        return self._then(Match(criteria))

    def match_range(self, key: str, min: float | None = None, max: float | None = None) -> Self:
        """Frames whose frame column or metadata key is a number within [min, max]
        (workbench.query.ranges)."""
        from workbench.query.ranges import MatchRange

        return self._then(MatchRange(key, min, max))

    def filter_rois(
        self,
        field: str | None = None,
        labels: Sequence[str] | str | None = None,
        kinds: Sequence[str] | str | None = None,
        min_confidence: float | None = None,
        max_confidence: float | None = None,
        min_area: float | None = None,
        max_area: float | None = None,
        only_matches: bool = True,
    ) -> Self:
        """Keep only matching ROIs of `field` (every field when None); other fields' ROIs stay.

        Bounds are inclusive; ROIs without confidence fail a confidence bound. With
        only_matches, frames without a matching ROI are dropped.
        """
        return self._then(
            FilterRois(
                field,
                _ids(labels, "labels") if labels is not None else None,
                _ids(kinds, "kinds") if kinds is not None else None,
                min_confidence,
                max_confidence,
                min_area,
                max_area,
                only_matches,
            )
        )

    def has_rois(self, field: str | None = None, label: str | None = None) -> Self:
        return self._then(HasRois(field, label))

    def lacks_rois(self, field: str | None = None, label: str | None = None) -> Self:
        return self._then(LacksRois(field, label))

    def match_tags(self, *tags: str, all: bool = False) -> Self:
        return self._then(MatchTags(_ids(tags, "tags"), all))

    def exclude_tags(self, *tags: str) -> Self:
        return self._then(ExcludeTags(_ids(tags, "tags")))

    def select(self, frame_ids: Iterable[str]) -> Self:
        return self._then(SelectFrames(_ids(frame_ids, "frame ids")))

    def exclude(self, frame_ids: Iterable[str]) -> Self:
        return self._then(ExcludeFrames(_ids(frame_ids, "frame ids")))

    def select_contexts(self, context_ids: Iterable[str]) -> Self:
        return self._then(SelectContexts(_ids(context_ids, "context ids")))

    def match_eval(
        self,
        eval_key: str,
        outcomes: Sequence[str] | str,
        min_confidence: float | None = None,
        max_confidence: float | None = None,
        only_matches: bool = True,
    ) -> Self:
        """Keep the ROIs evaluation `eval_key` gave one of `outcomes` (tp, fp, fn, ignored).

        Only the evaluation's fields that can have those outcomes are narrowed (fp narrows the
        predictions, fn the ground truth); confidence bounds (inclusive) apply to predictions.
        With only_matches, frames without such an ROI are dropped. See docs/evaluation.md.
        """
        self._known_evaluation(eval_key)
        stage = MatchEval(
            eval_key, _ids(outcomes, "outcomes"), min_confidence, max_confidence, only_matches
        )
        return self._then(stage)

    def sort_by_eval_count(
        self, eval_key: str, outcomes: Sequence[str] | str, reverse: bool = False
    ) -> Self:
        """Order frames by their number of ROIs (as narrowed so far) with one of `outcomes` in
        evaluation `eval_key`; reverse=True puts the most first. Ties keep the earlier order."""
        self._known_evaluation(eval_key)
        return self._then(SortByEvalCount(eval_key, _ids(outcomes, "outcomes"), reverse))

    def match_confusion(self, eval_key: str, truth: str, predicted: str) -> Self:
        """Keep the ROIs of one cell of evaluation `eval_key`'s confusion matrix (ground truth
        `truth` matched by predictions `predicted`, both sides; "(none)" for the background
        row or column) and the frames holding them. See docs/evaluation.md."""
        self._known_evaluation(eval_key)
        return self._then(MatchConfusion(eval_key, truth, predicted))

    def _known_evaluation(self, eval_key: str) -> None:
        rows = self.rows(
            Compiled("SELECT count(*) FROM evaluations WHERE eval_key = ?", (eval_key,))
        )
        if not rows[0][0]:
            raise QueryError(f"no evaluation {eval_key!r}: see catalog.list_evaluations()")

    def select_annotation_run(self, anno_key: str) -> Self:
        """Keep the frames annotation run `anno_key` holds (its scenes' frames)."""
        rows = self.rows(
            Compiled("SELECT count(*) FROM annotation_runs WHERE anno_key = ?", (anno_key,))
        )
        if not rows[0][0]:
            raise QueryError(f"no annotation run {anno_key!r}")
        return self._then(SelectAnnotationRun(anno_key))

    def sort_by(self, column: str, reverse: bool = False) -> Self:
        """Order by a frame column or `metadata.<key>`; ties keep the previous order."""
        sort_terms(column, reverse, self.frame_columns)  # unknown columns fail here
        return self._then(SortBy(column, reverse))

    def skip(self, n: int) -> Self:
        return self._then(Skip(_count(n, "skip()")))

    def limit(self, n: int) -> Self:
        return self._then(Limit(_count(n, "limit()")))

    # -- compiling ---------------------------------------------------------------------------
    @property
    def frame_columns(self) -> frozenset[str]:
        return frozenset(catalog_columns(self.catalog, "frames"))

    @cached_property
    def plan(self) -> Plan:
        """The compiled state of the stages (internal: the SQL builders read it).

        Each where() fragment is checked here, before any query holds it.
        """
        for stage in self.stages:
            if isinstance(stage, Where):
                guard_where(self.catalog, stage.sql)
        return build_plan(
            resolve_stages(self.catalog, self.stages),
            self.frame_columns,
            promoted_columns(self.catalog),
        )

    def run(self, query: Compiled) -> pa.Table:
        """Run a query built from this view (the read-only guard and the time limit apply
        if it holds raw SQL)."""
        return execute(self.catalog, query, check=self.plan.raw_sql, limit=self.time_limit)

    def rows(self, query: Compiled) -> list[tuple[Any, ...]]:
        return execute_rows(self.catalog, query, check=self.plan.raw_sql, limit=self.time_limit)

    def frame_set(self) -> facets.FrameSet | None:
        """The keys of the view's frames, found once (with the view's guard and time limit)
        and kept while the catalog is unchanged; None when the view holds every frame."""
        if self.plan.everything:
            return None
        return self._once("frames", self._find_frame_set)

    def groups(self) -> groups.GroupSet | None:
        """The catalog's frame groups holding the view's frames, when they can answer for it
        (query/groups.py; kept while the catalog is unchanged)."""
        if self.plan.everything:
            return None
        return self._once("groups", lambda: groups.find(self))

    def _find_frame_set(self) -> facets.FrameSet:
        started, cpu = time.perf_counter(), time.process_time()
        keys = self.run(pages.distinct_frame_keys(self.plan))
        # what finding it cost: its CPU time, unless waiting for the machine took less
        spent = min(time.perf_counter() - started, time.process_time() - cpu)
        return facets.FrameSet(keys, spent)

    def promoted_counts(self) -> dict[str, pa.Table]:
        """(value, count) of each promoted metadata key among the view's frames (kept)."""
        return self._frame_counts().promoted

    def _frame_counts(self) -> facets.FrameCounts:
        return self._once("frame counts", lambda: facets.frame_counts(self))

    def roi_codes(self, bins: int) -> pa.Table:
        """(label_key, bin, count) of a filtered view's ROIs (facets.roi_codes; kept)."""
        return self._once(f"codes {bins}", lambda: facets.roi_codes(self, bins))

    def _once[T](self, what: str, find: Callable[[], T]) -> T:
        key = (getattr(self.catalog, "generation", 0), what)
        if key not in self._found:
            if any(k[0] != key[0] for k in self._found):
                self._found.clear()  # the catalog changed: nothing found before holds
            self._found[key] = find()
        return cast(T, self._found[key])

    def _known_frame_set(self) -> facets.FrameSet | None:
        key = (getattr(self.catalog, "generation", 0), "frames")
        return cast("facets.FrameSet | None", self._found.get(key))

    def facet(self, query: Compiled, frames: facets.FrameSet | None) -> pa.Table:
        """Run a facet query: over the view's frame set (SQL of this module's own, no
        guard needed) or, when the view holds every frame, as any query of the view."""
        if frames is None:
            return self.run(query)
        return execute(self.catalog, query, tables=frames.tables)

    def facet_rows(self, query: Compiled, frames: facets.FrameSet | None) -> list[tuple[Any, ...]]:
        if frames is None:
            return self.rows(query)
        return execute_rows(self.catalog, query, tables=frames.tables)

    def compile(self) -> Compiled:
        """One parameterised SELECT yielding the view's frame ids (column `id`) in order."""
        query = self.plan.select(Compiled("f.id"), ordered=True)
        if self.plan.raw_sql:
            guard(self.catalog, query)
        return query

    # -- frames ------------------------------------------------------------------------------
    def count(self) -> int:
        known = self._known_frame_set()
        if known is not None:
            return known.count
        grouped = self.groups()
        if grouped is not None:
            return grouped.frames
        rois = self.plan.roi_only_set()
        if rois is None:
            # A filtered view's set, found once for the count, serves its facets too.
            frames = self.frame_set()
            if frames is not None:
                return frames.count
            return int(self.rows(Compiled("SELECT count(*) FROM frames"))[0][0])
        unique = isinstance(rois, KeySet) and rois.unique
        counted = "count(*)" if unique else "count(DISTINCT frame_key)"
        return int(self.rows(f"SELECT {counted} FROM (" + rois + ")")[0][0])

    def count_contexts(self) -> int:
        if self.plan.everything:  # the catalog's contexts, counted as they are written
            counted = whole.context_count(self.catalog)
            if counted is not None:
                return counted
        if self._known_frame_set() is not None or self.groups() is not None:
            return int(self._frame_counts().contexts or 0)
        context = facets.context_column(self)
        query = f"SELECT count(DISTINCT {context}) FROM (" + self.plan.select(f"f.{context}") + ")"
        return int(self.rows(query)[0][0])

    def frame_ids(self) -> list[str]:
        return [str(r[0]) for r in self.rows(self.plan.select("f.id", ordered=True))]

    def frames(
        self, offset: int = 0, limit: int | None = None, columns: Sequence[str] | None = None
    ) -> pa.Table:
        """The view's frames (frame columns only), `offset`/`limit` within the view's order."""
        known = catalog_columns(self.catalog, "frames")
        wanted = list(columns) if columns is not None else known
        unknown = [c for c in wanted if c not in known]
        if unknown:
            raise QueryError(f"unknown frame columns {unknown}: frames has {', '.join(known)}")
        select = ", ".join("f." + quote_ident(c) for c in wanted)
        offset = _count(offset, "frames()")
        limit = _count(limit, "frames()") if limit is not None else None
        return self.run(self.plan.select(select, ordered=True, offset=offset, limit=limit))

    def page(self, offset: int = 0, limit: int = 50) -> pa.Table:
        """Frames with nested `sources` and `rois` (list<struct>; ROIs as filtered)."""
        frames = pages.page_frames(
            self.plan,
            _count(offset, "page()"),
            _count(limit, "page()"),
            catalog_columns(self.catalog, "frames"),
        )
        return self._nested(self.run(frames), self.plan.terms)

    def _nested(self, frames: pa.Table, terms: Sequence[Any]) -> pa.Table:
        """Frames (read with their `_fk` and sort keys) with their sources and ROIs nested:
        SQL of the query layer's own over them, so no guard is needed."""
        keys = frames.column("_fk").to_pylist()
        lake, known, tables = self.catalog.lake, [k for k in keys if k is not None], None
        if lake is not None and known:  # only the lake's files that can hold the keys
            tables = {n: lake.by_keys(n, min(known), max(known)) for n in ("sources", "rois")}
        query = pages.nested(
            keys,
            terms,
            self.plan.roi_predicate(),
            catalog_columns(self.catalog, "sources"),
            catalog_columns(self.catalog, "rois"),
            tables,
        )
        return execute(self.catalog, query, tables={pages.PAGE_TABLE: frames})

    def rois(self, frame_ids: Iterable[str] | None = None) -> pa.Table:
        """The view's ROIs (as filtered), in frame order; only of `frame_ids` if given."""
        ids = _ids(frame_ids, "frame ids") if frame_ids is not None else None
        return self.run(pages.view_rois(self.plan, ids, catalog_columns(self.catalog, "rois")))

    def field_rois(self, field: str, columns: Sequence[str]) -> narrow.Read:
        """The view's ROIs of `field`, only `columns`, unsorted with their order as a number:
        what an export reads (workbench.query.export_read)."""
        from workbench.query import export_read

        return export_read.field_rois(self, field, columns)

    # -- contexts ----------------------------------------------------------------------------
    def contexts(self, offset: int = 0, limit: int | None = 50) -> pa.Table:
        """One row per context: context_id, frames (in the view), total_frames,
        first_timestamp, last_timestamp, first_frame_id (first in the view by timestamp)."""
        limit = _count(limit, "contexts()") if limit is not None else None
        offset = _count(offset, "contexts()")
        if self.plan.everything and not self.plan.sorted:  # summarised as they are written
            page = whole.contexts(self.catalog, offset, limit)
            if page is not None:
                return page
        return self.run(pages.contexts(self.plan, offset, limit))

    def context_frames(self, context_id: str) -> pa.Table:
        """The view's frames of one context in timestamp order, with sources and ROIs."""
        columns = catalog_columns(self.catalog, "frames")
        frames = self.run(pages.context_frames(self.plan, context_id, columns))
        return self._nested(frames, pages.context_terms())

    def fields(self) -> list[str]:
        """Label fields among the view's ROIs."""
        return facets.fields(self)

    # -- facets ------------------------------------------------------------------------------
    def label_counts(self, field: str | None = None) -> pa.Table:
        return facets.label_counts(self, field)

    def metadata_values(self, key: str, limit: int = 50) -> pa.Table:
        return facets.metadata_values(self, key, limit)

    def confidence_histogram(self, field: str | None = None, bins: int = 10) -> pa.Table:
        return facets.confidence_histogram(self, field, bins)

    def tag_counts(self) -> pa.Table:
        return facets.tag_counts(self)

    # -- saving ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"version": SPEC_VERSION, "stages": [s.to_dict() for s in self.stages]}

    @classmethod
    def from_dict(
        cls, catalog: Catalog, data: dict[str, Any], *, time_limit: float | None = None
    ) -> Self:
        """The view of a spec (`to_dict()`); a spec that came over the network is checked
        here whole, where() fragments included, before anything runs."""
        if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
            raise QueryError("a view spec is a dict with a 'stages' list")
        version = data.get("version", SPEC_VERSION)
        if isinstance(version, bool) or not isinstance(version, int):
            raise QueryError(f"view spec version must be an integer, got {version!r}")
        if version > SPEC_VERSION:
            raise QueryError(f"view spec version {version} is newer than this workbench")
        view = cls(catalog, tuple(stage_from_dict(s) for s in data["stages"]), time_limit)
        view.plan  # noqa: B018 - bad fragments, unknown sort columns and the like fail here
        return view

    def __repr__(self) -> str:
        steps = "".join(f".{s.kind}(...)" for s in self.stages)
        return f"<View {self.catalog.path}{steps}>"
