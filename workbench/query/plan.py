"""The compiled form of a view: the state its stages build up, and SELECT statements over it.

A plan is one segment `SELECT ... FROM frames f WHERE ... ORDER BY ... LIMIT ... OFFSET ...`.
Stages only add conditions and sort keys, except that a filter or sort placed after a
skip/limit must act on the windowed result: then the segment is sealed into a subquery
(`frames f JOIN (<segment>) s1 ON s1.id = f.id`) that carries its own sort keys, which become
the tie-breakers of the next segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.query._sql import Compiled, all_of

# The order of an unsorted view: insertion order, which is frame-key order (the store keys
# frames in insertion order, store/layout.py). DuckDB returns the rows of a scan and filter
# without ORDER BY in that order (preserve_insertion_order, on by default), so such views skip
# the sort: a page deep into a million frames then costs 3 ms instead of 100 ms. A join may
# return rows in any order, so views with subqueries sort by the key; it also breaks the ties
# of sort_by.
ROWID = "f.frame_key"


@dataclass(frozen=True)
class KeySet(Compiled):
    """A query of frame keys (column `frame_key`); `unique` when no key comes twice."""

    unique: bool = False


@dataclass(frozen=True)
class LabelFilter(Compiled):
    """A ROI filter that reads only `r.field` and `r.label`: it holds for `label_keys r` rows
    as for `rois r` rows, so facets and ROI sets can read the per-frame label summaries
    (frame_labels) instead of every ROI."""


@dataclass(frozen=True)
class OrderTerm:
    expr: Compiled
    descending: bool = False

    def render(self, expr: Compiled | None = None) -> Compiled:
        direction = " DESC" if self.descending else " ASC"
        return (expr or self.expr) + (direction + " NULLS LAST")


@dataclass
class Plan:
    source: Compiled = field(default_factory=lambda: Compiled("frames f"))
    conditions: list[Compiled] = field(default_factory=list)
    # Queries of frame ids (`SELECT r.frame_id FROM rois r WHERE ...`) every frame is in.
    roi_sets: list[Compiled] = field(default_factory=list)
    # Queries of frame keys (one column, `frame_key`) every frame is in.
    key_sets: list[Compiled] = field(default_factory=list)
    # Sort keys given by sort_by, most significant first.
    order: list[OrderTerm] = field(default_factory=list)
    # Tie-breakers: insertion order, or the order of the sealed segment below.
    base: list[OrderTerm] = field(default_factory=lambda: [OrderTerm(Compiled(ROWID))])
    offset: int = 0
    limit: int | None = None
    # Predicates over `rois r` that every ROI of the view satisfies (filter_rois).
    roi_filters: list[Compiled] = field(default_factory=list)
    depth: int = 0
    # Whether a stage's subquery (a join) may return frames out of insertion order.
    reorders: bool = False
    # Whether a stage holds SQL a person typed (where()), so queries need the read-only guard.
    raw_sql: bool = False
    # Metadata keys the catalog keeps in columns of their own -> those columns.
    promoted: dict[str, str] = field(default_factory=dict)

    @property
    def windowed(self) -> bool:
        return self.offset > 0 or self.limit is not None

    @property
    def everything(self) -> bool:
        """True when the view holds every frame of the catalog (joins can be skipped)."""
        return not self.filtered and not self.windowed and self.depth == 0

    @property
    def filtered(self) -> bool:
        return bool(self.conditions or self.roi_sets or self.key_sets)

    def roi_only_set(self) -> Compiled | None:
        """The one set of frame keys that is the view's only condition, if so.

        Every ROI and summary row belongs to a stored frame (the writer and importers keep it
        so), so such a view's frames are that set's keys, with no join against frames:
        counting frames with a low-confidence car is then one read of the label summaries.
        """
        if self.key_window_only and not self.windowed and len(self.key_sets) == 1:
            return self.key_sets[0]
        return None

    @property
    def key_window_only(self) -> bool:
        """Whether the view is its key sets alone, unsorted: a window of it is a window of
        the keys (in key order, the view's order), taken before any frame is read."""
        return (
            bool(self.key_sets)
            and not self.conditions
            and not self.roi_sets
            and not self.order
            and self.depth == 0
        )

    def where(self) -> list[Compiled]:
        return [
            *("f.frame_key IN (" + q + ")" for q in self.key_sets),
            *("f.id IN (" + q + ")" for q in self.roi_sets),
            *self.conditions,
        ]

    def keys(self) -> Compiled:
        """The keys of the view's frames when it is its key sets alone (key_window_only)."""
        if len(self.key_sets) == 1:
            return self.key_sets[0]
        parts = [Compiled("SELECT frame_key FROM (") + q + ")" for q in self.key_sets]
        return Compiled.join(parts, " INTERSECT ")

    def over(self) -> Compiled:
        """The window clause numbering frames in view order (for row_number())."""
        if not self.needs_sort:
            return Compiled("")
        return "ORDER BY " + Compiled.join([t.render() for t in self.terms], ", ")

    @property
    def sorted(self) -> bool:
        return bool(self.order) or self.depth > 0

    @property
    def needs_sort(self) -> bool:
        return self.sorted or self.reorders

    @property
    def terms(self) -> list[OrderTerm]:
        return self.order + self.base

    def roi_predicate(self) -> Compiled:
        return all_of(self.roi_filters)

    def seal(self) -> None:
        """Close the current segment if a window ends it, so later stages act on its result."""
        if not self.windowed:
            return
        self.depth += 1
        alias = f"s{self.depth}"
        terms = self.terms
        keys = [t.expr + f" AS _k{i}" for i, t in enumerate(terms)]
        inner = self.select(Compiled.join([Compiled("f.id AS id"), *keys], ", "), ordered=True)
        self.source = Compiled("frames f JOIN (") + inner + f") {alias} ON {alias}.id = f.id"
        self.base = [
            OrderTerm(Compiled(f"{alias}._k{i}"), t.descending) for i, t in enumerate(terms)
        ]
        self.order = []
        self.conditions = []
        self.roi_sets = []
        self.key_sets = []
        self.reorders = False
        self.offset, self.limit = 0, None

    def window(self, offset: int = 0, limit: int | None = None) -> tuple[int, int | None]:
        """The plan's own window narrowed by a page (`offset`/`limit` within the view)."""
        start = self.offset + max(offset, 0)
        if self.limit is None:
            return start, limit
        remaining = max(self.limit - max(offset, 0), 0)
        return start, remaining if limit is None else min(limit, remaining)

    def select(
        self,
        columns: Compiled | str,
        *,
        ordered: bool = False,
        offset: int = 0,
        limit: int | None = None,
        extra: list[Compiled] | None = None,
    ) -> Compiled:
        """SELECT `columns` over the view's frames (alias f) and within a page of it.

        `extra` conditions apply before the window, so callers pass them only for unwindowed
        plans (they wrap the query otherwise). Sorting happens only when the order can
        differ from insertion order, and only when asked for or needed by a window: counts
        and facets never sort.
        """
        start, count = self.window(offset, limit)
        query = Compiled.join(["SELECT ", columns, " FROM ", self.source], "")
        if self.key_window_only and not extra and (start or count is not None):
            return self._key_window(query, start, count)
        conditions = self.where() + (extra or [])
        if conditions:
            query = query + " WHERE " + all_of(conditions)
        if self.needs_sort and (ordered or start or count is not None):
            query = query + " ORDER BY " + Compiled.join([t.render() for t in self.terms], ", ")
        if count is not None:
            query = query + f" LIMIT {int(count)}"
        if start:
            query = query + f" OFFSET {int(start)}"
        return query

    def _key_window(self, query: Compiled, start: int, count: int | None) -> Compiled:
        """A window of a view made of key sets only: the window is taken among the keys (one
        read of the summaries), and only the frames it holds are read."""
        window = f" LIMIT {int(count)}" if count is not None else ""
        window += f" OFFSET {int(start)}" if start else ""
        keys = self.keys()
        unique = len(self.key_sets) > 1 or (isinstance(keys, KeySet) and keys.unique)
        distinct = "" if unique else "DISTINCT "
        keys = f"SELECT {distinct}k.frame_key FROM (" + keys + ") k ORDER BY k.frame_key" + window
        return query + " WHERE f.frame_key IN (" + keys + ") ORDER BY f.frame_key"
