"""A write's ROIs keyed by their frames' runs (layout_insert._frame_keys): several rows a
frame, one run per frame in the batch's order, take the frames' keys without a look-up of
every id; any other shape is looked up by id as before. Either way each row's key is its
frame's, as a look-up by id gives it (NULL for a frame outside the batch)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import workbench
from tests.store.test_layout import check_layout
from workbench.ingest.writer import CatalogWriter
from workbench.model.records import Frame, Roi
from workbench.store import layout_insert

IDS = ["a", "b", "c", "d"]
SHAPES = {
    "several a frame, in order": ["a", "a", "b", "c", "c", "c", "d", "d"],
    "a frame without rows": ["a", "a", "c", "d", "d"],
    "runs out of the frames' order": ["b", "b", "a", "c", "d", "d"],
    "a frame in two runs": ["a", "b", "a", "c", "d"],
    "a frame outside the batch": ["a", "a", "b", "x", "c", "d"],
    "a NULL frame id": ["a", "a", "b", None, "c", "d"],
    "a run of the last frame only": ["d", "d", "d", "d", "d"],
}


@pytest.mark.parametrize("shape", SHAPES)
def test_rows_take_their_frames_keys(shape: str):
    given = SHAPES[shape]
    rows = pa.table({"frame_id": pa.chunked_array([given[:2], given[2:]], pa.string())})
    ids = pa.array(IDS)
    keys = layout_insert._frame_keys(rows, ids, 100)
    looked_up = pc.add(pc.index_in(rows["frame_id"], value_set=ids).cast(pa.int64()), 100)
    assert pa.chunked_array([keys]).to_pylist() == looked_up.to_pylist()


def test_a_write_of_several_rois_a_frame_is_keyed_as_its_frames(tmp_path: Path):
    def frame(i: int) -> Frame:
        rois = [] if 10 <= i < 20 else [Roi(f"r{n}", "classification", [f"l{n}"]) for n in range(3)]
        return Frame(id=f"f{i}", context_id=f"c{i // 5}", rois=rois)

    with workbench.open(tmp_path / "runs.duckdb") as catalog:
        # three ROIs a frame, in the frames' order, but for frames 10-19, which have none:
        # the second write starts with frames without ROIs
        for part in (range(10), range(10, 50)):
            with CatalogWriter(catalog, progress=False) as writer:
                for i in part:
                    writer.add(frame(i))
        check_layout(catalog)
        counted = catalog.cursor().sql(
            "SELECT f.id, count(r.id) FROM frames f LEFT JOIN rois r ON r.frame_key = f.frame_key"
            " GROUP BY f.id, f.frame_key ORDER BY f.frame_key"
        )
        assert counted.fetchall() == [(f"f{i}", 0 if 10 <= i < 20 else 3) for i in range(50)]
