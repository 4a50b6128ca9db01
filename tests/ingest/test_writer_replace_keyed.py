"""A write that replaces stored frames deletes them by the keys its look-up found
(store/layout_insert.delete_keyed), not by their ids: exactly those frames, their sources and
ROIs go, the others keep their rows and keys, the layout and summaries stay exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.store.test_layout import check_layout
from tests.store.test_layout_hashes import _frame, _rows, _write
from workbench.ingest import CatalogWriter


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _keys(catalog: Any) -> dict[str, int]:
    return dict(_rows(catalog, "SELECT id, frame_key FROM frames"))


def _check(catalog: Any, changed: dict[str, int]) -> None:
    """Each stored frame once, with one source and one ROI (those `changed` of metadata n,
    its box 3 + n high), every row on its frame's key, the layout exact."""
    frames = _rows(catalog, "SELECT id, metadata->>'n' FROM frames ORDER BY id")
    assert frames == sorted((f"f{i}", str(changed.get(f"f{i}", 0))) for i in range(10))
    for table in ("sources", "rois"):
        rows = _rows(
            catalog,
            f"SELECT t.frame_id, count(*) FROM {table} t JOIN frames f"
            " ON f.frame_key = t.frame_key AND f.id = t.frame_id GROUP BY 1 ORDER BY 1",
        )
        assert rows == [(f"f{i}", 1) for i in sorted(range(10), key=str)], table
        assert _rows(catalog, f"SELECT count(*) FROM {table}") == [(10,)], table
    heights = _rows(catalog, "SELECT frame_id, y_max FROM rois ORDER BY frame_id")
    assert heights == sorted((f"f{i}", 3.0 + changed.get(f"f{i}", 0)) for i in range(10))
    check_layout(catalog)


def test_an_update_replaces_exactly_the_changed_frames_by_key(catalog):
    _write(catalog, *(_frame(i, f"c{i % 3}") for i in range(10)))
    before = _keys(catalog)
    # every frame again, three of them changed (metadata and box), in another order
    again = [_frame(i, f"c{i % 3}", n=5 if i in (2, 5, 9) else 0) for i in reversed(range(10))]
    _write(catalog, *again)
    after = _keys(catalog)
    kept = {k: v for k, v in after.items() if before[k] == v}
    assert sorted(kept) == sorted(f"f{i}" for i in range(10) if i not in (2, 5, 9))
    assert min(after[f] for f in ("f2", "f5", "f9")) >= max(before.values()) + 1  # new keys
    _check(catalog, {"f2": 5, "f5": 5, "f9": 5})


def test_frames_queued_one_by_one_replace_their_stored_frames_by_key(catalog):
    _write(catalog, *(_frame(i, f"c{i % 3}") for i in range(10)))
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(_frame(3, "c0", n=2))
        writer.add(_frame(7, "c1", n=4))
    _check(catalog, {"f3": 2, "f7": 4})
    _write(catalog, _frame(3, "c0", n=1))  # and again, from the key the last write gave
    _check(catalog, {"f3": 1, "f7": 4})


def test_rows_of_a_replaced_id_stored_without_a_frame_go_with_it(catalog):
    """A ROI stored by SQL for a frame id the catalog did not hold (keyed NO_FRAME) is
    deleted when a write replaces a frame of that id, as the DELETE by id did."""
    _write(catalog, *(_frame(i, f"c{i % 3}") for i in range(10)))
    with catalog.transaction() as con:
        con.execute(
            "INSERT INTO rois (frame_id, id, field, label, kind) "
            "VALUES ('f4', 'stray', 'ground_truth', 'car', 'box')"
        )
    with catalog.transaction() as con:  # its frame deleted and stored again meanwhile
        con.execute("UPDATE rois SET frame_key = -1 WHERE id = 'stray'")
    _write(catalog, _frame(4, "c1", n=3))
    assert _rows(catalog, "SELECT count(*) FROM rois WHERE id = 'stray'") == [(0,)]
    _check(catalog, {"f4": 3})
