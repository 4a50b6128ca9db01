"""Embeddings, similarity, near duplicates and sequence QA at scale.

    python bench/embeddings_bench.py --frames 1000000 --workdir /tmp/embbench
    python bench/embeddings_bench.py --frames 100000                      # a quicker run

A catalog of `--frames` frames is made in DuckDB SQL (bench/synthetic.py's frames and
sources: contexts of 50 frames 100 ms apart; four tracked boxes per frame), with sequence
defects planted (a 500 ms gap in every 1000th context, a label switch in every 500th, a frozen
picture in every 700th) and synthetic content hashes. Vectors are clustered 512-d float32 (400
centres), 0.1 % of them near copies of another. Timed, each against hand-written SQL or NumPy
in the same run where one exists:

- storing the vectors (catalog.add_embeddings) vs a bare INSERT of the same Arrow table;
- the first load of the matrix (written beside the catalog), and building the faiss index;
- k-NN of one query: approximate, exact (NumPy) and DuckDB's array_cosine_similarity SQL;
- a PCA projection of every vector, and UMAP fitted on a sample with the rest placed;
- near-duplicate search over every frame (find_duplicates kinds="embedding"), with the share
  of planted copies found;
- sequence QA over the catalog vs the hand-written gap query alone.

Figures print as they come and as JSON at the end, with the load average of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic

import workbench
from workbench.analysis.embeddings.store import vector_array
from workbench.analysis.similarity import SimilarityIndex, load

TARGETS = {"store_s": 60.0, "knn_ms": 100.0, "near_duplicates_s": 300.0, "sequence_qa_s": 10.0}
DIM, CENTRES, COPY_SHARE = 512, 400, 0.001


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def say(name: str, value: Any) -> None:
    print(f"{name:>34}: {value}   (load {load_average()})", flush=True)


def _tracks_sql(n: int) -> str:
    """Four boxes per frame, each moving 3 px a frame along its context (track_index k)."""
    ctx = synthetic.CONTEXT_SIZE
    return f"""
        SELECT printf('f%09d', i) AS frame_id, printf('t%d', k) AS id, 'ground_truth' AS field,
               label, [label] AS labels, NULL::DOUBLE AS confidence, 'box' AS kind,
               [[x, y, x + 80, y, x + 80, y + 60, x, y + 60]] AS geometry,
               x AS x_min, y AS y_min, x + 80 AS x_max, y + 60 AS y_max, 4800.0 AS area,
               ['cam'] AS source_ids, NULL::JSON AS mask, NULL::JSON AS attributes,
               k::INTEGER AS track_index, true AS keyframe
        FROM (SELECT i, k, ['car', 'truck', 'person', 'bus'][k + 1] AS label,
                     (200 + k * 300 + (i % {ctx}) * 3)::DOUBLE AS x, (300 + k * 100)::DOUBLE AS y
              FROM (SELECT range AS i, unnest(range(4)) AS k FROM range({n})))
    """


def generate(path: Path, frames: int) -> dict[str, Any]:
    started = time.perf_counter()
    ctx = synthetic.CONTEXT_SIZE
    with workbench.open(path) as catalog, catalog.transaction() as con:
        con.execute(f"INSERT INTO frames BY NAME {synthetic._frames_sql(frames, ctx)}")
        con.execute(f"INSERT INTO sources BY NAME {synthetic._sources_sql(frames, ctx)}")
        con.execute(f"INSERT INTO rois BY NAME {_tracks_sql(frames)}")
        # planted: gaps, label switches, frozen pictures
        con.execute(
            f"UPDATE frames SET timestamp = timestamp + 500 WHERE frame_index >= 25"
            f" AND CAST(substr(id, 2) AS BIGINT) // {ctx} % 1000 = 7"
        )
        con.execute(
            "UPDATE rois SET label = 'bus', labels = ['bus'] WHERE track_index = 0"
            f" AND CAST(substr(frame_id, 2) AS BIGINT) // {ctx} % 500 = 3"
            f" AND CAST(substr(frame_id, 2) AS BIGINT) % {ctx} >= 30"
        )
        con.execute(
            "INSERT INTO media_hashes SELECT frame_id, id, uri, 1000, 0,"
            " md5(CASE WHEN CAST(substr(frame_id, 2) AS BIGINT) // 50 % 700 = 5"
            " AND CAST(substr(frame_id, 2) AS BIGINT) % 50 = 11"
            " THEN printf('f%09d', CAST(substr(frame_id, 2) AS BIGINT) - 1) ELSE frame_id END),"
            " hash(frame_id), NULL, now() FROM sources"
        )
    return {"generate_s": round(time.perf_counter() - started, 2)}


def vectors_of(frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered unit vectors, and the planted near copies (copy rows, original rows)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    out = np.empty((frames, DIM), dtype=np.float32)
    for start in range(0, frames, 100_000):
        stop = min(frames, start + 100_000)
        labels = rng.integers(0, CENTRES, stop - start)
        block = centres[labels] + 0.8 * rng.standard_normal((stop - start, DIM), dtype=np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    copies = rng.choice(frames, int(frames * COPY_SHARE), replace=False)
    originals = rng.choice(np.setdiff1d(np.arange(frames), copies), len(copies), replace=False)
    noise = 0.003 * rng.standard_normal((len(copies), DIM)).astype(np.float32)
    out[copies] = out[originals] + noise
    out[copies] /= np.linalg.norm(out[copies], axis=1, keepdims=True)
    return out, copies, originals


def bench_store(path: Path, vectors: np.ndarray, ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with workbench.open(path) as catalog:
        started = time.perf_counter()
        report = catalog.add_embeddings("bench", vectors, ids=ids, model="synthetic")
        out["store_s"] = round(time.perf_counter() - started, 2)
        assert report.written == len(ids), report
        table = pa.table({"frame_id": pa.array(ids), "vector": vector_array(vectors)})
        started = time.perf_counter()
        with catalog.transaction() as con:
            con.execute(f"CREATE TABLE _bare (frame_id VARCHAR, vector FLOAT[{DIM}])")
            con.register("_t", table)
            con.execute("INSERT INTO _bare SELECT * FROM _t")
            con.unregister("_t")
        out["bare_insert_s"] = round(time.perf_counter() - started, 2)
        with catalog.transaction() as con:
            con.execute("DROP TABLE _bare")
    out["store_vs_bare"] = round(out["store_s"] / max(out["bare_insert_s"], 1e-9), 2)
    say("store vectors (s)", f"{out['store_s']} (bare INSERT {out['bare_insert_s']})")
    return out


def bench_knn(path: Path, frames: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with workbench.open(path) as catalog:
        started = time.perf_counter()
        matrix = load(catalog, "bench")
        out["matrix_first_load_s"] = round(time.perf_counter() - started, 2)
        approximate = SimilarityIndex(catalog, matrix, approximate=True)
        started = time.perf_counter()
        approximate.search(matrix.vectors[0], 10)
        out["index_build_s"] = round(time.perf_counter() - started, 2)
        exact = SimilarityIndex(catalog, matrix, approximate=False)
        queries = np.random.default_rng(1).choice(frames, 30, replace=False)
        timings: dict[str, list[float]] = {"approx": [], "exact": []}
        recall = []
        for q in queries:
            for name, index in (("approx", approximate), ("exact", exact)):
                started = time.perf_counter()
                hits = index.search(np.asarray(matrix.vectors[q]), 10)
                timings[name].append(time.perf_counter() - started)
                if name == "approx":
                    found = set(hits.rows.tolist())
                else:
                    recall.append(len(found & set(hits.rows.tolist())) / 10)
        started = time.perf_counter()
        catalog.find_similar(f"f{int(queries[0]):09d}", k=10, key="bench")
        out["find_similar_ms"] = round((time.perf_counter() - started) * 1000, 1)
        started = time.perf_counter()
        catalog.sql(
            "SELECT frame_id FROM emb_bench ORDER BY array_cosine_similarity(vector,"
            f" (SELECT vector FROM emb_bench WHERE frame_id = 'f{int(queries[0]):09d}')) DESC LIMIT 10"
        ).fetchall()
        out["sql_knn_ms"] = round((time.perf_counter() - started) * 1000, 1)
    out["knn_ms"] = round(float(np.median(timings["approx"])) * 1000, 2)
    out["exact_knn_ms"] = round(float(np.median(timings["exact"])) * 1000, 2)
    out["recall_at_10"] = round(float(np.mean(recall)), 3)
    say(
        "k-NN approx / exact / SQL (ms)",
        f"{out['knn_ms']} / {out['exact_knn_ms']} / {out['sql_knn_ms']}",
    )
    say("recall@10, index build (s)", f"{out['recall_at_10']}, {out['index_build_s']}")
    return out


def bench_projection(path: Path, umap_sample: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with workbench.open(path) as catalog:
        from workbench.analysis.embeddings.projections import compute_projection

        started = time.perf_counter()
        compute_projection(catalog.view(), "bench", "pca")
        out["pca_s"] = round(time.perf_counter() - started, 2)
        say("PCA projection (s)", out["pca_s"])
        if umap_sample:
            started = time.perf_counter()
            compute_projection(catalog.view(), "bench", "umap", sample=umap_sample)
            out["umap_s"] = round(time.perf_counter() - started, 2)
            out["umap_sample"] = umap_sample
            say(f"UMAP on {umap_sample} + placement (s)", out["umap_s"])
    return out


def bench_duplicates(path: Path, copies: np.ndarray, originals: np.ndarray) -> dict[str, Any]:
    with workbench.open(path) as catalog:
        started = time.perf_counter()
        results = catalog.find_duplicates(
            kinds="embedding", threshold=0.005, key="bench", progress=False
        )
        seconds = round(time.perf_counter() - started, 2)
    found = {frozenset(g.frame_ids) for g in results.of("embedding") if len(g.frame_ids) == 2}
    planted = {
        frozenset((f"f{a:09d}", f"f{b:09d}")) for a, b in zip(copies, originals, strict=True)
    }
    out = {
        "near_duplicates_s": seconds,
        "duplicate_groups": len(results.of("embedding")),
        "planted_found": round(len(planted & found) / max(len(planted), 1), 4),
    }
    say("near duplicates (s)", f"{seconds}, planted pairs found {out['planted_found']:.2%}")
    return out


def bench_sequence_qa(path: Path) -> dict[str, Any]:
    with workbench.open(path) as catalog:
        started = time.perf_counter()
        report = catalog.sequence_qa(hashes=False, progress=False)
        seconds = round(time.perf_counter() - started, 2)
        from workbench.demo.defects import DROPPED_FRAMES_SQL

        started = time.perf_counter()
        gaps = catalog.sql(DROPPED_FRAMES_SQL).fetchall()
        hand = round(time.perf_counter() - started, 2)
    counts = report.counts()
    out = {"sequence_qa_s": seconds, "gap_sql_s": hand, "issues": counts, "hand_gaps": len(gaps)}
    say("sequence QA, all checks (s)", f"{seconds} (the gap query alone by hand: {hand})")
    say("issues", counts)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/embbench"))
    parser.add_argument("--umap-sample", type=int, default=10_000, help="0: no UMAP")
    args = parser.parse_args(argv)
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    path = args.workdir / "bench.duckdb"
    results: dict[str, Any] = {
        "frames": args.frames,
        "dimension": DIM,
        "load_start": load_average(),
    }
    results |= generate(path, args.frames)
    say("catalog generated (s)", results["generate_s"])
    vectors, copies, originals = vectors_of(args.frames)
    results |= bench_store(path, vectors, [f"f{i:09d}" for i in range(args.frames)])
    del vectors
    results |= bench_knn(path, args.frames)
    results |= bench_projection(path, args.umap_sample)
    results |= bench_duplicates(path, copies, originals)
    results |= bench_sequence_qa(path)
    results["peak_rss_mb"] = round(peak_rss_mb())
    results["load_end"] = load_average()
    results["targets"] = TARGETS
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
