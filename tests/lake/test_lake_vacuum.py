"""`workbench lake vacuum` cleans the embedding keys' tables as it cleans the big tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import workbench
from tests.jobs.test_embedding_job import LOCAL, lake_catalog, vectors
from workbench.analysis.embeddings import lake as embedding_lake
from workbench.cli import main
from workbench.jobs import run_embeddings
from workbench.store.lake import EMBEDDINGS


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*.parquet")}


def test_vacuum_removes_the_embedding_files_no_snapshot_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert embedding_lake.FOLDER == EMBEDDINGS
    path = lake_catalog(tmp_path, buckets=2)
    table = tmp_path / "lake" / EMBEDDINGS / "job"
    with workbench.open(path) as catalog:
        run_embeddings(catalog, "job", config=LOCAL, progress=False)
        first = _files(table)
        run_embeddings(catalog, "job", config=LOCAL, progress=False, overwrite=True)
        kept = vectors(catalog, "job")
    current = _files(table) - first
    assert first and current  # a fresh run wrote new files; the old ones stay on disk
    # a failed job's file, never committed
    (table / "context_bucket=1" / "part-lost.parquet").write_bytes(b"PAR1 not committed")
    vacuum = ["--catalog", str(path), "lake", "vacuum", "--retention-hours", "0"]
    # a file written within the retention may be a running job's: kept
    assert main([*vacuum[:-1], "1", "--confirm"]) == 0
    assert "lost" not in capsys.readouterr().out
    assert "context_bucket=1/part-lost.parquet" in _files(table)
    assert main(vacuum) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("would remove (add --confirm)")
    assert f"{EMBEDDINGS}/job: {len(first) + 1} files" in shown
    assert _files(table) == first | current | {"context_bucket=1/part-lost.parquet"}
    assert main([*vacuum, "--confirm"]) == 0
    assert f"{EMBEDDINGS}/job: {len(first) + 1} files" in capsys.readouterr().out
    assert _files(table) == current  # the lost file too
    with workbench.open(path) as catalog:
        found = vectors(catalog, "job")
        assert found.keys() == kept.keys()
        for name, vector in kept.items():
            np.testing.assert_array_equal(found[name], vector)


def test_vacuum_keeps_the_version_of_a_table_the_catalog_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltalake import write_deltalake

    path = lake_catalog(tmp_path, buckets=2)
    table = tmp_path / "lake" / EMBEDDINGS / "job"
    with workbench.open(path) as catalog:
        run_embeddings(catalog, "job", config=LOCAL, progress=False)
        kept = vectors(catalog, "job")
    read = _files(table)
    # another writer replaced the vectors; this catalog did not adopt that commit
    rows = pa.table(
        {
            "frame_id": ["f00"],
            "roi_id": [""],
            "vector": pa.array([[0.0] * 4], pa.list_(pa.float32())),
            "computed": pa.array([None], pa.timestamp("us")),
            "context_bucket": pa.array([0], pa.int32()),
        }
    )
    write_deltalake(str(table), rows, mode="overwrite")
    vacuum = ["--catalog", str(path), "lake", "vacuum", "--retention-hours", "0", "--confirm"]
    assert main(vacuum) == 0
    shown = capsys.readouterr().out
    assert f"{EMBEDDINGS}/job: 0 files" in shown  # the version the catalog reads is kept
    assert read <= _files(table)
    with workbench.open(path) as catalog:
        assert vectors(catalog, "job").keys() == kept.keys()
