"""The whole catalog's contexts, their count, its promoted keys' values and its label fields
(the app's first page) read from the summaries the store keeps (store/summaries.py) equal
the per-frame answers, after every kind of write: frames stored, stored again, deleted,
changed in place, labels added, tags, invalidated scenes, a Parquet re-import, optimize();
and a write the summaries did not see makes the views read the frames again."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import parquet
from workbench.ingest.writer import CatalogWriter
from workbench.model.geometry import box_ring
from workbench.model.records import PROMOTED_KEYS, Frame, Roi, Source
from workbench.query import View, pages, whole
from workbench.services import Workbench
from workbench.store import layout, summaries
from workbench.store.schema import SCHEMA_VERSION

from ..store.test_layout import check_layout


def _frame(i: int, context: str | None = None, **changes: Any) -> Frame:
    """Frames whose timestamps tie or are missing within a context, with a frame_index."""
    rois = [
        Roi(f"r{n}", "box", [label], geometry=[box_ring(n, n, 4, 4)], field=field, confidence=c)
        for n, (field, label, c) in enumerate(
            [("ground_truth", "car", None), ("predictions", ["car", "bus"][i % 2], 0.1 * (i % 9))]
        )
    ]
    fields: dict[str, Any] = {
        "id": f"f{i}",
        "context_id": context or f"c{i // 5}",
        "timestamp": None if i % 7 == 3 else 100 * (i // 5) + (i % 5) // 2,
        "frame_index": (5 - i % 5) if i % 3 else None,
        "sources": [Source("cam", f"/data/f{i}.jpg")],
        "rois": rois,
        "metadata": {"weather": ["rain", "sun", "fog"][i % 3], "camera": f"cam{i % 2}"},
    }
    fields.update(changes)
    return Frame(**fields)


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "whole.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for i in range(23):
                writer.add(_frame(i))
        yield cat


def _rows(catalog: Any, query: str) -> list[tuple[Any, ...]]:
    return catalog.cursor().execute(query).fetchall()


def check_whole(catalog: Any, *, kept: bool = True) -> None:
    """The whole catalog's answers equal the per-frame ones (and are read from the
    summaries when `kept`)."""
    view = View(catalog)
    assert whole.kept(catalog) is kept
    for offset, limit in ((0, None), (0, 2), (1, 3), (4, 50), (90, 5)):
        frames = view.run(pages.contexts(view.plan, offset, limit))  # over every frame
        assert view.contexts(offset, limit) == frames, (offset, limit)
    count = _rows(catalog, "SELECT count(DISTINCT context_id) FROM frames")[0][0]
    assert view.count_contexts() == count
    for key in PROMOTED_KEYS:
        counted = Counter(v for (v,) in _rows(catalog, f"SELECT {key} FROM frames"))
        got = {r["value"]: r["count"] for r in View(catalog).metadata_values(key).to_pylist()}
        assert got == dict(counted), key
    fields = _rows(catalog, "SELECT DISTINCT field FROM rois WHERE frame_key <> -1 ORDER BY 1")
    assert view.fields() == [f for (f,) in fields]
    sorted_view = view.sort_by("timestamp")  # sorted: not the summaries' order, read as before
    assert sorted_view.contexts(0, 3) == sorted_view.run(pages.contexts(sorted_view.plan, 0, 3))
    if kept:
        check_layout(catalog)


def test_frames_written(catalog):
    check_whole(catalog)
    assert _rows(catalog, f"SELECT count(*) FROM {summaries.CONTEXTS}") == [(5,)]


def test_frames_written_again_in_later_commits(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(_frame(23))  # continues context c4
        writer.add(_frame(30, timestamp=-5))  # a new first frame of c6
        writer.add(_frame(2, context="c9", metadata={"weather": "snow"}))  # moves to a new one
        writer.add(_frame(10, timestamp=None, frame_index=0))  # c2's first frame again
    check_whole(catalog)
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(40, 47):
            writer.add(_frame(i, context="c4"))
    check_whole(catalog)


def test_frames_deleted_and_changed_in_place(catalog):
    with catalog.transaction() as con:
        layout.touch(con, "SELECT id FROM frames WHERE context_id = 'c1' OR id = 'f0'")
        con.execute("DELETE FROM rois WHERE frame_id IN ('f5', 'f6', 'f7', 'f8', 'f9', 'f0')")
        con.execute("DELETE FROM sources WHERE frame_id IN ('f5', 'f6', 'f7', 'f8', 'f9', 'f0')")
        con.execute("DELETE FROM frames WHERE id IN ('f5', 'f6', 'f7', 'f8', 'f9', 'f0')")
    check_whole(catalog)  # c1 gone, c0's first frame gone
    with catalog.transaction() as con:
        layout.touch(con, "SELECT 'f11' UNION ALL SELECT 'f12' UNION ALL SELECT 'f20'")
        con.execute("UPDATE frames SET context_id = 'c0', timestamp = -1 WHERE id = 'f11'")
        con.execute("UPDATE frames SET timestamp = 999, weather = 'hail' WHERE id = 'f12'")
        con.execute("UPDATE frames SET frame_index = -3 WHERE id = 'f20'")
        layout.touch(con, "SELECT 'f11'")  # named again, after its change: counted once
    check_whole(catalog)


def test_labels_tags_and_scenes(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels(
            "f4", "lanes", [Roi("n", "box", ["line"], geometry=[box_ring(0, 0, 2, 2)])]
        )
    check_whole(catalog)
    service = Workbench(catalog)
    service.tag_frames(["f1", "f2"], "review")
    check_whole(catalog)
    scenes = service.create_scenes_from_contexts(["c0", "c3"])
    service.invalidate_scenes([scenes[0].uuid], "duplicate", confirm=True)
    check_whole(catalog)


def test_parquet_reimport_and_optimize(catalog, tmp_path: Path):
    folder = tmp_path / "export"
    parquet.export_files(View(catalog).select(["f1", "f2", "f13"]), folder, progress=False)
    assert parquet.import_files(catalog, [folder], progress=False).ok
    check_whole(catalog)
    catalog.optimize()
    check_whole(catalog)


def test_a_write_the_summaries_missed_makes_views_read_the_frames(catalog):
    check_whole(catalog)
    with catalog.transaction() as con:  # no touch: what no writer of the store does
        con.execute("DELETE FROM frames WHERE id IN ('f21', 'f22')")
    check_whole(catalog, kept=False)


def test_a_catalog_at_version_11_gets_its_summaries(catalog):
    path = catalog.path
    with catalog.transaction() as con:
        summaries.forget(con)
        for table in (summaries.CONTEXTS, summaries.VALUES, summaries.PENDING):
            con.execute(f"DROP TABLE {table}")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '11')")
    assert not whole.kept(catalog)
    catalog.close()
    with workbench.open(path) as reopened:
        assert reopened.schema_version == SCHEMA_VERSION
        check_whole(reopened)
