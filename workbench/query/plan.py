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

# The order of an unsorted view: insertion order, which is also the order DuckDB stores rows.
ROWID = "f.rowid"


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
    # Sort keys given by sort_by, most significant first.
    order: list[OrderTerm] = field(default_factory=list)
    # Tie-breakers: insertion order, or the order of the sealed segment below.
    base: list[OrderTerm] = field(default_factory=lambda: [OrderTerm(Compiled(ROWID))])
    offset: int = 0
    limit: int | None = None
    # Predicates over `rois r` that every ROI of the view satisfies (filter_rois).
    roi_filters: list[Compiled] = field(default_factory=list)
    depth: int = 0
    # Whether a stage holds SQL a person typed (where()), so queries need the read-only guard.
    raw_sql: bool = False

    @property
    def windowed(self) -> bool:
        return self.offset > 0 or self.limit is not None

    @property
    def everything(self) -> bool:
        """True when the view holds every frame of the catalog (joins can be skipped)."""
        return not self.conditions and not self.windowed and self.depth == 0

    @property
    def sorted(self) -> bool:
        return bool(self.order) or self.depth > 0

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
        plans (they wrap the query otherwise). Ordering is skipped unless asked for or needed
        by a window, so counts and facets never sort.
        """
        start, count = self.window(offset, limit)
        query = Compiled.join(["SELECT ", columns, " FROM ", self.source], "")
        conditions = self.conditions + (extra or [])
        if conditions:
            query = query + " WHERE " + all_of(conditions)
        if ordered or start or count is not None:
            query = query + " ORDER BY " + Compiled.join([t.render() for t in self.terms], ", ")
        if count is not None:
            query = query + f" LIMIT {int(count)}"
        if start:
            query = query + f" OFFSET {int(start)}"
        return query
