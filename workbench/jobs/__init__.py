"""Heavy jobs on an existing engine (Daft, Spark, or this process), writing a lake's tables.

One job definition (`IngestJob`), one engine setting (`EngineConfig`, $WORKBENCH_JOB_ENGINE);
no scheduler or worker pool of our own. docs/scale-out.md says how to run them on a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.jobs.engines import ENGINES, EngineConfig, run_units
from workbench.jobs.ingest import IngestJob, UnitResult, commit, run_unit


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


__all__ = [
    "ENGINES",
    "EngineConfig",
    "IngestJob",
    "JobReport",
    "run_ingest",
]
