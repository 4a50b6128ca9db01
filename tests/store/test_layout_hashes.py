"""A write finds its stored frames and contexts by their ids' hashes (store/layout_hashes.py):
exactly those stored, whatever else the hash tables hold (a hash equal by chance, the row of
a frame deleted since, rows of another engine version, keys given by other ways)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import workbench
from tests.store.test_layout import check_layout
from workbench.ingest import CatalogWriter, Frame, Roi, Source
from workbench.ingest._columnar import rows_table
from workbench.ingest._rows import frame_rows
from workbench.ingest.writer import RowBatch
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA
from workbench.store import layout_hashes
from workbench.store.layout import touch

_FRAMES = pa.schema([f for f in FRAME_SCHEMA if f.name != "ingested"])
_ROIS = pa.schema([f for f in ROI_SCHEMA if f.name != "visibility"])


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _frame(i: int, context: str, n: int = 0) -> Frame:
    rois = [Roi(f"r{i}", "box", ["car"], geometry=[[0, 0, 2, 3 + n]])]
    return Frame(
        f"f{i}",
        context_id=context,
        timestamp=i,
        metadata={"n": n},
        sources=[Source("front", f"s3://b/{i}.jpg")],
        rois=rois,
    )


def _write(catalog: Any, *frames: Frame) -> None:
    made = [frame_rows(f, f.id) for f in frames]
    batch = RowBatch(
        rows_table([m[0] for m in made], _FRAMES),
        rows_table([r for m in made for r in m[1]], SOURCE_SCHEMA),
        rows_table([r for m in made for r in m[2]], _ROIS),
    )
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_rows(batch)


def _rows(catalog: Any, query: str) -> list[tuple[Any, ...]]:
    return catalog.cursor().execute(query).fetchall()


def _check(catalog: Any, frames: dict[str, tuple[str, int]]) -> None:
    """The catalog holds exactly `frames` (id -> context, metadata n), once each, each
    context keyed once and its frames carrying that key, the layout exact."""
    got = _rows(catalog, "SELECT id, context_id, metadata->>'n' FROM frames ORDER BY id")
    assert got == sorted((i, c, str(n)) for i, (c, n) in frames.items())
    keys = _rows(catalog, "SELECT context_id, count(*) FROM context_keys GROUP BY 1")
    assert sorted(keys) == sorted((c, 1) for c in {c for c, _ in frames.values()})
    wrong = _rows(
        catalog,
        "SELECT f.id FROM frames f JOIN context_keys k ON k.context_id = f.context_id"
        " WHERE f.context_key <> k.context_key",
    )
    assert wrong == []
    check_layout(catalog)


def test_frames_and_contexts_written_again_are_found_by_their_hashes(catalog):
    _write(catalog, *(_frame(i, f"c{i % 2}") for i in range(4)))
    _write(catalog, _frame(2, "c1", n=5), _frame(3, "c1"), _frame(4, "c1"), _frame(5, "c2"))
    _check(
        catalog,
        {
            "f0": ("c0", 0), "f1": ("c1", 0), "f2": ("c1", 5),
            "f3": ("c1", 0), "f4": ("c1", 0), "f5": ("c2", 0),
        },
    )  # fmt: skip
    # every stored frame and context hashed, once, up to the marks
    hashed = _rows(catalog, f"SELECT frame_key, count(*) FROM {layout_hashes.FRAMES} GROUP BY 1")
    live = _rows(catalog, "SELECT frame_key FROM frames")
    assert {k for (k,) in live} <= {k for k, n in hashed if n == 1}
    contexts = _rows(catalog, f"SELECT count(*) FROM {layout_hashes.CONTEXTS}")
    assert contexts == [(3,)]


def test_a_hash_equal_by_chance_or_a_deleted_frames_row_is_no_match(catalog):
    _write(catalog, _frame(0, "c0"), _frame(1, "c1"))
    con = catalog.cursor()
    f1, c0 = _rows(catalog, "SELECT frame_key, context_key FROM frames WHERE id = 'f1'")[0][0], 0
    # hashes of ids never stored, pointing at other frames and contexts (as a collision
    # would): f7 is f1's twin but for its id, so taken for f1 it would be left unwritten
    con.execute(f"INSERT INTO {layout_hashes.FRAMES} SELECT hash('f7'), ?", [f1])
    con.execute(f"INSERT INTO {layout_hashes.CONTEXTS} SELECT hash('c9'), ?", [c0])
    with catalog.transaction() as tx:  # f0 deleted, its hash row left behind
        touch(tx, "SELECT 'f0'")
        tx.execute("DELETE FROM rois WHERE frame_id = 'f0'")
        tx.execute("DELETE FROM sources WHERE frame_id = 'f0'")
        tx.execute("DELETE FROM frames WHERE id = 'f0'")
    twin = replace(_frame(1, "c1"), id="f7")
    _write(catalog, twin, _frame(8, "c9"), _frame(0, "c0", n=2))
    _check(catalog, {"f0": ("c0", 2), "f1": ("c1", 0), "f7": ("c1", 0), "f8": ("c9", 0)})


def test_keys_given_by_other_ways_or_hashed_by_another_engine_are_hashed_again(catalog):
    _write(catalog, *(_frame(i, f"c{i}") for i in range(3)))
    con = catalog.cursor()
    for table in (layout_hashes.FRAMES, layout_hashes.CONTEXTS):  # as migrated: empty
        con.execute(f"DELETE FROM {table}")
    con.execute("DELETE FROM meta WHERE key IN ('hashed_frames', 'hashed_contexts')")
    _write(catalog, _frame(1, "c1", n=1), _frame(3, "c3"))
    _check(catalog, {"f0": ("c0", 0), "f1": ("c1", 1), "f2": ("c2", 0), "f3": ("c3", 0)})
    # rows of another engine version (hashed otherwise: here, every one wrong) are not used
    for table, mark in ((layout_hashes.FRAMES, "hashed_frames"), (layout_hashes.CONTEXTS,
                                                                   "hashed_contexts")):  # fmt: skip
        con.execute(f"UPDATE {table} SET h = h + 1")
        top = _rows(catalog, f"SELECT value FROM meta WHERE key = '{mark}'")[0][0].split()[0]
        con.execute("UPDATE meta SET value = ? WHERE key = ?", [f"{top} 0.0.1", mark])
    _write(catalog, _frame(2, "c2", n=4), _frame(4, "c0"))
    _check(
        catalog,
        {"f0": ("c0", 0), "f1": ("c1", 1), "f2": ("c2", 4), "f3": ("c3", 0), "f4": ("c0", 0)},
    )


def test_frames_keyed_by_the_commit_are_hashed_by_the_next_lookup(catalog):
    with CatalogWriter(catalog, progress=False) as writer:  # queued frames: keyed as inserted
        for i in range(2):
            writer.add(_frame(i, "c0"))
    with catalog.transaction() as tx:  # frames inserted unkeyed: layout.sync keys them
        for table, rows in (
            ("frames", "SELECT 'f5' AS id, 'c5' AS context_id"),
            ("sources", "SELECT 'f5' AS frame_id, 'front' AS id"),
        ):
            tx.execute(f"INSERT INTO {table} BY NAME {rows}")
    _write(catalog, _frame(5, "c5", n=3), _frame(1, "c5"))
    _check(catalog, {"f0": ("c0", 0), "f1": ("c5", 0), "f5": ("c5", 3)})
