"""Embeddings in the catalog: brought along, computed (built-in, callable, ONNX), projected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import workbench
from workbench.analysis.embeddings import Descriptor, OnnxEmbedder
from workbench.errors import AnalysisError
from workbench.model.records import Frame
from workbench.store.catalog import Catalog

from .emb_data import bare_catalog, picture_catalog, write_frames


@pytest.fixture
def pictures(tmp_path: Path) -> Catalog:
    catalog = picture_catalog(tmp_path)
    yield catalog
    catalog.close()


def _ids(n: int) -> list[str]:
    return [f"f{i:06d}" for i in range(n)]


# -- bring your own ------------------------------------------------------------------------------
def test_numpy_vectors_are_stored_as_fixed_size_arrays_readable_in_sql(tmp_path: Path):
    with bare_catalog(tmp_path / "c.duckdb", 50) as catalog:
        vectors = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)
        report = catalog.add_embeddings("mine", vectors, ids=_ids(50), model="my-model")
        assert (report.written, report.refused) == (50, 0)
        (info,) = catalog.list_embeddings()
        assert (info.key, info.target, info.model, info.dimension, info.count) == (
            "mine",
            "frames",
            "my-model",
            8,
            50,
        )
        column_type = (
            catalog.cursor()
            .execute(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_name = 'emb_mine' AND column_name = 'vector'"
            )
            .fetchall()
        )
        assert column_type == [("FLOAT[8]",)]
        best = catalog.sql(
            "SELECT frame_id, array_cosine_similarity(vector,"
            " (SELECT vector FROM emb_mine WHERE frame_id = 'f000007')) AS s"
            " FROM emb_mine ORDER BY s DESC LIMIT 1"
        ).fetchall()
        assert best[0][0] == "f000007" and best[0][1] == pytest.approx(1.0, abs=1e-6)
        stored = np.array(
            catalog.sql("SELECT vector FROM emb_mine WHERE frame_id = 'f000003'").fetchall()[0][0]
        )
        np.testing.assert_allclose(stored, vectors[3], rtol=1e-6)


def test_bad_records_cost_only_themselves(tmp_path: Path):
    with bare_catalog(tmp_path / "c.duckdb", 5) as catalog:
        vectors = np.ones((6, 4), dtype=np.float32)
        vectors[1, 2] = np.nan
        ids = ["f000000", "f000001", "f000002", "nowhere", "f000003", "f000003"]
        report = catalog.add_embeddings("k", vectors, ids=ids)
        assert report.written == 3 and report.refused == 3
        text = "\n".join(report.errors)
        assert "frame 'f000001': the vector holds NaN" in text
        assert "frame 'nowhere': no such frame" in text
        assert "frame 'f000003': given more than once" in text
        assert catalog.sql("SELECT count(*) FROM emb_k").fetchall() == [(3,)]


def test_arrow_parquet_and_metadata_inputs(tmp_path: Path):
    frames = [Frame(id=f"f{i}", context_id="c", metadata={"clip": [i, 1.0, 2.0]}) for i in range(4)]
    with write_frames(tmp_path / "c.duckdb", frames) as catalog:
        table = pa.table({"id": ["f0", "f1"], "emb": [[1.0, 2.0], [3.0, 4.0]]})
        assert (
            catalog.add_embeddings("arrow", table, id_column="id", vector_column="emb").written == 2
        )
        pq.write_table(
            pa.table({"frame_id": ["f2", "f3"], "vector": [[1, 2], [3, 4]]}), tmp_path / "v.parquet"
        )
        assert catalog.add_embeddings("parquet", tmp_path / "v.parquet").written == 2
        report = catalog.add_embeddings("meta", from_metadata="clip")
        assert report.written == 4
        row = catalog.sql("SELECT vector FROM emb_meta WHERE frame_id = 'f3'").fetchall()[0][0]
        assert list(row) == [3.0, 1.0, 2.0]
        with pytest.raises(AnalysisError, match="one length"):
            catalog.add_embeddings(
                "ragged", pa.table({"frame_id": ["f0", "f1"], "vector": [[1.0], [1.0, 2.0]]})
            )
        with pytest.raises(AnalysisError, match="no column 'vector'"):
            catalog.add_embeddings("x", pa.table({"frame_id": ["f0"]}))


def test_rewriting_ids_replaces_them_and_another_width_needs_overwrite(tmp_path: Path):
    with bare_catalog(tmp_path / "c.duckdb", 3) as catalog:
        catalog.add_embeddings("k", np.zeros((3, 2)) + 1, ids=_ids(3))
        catalog.add_embeddings("k", np.array([[5.0, 6.0]]), ids=["f000001"])
        rows = catalog.sql("SELECT frame_id, vector FROM emb_k ORDER BY frame_id").fetchall()
        assert [(f, list(v)) for f, v in rows] == [
            ("f000000", [1.0, 1.0]),
            ("f000001", [5.0, 6.0]),
            ("f000002", [1.0, 1.0]),
        ]
        with pytest.raises(AnalysisError, match="overwrite=True"):
            catalog.add_embeddings("k", np.ones((1, 3)), ids=["f000000"])
        catalog.add_embeddings("k", np.ones((1, 3)), ids=["f000000"], overwrite=True)
        assert catalog.list_embeddings()[0].dimension == 3
        assert catalog.sql("SELECT count(*) FROM emb_k").fetchall() == [(1,)]


def test_keys_must_be_table_safe(tmp_path: Path):
    with bare_catalog(tmp_path / "c.duckdb", 1) as catalog:
        for key in ("Bad", "a b", "x; DROP TABLE frames", "", "1abc"):
            with pytest.raises(AnalysisError, match="lowercase"):
                catalog.add_embeddings(key, np.ones((1, 2)), ids=["f000000"])


def test_a_read_only_catalog_refuses_every_write(tmp_path: Path):
    path = tmp_path / "c.duckdb"
    bare_catalog(path, 3).close()
    with workbench.open(path) as catalog:
        catalog.add_embeddings("k", np.ones((3, 2)), ids=_ids(3))
    with workbench.open(path, read_only=True) as catalog:
        for write in (
            lambda: catalog.add_embeddings("k2", np.ones((1, 2)), ids=["f000000"]),
            lambda: catalog.compute_embeddings("k3"),
            lambda: catalog.delete_embeddings("k", confirm=True),
            lambda: catalog.find_duplicates(kinds="embedding"),
            lambda: catalog.sequence_qa(),
            lambda: catalog.view().compute_scores("k"),
        ):
            with pytest.raises(AnalysisError, match="read-only"):
                write()
        assert catalog.find_similar("f000000", k=2, key="k").frame_ids[0] == "f000000"


def test_delete_needs_confirmation_and_dry_run_reports(tmp_path: Path):
    with bare_catalog(tmp_path / "c.duckdb", 4) as catalog:
        catalog.add_embeddings("k", np.random.default_rng(0).random((4, 3)), ids=_ids(4))
        catalog.view().projection("k")
        plan = catalog.delete_embeddings("k", dryrun=True)
        assert (plan.vectors, plan.projections) == (4, 4)
        with pytest.raises(AnalysisError, match="confirm=True"):
            catalog.delete_embeddings("k", confirm="yes")  # type: ignore[arg-type]
        catalog.delete_embeddings("k", confirm=True)
        assert catalog.list_embeddings() == []
        assert "emb_k" not in catalog.table_names()
        assert catalog.sql("SELECT count(*) FROM projections").fetchall() == [(0,)]
        actions = catalog.sql("SELECT action, dry_run FROM audit_log ORDER BY id").fetchall()
        assert ("delete_embeddings", True) in actions and ("delete_embeddings", False) in actions


# -- computed -----------------------------------------------------------------------------------
def test_builtin_descriptor_is_resumable_and_tells_pictures_apart(pictures: Catalog):
    first = pictures.view().limit(5).compute_embeddings(progress=False)
    assert (first.written, first.skipped, first.model) == (5, 0, "workbench-descriptor-v1")
    second = pictures.compute_embeddings(progress=False)
    assert (second.written, second.skipped) == (7, 5)
    again = pictures.compute_embeddings(progress=False, overwrite=True)
    assert again.written == 12
    info = pictures.list_embeddings()[0]
    assert (info.dimension, info.count) == (Descriptor().dimension, 12)
    vectors = np.array(
        [
            v
            for (v,) in pictures.sql(
                "SELECT vector FROM emb_descriptor ORDER BY frame_id"
            ).fetchall()
        ]
    )
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    sims = vectors @ vectors.T
    assert sims[np.triu_indices(12, 1)].max() < 0.99  # distinct pictures, distinct vectors


def test_unreadable_pictures_are_refused_by_name(pictures: Catalog, tmp_path: Path):
    (tmp_path / "media" / "03.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "media" / "04.jpg").unlink()
    report = pictures.compute_embeddings(progress=False)
    assert report.written == 10 and report.refused == 2
    assert any("frame 'f03'" in e for e in report.errors)
    assert any("frame 'f04'" in e and "not found" in e for e in report.errors)


def test_pictures_outside_the_media_roots_are_not_read(pictures: Catalog, tmp_path: Path):
    pictures.remove_media_roots([tmp_path / "media"])
    report = pictures.compute_embeddings(progress=False)
    assert report.written == 0 and report.refused == 12
    assert "outside the catalog's media folders" in report.errors[0]


def test_a_callable_model_and_roi_crops(pictures: Catalog):
    sizes = []

    def mean_colour(images):
        sizes.extend(image.size for image in images)
        return [np.asarray(image, dtype=np.float32).mean(axis=(0, 1)) for image in images]

    report = pictures.compute_embeddings(
        "crops", mean_colour, target="rois", field="ground_truth", progress=False, batch_size=5
    )
    assert report.written == 12 and report.model.endswith("mean_colour")
    assert set(sizes) == {(72, 60)}  # the 60x50 box with a 10 % margin each side
    rows = pictures.sql("SELECT frame_id, roi_id FROM emb_crops ORDER BY 1").fetchall()
    assert rows[0] == ("f00", "r00") and len(rows) == 12
    with pytest.raises(AnalysisError, match="hold rois vectors"):
        pictures.compute_embeddings("crops", progress=False)


def test_a_model_returning_the_wrong_shape_is_an_error(pictures: Catalog):
    with pytest.raises(AnalysisError, match="expected"):
        pictures.compute_embeddings("bad", lambda images: np.ones(3), progress=False)


def _onnx_model(path: Path) -> None:
    """A 3x3 convolution (8 filters) and a global average pool: a tiny image model."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(5).standard_normal((8, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["image", "w"], ["features"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["features"], ["active"]),
            helper.make_node("GlobalAveragePool", ["active"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["embedding"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 32, 32])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 8])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_an_onnx_model_file_is_run_on_every_frame(pictures: Catalog, tmp_path: Path):
    model = tmp_path / "tiny.onnx"
    _onnx_model(model)
    report = pictures.compute_embeddings("tiny", model, progress=False, batch_size=4)
    assert report.written == 12 and report.model.startswith("onnx:tiny.onnx:")
    embedder = OnnxEmbedder(model)
    from PIL import Image

    image = Image.open(tmp_path / "media" / "02.jpg")
    expected = embedder([image.convert("RGB")])[0]
    stored = pictures.sql("SELECT vector FROM emb_tiny WHERE frame_id = 'f02'").fetchall()[0][0]
    assert len(stored) == 8
    assert (
        np.allclose(stored, expected, rtol=1e-3, atol=1e-3)
        or np.corrcoef(stored, expected)[0, 1] > 0.99
    )
    assert pictures.compute_embeddings("tiny", model, progress=False).skipped == 12


