"""A filtered view's ROI codes read beside its frames (query/facets.py `_beside_frames`): while
frame_codes holds a row per frame in the stored order of frames (layout.CODES_ALIGNED), the
codes are read with a POSITIONAL JOIN and the view's WHERE in the same scan. Every write
keeps the facets exact: appends keep the tables in step, writes coding stored frames again
drop the state until `optimize()` (check_codes compares the two tables row for row while
the state says they are in step)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest.writer import CatalogWriter
from workbench.model.geometry import box_ring
from workbench.model.records import PROMOTED_KEYS, Frame, Roi, Source
from workbench.query import facets
from workbench.store import layout
from workbench.store.schema import SCHEMA_VERSION

from ..store.test_layout import check_codes, check_contexts

WHERE = "f.frame_index % 2 = 0"


@pytest.fixture(autouse=True)
def beside(monkeypatch: pytest.MonkeyPatch) -> None:
    # Frame sets of any size as bitmaps, and evaluating a WHERE again always the cheaper.
    monkeypatch.setattr(facets, "BITMAP_FROM", 0)
    monkeypatch.setattr(facets, "BIT_TEST_SECONDS", 1.0)


def _frame(i: int) -> Frame:
    """Frames with 0 to 3 ROIs (every fifth none), two fields, confidences or none."""
    rois = [
        Roi(
            f"r{n}",
            "box",
            [["car", "bus", "tram"][(i + n) % 3]],
            geometry=[box_ring(n, n, 4, 4)],
            field="predictions" if n % 2 else "ground_truth",
            confidence=((i * 7 + n) % 10) / 10 if n % 2 else None,
        )
        for n in range(0 if i % 5 == 0 else 1 + i % 3)
    ]
    return Frame(
        id=f"f{i}",
        context_id=f"c{i // 4}",
        timestamp=i,
        frame_index=i,
        sources=[Source("cam", f"/data/f{i}.jpg")],
        rois=rois,
        metadata={"weather": ["rain", "sun"][i % 2], **({"camera": "front"} if i % 3 else {})},
    )


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "beside.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for i in range(30):
                writer.add(_frame(i))
        yield cat


def _read_beside(catalog: Any) -> bool:
    view = catalog.view().where(WHERE)
    frames = view.frame_set()
    return frames is not None and facets._beside_frames(view, frames) is not None


def check(catalog: Any) -> None:
    """The stored codes are exact, and the view's facets are what its frames' ROIs say."""
    check_codes(catalog)
    check_contexts(catalog)
    check_facets(catalog)


def check_facets(catalog: Any) -> None:
    """The view's label counts and histogram equal what its frames' ROIs say."""
    rois = (
        catalog.cursor()
        .execute(
            "SELECT r.field, r.label, r.confidence FROM rois r JOIN frames f ON f.id = r.frame_id"
            f" WHERE {WHERE}"
        )
        .fetchall()
    )
    view = catalog.view().where(WHERE)
    got = {(r["field"], r["label"]): r["count"] for r in view.label_counts().to_pylist()}
    assert got == dict(Counter((f, label) for f, label, _ in rois))
    bins = [0] * 10
    for f, _, c in rois:
        if f == "predictions" and c is not None:
            bins[min(int(c * 10 + 1e-9), 9)] += 1
    histogram = view.confidence_histogram("predictions", 10).to_pylist()
    assert [r["count"] for r in histogram] == bins
    for key in PROMOTED_KEYS:  # from the frames' values keys (layout.VALUES_KEY)
        counted = f"SELECT {key}, count(*) FROM frames f WHERE {WHERE} GROUP BY 1"
        want = dict(catalog.cursor().execute(counted).fetchall())
        got = {r["value"]: r["count"] for r in view.metadata_values(key).to_pylist()}
        assert got == want, key
    contexts = f"SELECT count(DISTINCT context_id) FROM frames f WHERE {WHERE}"
    assert view.count_contexts() == catalog.cursor().execute(contexts).fetchall()[0][0]
    assert catalog.view().where(WHERE).count_contexts() == view.count_contexts()


def test_frames_without_rois_get_a_row_and_the_codes_are_read_beside_them(catalog):
    assert layout.codes_aligned(catalog.cursor())
    empty = catalog.cursor().execute("SELECT count(*) FROM frame_codes WHERE len(codes) = 0")
    assert empty.fetchall() == [(6,)]
    assert _read_beside(catalog)
    check(catalog)


def test_appended_frames_keep_the_tables_in_step(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(30, 45):
            writer.add(_frame(i))
    with CatalogWriter(catalog, progress=False) as writer:  # a batch without any ROI
        for i in (50, 55):
            writer.add(_frame(i))
    with catalog.transaction() as con:  # frames stored by SQL, keyed and coded by sync
        con.execute(
            "INSERT INTO frames (id, context_id, timestamp, frame_index)"
            " SELECT 'sql' || i, 'c-sql', i, i FROM range(60, 65) t(i)"
        )
    assert _read_beside(catalog)
    check(catalog)


def test_stored_frames_coded_again_read_the_frame_set_until_optimize(catalog):
    with catalog.transaction() as con:
        layout.touch(con, "SELECT id FROM frames WHERE frame_index IN (2, 4)")
        con.execute("UPDATE rois SET label = 'lorry' WHERE frame_id IN ('f2', 'f4')")
    assert not layout.codes_aligned(catalog.cursor())
    assert not _read_beside(catalog)
    check(catalog)
    with CatalogWriter(catalog, progress=False) as writer:  # labels added to a stored frame
        writer.add_labels(
            "f6",
            "predictions",
            [Roi("n", "box", ["bus"], geometry=[box_ring(0, 0, 2, 2)], confidence=0.35)],
        )
    check(catalog)
    catalog.optimize()
    assert _read_beside(catalog)
    check(catalog)
    with CatalogWriter(catalog, progress=False) as writer:
        car = Roi("m", "box", ["car"], geometry=[box_ring(1, 1, 2, 2)], confidence=0.9)
        writer.add_labels("f8", "predictions", [car])
    assert not layout.codes_aligned(catalog.cursor())
    check(catalog)


def test_promoted_values_changed_in_place_are_keyed_again(catalog):
    with catalog.transaction() as con:
        layout.touch(con, "SELECT id FROM frames WHERE frame_index IN (2, 3, 4)")
        con.execute("UPDATE frames SET weather = 'snow' WHERE frame_index IN (2, 4)")
        con.execute("UPDATE frames SET camera = NULL WHERE frame_index = 3")
    check(catalog)
    assert catalog.view().where(WHERE).metadata_values("weather").to_pylist()[-1] == {
        "value": "snow",
        "count": 2,
    }


def test_a_catalog_at_version_9_gets_a_row_per_frame(catalog):
    path = catalog.path
    with catalog.transaction() as con:
        con.execute("DELETE FROM frame_codes WHERE len(codes) = 0")
        con.execute(f"DROP TABLE {layout.CODES_ALIGNED}")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '9')")
    catalog.close()
    with workbench.open(path) as reopened:
        assert reopened.schema_version == SCHEMA_VERSION
        assert layout.codes_aligned(reopened.cursor())
        assert _read_beside(reopened)
        check(reopened)


def test_a_catalog_at_version_10_gets_integer_codes_and_values_keys(catalog, monkeypatch):
    from workbench.store import layout_build

    monkeypatch.setattr(layout_build, "CODE_FRAMES", 4)  # built again in stretches
    with catalog.transaction() as con:  # frame keys with gaps
        layout.touch(con, "SELECT id FROM frames WHERE frame_index IN (3, 4, 10)")
        for table in ("rois", "sources"):
            con.execute(f"DELETE FROM {table} WHERE frame_id IN ('f3', 'f4', 'f10')")
        con.execute("DELETE FROM frames WHERE id IN ('f3', 'f4', 'f10')")
    catalog.optimize()
    # Stretches of 4 frames whatever the gaps, so they fill whole row groups (of 4 here).
    stretches = layout_build._row_group_stretches(catalog.cursor())
    sizes = "SELECT count(*) FROM frames WHERE frame_key BETWEEN ? AND ?"
    held = [catalog.cursor().execute(sizes, s).fetchall()[0][0] for s in stretches]
    assert held == [4] * 6 + [3] and stretches[0][0] == 0
    coded = "SELECT frame_key, list_sort(codes) FROM frame_codes"  # stored order
    before = _rows_of(catalog, coded + " ORDER BY frame_key")
    path = catalog.path
    with catalog.transaction() as con:  # as version 10 stored them
        con.execute("ALTER TABLE frame_codes ALTER COLUMN codes TYPE BIGINT[]")
        con.execute(f"ALTER TABLE frames DROP COLUMN {layout.VALUES_KEY}")
        con.execute(f"DROP TABLE {layout.VALUE_KEYS}")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '10')")
    catalog.close()
    with workbench.open(path) as reopened:
        assert reopened.schema_version == SCHEMA_VERSION
        kind = "SELECT data_type FROM duckdb_columns() WHERE table_name = 'frame_codes'"
        assert _rows_of(reopened, kind + " AND column_name = 'codes'") == [("INTEGER[]",)]
        assert _rows_of(reopened, coded) == before
        assert layout.codes_aligned(reopened.cursor())
        assert _read_beside(reopened)
        check(reopened)


def _rows_of(catalog: Any, query: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in catalog.cursor().execute(query).fetchall()]


def test_frames_deleted_then_optimized_are_in_step_again(catalog):
    with catalog.transaction() as con:
        layout.touch(con, "SELECT id FROM frames WHERE frame_index IN (3, 10, 11)")
        con.execute("DELETE FROM rois WHERE frame_id IN ('f3', 'f10', 'f11')")
        con.execute("DELETE FROM sources WHERE frame_id IN ('f3', 'f10', 'f11')")
        con.execute("DELETE FROM frames WHERE id IN ('f3', 'f10', 'f11')")
    assert not _read_beside(catalog)
    check(catalog)
    catalog.optimize()  # frames keep their deleted rows' places; the codes are built anew
    assert _read_beside(catalog)
    check(catalog)


def test_a_context_changed_in_place_is_keyed_again(catalog):
    with catalog.transaction() as con:  # what no importer writes, but SQL may
        layout.touch(con, "SELECT id FROM frames WHERE frame_index IN (0, 1, 2, 8)")
        con.execute("UPDATE frames SET context_id = 'moved' WHERE frame_index IN (0, 1, 2)")
        con.execute("UPDATE frames SET context_id = 'c0' WHERE frame_index = 8")
    check(catalog)
