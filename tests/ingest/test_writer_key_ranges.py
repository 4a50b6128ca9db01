"""An update whose stored frames lie in clusters of keys far apart (a file's frames stored
in several writes, its changed frames stored again at the end by earlier updates): the
writer reads and deletes them by each cluster's range of keys (store/key_ranges.py), and
finds, keeps and replaces exactly the frames one range around them all would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import workbench
from tests.store.test_layout import check_layout, check_summaries
from tests.store.test_layout_hashes import _frame, _rows, _write
from workbench.ingest import CatalogWriter
from workbench.store import layout, layout_hashes, summaries

# Three clusters of ten frames each, their keys more than a row group apart.
_STARTS = (0, 1_000_000, 5_000_000)
_IDS = range(30)


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        for cluster, start in enumerate(_STARTS):
            with cat.transaction() as con:  # keys are never reused, and need not be dense
                layout.set_next_frame_key(con, max(start, layout.next_frame_key(con)))
            _write(cat, *(_frame(i, f"c{i % 4}") for i in range(10 * cluster, 10 * cluster + 10)))
        yield cat


def _keys(catalog: Any) -> dict[str, int]:
    return dict(_rows(catalog, "SELECT id, frame_key FROM frames"))


def _check(catalog: Any, changed: dict[int, int]) -> None:
    """Each frame once, `changed` of metadata n and box 3 + n high, one source and one ROI
    each on its frame's key, the layout and the whole catalog's summaries exact."""
    frames = _rows(catalog, "SELECT id, metadata->>'n' FROM frames ORDER BY id")
    assert frames == sorted((f"f{i}", str(changed.get(i, 0))) for i in _IDS)
    for table in ("sources", "rois"):
        rows = _rows(
            catalog,
            f"SELECT t.frame_id, count(*) FROM {table} t JOIN frames f"
            " ON f.frame_key = t.frame_key AND f.id = t.frame_id GROUP BY 1",
        )
        assert sorted(rows) == sorted((f"f{i}", 1) for i in _IDS), table
        assert _rows(catalog, f"SELECT count(*) FROM {table}") == [(len(_IDS),)], table
    heights = _rows(catalog, "SELECT frame_id, y_max FROM rois")
    assert sorted(heights) == sorted((f"f{i}", 3.0 + changed.get(i, 0)) for i in _IDS)
    assert summaries.current(catalog.cursor())
    check_layout(catalog)
    check_summaries(catalog)


def _replaced(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return sorted(i for i, key in after.items() if before[i] != key)


def test_an_update_over_clusters_of_keys_replaces_exactly_the_changed_frames(catalog):
    before = _keys(catalog)
    assert sorted({k // 1_000_000 for k in before.values()}) == [0, 1, 5]
    changed = {3: 4, 15: 2, 27: 6}  # one in each cluster
    _write(catalog, *(_frame(i, f"c{i % 4}", n=changed.get(i, 0)) for i in _IDS))
    after = _keys(catalog)
    assert _replaced(before, after) == ["f15", "f27", "f3"]
    _check(catalog, changed)
    # again: the frames replaced now lie in a fourth cluster, at the end
    more = {**changed, 3: 1, 20: 5}
    _write(catalog, *(_frame(i, f"c{i % 4}", n=more.get(i, 0)) for i in reversed(_IDS)))
    assert _replaced(after, _keys(catalog)) == ["f20", "f3"]
    _check(catalog, more)


def test_an_update_of_every_frame_unchanged_writes_nothing(catalog):
    before = _keys(catalog)
    stamps = _rows(catalog, "SELECT id, ingested FROM frames ORDER BY id")
    _write(catalog, *(_frame(i, f"c{i % 4}") for i in _IDS))
    assert _keys(catalog) == before
    assert _rows(catalog, "SELECT id, ingested FROM frames ORDER BY id") == stamps
    _check(catalog, {})


def test_frames_queued_one_by_one_over_clusters_replace_theirs(catalog):
    before = _keys(catalog)
    with CatalogWriter(catalog, progress=False) as writer:
        for i, n in ((1, 3), (12, 1), (29, 2)):
            writer.add(_frame(i, f"c{i % 4}", n=n))
    assert _replaced(before, _keys(catalog)) == ["f1", "f12", "f29"]
    _check(catalog, {1: 3, 12: 1, 29: 2})


def test_frames_changed_in_a_context_of_another_cluster_keep_the_summaries(catalog):
    """A frame moved to a context whose other frames lie in another cluster: the summaries
    of both contexts are made again from what is stored (summaries.remember and keep read
    the named frames by their clusters' ranges)."""
    moved = {2: "c3", 25: "c0", 11: "new"}
    _write(catalog, *(_frame(i, moved.get(i, f"c{i % 4}")) for i in _IDS))
    contexts = _rows(catalog, "SELECT context_id, frames FROM context_summaries ORDER BY 1")
    counted = _rows(catalog, "SELECT context_id, count(*) FROM frames GROUP BY 1 ORDER BY 1")
    assert contexts == counted
    assert ("new", 1) in contexts
    check_layout(catalog)
    check_summaries(catalog)


def test_frames_edited_in_place_over_clusters_keep_the_summaries(catalog):
    """Frames named (layout.touch) and changed in place, in two clusters: what they held
    before and hold after is read by the clusters' ranges (summaries.remember and keep)."""
    with catalog.transaction() as con:
        layout.touch(con, "SELECT unnest(['f2', 'f25'])")
        con.execute(
            "UPDATE frames SET context_id = 'moved', weather = 'rain',"
            " metadata = '{\"n\": 0, \"weather\": \"rain\"}' WHERE id IN ('f2', 'f25')"
        )
    assert _rows(catalog, "SELECT frames FROM context_summaries WHERE context_id = 'moved'") == [
        (2,)
    ]
    check_layout(catalog)
    check_summaries(catalog)


def test_a_replaced_frame_leaves_no_hash_row_of_its_old_key(catalog):
    """The hashes of the frames a write deletes by key go with them: the next update's
    candidates are the frames stored now, not every key an id has had (which spread them
    over the whole catalog, one cluster per earlier update)."""
    for n in (1, 2, 3):  # f3 and f15 replaced three times, each time at the end
        _write(catalog, *(_frame(i, f"c{i % 4}", n=n if i in (3, 15) else 0) for i in _IDS))
    stored = sorted(_keys(catalog).values())
    assert sorted(k for (k,) in _rows(catalog, "SELECT frame_key FROM _frame_hashes")) == stored
    with catalog.transaction() as con:
        ids = pa.array([f"f{i}" for i in _IDS])
        found = layout_hashes.candidates(con, layout_hashes.FRAMES, ids)
    assert sorted(found["key"].to_pylist()) == stored
    _check(catalog, {3: 3, 15: 3})
