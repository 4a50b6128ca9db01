"""Heavy jobs on an existing engine (Daft, Spark, or this process), writing a lake's tables.

One job definition (`IngestJob`), one engine setting (`EngineConfig`, $WORKBENCH_JOB_ENGINE);
no scheduler or worker pool of our own. docs/scale-out.md says how to run them on a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.jobs.engines import ENGINES, EngineConfig, run_units
from workbench.jobs.ingest import IngestJob, UnitResult, commit, run_unit
from workbench.jobs.sequence_qa import JOB_KINDS, SequenceQaJob, run_qa_unit, store_issues
from workbench.store.catalog import Catalog


@dataclass(frozen=True)
class JobReport:
    """What a job did: units run, frames and ROIs written, records refused, new versions."""

    units: int
    frames: int
    rois: int
    refused: tuple[str, ...]
    versions: dict[str, int]
    seconds: float


def run_ingest(
    job: IngestJob, config: EngineConfig | None = None, *, progress: bool = True
) -> JobReport:
    """Run an ingest job on the configured engine and commit what its units wrote."""
    import time

    config = config or EngineConfig.from_env()
    start = time.perf_counter()
    units = job.units()
    results = [
        UnitResult.from_json(r) for r in run_units(units, run_unit, config, progress=progress)
    ]
    versions = commit(job.lake, results)
    return JobReport(
        units=len(units),
        frames=sum(r.frames for r in results),
        rois=sum(r.rois for r in results),
        refused=tuple(e for r in results for e in r.refused),
        versions=versions,
        seconds=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class QaJobReport:
    """What a sequence QA job did: units (buckets) checked, issues stored, kinds checked."""

    units: int
    issues: int
    kinds: tuple[str, ...]
    seconds: float


def run_sequence_qa(
    catalog: Catalog,
    kinds: tuple[str, ...] = JOB_KINDS,
    config: EngineConfig | None = None,
    *,
    progress: bool = True,
    **options: Any,
) -> QaJobReport:
    """Sequence QA of a lake-backed catalog's every context as a job, one unit per bucket;
    the issues replace those of the same kinds in `qa_issues` (jobs/sequence_qa.py)."""
    import time

    from workbench.errors import LakeError

    if catalog.lake is None:
        raise LakeError("sequence QA jobs run on a lake-backed catalog")
    start = time.perf_counter()
    catalog.refresh_lake()
    job = SequenceQaJob(catalog.lake.root, tuple(kinds), dict(options))
    units = job.units(catalog.lake.buckets)
    results = run_units(units, run_qa_unit, config or EngineConfig.from_env(), progress=progress)
    issues = store_issues(catalog, job.kinds, results)
    return QaJobReport(len(units), issues, job.kinds, time.perf_counter() - start)


__all__ = [
    "ENGINES",
    "JOB_KINDS",
    "EngineConfig",
    "IngestJob",
    "JobReport",
    "QaJobReport",
    "SequenceQaJob",
    "run_ingest",
    "run_sequence_qa",
]
