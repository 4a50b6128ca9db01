"""Sorted frame keys as a few ranges, for a filter the engine's zone maps can use.

A write that holds the keys of the stored frames it reads or deletes (the unchanged check's
candidates, the frames it replaces) names them by `frame_key IN (...)`; the engine reads every
row group a single `BETWEEN min AND max` around them leaves in. The keys of a file's frames
stored in two or more writes fall in clusters far apart (an update stores its changed frames
again at the end of the catalog: the next update's candidates are the file's first frames and
those), and one range around them spans every row group between. Split where consecutive
keys lie more than a row group apart, the ranges leave out every row group holding none of
them (DuckDB pushes an OR of ranges of one column into its scan as zone-map filters).
"""

from __future__ import annotations

import numpy as np

# DuckDB's rows per row group: a gap of fewer keys than this may skip no row group.
ROW_GROUP = 122_880
# At most this many ranges: past it, the closest are joined (a filter of a few terms).
MOST = 16


def ranges(keys: np.ndarray, gap: int = ROW_GROUP, most: int = MOST) -> list[tuple[int, int]]:
    """`keys` (sorted) as (low, high) ranges, inclusive, split where two consecutive keys lie
    more than `gap` apart; the `most - 1` widest gaps at most."""
    if len(keys) == 0:
        return []
    keys = np.asarray(keys, dtype=np.int64)
    gaps = np.diff(keys)
    cuts = np.flatnonzero(gaps > gap)
    if len(cuts) >= most:  # the widest gaps, in key order
        cuts = np.sort(cuts[np.argsort(gaps[cuts], kind="stable")[len(cuts) - most + 1 :]])
    lows = np.r_[keys[0], keys[cuts + 1]]
    highs = np.r_[keys[cuts], keys[-1]]
    return [(int(low), int(high)) for low, high in zip(lows, highs, strict=True)]


def within(column: str, keys: np.ndarray) -> str:
    """SQL: `column` (a frame key column, already quoted or aliased) in one of the ranges of
    `keys` (sorted), as constants; FALSE for no keys."""
    found = ranges(keys)
    if not found:
        return "FALSE"
    terms = [f"{column} BETWEEN {low} AND {high}" for low, high in found]
    return "(" + " OR ".join(terms) + ")"
