"""Range histograms of the frame groups (store/groups.py): the numeric columns' values of each
group, counted in fixed bins when the groups are counted.

The app's range facets ask for a numeric key's histogram between the key's smallest and
largest value over the catalog, in 24 equal bins (query/ranges.py `value_histogram`, the
bounds from `numeric_keys`). Those bounds do not depend on the view, so each group's counts
in a finer grid over the same bounds answer the histogram of any view made of whole groups:
the sum over its groups, fine bins merged.

Keys kept: the numeric frame columns (timestamp, frame_index, num_frames) and the promoted
metadata columns whose values read as numbers; a key whose values are all equal is not kept
(its histogram has no width). Each key's `low` and `high` are the `min` and `max` of the same
expression `numeric_keys` reads, and its grid has GRID bins.

Exact, not approximate: a value's bin in `bins` bins of width `w = (high - low) / bins` is
`floor((x - low) / w)` (the last bin closed). With GRID = bins * 2^j, the grid's width is
`w / 2^j` exactly (dividing by a power of two is exact in binary floating point), so the
grid's quotient is the coarse quotient times 2^j, exactly, and its bin divided by 2^j is the
coarse bin: the same bin the scan of the frames gives for every value, edges included. So
the groups answer a histogram over the key's stored bounds in any number of bins GRID
divides by a power of two (3, 6, 12, 24, 48, 96, 192); any other bounds or bins read the
frames (query/ranges.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb

from workbench.store.sqlsafe import quote_ident

Con = duckdb.DuckDBPyConnection

# The app's 24 range bins times 8: histograms of 3 to 192 bins merge exactly.
GRID = 192
# Frame columns that hold numbers (a metadata key of the same name is `metadata.<key>`).
NUMERIC_COLUMNS = ("timestamp", "frame_index", "num_frames")
# Where the stretch's values are kept, beside the groups' stretch of frames; and their bins.
VALUE = "_wb_x"
BIN = "_wb_b"


@dataclass(frozen=True)
class RangeKey:
    """A frame column kept with its bounds over the catalog (its grid: GRID bins between)."""

    no: int
    column: str
    low: float
    high: float

    @property
    def width(self) -> float:
        # computed as value_histogram computes its bins' width
        return (self.high - self.low) / GRID


def value_expr(column: str, alias: str = "f") -> str:
    """A column's value as a number, as `ranges.number_expr` reads it."""
    return f"TRY_CAST({alias}.{quote_ident(column)} AS DOUBLE)"


def numeric_columns(con: Con, promoted: list[str]) -> list[str]:
    """The frame columns that may be kept: the numeric ones the frames have and the
    `promoted` metadata columns (whose bounds `keys_of` is then given)."""
    present = {
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main'"
            " AND table_name = 'frames' AND NOT internal"
        ).fetchall()
    }
    return [c for c in (*NUMERIC_COLUMNS, *promoted) if c in present]


def bounds_of(columns: list[str]) -> list[str]:
    """SQL over `frames f`: each column's smallest and largest value, in that order."""
    return [f"min({value_expr(c)}), max({value_expr(c)})" for c in columns]


def keys_of(columns: list[str], bounds: list[object]) -> list[RangeKey]:
    """The columns (`numeric_columns`) of more than one value, with their bounds over every
    frame (`bounds`: what `bounds_of` read)."""
    keys: list[RangeKey] = []
    for i, column in enumerate(columns):
        low, high = bounds[2 * i], bounds[2 * i + 1]
        if not isinstance(low, int | float) or not isinstance(high, int | float):
            continue
        if math.isfinite(low) and math.isfinite(high) and float(high) > float(low):
            keys.append(RangeKey(len(keys), column, float(low), float(high)))
    return keys


def stretch_columns(keys: list[RangeKey]) -> str:
    """The keys' values, as columns of a stretch's frames (`_wb_x<no>`)."""
    return "".join(f", {value_expr(k.column)} AS {VALUE}{k.no}" for k in keys)


def start(con: Con) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wb_group_ranges"
        " (g INTEGER, key_no INTEGER, bin INTEGER, count BIGINT)"
    )


def bins_of(keys: list[RangeKey]) -> tuple[list[str], list[float]]:
    """SQL over a stretch's frames: each key's grid bin of its value (`_wb_x<no>`), NULL where
    the value is outside the key's bounds (none, when the groups are counted: such a value
    counts in no bin), and the statement's parameters, in order."""
    bins: list[str] = []
    params: list[float] = []
    for k in keys:
        x = f"{VALUE}{k.no}"
        bins.append(
            f"CASE WHEN {x} BETWEEN ? AND ? THEN"
            f" least(CAST(floor(({x} - ?) / ?) AS INTEGER), {GRID - 1}) END"
        )
        params += [k.low, k.high, k.low, k.width]
    return bins, params


def finish(con: Con, keys: list[RangeKey], ranges: str, range_keys: str, group: str) -> None:
    """Store the counts (`ranges`: group, key, bin, count) and the keys (`range_keys`)."""
    con.execute(
        f"CREATE TABLE {ranges} AS SELECT g AS {group}, key_no, bin::SMALLINT AS bin,"
        " sum(count)::BIGINT AS count FROM _wb_group_ranges GROUP BY ALL ORDER BY ALL"
    )
    con.execute("DROP TABLE IF EXISTS _wb_group_ranges")
    con.execute(
        f"CREATE TABLE {range_keys} (key_no INTEGER, column_name VARCHAR, low DOUBLE,"
        " high DOUBLE, bins INTEGER)"
    )
    if keys:
        con.execute(
            f"INSERT INTO {range_keys} VALUES {', '.join(['(?, ?, ?, ?, ?)'] * len(keys))}",
            [v for k in keys for v in (k.no, k.column, k.low, k.high, GRID)],
        )


def stored_key(con: Con, range_keys: str, column: str) -> tuple[RangeKey, int] | None:
    """The kept key of a frame column and its number of bins, or None (not kept, or groups
    counted before range histograms were kept)."""
    try:
        rows = con.execute(
            f"SELECT key_no, low, high, bins FROM {range_keys} WHERE column_name = ?", [column]
        ).fetchall()
    except duckdb.CatalogException:
        return None
    if len(rows) != 1:
        return None
    no, low, high, bins = rows[0]
    return RangeKey(int(no), column, float(low), float(high)), int(bins)


def merged(grid: int, bins: int) -> int | None:
    """How many grid bins make one of `bins` bins, when merging them is exact (a power of
    two; see the module's docstring), else None."""
    if bins < 1 or grid % bins:
        return None
    per = grid // bins
    return per if per & (per - 1) == 0 else None
