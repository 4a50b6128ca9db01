"""Similarity: k-NN exact and approximate, queries, the view stages, scores, diverse samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench import RoiRef
from workbench.analysis.similarity import SimilarityIndex, index_dir, load
from workbench.analysis.similarity.neighbours import near_pairs, nearest_neighbours
from workbench.errors import AnalysisError, QueryError
from workbench.query.view import View
from workbench.store.catalog import Catalog

from .emb_data import bare_catalog, clustered, picture_catalog


def _ids(n: int) -> list[str]:
    return [f"f{i:06d}" for i in range(n)]


@pytest.fixture
def vectors_catalog(tmp_path: Path) -> Catalog:
    catalog = bare_catalog(tmp_path / "c.duckdb", 2000, contexts=20)
    catalog.add_embeddings("k", clustered(2000, 32, 20, seed=4), ids=_ids(2000))
    yield catalog
    catalog.close()


def test_exact_and_approximate_agree_on_clusters(tmp_path: Path):
    n, k = 6000, 10
    vectors = clustered(n, 48, 30, seed=11, spread=0.5)
    with bare_catalog(tmp_path / "c.duckdb", n) as catalog:
        catalog.add_embeddings("k", vectors, ids=_ids(n))
        matrix = load(catalog, "k")
        exact = SimilarityIndex(catalog, matrix, approximate=False)
        approx = SimilarityIndex(catalog, matrix, approximate=True)
        queries = np.random.default_rng(0).choice(n, 100, replace=False)
        recall = []
        for q in queries:
            truth = exact.search(matrix.vectors[q], k)
            found = approx.search(matrix.vectors[q], k)
            assert truth.exact and not found.exact
            assert np.all(np.diff(found.scores) <= 1e-6)  # most similar first
            recall.append(len(set(truth.rows) & set(found.rows)) / k)
        assert np.mean(recall) >= 0.9
        truth_rows = {int(r) for r in np.argsort(-(vectors @ vectors[queries[0]]))[:k]}
        assert set(exact.search(matrix.vectors[queries[0]], k).rows.tolist()) == truth_rows
        assert (index_dir(catalog.path) / "k.ivf.faiss").is_file()


def test_indexes_beside_the_catalog_are_rebuilt_when_embeddings_change(vectors_catalog: Catalog):
    folder = index_dir(vectors_catalog.path)
    assert vectors_catalog.find_similar("f000001", k=3, key="k").frame_ids[0] == "f000001"
    meta = json.loads((folder / "k.json").read_text())
    assert meta["fingerprint"].startswith("2000:")
    new = np.zeros((1, 32), dtype=np.float32)
    new[0, 0] = 1.0
    vectors_catalog.add_embeddings("k", new, ids=["f000001"])
    found = vectors_catalog.find_similar(new[0], k=1, key="k")
    assert found.frame_ids == ("f000001",) and found.scores[0] == pytest.approx(1.0, abs=1e-5)
    assert json.loads((folder / "k.json").read_text())["fingerprint"] != meta["fingerprint"]


def test_queries_by_frame_frames_vector_and_roi(tmp_path: Path):
    with picture_catalog(tmp_path, 9) as catalog:
        catalog.compute_embeddings(progress=False)
        one = catalog.find_similar("f04", k=3)
        assert one.frame_ids[0] == "f04" and one.exact and len(one) == 3
        assert one.to_arrow().column_names == ["frame_id", "score", "distance", "rank"]
        both = catalog.find_similar(["f01", "f02"], k=9)
        assert {"f01", "f02"} == set(both.frame_ids[:2])
        vector = np.array(
            catalog.sql("SELECT vector FROM emb_descriptor WHERE frame_id = 'f05'").fetchall()[0][0]
        )
        assert catalog.find_similar(vector, k=1).frame_ids == ("f05",)
        with pytest.raises(AnalysisError, match="no 'descriptor' embedding for 'nope'"):
            catalog.find_similar("nope")
        with pytest.raises(AnalysisError, match="of frames: query with frame ids"):
            catalog.find_similar(RoiRef("f01", "r01"))
        with pytest.raises(AnalysisError, match="160"):
            catalog.find_similar([1.0, 2.0])
        catalog.compute_embeddings("crops", target="rois", progress=False)
        rois = catalog.find_similar(RoiRef("f03", "r03"), k=4, key="crops")
        assert (rois.frame_ids[0], rois.roi_ids[0]) == ("f03", "r03")
        assert rois.to_arrow().column_names[:2] == ["frame_id", "roi_id"]


def test_sort_by_similarity_is_a_view_stage_among_the_views_frames(vectors_catalog: Catalog):
    catalog = vectors_catalog
    view = catalog.view().match(context_id="c3").sort_by_similarity("f000003", k=5, key="k")
    ids = view.frame_ids()
    assert len(ids) == 5 and ids[0] == "f000003"
    assert all(int(i[1:]) % 20 == 3 for i in ids)  # all of context c3
    vectors = load(catalog, "k").vectors
    sims = [float(vectors[int(i[1:])] @ vectors[3]) for i in ids]
    assert sims == sorted(sims, reverse=True)
    members = [i for i in range(2000) if i % 20 == 3]
    truth = sorted(members, key=lambda i: -float(vectors[i] @ vectors[3]))[:5]
    assert ids == [f"f{i:06d}" for i in truth]
    assert view.count() == 5 and view.page(0, 2).column("id").to_pylist() == ids[:2]
    spec = json.loads(json.dumps(view.to_dict()))
    assert spec["stages"][1] == {
        "stage": "sort_by_similarity",
        "frame_ids": ["f000003"],
        "rois": [],
        "vector": None,
        "k": 5,
        "key": "k",
        "reverse": False,
    }
    assert View.from_dict(catalog, spec).frame_ids() == ids
    everything = catalog.view().sort_by_similarity("f000003", key="k")
    assert (
        everything.count() == 2000
        and everything.frame_ids()[:5]
        == catalog.view().sort_by_similarity("f000003", k=5, key="k").frame_ids()
    )
    assert (
        catalog.view().sort_by_similarity("f000003", key="k", reverse=True).frame_ids()[-1]
        == "f000003"
    )
    later = catalog.view().sort_by_similarity("f000003", k=50, key="k").match(context_id="c3")
    assert later.frame_ids()[0] == "f000003" and later.count() < 50
    facet = catalog.view().sort_by_similarity("f000003", k=7, key="k").metadata_values("context_id")
    assert sum(facet.column("count").to_pylist()) == 7


def test_bad_similarity_specs_are_query_errors(vectors_catalog: Catalog):
    catalog = vectors_catalog
    bad = [
        {"stage": "sort_by_similarity", "k": 3},
        {"stage": "sort_by_similarity", "frame_ids": ["a"], "vector": [1.0]},
        {"stage": "sort_by_similarity", "vector": [1.0, "x"]},
        {"stage": "sort_by_similarity", "frame_ids": ["a"], "k": 0},
        {"stage": "sort_by_similarity", "frame_ids": ["a"] * 10_001},
        {"stage": "match_duplicates", "duplicate_kind": "fuzzy"},
        {"stage": "match_qa", "kinds": ["nonsense"]},
        {"stage": "sort_by_score", "key": "k", "score": "beauty"},
        {"stage": "select_diverse", "n": -1},
        {"stage": "select_rois", "rois": [["only-one"]]},
    ]
    for stage in bad:
        with pytest.raises(QueryError):
            View.from_dict(catalog, {"version": 1, "stages": [stage]})
    with pytest.raises(QueryError, match="no embeddings 'nokey'"):
        catalog.view().sort_by_similarity("f000001", key="nokey").count()


def test_roi_embeddings_narrow_the_views_rois(tmp_path: Path):
    with picture_catalog(tmp_path, 9) as catalog:
        catalog.compute_embeddings("crops", target="rois", field="ground_truth", progress=False)
        view = catalog.view().sort_by_similarity(RoiRef("f02", "r02"), k=3, key="crops")
        assert view.count() == 3 and view.frame_ids()[0] == "f02"
        rois = view.rois()
        fields = rois.column("field").to_pylist()
        assert fields.count("ground_truth") == 3 and fields.count("predictions") == 3
        selected = catalog.view().select_rois([RoiRef("f01", "r01"), ("f05", "r05")])
        assert selected.frame_ids() == ["f01", "f05"]
        assert selected.rois().column("id").to_pylist() == ["r01", "r05"]
        spec = selected.to_dict()["stages"][0]
        assert spec == {
            "stage": "select_rois",
            "rois": [["f01", "r01"], ["f05", "r05"]],
            "only": True,
        }
        assert catalog.view().select_rois([("f01", "r01")], only=False).rois().num_rows == 2


def test_near_pairs_and_neighbours_in_cells_match_brute_force():
    rng = np.random.default_rng(8)
    n = 24_000  # past the exact block size: the cells are used
    vectors = clustered(n, 16, 40, seed=8, spread=0.6)
    copies = rng.choice(n, 300, replace=False)
    originals = rng.choice(np.setdiff1d(np.arange(n), copies), 300, replace=False)
    vectors[copies] = vectors[originals] + 0.01 * rng.standard_normal((300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    a, b, d = near_pairs(vectors, 0.002)
    found = set(zip(a.tolist(), b.tolist(), strict=True))
    planted = {
        (min(x, y), max(x, y)) for x, y in zip(copies.tolist(), originals.tolist(), strict=True)
    }
    brute = {
        (min(x, y), max(x, y))
        for x, y in zip(
            *np.nonzero(np.triu(vectors[:3000] @ vectors.T >= 1 - 0.002, 1)), strict=True
        )
        if x != y
    }
    assert planted <= found
    assert {p for p in brute if p[0] < 3000} <= found
    assert np.all(d <= 0.002 + 1e-6)
    rows = np.arange(0, n, 7)
    best, _ = nearest_neighbours(vectors, 5, rows)
    sample = rng.choice(len(rows), 50, replace=False)
    sub = vectors[rows]
    hits = 0
    for i in sample:
        sims = sub @ sub[i]
        sims[i] = -np.inf
        truth = set(np.argsort(-sims)[:5].tolist())
        hits += len(truth & set(best[i].tolist()))
    assert hits / (50 * 5) >= 0.9


def test_scores_sort_the_view_and_diverse_samples_cover_clusters(tmp_path: Path):
    n = 600
    vectors = clustered(n, 16, 6, seed=21, spread=0.15)
    vectors[-1] = -vectors[0]  # far from everything
    with bare_catalog(tmp_path / "c.duckdb", n) as catalog:
        catalog.add_embeddings("k", vectors, ids=_ids(n))
        report = catalog.view().compute_scores("k")
        assert report.rows == n
        top = catalog.view().sort_by_score("uniqueness").limit(1).frame_ids()
        assert top == [f"f{n - 1:06d}"]
        typical = catalog.view().sort_by_score("representativeness").limit(1).frame_ids()[0]
        assert typical != top[0]
        stored = catalog.sql(
            "SELECT min(uniqueness), max(uniqueness), max(representativeness) FROM embedding_scores"
        ).fetchall()[0]
        assert (
            stored[1] == pytest.approx(1.0)
            and 0 <= stored[0] < 0.5
            and stored[2] == pytest.approx(1.0)
        )
        centres = np.random.default_rng(21).standard_normal((6, 16))
        cluster = np.argmax(
            vectors @ (centres / np.linalg.norm(centres, axis=1, keepdims=True)).T, axis=1
        )
        for method in ("kmeans", "fps"):
            picked = catalog.view().diverse_sample(6, "k", method=method)
            assert len(picked) == 6
            covered = {int(cluster[int(p[1:])]) for p in picked}
            assert len(covered) >= 5, (method, covered)
        view = catalog.view().select_diverse(6, "k")
        assert (
            view.count() == 6
            and View.from_dict(catalog, view.to_dict()).frame_ids() == view.frame_ids()
        )


def test_workbench_exports_the_roi_reference():
    assert workbench.RoiRef("a", "b") == ("a", "b")
