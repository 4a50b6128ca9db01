"""Facets of a filtered view from the frame groups a catalog keeps (local or lake-backed).

A view whose only conditions read the groups' columns (store/groups.py) holds whole
groups: its conditions are evaluated over the groups' rows, under the alias `f` the frames
have, and a condition that reads anything else (a frame's id, index, JSON metadata, rowid,
another table) does not bind there, so the view's facets read its frames as before. Its
count, ROI codes (label counts and the confidence histogram), promoted keys' values and
number of contexts are then sums over its groups: a few thousand rows at most, however many
frames the lake holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from workbench.errors import QueryError
from workbench.model.records import PROMOTED_KEYS
from workbench.query._sql import Compiled, all_of, execute
from workbench.store import group_values, lake_groups, layout
from workbench.store import groups as store_groups
from workbench.store.groups import FRAMES, GROUP, LAKE, LOCAL, Tables
from workbench.store.sqlsafe import quote_ident, time_limit

if TYPE_CHECKING:
    from workbench.query.view import View

# The name the view's groups are registered under, for the queries that read them.
GROUPS_TABLE = "_wb_view_groups"


@dataclass(frozen=True)
class GroupSet:
    """The groups holding a view's frames: their ids, columns, the number of frames, and
    where the catalog keeps its groups."""

    ids: pa.Table
    columns: tuple[str, ...]
    frames: int
    kept: Tables = LOCAL

    @property
    def tables(self) -> dict[str, pa.Table]:
        return {GROUPS_TABLE: self.ids}

    def within(self, alias: str) -> str:
        return f"{alias}.{GROUP} IN (SELECT {GROUP} FROM {GROUPS_TABLE})"


def applies(view: View) -> bool:
    """Whether the view is a filter of frames by their columns alone (no ROI sets, tags,
    windows or sorts)."""
    plan = view.plan
    return (
        bool(plan.conditions)
        and not plan.roi_sets
        and not plan.key_sets
        and not plan.windowed
        and plan.depth == 0
        and str(plan.source.sql).strip() == "frames f"
    )


def find(view: View) -> GroupSet | None:
    """The view's groups, or None when they cannot answer for it (not a filter of frame
    columns, no groups describing the catalog as it is, or a condition reading anything else)."""
    if not applies(view):
        return None
    con = view.catalog.cursor()
    lake = view.catalog.lake
    tables = LAKE if lake is not None else LOCAL
    try:
        # First the WHERE (a catalog without groups, or a WHERE reading other columns, fails
        # at once), then whether the groups describe the catalog as it is.
        where = all_of(view.plan.conditions)
        query = Compiled(f"SELECT {GROUP}, {FRAMES} FROM {tables.view} f WHERE ") + where
        # The conditions passed the view's guard (View.plan); the time limit still bounds them.
        limit = view.time_limit if view.time_limit is not None else view.catalog.time_limit
        with time_limit(con, limit if view.plan.raw_sql else None):
            found = con.sql(query.sql, params=list(query.params)).to_arrow_table()
        if lake is not None:
            columns = lake_groups.current(con, lake)
        else:
            columns = store_groups.current(con, LOCAL, lambda: store_groups.local_stamp(con))
        if columns is None:
            return None
    except (duckdb.Error, QueryError):  # a column the groups lack, or an error the frames will show
        return None
    finally:
        con.close()
    frames = int(pa.compute.sum(found.column(FRAMES)).as_py() or 0)
    return GroupSet(found.select([GROUP]), tuple(columns), frames, tables)


def roi_codes(view: View, groups: GroupSet, bins: int) -> pa.Table:
    """(label_key, bin, count) of the groups' ROIs, as facets.roi_codes counts a view's."""
    step = layout.CONFIDENCE_BINS // bins
    per_label = layout.CODE_LABEL // step
    query = Compiled(
        f"SELECT g // {per_label} AS label_key, g % {per_label} AS bin, count FROM ("
        f"SELECT c.code // {step} AS g, sum(c.rois)::BIGINT AS count FROM {groups.kept.codes} c"
        f" WHERE {groups.within('c')} GROUP BY g)"
    )
    return execute(view.catalog, query, tables=groups.tables)


def promoted(view: View, groups: GroupSet) -> tuple[dict[str, list[tuple[str | None, int]]], int]:
    """(value, frames) of each promoted key among the groups' frames, and their contexts;
    the promoted keys must all be columns of the groups."""
    parts = []
    for key in PROMOTED_KEYS:
        name = quote_ident(key)
        parts.append(
            f"SELECT '{key}' AS key, CAST(f.{name} AS VARCHAR) AS value, sum(f.{FRAMES})"
            f"::BIGINT AS count FROM {groups.kept.view} f WHERE {groups.within('f')} GROUP BY ALL"
        )
    rows = execute(view.catalog, Compiled(" UNION ALL ".join(parts)), tables=groups.tables)
    counted: dict[str, list[tuple[str | None, int]]] = {k: [] for k in PROMOTED_KEYS}
    for key, value, count in zip(*(rows.column(i).to_pylist() for i in range(3)), strict=True):
        counted[key].append((value, int(count)))
    contexts = execute(
        view.catalog,
        Compiled(
            f"SELECT count(DISTINCT c.context_no) FROM {groups.kept.contexts} c"
            f" WHERE {groups.within('c')}"
        ),
        tables=groups.tables,
    )
    return counted, int(contexts.column(0)[0].as_py())


def values(view: View, groups: GroupSet, column: str, limit: int) -> pa.Table | None:
    """(value, count) of a frame column among the groups' frames, as
    `facets.metadata_values` orders them, when the groups keep the column's value counts
    (store/group_values.py); else None."""
    con = view.catalog.cursor()
    try:
        no = group_values.stored_column(con, groups.kept.value_keys, column)
    finally:
        con.close()
    if no is None:
        return None
    query = Compiled(
        f"SELECT v.value, sum(v.count)::BIGINT AS count FROM {groups.kept.values} v"
        f" WHERE v.column_no = {no} AND {groups.within('v')} GROUP BY v.value"
        f" ORDER BY count DESC, v.value NULLS LAST LIMIT {int(limit)}"
    )
    return execute(view.catalog, query, tables=groups.tables)


def has_promoted(groups: GroupSet) -> bool:
    return all(k in groups.columns for k in PROMOTED_KEYS)
