"""The rows a lake write keeps of the files it rewrites, merged with its own by `_row`
(store/lake_order.py): as sorting them would give, whether the merge slices or copies."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from workbench.store import lake_files as lake_order


def _rows(numbers: list[int], tag: str) -> pa.Table:
    return pa.table({"id": [f"{tag}{n}" for n in numbers], "_row": pa.array(numbers, pa.int64())})


@pytest.mark.parametrize("slices", [4096, 1])
def test_kept_rows_and_new_ones_in_stored_order(
    monkeypatch: pytest.MonkeyPatch, slices: int
) -> None:
    monkeypatch.setattr(lake_order, "_SLICES", slices)
    read = _rows(list(range(0, 100, 10)), "old")  # 0, 10, ..., 90
    dropped = np.isin(np.arange(10), [2, 3, 7])  # 20, 30 and 70 replaced
    rows = _rows([30, 70, 500, 501], "new")  # two kept in place, two after every other
    out = lake_order.merged(read, dropped, rows)
    kept = read.filter(pa.array(~dropped))
    expected = pa.concat_tables([kept, rows]).sort_by("_row")
    assert out.to_pylist() == expected.to_pylist()
    assert out["_row"].to_pylist() == [0, 10, 30, 40, 50, 60, 70, 80, 90, 500, 501]


def test_rows_out_of_order_come_out_sorted() -> None:
    read = _rows([5, 1, 3], "old")
    out = lake_order.merged(read, np.zeros(3, dtype=bool), _rows([4, 2], "new"))
    assert out["_row"].to_pylist() == [1, 2, 3, 4, 5]
