"""A rolled-back write whose undo needs files a vacuum removed: every open fails with a
LakeError naming `workbench lake accept`; the command without --confirm lists what would stay
and changes nothing; with --confirm the catalog reads the lake as it is, the kept frames
stored again (keys, summaries), audited, and it writes on from there.

Real lake files (Delta and Iceberg), a real child process killed between its lake commits and
its COMMIT (tests/store/test_lake_repair.py), the vacuum the lake's own (retention 0 h)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.store.test_lake_repair import (
    _killed_write,
    _lake_catalog,
    _new_frames,
    _replaced_frames,
    state,
)
from workbench.cli import main
from workbench.errors import LakeUndoError
from workbench.store.lake import LAKE_TABLES
from workbench.store.lake_format import open_format
from workbench.store.lake_iceberg import default_catalog


@pytest.fixture(params=["delta", "iceberg"])
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _vacuumed(path: Path, fmt: str) -> list[str]:
    """Every file no latest snapshot reads removed from the lake beside `path`."""
    catalog = default_catalog(str(path)) if fmt == "iceberg" else None
    tables = open_format(fmt, str(path.parent / "lake"), catalog)
    return [f for name in LAKE_TABLES for f in tables.vacuum(name, 0, False)]


def _committed(tmp_path: Path, fmt: str) -> dict[str, Any]:
    """The state of the same catalog after the same write, committed."""
    twin = tmp_path / "twin"
    twin.mkdir()
    with workbench.open(_lake_catalog(twin, fmt)) as catalog:
        _replaced_frames(catalog)
        return _comparable(state(catalog))


def _comparable(found: dict[str, Any]) -> dict[str, Any]:
    """What the accepted catalog and a committed write in another catalog agree on: not the
    import records (the rolled-back write's import has none), the paths, nor the times a
    row was written and the stored order's numbers (`_row`) drawn from them."""
    info = {k: v for k, v in found["info"].items() if k not in ("path", "imports")}
    rows = {
        t: [tuple(v for v in row[:-1] if not isinstance(v, datetime)) for row in found[t]]
        for t in ("frames", "sources", "rois")
    }
    return {**found, **rows, "imports": None, "info": info}


def test_an_undo_a_vacuum_made_impossible_is_accepted_when_asked(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _committed(tmp_path, fmt)
    path = _lake_catalog(tmp_path, fmt)
    _killed_write(path, "replaced")  # f0, f1 replaced, x9 new: files of f0, f1 rewritten
    assert _vacuumed(path, fmt)  # the files the undo would bring back
    for _ in range(2):  # at every open
        with pytest.raises(LakeUndoError, match="lake accept"):
            workbench.open(path)

    assert main(["lake", "accept", "--catalog", str(path)]) == 0
    listed = capsys.readouterr().out
    assert (
        "frames: " in listed and "wrote anew: f0, f1, x9;" in listed and "add --confirm" in listed
    )
    with pytest.raises(LakeUndoError, match="lake accept"):  # the dry run changed nothing
        workbench.open(path)

    assert main(["lake", "accept", "--catalog", str(path), "--confirm"]) == 0
    assert "kept" in capsys.readouterr().out
    with workbench.open(path) as catalog:
        assert _comparable(state(catalog)) == expected
        audit = catalog.sql(
            "SELECT count, details->>'frames' FROM audit_log WHERE action = 'lake.accept'"
        ).fetchall()
        assert audit == [(3, '["f0","f1","x9"]')]
        _new_frames(catalog)  # and it writes on from there
        keys = catalog.sql("SELECT frame_key FROM frames WHERE id LIKE 'x_'").fetchall()
        assert len({k for (k,) in keys}) == 4
    assert main(["lake", "accept", "--catalog", str(path)]) == 0
    assert "nothing to accept" in capsys.readouterr().out
