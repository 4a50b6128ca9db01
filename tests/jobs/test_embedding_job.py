"""Embedding computation as a job: the vectors `compute_embeddings` stores, kept in the lake."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import workbench
from tests.analysis.emb_data import picture_catalog
from tests.analysis.test_embeddings import _onnx_model
from workbench import Catalog
from workbench.errors import AnalysisError, LakeError
from workbench.jobs import EngineConfig, run_embeddings
from workbench.query import save_view
from workbench.store.lake_write import open_for_lake

DAFT = importlib.util.find_spec("daft") is not None
LOCAL = EngineConfig("local")


def lake_catalog(tmp_path: Path, buckets: int = 3, count: int = 12) -> Path:
    picture_catalog(tmp_path, count).close()
    path = tmp_path / "pictures.duckdb"
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=buckets, progress=False)
    return path


def vectors(catalog: Catalog, key: str, ids: str = "frame_id") -> dict[tuple, np.ndarray]:
    rows = catalog.sql(f"SELECT {ids}, vector FROM emb_{key}").fetchall()
    return {tuple(r[:-1]): np.asarray(r[-1], dtype=np.float32) for r in rows}


def check_same(catalog: Catalog, engine: EngineConfig, **options) -> None:
    """The job's vectors and report are those of `compute_embeddings` on the same catalog."""
    local = catalog.compute_embeddings("local", progress=False, **options)
    job = run_embeddings(catalog, "job", config=engine, progress=False, **options)
    assert (job.written, job.refused, job.skipped) == (local.written, local.refused, 0)
    assert sorted(job.errors) == sorted(local.errors)
    ids = "frame_id, roi_id" if options.get("target") == "rois" else "frame_id"
    expected, found = vectors(catalog, "local", ids), vectors(catalog, "job", ids)
    assert len(expected) == local.written > 0 and found.keys() == expected.keys()
    for name, vector in expected.items():
        np.testing.assert_allclose(found[name], vector, rtol=1e-5, atol=1e-6)
    info = {i.key: i for i in catalog.list_embeddings()}
    assert info["job"].in_lake and not info["local"].in_lake
    assert (info["job"].count, info["job"].dimension) == (local.written, info["local"].dimension)
    assert (info["job"].model, info["job"].target) == (info["local"].model, info["local"].target)


def test_the_job_stores_what_compute_embeddings_stores(tmp_path: Path) -> None:
    path = lake_catalog(tmp_path)
    with workbench.open(path) as catalog:
        check_same(catalog, LOCAL)
        kind = (
            catalog.cursor()
            .execute(
                "SELECT table_type FROM information_schema.tables WHERE table_name = 'emb_job'"
            )
            .fetchall()
        )
        assert kind == [("VIEW",)]  # the lake's table at a pinned snapshot
        assert list((tmp_path / "lake" / "embeddings" / "job").glob("context_bucket=*/*.parquet"))
        # similarity and duplicates read the job's vectors as the catalog's own
        by_job = catalog.view().sort_by_similarity("f01", key="job").frame_ids()
        by_local = catalog.view().sort_by_similarity("f01", key="local").frame_ids()
        assert by_job == by_local and by_job[0] == "f01"
        dups = catalog.find_duplicates(kinds="embedding", key="job", threshold=0.5, progress=False)
        same = catalog.find_duplicates(
            kinds="embedding", key="local", threshold=0.5, progress=False
        )
        assert dups.groups == same.groups
        points = catalog.view().projection("job", "pca")
        assert points.num_rows == 12
        # a run again resumes: every id is there
        again = run_embeddings(catalog, "job", config=LOCAL, progress=False)
        assert (again.written, again.skipped) == (0, 12)
    with workbench.open(path, read_only=True) as catalog:  # the view outlives the process
        assert len(vectors(catalog, "job")) == 12


