"""Sequence QA as a job, bucket by bucket, finds what the catalog's own run finds."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

import workbench
from tests.analysis.test_sequence_qa import sequences  # noqa: F401 (the planted sequences)
from workbench.errors import LakeError
from workbench.jobs import JOB_KINDS, EngineConfig, run_sequence_qa
from workbench.store.lake_write import open_for_lake

COLUMNS = "kind, severity, context_id, frame_id, source_id, field, track, details"


def issues(catalog: workbench.Catalog) -> list[tuple]:
    return sorted(catalog.sql(f"SELECT {COLUMNS} FROM qa_issues").fetchall(), key=repr)


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_the_job_finds_what_the_catalog_finds(sequences: Path, tmp_path: Path, fmt: str) -> None:  # noqa: F811
    local = tmp_path / "local.duckdb"
    shutil.copyfile(sequences, local)
    with workbench.open(local) as catalog:
        catalog.sequence_qa(list(JOB_KINDS), progress=False)
        expected = issues(catalog)
    assert {row[0] for row in expected} >= {"gap", "jump"}  # the planted issues are there
    lake = tmp_path / "lake.duckdb"
    shutil.copyfile(sequences, lake)
    open_for_lake(
        str(lake), str(tmp_path / "lake"), attach=False, buckets=4, progress=False, fmt=fmt
    )
    with workbench.open(lake) as catalog:
        report = run_sequence_qa(catalog, config=EngineConfig("local"), progress=False)
        assert report.units == 4 and report.issues == len(expected)
        assert issues(catalog) == expected
        audit = catalog.sql("SELECT action, count FROM audit_log ORDER BY id DESC LIMIT 1")
        assert audit.fetchall() == [("sequence_qa", len(expected))]
        # a second run replaces the issues of its kinds
        run_sequence_qa(catalog, ("gap",), config=EngineConfig("local"), progress=False)
        assert issues(catalog) == expected


@pytest.mark.skipif(
    importlib.util.find_spec("daft") is None, reason="Daft runs in its own virtualenv"
)
def test_on_daft_too(sequences: Path, tmp_path: Path) -> None:  # noqa: F811
    lake = tmp_path / "lake.duckdb"
    shutil.copyfile(sequences, lake)
    open_for_lake(str(lake), str(tmp_path / "lake"), attach=False, buckets=3, progress=False)
    with workbench.open(lake) as catalog:
        local = run_sequence_qa(catalog, config=EngineConfig("local"), progress=False)
        expected = issues(catalog)
        on_daft = run_sequence_qa(catalog, config=EngineConfig("daft", 2), progress=False)
        assert on_daft.issues == local.issues and issues(catalog) == expected


def test_a_local_catalog_is_refused(tmp_path: Path) -> None:
    with workbench.open(tmp_path / "c.duckdb") as catalog, pytest.raises(LakeError):
        run_sequence_qa(catalog, config=EngineConfig("local"), progress=False)


def test_a_view_restricts_the_job(sequences: Path, tmp_path: Path) -> None:  # noqa: F811
    lake = tmp_path / "lake.duckdb"
    shutil.copyfile(sequences, lake)
    open_for_lake(str(lake), str(tmp_path / "lake"), attach=False, buckets=3, progress=False)
    with workbench.open(lake) as catalog:
        contexts = [r[0] for r in catalog.sql("SELECT DISTINCT context_id FROM frames").fetchall()]
        half = sorted(contexts)[: len(contexts) // 2]
        view = catalog.view().where(
            "f.context_id IN (" + ", ".join("?" for _ in half) + ") AND f.frame_index % 7 <> 3",
            *half,
        )
        view.sequence_qa(list(JOB_KINDS), progress=False)
        expected = issues(catalog)
        assert expected and {r[2] for r in expected} <= set(half)
        report = run_sequence_qa(catalog, config=EngineConfig("local"), progress=False, view=view)
        assert report.issues == len(expected) and issues(catalog) == expected
        # the dropped frames make gaps the whole catalog does not have, and vice versa
        run_sequence_qa(catalog, config=EngineConfig("local"), progress=False)
        assert {r[2] for r in issues(catalog)} - set(half)
