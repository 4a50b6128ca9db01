"""An Iceberg lake whose snapshots since the catalog's pin a vacuum expired (another tool's,
while a job's commit made after a killed write stayed the latest): the undo finds the killed
write's snapshots in the earlier metadata files the table's log names and undoes them; when
those files are gone too, opening is refused with an error naming the snapshot the walk back
stopped at, rather than the write's rows being kept unseen."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from tests.store.test_lake_repair import (
    _job_append,
    _killed_write,
    _lake_catalog,
    _lake_ids,
    state,
)
from workbench.errors import LakeUndoError
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.store.lake import LAKE_TABLES
from workbench.store.lake_iceberg import IcebergFormat, default_catalog


def _killed_then_job_then_vacuum(tmp_path: Path) -> tuple[Path, list[str], dict]:
    """A killed write of new frames, a job's frame appended after it, then every snapshot
    but the latest expired (retention 0); the frame ids the lake held before, and the
    catalog's state."""
    path = _lake_catalog(tmp_path, "iceberg")
    with workbench.open(path) as catalog:
        before = state(catalog)
    ids = _lake_ids(path)
    _killed_write(path, "new")
    job = tmp_path / "job.duckdb"
    with workbench.open(job) as other, CatalogWriter(other, progress=False) as writer:
        writer.add(Frame(id="j0", sources=[Source("c", "/j.jpg")]))
    with workbench.open(job) as other:
        rows = {t: other.sql(f"SELECT * FROM {t}").to_arrow_table() for t in LAKE_TABLES}
    con = workbench.open(path, read_only=True)
    try:
        lake = con.lake
        assert lake is not None
        _job_append(lake, con.cursor(), rows)
        tool = IcebergFormat(lake.root, default_catalog(str(path)))
        for name in LAKE_TABLES:  # another tool's vacuum: the catalog is not opened
            tool.vacuum(name, 0, dry_run=False)
            assert len(tool.table(name).snapshots()) == 1
    finally:
        con.close()
    return path, ids, before


def test_an_expired_rolled_back_write_is_found_in_the_metadata_log_and_undone(
    tmp_path: Path,
) -> None:
    path, ids, before = _killed_then_job_then_vacuum(tmp_path)
    assert {"x0", "x1", "x2"} <= set(_lake_ids(path))
    with workbench.open(path) as catalog:
        frames = catalog.sql("SELECT id FROM frames ORDER BY id").fetchall()
        assert [i for (i,) in frames] == sorted([*(f[0] for f in before["frames"]), "j0"])
        keyed = catalog.sql("SELECT frame_key FROM frames WHERE id = 'j0'").fetchall()
        assert keyed == [(before["next"],)]
    assert _lake_ids(path) == sorted([*ids, "j0"])


def test_an_expired_write_whose_metadata_is_gone_is_refused_naming_the_snapshot(
    tmp_path: Path,
) -> None:
    path, _, _ = _killed_then_job_then_vacuum(tmp_path)
    tool = IcebergFormat(str(tmp_path / "lake"), default_catalog(str(path)))
    frames = tool.table("frames")
    latest = frames.current_snapshot().snapshot_id
    for name in LAKE_TABLES:  # the earlier metadata files removed (a tool's clean-up)
        for entry in tool.table(name).metadata.metadata_log:
            Path(entry.metadata_file.removeprefix("file://")).unlink()
    with pytest.raises(LakeUndoError, match=rf"snapshot {latest}'s parent is not known"):
        workbench.open(path).close()
    assert {"x0", "x1", "x2"} <= set(_lake_ids(path))  # nothing changed
