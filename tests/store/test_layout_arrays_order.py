"""frame_labels rows of a write's ROIs given in frame order (as writes give them), sorted by
label alone, equal those the SQL makes: small label keys and keys past 16 bits alike."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from tests.store.test_layout_arrays import CONFIDENCES, _con, _same
from workbench.store import layout, layout_arrays


def _in_frame_order(seed: int, n: int, labels: range) -> pa.Table:
    rng = random.Random(seed)
    frames = sorted(rng.randrange(100, 140) for _ in range(n))
    return pa.table(
        {
            "frame_key": pa.array(frames, pa.int64()),
            "label_key": pa.array([rng.choice(labels) for _ in range(n)], pa.int32()),
            "confidence": pa.array([rng.choice(CONFIDENCES) for _ in range(n)], pa.float64()),
        }
    )


@pytest.mark.parametrize(
    ("seed", "labels"),
    [(0, range(5)), (1, range(40)), (2, range(2**15 - 3, 2**15 + 3)), (3, range(0, 2**20, 9))],
)
def test_rois_in_frame_order_summarise_as_the_sql_does(seed: int, labels: range):
    con = _con()
    rois = _in_frame_order(seed, 3000, labels)
    con.register("_r", rois)
    layout.summarise(con, "TRUE", [], rois="_r")
    made = layout_arrays.label_rows(
        rois["frame_key"].to_numpy(), rois["label_key"].to_numpy(), rois["confidence"].chunk(0)
    )
    con.register("_made", made)
    assert made.num_rows > 40
    assert _same(
        con, "frame_labels", "_made", "frame_key, label_key, rois, min_confidence, max_confidence"
    )
