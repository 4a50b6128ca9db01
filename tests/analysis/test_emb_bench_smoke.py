"""bench/embeddings_bench.py runs end to end on a small catalog and finds what it plants."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.slow
def test_the_bench_runs_and_finds_its_planted_defects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    sys.path.insert(0, str(BENCH))
    try:
        import embeddings_bench
    finally:
        sys.path.remove(str(BENCH))
    code = embeddings_bench.main(
        ["--frames", "3000", "--workdir", str(tmp_path / "b"), "--umap-sample", "0"]
    )
    assert code == 0
    output = capsys.readouterr().out
    results = json.loads(output[output.index("{\n") :])
    assert results["frames"] == 3000 and results["recall_at_10"] >= 0.8
    assert results["planted_found"] == 1.0
    issues = results["issues"]
    assert issues["gap"] >= 1 and issues["id_switch"] >= 1 and issues["frozen"] >= 1
    assert issues["jump"] == 0 and issues["missing_source"] == 0
    assert results["hand_gaps"] == issues["gap"]
    for figure in (
        "store_s",
        "knn_ms",
        "exact_knn_ms",
        "pca_s",
        "near_duplicates_s",
        "sequence_qa_s",
    ):
        assert results[figure] >= 0
