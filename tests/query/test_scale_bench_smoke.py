"""The scale benchmark runs end to end on a small catalog, so it cannot rot unnoticed: it
builds an old-layout catalog, migrates a copy, and refuses to time any case whose answer
through the View API differs from hand-written SQL on either layout."""

from pathlib import Path

import pytest

from workbench.query import facets


@pytest.mark.parametrize("bitmap", [False, True])
def test_scale_bench_agrees_on_every_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bitmap
):
    import scale_bench as bench  # bench/ is on pytest's pythonpath (pyproject.toml)

    if bitmap:
        monkeypatch.setattr(facets, "BITMAP_FROM", 0)
    assert bench.run(frames=3000, runs=1, workdir=tmp_path, reuse=False) == 0
    out = capsys.readouterr().out
    assert "generate" in out and "migrate" in out and "load average" in out
    for name in ("first page of 50 frames", "label counts, whole catalog", "car below 0.3"):
        assert name in out
