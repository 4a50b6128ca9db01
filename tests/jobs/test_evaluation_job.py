"""Evaluation as a job, bucket by bucket, stores the run the catalog's own evaluation stores."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.analysis.eval_data import import_dataset, make_dataset
from workbench import Catalog
from workbench.errors import EvaluationError, LakeError
from workbench.jobs import EngineConfig, run_evaluation
from workbench.store.lake_write import open_for_lake

DAFT = importlib.util.find_spec("daft") is not None
LOCAL = EngineConfig("local")
ROI_COLUMNS = "frame_id, roi_id, field, label, confidence, outcome, match_id, iou, crowd"


def lake_catalog(tmp_path: Path, mode: str = "bbox", buckets: int = 3, fmt: str = "delta") -> Path:
    data = make_dataset(tmp_path / "data", seed=7, images=40, mode=mode, busy_images=1)
    path = tmp_path / "c.duckdb"
    import_dataset(data, path).close()
    open_for_lake(
        str(path), str(tmp_path / "lake"), attach=False, buckets=buckets, progress=False, fmt=fmt
    )
    return path


def stored(catalog: Catalog, key: str) -> dict[str, Any]:
    run_id = catalog.sql("SELECT run_id FROM evaluations WHERE eval_key = ?", [key]).fetchall()
    run = run_id[0][0]
    rois = catalog.sql(
        f"SELECT {ROI_COLUMNS} FROM eval_rois WHERE run_id = ? ORDER BY rowid", [run]
    ).fetchall()
    frames = catalog.sql(
        "SELECT frame_id, tp, fp, fn FROM eval_frames WHERE run_id = ? ORDER BY frame_id", [run]
    ).fetchall()
    results = catalog.load_evaluation_results(key).to_dict()
    results.pop("eval_key")
    return {"rois": rois, "frames": frames, "results": results}


def check_same(catalog: Catalog, engine: EngineConfig, **options: Any) -> None:
    local = catalog.evaluate_detections("predictions", eval_key="local", **options)
    job = run_evaluation(
        catalog, "predictions", eval_key="job", config=engine, progress=False, **options
    )
    assert job.tp == local.tp and job.fp == local.fp and job.fn == local.fn
    assert job.mAP == local.mAP and job.frames == local.frames
    expected, found = stored(catalog, "local"), stored(catalog, "job")
    assert len(expected["rois"]) > 100
    assert {r[5] for r in expected["rois"]} >= {"tp", "fp", "fn"}
    assert found["rois"] == expected["rois"]
    assert found["frames"] == expected["frames"]
    assert found["results"] == expected["results"]
    # the views of a run read the job's run as the local one
    for outcome in ("tp", "fp", "fn"):
        assert (
            catalog.view().match_eval("job", outcome).frame_ids()
            == catalog.view().match_eval("local", outcome).frame_ids()
        )
    keys = [e.eval_key for e in catalog.list_evaluations()]
    assert keys == ["local", "job"]


def test_the_job_stores_what_the_catalog_stores(tmp_path: Path) -> None:
    with workbench.open(lake_catalog(tmp_path)) as catalog:
        check_same(catalog, EngineConfig("local"))
        # and again with other settings, replacing the runs
        catalog.delete_evaluation("local", confirm=True)
        catalog.delete_evaluation("job", confirm=True)
        check_same(catalog, EngineConfig("local"), method="simple", iou=0.7, classwise=False)


def test_on_an_iceberg_lake(tmp_path: Path) -> None:
    with workbench.open(lake_catalog(tmp_path, fmt="iceberg")) as catalog:
        assert catalog.lake is not None and catalog.lake.format.kind == "iceberg"
        check_same(catalog, EngineConfig("local"))


def test_masks_too(tmp_path: Path) -> None:
    with workbench.open(lake_catalog(tmp_path, "segm", buckets=2)) as catalog:
        check_same(catalog, EngineConfig("local"), use_masks=True)


def several_sources(path: Path) -> None:
    """Frames of one to three cameras (named alike across frames, listed in varying order),
    ROIs naming a camera or none, confidences drawn from a few values (ties across frames)."""
    import numpy as np

    from workbench.ingest.writer import CatalogWriter
    from workbench.model.geometry import box_ring
    from workbench.model.records import Frame, Roi, Source

    rng = np.random.default_rng(5)
    cameras = ["left", "right", "front"]
    frames = []
    for i in range(60):
        names = list(rng.permutation(cameras)[: int(rng.integers(1, 4))])
        rois = []
        for j in range(int(rng.integers(2, 9))):
            x, y = (float(v) for v in rng.uniform(0, 60, 2))
            w, h = (float(v) for v in rng.uniform(5, 40, 2))
            field = "predictions" if j % 2 else "ground_truth"
            named = [] if rng.random() < 0.2 else [str(rng.choice(names))]
            rois.append(
                Roi(
                    id=f"r{j}",
                    kind="box",
                    labels=[str(rng.choice(["car", "person"]))],
                    field=field,
                    geometry=[box_ring(x, y, x + w, y + h)],
                    confidence=float(rng.choice([0.5, 0.7, 0.9])) if j % 2 else None,
                    source_ids=named,
                )
            )
        sources = [Source(n, f"/{i}/{n}.jpg", 100, 100) for n in names]
        frames.append(Frame(f"f{i}", sources=sources, rois=rois, context_id=f"c{i % 9}"))
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for frame in frames:
            writer.add(frame)


def test_frames_of_several_sources(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    several_sources(path)
    # 9 contexts in 16 buckets: some units have no frame
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=16, progress=False)
    with workbench.open(path) as catalog:
        check_same(catalog, EngineConfig("local"))


@pytest.mark.skipif(not DAFT, reason="Daft runs in its own virtualenv")
def test_on_daft(tmp_path: Path) -> None:
    with workbench.open(lake_catalog(tmp_path, buckets=4)) as catalog:
        check_same(catalog, EngineConfig("daft", 2))


def test_a_view_restricts_the_job(tmp_path: Path) -> None:
    with workbench.open(lake_catalog(tmp_path)) as catalog:
        view = catalog.view().where("hash(f.id) % 3 <> 0")
        assert 0 < view.count() < catalog.view().count()
        local = catalog.evaluate_detections("predictions", eval_key="local", view=view)
        job = run_evaluation(
            catalog, "predictions", eval_key="job", config=LOCAL, progress=False, view=view
        )
        assert (job.tp, job.fp, job.fn, job.mAP) == (local.tp, local.fp, local.fn, local.mAP)
        expected, found = stored(catalog, "local"), stored(catalog, "job")
        assert found == expected and len(expected["rois"]) > 50
        assert {r[0] for r in found["rois"]} <= set(view.frame_ids())
        assert catalog.load_evaluation_view("job").frame_ids() == view.frame_ids()
        with pytest.raises(EvaluationError, match="filters ROIs"):
            run_evaluation(
                catalog,
                "predictions",
                eval_key="other",
                config=LOCAL,
                progress=False,
                view=catalog.view().filter_rois("predictions", min_confidence=0.5),
            )


def test_refusals(tmp_path: Path) -> None:
    with workbench.open(tmp_path / "local.duckdb") as catalog, pytest.raises(LakeError):
        run_evaluation(catalog, "predictions", config=EngineConfig("local"), progress=False)
    with workbench.open(lake_catalog(tmp_path)) as catalog:
        run = EngineConfig("local")
        with pytest.raises(EvaluationError, match="coco"):
            run_evaluation(catalog, "predictions", config=run, method="open-images", progress=False)
        with pytest.raises(EvaluationError, match="no ROIs of field"):
            run_evaluation(catalog, "nothing", config=run, progress=False)
        run_evaluation(catalog, "predictions", config=run, progress=False)
        with pytest.raises(EvaluationError, match="exists"):
            run_evaluation(catalog, "predictions", config=run, progress=False)


@pytest.mark.slow
def test_on_spark(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    try:
        with workbench.open(lake_catalog(tmp_path, buckets=2)) as catalog:
            check_same(catalog, EngineConfig("spark", 2))
    finally:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli import main

    path = lake_catalog(tmp_path, buckets=2)
    args = ["--catalog", str(path), "lake", "evaluate", "predictions", "--key", "night"]
    assert main([*args, "--engine", "local", "--method", "simple", "--iou", "0.6"]) == 0
    assert "evaluation 'night': predictions against ground_truth, simple at IoU 0.6" in (
        capsys.readouterr().out
    )
    with workbench.open(path) as catalog:
        local = catalog.evaluate_detections("predictions", eval_key="l", method="simple", iou=0.6)
        assert catalog.load_evaluation_results("night").to_dict() == local.to_dict() | {
            "eval_key": "night"
        }


def test_no_prediction_overlaps_any_ground_truth(tmp_path: Path) -> None:
    """No candidate pair at all (in the whole catalog, or in one unit)."""
    from workbench.ingest.writer import CatalogWriter
    from workbench.model.geometry import box_ring
    from workbench.model.records import Frame, Roi

    def box(roi_id: str, field: str, x: float, confidence: float | None = None) -> Roi:
        ring = [box_ring(x, 0, x + 10, 10)]
        return Roi(roi_id, "box", ["car"], field=field, geometry=ring, confidence=confidence)

    path = tmp_path / "c.duckdb"
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(4):
            rois = [box("g", "ground_truth", 0), box("p", "predictions", 50, 0.5)]
            writer.add(Frame(f"f{i}", rois=rois, context_id=f"c{i}"))
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=2, progress=False)
    with workbench.open(path) as catalog:
        local = catalog.evaluate_detections("predictions", eval_key="local")
        assert (local.tp, local.fp, local.fn) == (0, 4, 4)
        job = run_evaluation(catalog, "predictions", config=EngineConfig("local"), progress=False)
        assert job.to_dict() == local.to_dict() | {"eval_key": "eval"}
