"""A write's frame_labels and frame_codes rows made by numpy equal those the SQL makes."""

from __future__ import annotations

import random

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from workbench.store import layout, layout_arrays

CONFIDENCES = [None, float("nan"), -0.5, -0.0, 0.0, 0.0004, 0.5, 0.9995, 1.0, 7.0, float("inf")]


def _rois(seed: int, n: int) -> pa.Table:
    rng = random.Random(seed)
    return pa.table(
        {
            "frame_key": pa.array([rng.randrange(100, 140) for _ in range(n)], pa.int64()),
            "label_key": pa.array([rng.randrange(0, 5) for _ in range(n)], pa.int32()),
            "confidence": pa.array([rng.choice(CONFIDENCES) for _ in range(n)], pa.float64()),
        }
    )


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for statement in layout.TABLES:
        con.execute(statement)
    con.execute("CREATE TABLE frames (frame_key BIGINT)")
    con.execute("INSERT INTO frames SELECT range FROM range(100, 140)")
    return con


def _same(con: duckdb.DuckDBPyConnection, left: str, right: str, columns: str) -> bool:
    """Whether two tables hold the same rows (NaN equal to NaN, NULL to NULL), in order."""
    rows = con.execute(
        f"SELECT count(*) FROM (SELECT row_number() OVER () AS n, {columns} FROM {left}) a"
        f" FULL JOIN (SELECT row_number() OVER () AS n, {columns} FROM {right}) b USING (n)"
        " WHERE " + " OR ".join(f"a.{c} IS DISTINCT FROM b.{c}" for c in columns.split(", "))
    ).fetchall()
    return rows == [(0,)]


@pytest.mark.parametrize("seed", range(6))
def test_label_rows_are_the_sql_summaries(seed: int):
    con = _con()
    rois = _rois(seed, [0, 1, 7, 300, 2000, 5000][seed])
    con.register("_r", rois)
    layout.summarise(con, "TRUE", [], rois="_r")
    made = layout_arrays.label_rows(
        rois["frame_key"].to_numpy(), rois["label_key"].to_numpy(), rois["confidence"].chunk(0)
    )
    con.register("_made", made)
    columns = "frame_key, label_key, rois, min_confidence, max_confidence"
    assert _same(con, "frame_labels", "_made", columns)
    assert made.schema.types == [pa.int64(), pa.int32(), pa.int32(), pa.float64(), pa.float64()]


@pytest.mark.parametrize("seed", range(6))
def test_code_rows_are_the_sql_codes(seed: int):
    con = _con()
    rois = _rois(seed, [0, 1, 7, 300, 2000, 5000][seed])
    con.register("_r", rois)
    layout.code(con, "frame_key >= 100", [], rois="_r")
    keys = rois["frame_key"].to_numpy()
    codes = layout_arrays.roi_codes(rois["label_key"].to_numpy(), rois["confidence"].chunk(0))
    made = layout_arrays.code_rows(np.arange(100, 140, dtype=np.int64), keys, codes)
    stored = con.execute("SELECT frame_key, codes FROM frame_codes").fetchall()
    assert [k for k, _ in stored] == made["frame_key"].to_pylist() == list(range(100, 140))
    by_frame = dict(zip(made["frame_key"].to_pylist(), made["codes"].to_pylist(), strict=True))
    assert {k: sorted(c) for k, c in stored} == {k: sorted(c) for k, c in by_frame.items()}
    some = layout_arrays.code_rows(np.arange(100, 140, dtype=np.int64), keys, codes,
                                   every_frame=False)  # fmt: skip
    assert some["frame_key"].to_pylist() == sorted(set(keys.tolist()))
    counts = layout_arrays.code_counts(codes)
    layout.tally(con, "TRUE", [], 1)
    expected = dict(con.execute("SELECT code, rois FROM code_counts").fetchall())
    assert dict(zip(*counts.to_pydict().values(), strict=True)) == expected


def test_a_code_past_an_integer_is_refused_as_the_sql_refuses_it():
    con = _con()
    label = layout.MAX_CODED_LABEL + 2
    rois = pa.table({"frame_key": [100], "label_key": pa.array([label], pa.int32()),
                     "confidence": [0.9999]})  # fmt: skip
    con.register("_r", rois)
    with pytest.raises(duckdb.ConversionException):
        layout.code(con, "frame_key >= 100", [], rois="_r")
    with pytest.raises(duckdb.ConversionException):
        layout_arrays.roi_codes(np.array([label], np.int32), rois["confidence"].chunk(0))
    label = layout.MAX_CODED_LABEL + 1  # past the bound, but this code fits, as in SQL
    fits = layout_arrays.roi_codes(np.array([label], np.int32), pa.array([0.1]))
    assert int(fits[0]) == label * layout.CODE_LABEL + 100