def test_bad_pictures_cost_only_themselves_and_a_run_resumes(tmp_path: Path) -> None:
    path = lake_catalog(tmp_path)
    (tmp_path / "media" / "03.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "media" / "04.jpg").unlink()
    with workbench.open(path) as catalog:
        check_same(catalog, LOCAL)
        report = run_embeddings(catalog, "job", config=LOCAL, progress=False)
        assert (report.written, report.skipped, report.refused) == (0, 10, 2)
        assert any("frame 'f04'" in e and "not found" in e for e in report.errors)
        from tests.analysis.emb_data import picture

        picture(3).save(tmp_path / "media" / "03.jpg", quality=92)
        fixed = run_embeddings(catalog, "job", config=LOCAL, progress=False)
        assert (fixed.written, fixed.skipped, fixed.refused) == (1, 10, 1)
        assert catalog.list_embeddings()[0].count == 11
        audit = catalog.sql(
            "SELECT action, count FROM audit_log WHERE action = 'compute_embeddings' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchall()
        assert audit == [("compute_embeddings", 1)]


def test_pictures_outside_the_media_roots_are_not_read(tmp_path: Path) -> None:
    path = lake_catalog(tmp_path)
    with workbench.open(path) as catalog:
        catalog.remove_media_roots([tmp_path / "media"])
        report = run_embeddings(catalog, "job", config=LOCAL, progress=False)
        assert (report.written, report.refused) == (0, 12)
        assert "outside the catalog's media folders" in report.errors[0]
        assert not catalog.list_embeddings()


def test_roi_crops_and_an_onnx_model(tmp_path: Path) -> None:
    path = lake_catalog(tmp_path, buckets=2)
    model = tmp_path / "tiny.onnx"
    _onnx_model(model)
    with workbench.open(path) as catalog:
        check_same(catalog, LOCAL, target="rois", field="ground_truth")
        catalog.delete_embeddings("local", confirm=True)
        catalog.delete_embeddings("job", confirm=True)
        check_same(catalog, LOCAL, model=str(model), batch_size=5)
        assert catalog.list_embeddings()[0].model.startswith("onnx:tiny.onnx:")


def test_keys_kept_in_the_lake_and_in_the_catalog(tmp_path: Path) -> None:
    path = lake_catalog(tmp_path)
    with workbench.open(path) as catalog:
        run_embeddings(catalog, "job", config=LOCAL, progress=False)
        with pytest.raises(AnalysisError, match="kept in the lake"):
            catalog.compute_embeddings("job", progress=False)
        with pytest.raises(AnalysisError, match="kept in the lake"):
            catalog.add_embeddings("job", np.ones((1, 160)), ids=["f00"])
        local = catalog.compute_embeddings("job", progress=False, overwrite=True)
        assert local.written == 12 and not catalog.list_embeddings()[0].in_lake
        with pytest.raises(AnalysisError, match="stored in the catalog"):
            run_embeddings(catalog, "job", config=LOCAL, progress=False)
        job = run_embeddings(catalog, "job", config=LOCAL, progress=False, overwrite=True)
        assert job.written == 12 and catalog.list_embeddings()[0].in_lake
        removal = catalog.delete_embeddings("job", confirm=True)
        assert removal.vectors == 12 and not catalog.list_embeddings()
        with pytest.raises(AnalysisError, match="ONNX file"):
            run_embeddings(catalog, "job", lambda images: [], config=LOCAL, progress=False)
    with workbench.open(tmp_path / "local.duckdb") as catalog, pytest.raises(LakeError):
        run_embeddings(catalog, config=LOCAL, progress=False)


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli import main

    path = lake_catalog(tmp_path, buckets=2)
    args = ["--catalog", str(path), "lake", "embed", "--key", "night", "--engine", "local"]
    assert main(args) == 0
    assert "embeddings 'night' (workbench-descriptor-v1): 12 written" in capsys.readouterr().out
    with workbench.open(path) as catalog:
        assert catalog.list_embeddings()[0].count == 12
        save_view(catalog, "rainy", catalog.view().match(weather="rain"))
    assert main([*args, "--key", "rainy", "--view", "rainy", "--where", "f.id < 'f05'"]) == 0
    assert "embeddings 'rainy' (workbench-descriptor-v1): 2 written" in capsys.readouterr().out
    # every lake command refuses a catalog that is missing or not lake-backed, alike
    other = tmp_path / "other.duckdb"
    for verb in (["embed"], ["qa"], ["evaluate", "predictions"], ["compact"], ["vacuum"]):
        assert main(["--catalog", str(other), "lake", *verb]) == 2
        assert "no such catalog" in capsys.readouterr().err and not other.exists()
    workbench.open(other).close()
    for verb in (["embed"], ["qa"], ["evaluate", "predictions"], ["compact"], ["vacuum"]):
        assert main(["--catalog", str(other), "lake", *verb]) == 2
        assert "the catalog is not lake-backed" in capsys.readouterr().err


@pytest.mark.skipif(not DAFT, reason="Daft runs in its own virtualenv")
def test_on_daft(tmp_path: Path) -> None:
    with workbench.open(lake_catalog(tmp_path, buckets=2)) as catalog:
        check_same(catalog, EngineConfig("daft", 2))
        expected = vectors(catalog, "local")
    # the key's Delta table, read by Daft itself
    import daft

    uri = str(tmp_path / "lake" / "embeddings" / "job")
    rows = daft.read_deltalake(uri).to_pydict()
    assert sorted(rows["frame_id"]) == sorted(k[0] for k in expected)
    for frame_id, vector in zip(rows["frame_id"], rows["vector"], strict=True):
        np.testing.assert_allclose(vector, expected[(frame_id,)], rtol=1e-5, atol=1e-6)


def test_the_lake_table_is_read_by_deltalake(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    with workbench.open(lake_catalog(tmp_path)) as catalog:
        run_embeddings(catalog, "job", target="rois", config=LOCAL, progress=False)
        info = catalog.list_embeddings()[0]
        expected = vectors(catalog, "job", "frame_id, roi_id")
    table = DeltaTable(info.options["lake"], version=info.options["version"]).to_pyarrow_table()
    assert table.num_rows == len(expected) == 24
    assert set(table.schema.names) == {"frame_id", "roi_id", "vector", "computed", "context_bucket"}
    for row in table.to_pylist():
        key = (row["frame_id"], row["roi_id"])
        np.testing.assert_allclose(row["vector"], expected[key], rtol=1e-6)


@pytest.mark.slow
def test_on_spark(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    try:
        with workbench.open(lake_catalog(tmp_path, buckets=2)) as catalog:
            check_same(catalog, EngineConfig("spark", 2), target="rois")
    finally:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()


def test_a_view_restricts_the_job(tmp_path: Path) -> None:
    path = lake_catalog(tmp_path)
    with workbench.open(path) as catalog:
        rainy = catalog.view().match(weather="rain")
        local = rainy.compute_embeddings("local", progress=False)
        job = run_embeddings(catalog, "job", config=LOCAL, progress=False, view=rainy)
        assert job.written == local.written == 6
        expected, found = vectors(catalog, "local"), vectors(catalog, "job")
        assert sorted(found) == sorted(expected) == [(f"f{i:02d}",) for i in range(1, 12, 2)]
        for name, vector in expected.items():
            np.testing.assert_allclose(found[name], vector, rtol=1e-5, atol=1e-6)
        assert not list((tmp_path / "lake" / "_scopes").glob("*/*"))  # scratch files gone
        # then the rest of the frames: the key's rainy ones are skipped
        where = catalog.view().where("f.context_id IN ('ctx0', 'ctx1')")
        more = run_embeddings(catalog, "job", config=LOCAL, progress=False, view=where)
        assert (more.written, more.skipped) == (4, 4)
        # ROI crops of a view, and a view with no frames
        crops = run_embeddings(
            catalog, "crops", target="rois", config=LOCAL, progress=False, view=rainy
        )
        assert crops.written == 12
        none = catalog.view().where("f.id = 'nothing'")
        empty = run_embeddings(catalog, "none", config=LOCAL, progress=False, view=none)
        assert empty.written == 0


def test_a_unit_writes_a_file_every_file_rows_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workbench.jobs.embeddings as job

    monkeypatch.setattr(job, "FILE_ROWS", 3)
    path = lake_catalog(tmp_path, buckets=1)
    (tmp_path / "media" / "07.jpg").write_bytes(b"not a jpeg")
    with workbench.open(path) as catalog:
        report = run_embeddings(catalog, "job", config=LOCAL, progress=False, batch_size=2)
        assert (report.written, report.refused) == (11, 1)
        files = list((tmp_path / "lake" / "embeddings" / "job").glob("*/*.parquet"))
        assert len(files) == 3  # 4, 3 and 4 vectors: a file once a unit holds 3 or more
        assert len(vectors(catalog, "job")) == 11
