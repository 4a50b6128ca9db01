"""Sorted frame keys as a few ranges (store/key_ranges.py): every key in one, no range over a
gap wider than a row group unless there are too many, the SQL filter selecting exactly them."""

from __future__ import annotations

import duckdb
import numpy as np

from workbench.store import key_ranges


def _covered(keys: np.ndarray, found: list[tuple[int, int]]) -> bool:
    return all(any(low <= k <= high for low, high in found) for k in keys.tolist())


def test_keys_in_clusters_are_a_range_each():
    keys = np.array([0, 5, 9, 500_000, 500_003, 2_000_000], dtype=np.int64)
    found = key_ranges.ranges(keys)
    assert found == [(0, 9), (500_000, 500_003), (2_000_000, 2_000_000)]


def test_a_gap_of_a_row_group_or_less_is_not_split():
    gap = key_ranges.ROW_GROUP
    keys = np.array([0, gap, 2 * gap + 1], dtype=np.int64)
    assert key_ranges.ranges(keys) == [(0, gap), (2 * gap + 1, 2 * gap + 1)]


def test_too_many_clusters_join_over_their_narrowest_gaps():
    # 20 clusters of one key each, the gaps growing: the 15 widest gaps are kept
    starts = np.cumsum([0] + [key_ranges.ROW_GROUP * (i + 2) for i in range(19)])
    keys = np.asarray(starts, dtype=np.int64)
    found = key_ranges.ranges(keys)
    assert len(found) == key_ranges.MOST
    assert _covered(keys, found)
    assert found[0] == (int(keys[0]), int(keys[4]))  # over the four narrowest, the first ones
    assert found[1:] == [(int(k), int(k)) for k in keys[5:]]


def test_random_keys_are_covered_and_the_filter_selects_them():
    rng = np.random.default_rng(7)
    keys = np.unique(
        np.concatenate(
            [rng.integers(0, 1_000, 300), rng.integers(400_000, 401_000, 300), [9_000_000]]
        )
    ).astype(np.int64)
    found = key_ranges.ranges(keys)
    assert len(found) == 3
    assert _covered(keys, found)
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS frame_key FROM range(0, 10_000_000, 7)")
    picked = con.execute(
        f"SELECT count(*) FROM t WHERE {key_ranges.within('frame_key', keys)}"
    ).fetchall()[0][0]
    expected = sum((high // 7) - ((low + 6) // 7) + 1 for low, high in found)
    assert picked == expected


def test_no_keys_select_nothing():
    assert key_ranges.ranges(np.array([], dtype=np.int64)) == []
    assert key_ranges.within("frame_key", np.array([], dtype=np.int64)) == "FALSE"
