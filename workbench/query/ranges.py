"""Numbers in ranges: the `match_range` stage, the numeric keys of a catalog, and the
histogram of one key's values over a view.

A key is a numeric frame column (timestamp, frame_index, num_frames) or a metadata key whose
values are numbers; `metadata.<key>` names the metadata key when a column has the same name
(as in `match`). Values that are not numbers fail a range, as missing ones do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb
import pyarrow as pa

from workbench.errors import QueryError
from workbench.query import group_memo
from workbench.query import stages as _stages
from workbench.query._sql import Compiled, execute, sql
from workbench.query.groups import GroupSet
from workbench.query.plan import Plan
from workbench.query.stage_base import Stage
from workbench.query.stages import key_column, metadata_expr
from workbench.store import group_ranges
from workbench.store.group_ranges import NUMERIC_COLUMNS
from workbench.store.groups import GROUP

if TYPE_CHECKING:
    from workbench.query.view import View

# Frames sampled to find the metadata keys that hold numbers, and the share of a key's
# values that must read as numbers.
KEY_SAMPLE = 2000
NUMERIC_SHARE = 0.9
MAX_BINS = 200
# The name a grouped view's remembered range counts are read under.
RANGE_COUNTS = "_wb_range_counts"


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError(f"match_range() needs numbers for {what}, got {value!r}")
    return float(value)


def number_expr(key: str, frame_columns: frozenset[str]) -> Compiled:
    """The key's value as a DOUBLE (NULL when missing or not a number)."""
    expr, _ = metadata_expr(key, frame_columns)
    return "TRY_CAST(" + expr + " AS DOUBLE)"


@dataclass(frozen=True)
class MatchRange(Stage):
    """Frames whose `key` is a number within [min, max] (either bound may be open)."""

    kind: ClassVar[str] = "match_range"
    key: str
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise QueryError(f"match_range() needs a key, got {self.key!r}")
        low, high = _number(self.min, "min"), _number(self.max, "max")
        if low is not None and high is not None and low > high:
            raise QueryError(f"match_range({self.key!r}): min {low} is above max {high}")

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        value = number_expr(self.key, frame_columns)
        plan.conditions.append(value + " IS NOT NULL")
        if self.min is not None:
            plan.conditions.append(value + sql(" >= ?", float(self.min)))
        if self.max is not None:
            plan.conditions.append(value + sql(" <= ?", float(self.max)))


_stages.STAGES[MatchRange.kind] = MatchRange


@dataclass(frozen=True)
class NumericKey:
    """A key whose values are numbers, and their smallest and largest over the catalog."""

    key: str
    low: float
    high: float


def numeric_keys(view: View, sample: int = KEY_SAMPLE) -> list[NumericKey]:
    """The numeric frame columns and metadata keys among the catalog's frames (metadata
    keys found in a sample of `sample` frames), with their ranges over every frame."""
    try:
        return _numeric_keys(view, sample)
    except duckdb.Error as exc:
        raise QueryError(f"numeric keys: {str(exc).splitlines()[0]}") from exc


def _numeric_keys(view: View, sample: int) -> list[NumericKey]:
    con = view.catalog.cursor()
    columns = view.frame_columns
    keys = [c for c in NUMERIC_COLUMNS if c in columns]
    rows = con.execute(
        "SELECT k, count(*) AS n, count(TRY_CAST(json_extract_string(s.metadata, '$.\"' || k"
        " || '\"') AS DOUBLE)) AS numbers FROM (SELECT metadata FROM frames LIMIT ?) s,"
        " unnest(json_keys(s.metadata)) AS t(k) WHERE k NOT LIKE '%\"%' GROUP BY k ORDER BY k",
        [int(sample)],
    ).fetchall()
    keys += [
        k if k not in columns else "metadata." + k
        for k, n, numbers in rows
        if n and numbers >= NUMERIC_SHARE * n
    ]
    found = []
    for key in keys:
        value = number_expr(key, columns)
        query = "SELECT min(" + value + "), max(" + value + ") FROM frames f"
        low, high = con.execute(query.sql, list(query.params)).fetchone() or (None, None)
        if low is not None and high is not None:
            found.append(NumericKey(key, float(low), float(high)))
    return found


