"""Metadata keys promoted to frame columns on a lake-backed catalog, as on a local one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

import workbench
from tests.store.test_layout import _frame, check_layout
from workbench.ingest.writer import CatalogWriter
from workbench.store import layout
from workbench.store.lake_write import open_for_lake


def _fill(path: Path, first: int, count: int) -> None:
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(first, first + count):
            extra: dict[str, Any] = {"road": ["rain", "sun", "fog"][i % 3]} if i % 4 else {}
            writer.add(
                _frame(
                    i,
                    [("ground_truth", "car", None), ("predictions", "car", 0.1 * (i % 10))],
                    scene=f"s{i % 2}",
                    nested={"a": i},
                    **extra,
                )
            )
            if i % 10 == 9:
                writer.flush()  # several writes: several files per bucket


def _answers(catalog: Any) -> dict[str, Any]:
    view = catalog.view()
    return {
        "rain": sorted(view.match(road="rain").frame_ids()),
        "s1": view.match(scene="s1").count(),
        "fog_s0": sorted(view.match(road="fog", scene="s0").frame_ids()),
    }


def test_optimize_promotes_on_a_lake_as_on_a_local_catalog(tmp_path: Path) -> None:
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    _fill(local, 0, 60)
    shutil.copyfile(local, lake)
    open_for_lake(str(lake), str(tmp_path / "lake"), attach=False, buckets=3, progress=False)
    with workbench.open(local) as a, workbench.open(lake) as b:
        assert layout.promoted_columns(b.cursor()) == {}
        expected = _answers(a)
        assert expected["rain"] and expected["fog_s0"]
        assert _answers(b) == expected
        assert a.optimize() == ["road", "scene"]
        assert b.optimize() == ["road", "scene"]
        promoted = {"road": "metadata_road", "scene": "metadata_scene"}
        assert layout.promoted_columns(b.cursor()) == promoted
        # the lake's frames table holds the columns, filled in every bucket
        frames = DeltaTable(str(tmp_path / "lake" / "frames")).to_pyarrow_table()
        assert frames.schema.field("metadata_road").type == pa.string()
        assert frames["metadata_road"].null_count == 15  # the frames without the key
        check_layout(b)
        # the same queries read the columns, with the same answers
        query = b.view().match(road="rain").compile().sql
        assert "metadata_road" in query and query == a.view().match(road="rain").compile().sql
        assert _answers(b) == expected == _answers(a)
        # columns stay derived: pages show the catalog's columns only
        assert "metadata_road" not in b.view().frames(0, 1).column_names
        assert b.optimize() == []  # nothing new; compacts again
    # writes keep the columns up to date
    _fill(lake, 60, 12)
    _fill(local, 60, 12)
    with workbench.open(local) as a, workbench.open(lake) as b:
        check_layout(b)
        assert _answers(b) == _answers(a)
        assert "f63" in _answers(b)["rain"]


def test_lake_compact_promotes(tmp_path: Path, capsys: Any) -> None:
    from workbench.cli import main

    path = tmp_path / "lake.duckdb"
    _fill(path, 0, 30)
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=2, progress=False)
    args = ["--catalog", str(path), "lake", "compact"]
    assert main([*args, "--no-promote"]) == 0
    assert "promoted to columns: none" in capsys.readouterr().out
    assert main(args) == 0
    assert "promoted to columns: ['road', 'scene']" in capsys.readouterr().out
    with workbench.open(path) as catalog:
        check_layout(catalog)
        expected = sum(1 for i in range(30) if i % 4 and i % 3 == 1)
        assert catalog.view().match(road="sun").count() == expected
