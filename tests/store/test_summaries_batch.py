"""The whole catalog's summaries of new frames made from the batch in hand
(store/summaries_batch.py): counted inside the write that inserts them, exactly as the
frames say (first frame by timestamp, frame_index, id; ties, missing values, contexts that
held frames before)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import workbench
from tests.store.test_layout import check_summaries
from workbench.ingest.writer import CatalogWriter
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA, Frame, Source
from workbench.store import layout, layout_insert, summaries


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "summaries.duckdb") as cat:
        yield cat


def _frame(frame_id: str, context: str, ts: int | None, index: int | None, **meta: Any) -> Frame:
    return Frame(
        id=frame_id,
        context_id=context,
        timestamp=ts,
        frame_index=index,
        sources=[Source("cam", f"/data/{frame_id}.jpg")],
        metadata=meta,
    )


# Contexts whose first frame is decided by each rule in turn: timestamp; a timestamp
# before a missing one; frame_index at a tied timestamp; the largest frame_index before a
# missing one; the id among frames tied on both (bytes: "B" < "a" < "a10" < "a9").
FIRST = [
    _frame("t2", "by-timestamp", 20, None),
    _frame("t1", "by-timestamp", 10, None),
    _frame("t0", "by-timestamp", None, 0),
    _frame("n1", "missing-stamp", None, 1, weather="rain"),
    _frame("n0", "missing-stamp", 5, 9, weather="rain"),
    _frame("i9", "by-index", 7, 9),
    _frame("i3", "by-index", 7, 3),
    _frame("m0", "by-index-not-missing", None, None),
    _frame("m1", "by-index-not-missing", None, 5),
    _frame("a9", "by-id", None, None, weather="sun"),
    _frame("a10", "by-id", None, None),
    _frame("B", "by-id", None, None),
    _frame("a", "by-id", None, None),
    _frame("x1", "tied-stamps", 3, 1),
    _frame("x0", "tied-stamps", 3, 1),
    _frame("x2", "tied-stamps", 3, 0),
    _frame("alone", "alone", None, None),
]
# A second write: frames into stored contexts (one before their first frame), new contexts.
SECOND = [
    _frame("t-1", "by-timestamp", 1, None),
    _frame("A", "by-id", None, None),
    _frame("late", "missing-stamp", 99, 0, weather="rain"),
    _frame("new1", "new", 4, None, weather="fog"),
    _frame("new0", "new", 4, None),
]


def _write(catalog: Any, frames: list[Frame]) -> None:
    with CatalogWriter(catalog, progress=False) as writer:
        for frame in frames:
            writer.add(frame)


def test_written_frames_are_summarised_exactly(catalog):
    _write(catalog, FIRST)
    check_summaries(catalog)
    firsts = dict(
        catalog.cursor()
        .execute(f"SELECT context_id, first_frame_id FROM {summaries.CONTEXTS}")
        .fetchall()
    )
    assert firsts["by-id"] == "B" and firsts["tied-stamps"] == "x2"
    assert firsts["missing-stamp"] == "n0" and firsts["by-index-not-missing"] == "m1"
    _write(catalog, SECOND)
    check_summaries(catalog)
    _write(catalog, [FIRST[0], _frame("alone", "moved", 2, None)])  # stored again, replaced
    check_summaries(catalog)


def _tables(frames: list[Frame]) -> tuple[pa.Table, pa.Table, pa.Table]:
    rows = [
        {
            "id": f.id,
            "context_id": f.context_id,
            "timestamp": f.timestamp,
            "frame_index": f.frame_index,
            "metadata": "{}",
        }
        for f in frames
    ]
    table = pa.Table.from_pylist(rows, FRAME_SCHEMA)
    return table, SOURCE_SCHEMA.empty_table(), ROI_SCHEMA.empty_table()


def test_new_frames_are_counted_before_the_commit(catalog):
    """The count is the write's own, from its batch: the summaries hold the new frames and
    their mark is past them before the commit's `keep` runs."""
    _write(catalog, FIRST[:3])
    with catalog.transaction() as con:
        layout_insert.insert_keyed(con, *_tables(FIRST[3:] + SECOND[3:]))
        assert summaries.marked(con) == layout.next_frame_key(con) == len(FIRST) + 2
        counted = con.execute(f"SELECT sum(frames) FROM {summaries.VALUES}").fetchall()
        assert counted == [(len(FIRST) + 2,)]
        new = con.execute(
            f"SELECT frames, first_timestamp, first_frame_id FROM {summaries.CONTEXTS}"
            " WHERE context_id = 'new'"
        ).fetchall()
        assert new == [(2, 4, "new0")]
    check_summaries(catalog)