def value_histogram(view: View, key: str, low: float, high: float, bins: int = 20) -> pa.Table:
    """(bin_start, bin_end, count) of the view's values of `key` in `bins` equal bins from
    `low` to `high`, empty bins included; values outside [low, high] count in no bin.

    A view made of whole frame groups (query/groups.py) reads its groups' stored histograms
    when `low` and `high` are the key's bounds over the catalog and the bins merge from the
    stored ones (store/group_ranges.py); on a lake, other bounds and bins are counted per
    group once and remembered (query/group_memo.py); otherwise the view's frames are read."""
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise QueryError(f"value_histogram() needs 1 to {MAX_BINS} bins, got {bins!r}")
    low, high = float(low), float(high)
    width = (high - low) / bins or 1.0
    bin_of = sql(f"least(CAST(floor((x - ?) / ?) AS INTEGER), {bins - 1}) AS bin", low, width)
    within = sql(" WHERE x BETWEEN ? AND ?", low, high)
    value = number_expr(key, view.frame_columns)
    grouped = view.groups()
    stored = None if grouped is None else _stored(view, grouped, key, low, high, bins)
    tables: dict[str, pa.Table] = {}
    if stored is not None and grouped is not None:
        counted, tables = stored, grouped.tables
    elif grouped is not None and group_memo.remembers(view.catalog):  # query/group_memo.py
        values = f"SELECT g.{GROUP}, " + value + f" AS x FROM {group_memo.grouped_frames(grouped)}"
        per_group = (
            f"SELECT {GROUP}, " + bin_of + ", count(*) AS count FROM (" + values + ")" + within
        ) + " GROUP BY ALL"
        name = ("range", key, low, high, bins)
        found = group_memo.per_group(view, grouped, name, per_group)
        counted = Compiled(
            f"SELECT bin, sum(count)::BIGINT AS count FROM {RANGE_COUNTS} GROUP BY bin"
        )
        tables = {RANGE_COUNTS: found}
    else:
        values = view.plan.select(value + " AS x")
        counted = "SELECT " + bin_of + ", count(*) AS count FROM (" + values + ")" + within
        counted += " GROUP BY bin"
    query = (
        sql(
            "SELECT ? + b.range * ? AS bin_start, ? + (b.range + 1) * ? AS bin_end,"
            " coalesce(c.count, 0) AS count"
            f" FROM range({bins}) b LEFT JOIN (",
            low,
            width,
            low,
            width,
        )
        + counted
        + ") c ON c.bin = b.range ORDER BY bin_start"
    )
    if tables:
        return execute(view.catalog, query, tables=tables)
    return view.run(query)


def _stored(
    view: View, grouped: GroupSet, key: str, low: float, high: float, bins: int
) -> Compiled | None:
    """(bin, count) of the view's groups from their stored histograms of the key, or None
    when the key is not stored, or the bounds or bins are not the stored ones' to merge.
    (A promoted metadata column holds what `json_extract_string` gives: the same numbers.)"""
    column = key_column(key, view.frame_columns, view.plan.promoted)
    if column is None:
        return None
    con = view.catalog.cursor()
    try:
        found = group_ranges.stored_key(con, grouped.kept.range_keys, column)
    finally:
        con.close()
    if found is None:
        return None
    stored, grid = found
    per = group_ranges.merged(grid, bins)
    if per is None or (low, high) != (stored.low, stored.high):
        return None
    return Compiled(
        f"SELECT r.bin // {per} AS bin, sum(r.count)::BIGINT AS count FROM"
        f" {grouped.kept.ranges} r WHERE r.key_no = {stored.no} AND {grouped.within('r')}"
        " GROUP BY 1"
    )
