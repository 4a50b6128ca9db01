"""The catalog benchmark runs end to end on a small catalog, so it cannot rot unnoticed.

Timings are not asserted (CI machines vary); that every figure is produced, and that the view
and the hand-written SQL agree on each answer (the bench refuses to time them otherwise), is.
"""

from pathlib import Path


def test_catalog_bench_produces_every_figure(tmp_path: Path):
    import catalog_bench as bench  # bench/ is on pytest's pythonpath (pyproject.toml)

    figures = bench.run(frames=2000, runs=2, workdir=tmp_path)
    assert figures["frames"] == 2000
    assert 2 * 2000 <= figures["rois"] <= 6 * 2000
    assert figures["contexts"] == 40
    for ingest in (figures["ingest"], figures["ingest_direct"]):
        assert ingest["frames"] == 2000 and ingest["rois"] == figures["rois"]
        assert ingest["frames_per_second"] > 0 and ingest["peak_rss_mb"] > 0
    assert len(figures["queries"]) == 4
    for query in figures["queries"]:
        assert query.view_median_ms > 0 and query.hand_median_ms > 0
        assert query.view_p95_ms >= query.view_median_ms
    text = bench.report(figures)
    assert "frames/s" in text and "peak RSS" in text
    assert all(q.name in text for q in figures["queries"])
