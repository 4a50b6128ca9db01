"""Heavy jobs on an existing engine (Daft, Spark, or this process), writing a lake's tables.

One job definition (`IngestJob`), one engine setting (`EngineConfig`, $WORKBENCH_JOB_ENGINE);
no scheduler or worker pool of our own. docs/scale-out.md says how to run them on a cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.errors import LakeError
from workbench.jobs.engines import ENGINES, EngineConfig, run_units
from workbench.jobs.evaluation import EvaluationJob, combine, run_eval_unit
from workbench.jobs.ingest import IngestJob, UnitResult, commit, run_unit
from workbench.jobs.scope import drop_scope, scope_of, write_scope
from workbench.jobs.sequence_qa import JOB_KINDS, SequenceQaJob, run_qa_unit, store_issues
from workbench.store.catalog import Catalog

if TYPE_CHECKING:
    from workbench.analysis.embeddings.report import EmbeddingReport
    from workbench.analysis.evaluation.results import DetectionResults
    from workbench.query.view import View


def lake_format(catalog: Catalog) -> dict[str, Any]:
    """What a unit needs to read the lake's tables: their format, an Iceberg lake's SQL
    catalog (jobs/sequence_qa.py `bucket_view`)."""
    assert catalog.lake is not None
    tables = catalog.lake.format
    return {"table_format": tables.kind, "iceberg_catalog": getattr(tables, "catalog_uri", None)}


def require_delta(catalog: Catalog) -> None:
    """Embedding jobs read and write Delta lakes only (their units read with deltalake and
    commit Delta add actions); an Iceberg lake is refused before any unit runs."""
    if catalog.lake is not None and catalog.lake.format.kind != "delta":
        raise LakeError(
            f"embedding jobs run on Delta lakes; the lake at {catalog.lake.root} keeps "
            f"{catalog.lake.format.kind} tables (docs/scale-out.md, Iceberg)"
        )


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
    iceberg = None
    if job.table_format == "iceberg":
        from workbench.store.lake_iceberg import IcebergFormat

        iceberg = IcebergFormat(job.lake, job.iceberg_catalog)
    versions = commit(job.lake, results, iceberg)
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
    view: View | None = None,
    **options: Any,
) -> QaJobReport:
    """Sequence QA of a lake-backed catalog's every context (or the frames of `view`, as
    `view.sequence_qa()` checks them) as a job, one unit per bucket; the issues replace
    those of the same kinds in `qa_issues` (jobs/sequence_qa.py)."""
    import time

    from workbench.errors import LakeError

    if catalog.lake is None:
        raise LakeError("sequence QA jobs run on a lake-backed catalog")
    start = time.perf_counter()
    catalog.refresh_lake()
    job = SequenceQaJob(catalog.lake.root, tuple(kinds), dict(options))
    if view is not None and view.catalog is not catalog:
        raise LakeError("the view is of another catalog")
    units = job.units(catalog.lake.buckets)
    scope = write_scope(view)
    try:
        units = [u | scope_of(scope, u["bucket"]) | lake_format(catalog) for u in units]
        engine = config or EngineConfig.from_env()
        results = run_units(units, run_qa_unit, engine, progress=progress)
    finally:
        drop_scope(scope)
    issues = store_issues(catalog, job.kinds, results)
    return QaJobReport(len(units), issues, job.kinds, time.perf_counter() - start)


def run_evaluation(
    catalog: Catalog,
    pred_field: str,
    gt_field: str = "ground_truth",
    eval_key: str = "eval",
    config: EngineConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    view: View | None = None,
    **options: Any,
) -> DetectionResults:
    """Evaluate `pred_field` against `gt_field` over every frame of a lake-backed catalog as
    a job, one unit per bucket, and store the run as `eval_key` exactly as
    `catalog.evaluate_detections` does (`options`: its iou, classwise, method ('coco' or
    'simple'), iou_threshs, use_masks, compute_mAP, area_ranges, max_dets). `view`: only
    its frames, as `evaluate_detections(view=...)` (a view that filters ROIs runs locally
    only)."""
    import time

    from workbench.analysis.evaluation import storage
    from workbench.analysis.evaluation.config import EvaluationConfig
    from workbench.analysis.evaluation.loading import MULTI_SOURCE, rois_query
    from workbench.analysis.evaluation.run import check_fields
    from workbench.errors import EvaluationError, LakeError
    from workbench.query._sql import Compiled
    from workbench.query.view import View

    if options.get("use_keypoints"):
        raise EvaluationError(
            "evaluation jobs do not compare keypoints by OKS: use catalog.evaluate_detections"
        )
    if catalog.lake is None:
        raise LakeError("evaluation jobs run on a lake-backed catalog")
    started = time.perf_counter()
    settings = EvaluationConfig.build(**options)
    storage.check_writable(catalog)
    storage.check_key(eval_key)
    if not isinstance(overwrite, bool):
        raise EvaluationError(f"overwrite must be True or False, got {overwrite!r}")
    if view is not None and (view.catalog is not catalog or view.plan.roi_filters):
        raise EvaluationError(
            "an evaluation job takes a view of this catalog's frames; a view that filters "
            "ROIs runs locally (catalog.evaluate_detections)"
        )
    catalog.refresh_lake()
    every = View(catalog)
    view = view or every
    check_fields(view, pred_field, gt_field)
    storage.check_free(catalog, eval_key, overwrite)
    sources = bool(every.run(Compiled(f"SELECT 1 FROM ({MULTI_SOURCE}) LIMIT 1")).num_rows)
    job = EvaluationJob(catalog.lake.root, pred_field, gt_field, settings)
    query = rois_query(every, pred_field, gt_field, settings.use_masks, sources)
    scope = write_scope(view)
    try:
        units = [
            u | scope_of(scope, u["bucket"]) | lake_format(catalog)
            for u in job.units(catalog.lake.buckets, query, sources)
        ]
        engine = config or EngineConfig.from_env()
        found = run_units(units, run_eval_unit, engine, progress=progress)
    finally:
        drop_scope(scope)
    results, rois, frames = combine(found, job, eval_key)
    return storage.save(
        catalog,
        view,
        results,
        rois,
        frames,
        overwrite=overwrite,
        seconds=time.perf_counter() - started,
    )


def run_embeddings(
    catalog: Catalog,
    key: str = "descriptor",
    model: str | os.PathLike[str] | None = None,
    config: EngineConfig | None = None,
    *,
    target: str = "frames",
    field: str | None = None,
    source: str | None = None,
    media: str = "source",
    image_size: int = 256,
    batch_size: int = 64,
    overwrite: bool = False,
    progress: bool = True,
    view: View | None = None,
    **onnx_options: Any,
) -> EmbeddingReport:
    """`catalog.compute_embeddings` over every frame (or box ROI) of a lake-backed catalog as
    a job, one unit per bucket (or share of one), the vectors kept as a Delta table in the
    lake and read by the catalog as `emb_<key>` (jobs/embeddings.py). `model`: None (the
    built-in descriptor) or an ONNX file that every worker can read. A key the job made
    before is resumed (ids it has are skipped) unless `overwrite`. `view`: only the frames
    (or their ROIs) of this view of the catalog (a saved view, a `where`...; jobs/scope.py)."""
    from workbench.jobs.embeddings import run_job

    require_delta(catalog)

    return run_job(
        catalog,
        key,
        model,
        config or EngineConfig.from_env(),
        target=target,
        field=field,
        source=source,
        media=media,
        image_size=image_size,
        batch_size=batch_size,
        overwrite=overwrite,
        progress=progress,
        onnx_options=onnx_options,
        view=view,
    )


__all__ = [
    "ENGINES",
    "JOB_KINDS",
    "EngineConfig",
    "EvaluationJob",
    "IngestJob",
    "JobReport",
    "QaJobReport",
    "SequenceQaJob",
    "run_embeddings",
    "run_evaluation",
    "run_ingest",
    "run_sequence_qa",
]
