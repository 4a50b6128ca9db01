"""The evaluation benchmark runs end to end on a small catalog, so it cannot rot unnoticed.

Timings are not asserted; that every figure is produced, and that workbench and pycocotools
agree on the benchmark's own data, is.
"""

from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_eval_bench_produces_every_figure(tmp_path: Path) -> None:
    import eval_bench as bench  # bench/ is on pytest's pythonpath (pyproject.toml)

    report = bench.run(2000, 1000, tmp_path)
    whole = report["workbench_all"]
    assert whole["frames"] == 2000 and whole["eval_rois"] > 3 * 2 * 2000
    assert whole["seconds"] > 0 and whole["peak_rss_mb"] > 0 and 0.1 < whole["mAP"] < 0.9
    assert report["workbench_subset"]["frames"] == 1000
    assert report["mAP_difference"] < 1e-9
    assert report["pycocotools_subset"]["seconds"] > 0
    assert [v["query"] for v in report["views"]] == [
        "match_eval count",
        "sorted frame ids",
        "sorted page of 50",
        "patches: count of predictions",
        "patches: first page with outcomes",
        "patches: page half-way with outcomes",
        "patches: first page of the mined fps",
    ]
    assert all(v["view_s"] > 0 for v in report["views"])
    assert all(
        v["sql_s"] > 0
        for v in report["views"]
        if v["query"] != "patches: first page of the mined fps"
    )
    open_images = report["open_images_all"]
    assert open_images["frames"] == 2000 and open_images["eval_rois"] == whole["eval_rois"]
    assert 0.1 < open_images["mAP"] < 0.95
