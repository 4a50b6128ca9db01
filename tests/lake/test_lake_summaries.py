"""An attached lake's summaries, made a stretch of frame keys at a time, equal those `lake
init` carries over from a local catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

import workbench
from tests.lake.test_lake_groups import _answers, _fill, _views
from workbench.store import lake_write
from workbench.store.lake_write import open_for_lake

TABLES = {
    "frame_labels": "SELECT * FROM frame_labels ORDER BY ALL",
    "frame_codes": "SELECT frame_key, list_sort(codes) FROM frame_codes WHERE len(codes) > 0"
    " ORDER BY ALL",
    "code_counts": "SELECT * FROM code_counts ORDER BY ALL",
    "label_keys": "SELECT * FROM label_keys ORDER BY ALL",
}


def _layout(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        con.close()


def test_attached_summaries_equal_the_local_catalogs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, made, attached = (tmp_path / n for n in ("local.duckdb", "made.duckdb", "att.duckdb"))
    _fill(local, 0, 45)
    shutil.copyfile(local, made)
    open_for_lake(str(made), str(tmp_path / "lake"), attach=False, buckets=3, progress=False)
    monkeypatch.setattr(lake_write, "SUMMARY_STRETCH", 7)  # 45 frames: 7 passes
    open_for_lake(str(attached), str(tmp_path / "lake"), attach=True, buckets=3, progress=False)
    want, got = _layout(made), _layout(attached)
    assert len(want["frame_labels"]) > 45
    assert got == want
    with workbench.open(local) as a, workbench.open(attached) as b:
        for (name, va), vb in zip(_views(a).items(), _views(b).values(), strict=True):
            assert _answers(vb) == _answers(va), name