def test_models_are_local_files(tmp_path: Path):
    with pytest.raises(AnalysisError, match="nothing is downloaded"):
        OnnxEmbedder("https://example.com/model.onnx")
    with pytest.raises(AnalysisError, match="no such ONNX model"):
        OnnxEmbedder(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(AnalysisError, match="not an ONNX model"):
        OnnxEmbedder(tmp_path / "junk.onnx")


# -- projections --------------------------------------------------------------------------------
def test_projections_are_stored_reused_and_recomputed_for_a_view(tmp_path: Path):
    from .emb_data import clustered

    with bare_catalog(tmp_path / "c.duckdb", 300) as catalog:
        catalog.add_embeddings("k", clustered(300, 16, 3, seed=2), ids=_ids(300))
        table = catalog.view().projection("k", colour_by="context_id")
        assert table.column_names == ["frame_id", "x", "y", "colour"]
        assert table.num_rows == 300 and table.column("colour")[0].as_py() == "c0"
        runs = catalog.sql("SELECT method, count, params FROM projection_runs").fetchall()
        assert runs[0][:2] == ("pca", 300)
        catalog.view().limit(10).projection("k")  # the stored projection, filtered
        assert catalog.sql("SELECT count(*) FROM projection_runs").fetchall() == [(1,)]
        part = catalog.view().limit(50)
        assert part.projection("k").num_rows == 50
        assert part.projection("k", recompute=True).num_rows == 50
        assert catalog.sql("SELECT count(*) FROM projection_runs").fetchall() == [(2,)]
        catalog.add_embeddings("k", clustered(1, 16, 1, seed=9), ids=["f000000"])
        catalog.view().projection("k")  # the key changed: computed again
        assert catalog.sql("SELECT count(*) FROM projection_runs").fetchall() == [(2,)]
        assert catalog.sql(
            "SELECT count(*) FROM audit_log WHERE action = 'compute_projection'"
        ).fetchall() == [(3,)]


@pytest.mark.parametrize("method", ["umap", "tsne"])
def test_umap_and_tsne_on_a_sample_keep_clusters_apart(tmp_path: Path, method: str):
    from .emb_data import clustered

    vectors = clustered(400, 16, 2, seed=3, spread=0.2)
    labels = (vectors @ vectors[0] > 0.5).astype(int)
    with bare_catalog(tmp_path / "c.duckdb", 400) as catalog:
        catalog.add_embeddings("k", vectors, ids=_ids(400))
        table = catalog.view().projection("k", method, sample=250)
        xy = np.stack([table.column("x").to_numpy(), table.column("y").to_numpy()], axis=1)
        centres = [xy[labels == c].mean(axis=0) for c in (0, 1)]
        spread = max(xy[labels == c].std(axis=0).max() for c in (0, 1))
        assert np.linalg.norm(centres[0] - centres[1]) > 2 * spread


def test_select_region_keeps_the_points_inside_a_polygon(tmp_path):
    """A lasso on a projection as a view stage: its SQL and the array test agree, a long
    outline is thinned, and a spec round trip keeps it."""
    import numpy as np

    import workbench
    from workbench.query import View
    from workbench.query.region_stage import MAX_VERTICES, inside

    with workbench.open(tmp_path / "c.duckdb") as catalog:
        from workbench.ingest import CatalogWriter, Frame, Source

        with CatalogWriter(catalog) as writer:
            for i in range(400):
                writer.add(Frame(f"f{i:03d}", sources=[Source("cam", f"/x/{i}.jpg", 8, 8)]))
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((400, 8)).astype(np.float32)
        catalog.add_embeddings("e", vectors, ids=[f"f{i:03d}" for i in range(400)])
        points = catalog.view().projection("e", "pca")
        x, y = (points.column(c).to_numpy().astype(np.float32) for c in ("x", "y"))
        t = np.linspace(0, 2 * np.pi, 500, endpoint=False)
        xs = list(np.median(x) + 0.6 * np.std(x) * np.cos(t) * (1 + 0.3 * np.sin(5 * t)))
        ys = list(np.median(y) + 0.6 * np.std(y) * np.sin(t))
        view = catalog.view().select_region(xs, ys, key="e")
        stage = view.stages[-1]
        assert len(stage.xs) == MAX_VERTICES
        mask = inside(x, y, stage.xs, stage.ys)
        expected = set(points.column("frame_id").to_numpy(zero_copy_only=False)[mask])
        assert set(view.frame_ids()) == expected and 20 < len(expected) < 380
        again = View.from_dict(catalog, view.to_dict())
        assert again.count() == len(expected)
