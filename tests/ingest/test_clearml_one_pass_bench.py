"""bench/clearml_one_pass_bench.py's ways of making the ClearML conversion's FRAMES and ROIS
in one pass make ROIS' rows exactly, on the bench's lines and on lines of every ROI rule the
SQL takes or refuses, so the figures it prints compare the same work; and its check tells a
changed row apart."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest._columnar import ndjson_batches

_BENCH = Path(__file__).resolve().parents[2] / "bench"

_SOURCE = {"id": "cam", "uri": "s3://b/x.jpg", "width": 100, "height": 50}
# ROIs of the rules ROIS applies: reserved meta keys, kinds by shape, default ids, sources,
# bounds, and ROIs it refuses (their frame goes to the per-record path).
_ROIS: list[dict[str, Any]] = [
    {"label": ["a"], "poly": [1, 2, 3, 2, 3, 4, 1, 4]},  # no id: frame:k
    {"id": "p", "label": ["b", "c"], "poly": [5, 5], "sources": ["cam"]},  # a point
    {"id": "c", "label": ["d"], "confidence": 0.5},  # a classification
    {"id": "l", "poly": [0, 0, 10, 10, 20, 0], "meta": {"_kind": "polyline", "x": 1}},
    {"id": "t", "poly": [0, 0, 5, 0, 5, 5, 0, 5], "meta": {"_track_index": 3, "_keyframe": True}},
    {"id": "f", "poly": [0, 0, 1, 1, 2, 0], "meta": {"_field": "pred"}},
    {"id": "o", "poly": [500, 500, 600, 500, 600, 600]},  # outside the source
    {"id": "z", "poly": [1, 1, 1, 1, 1, 1, 1, 1]},  # zero area
    {"id": "u", "poly": [1, 1], "sources": ["other"]},  # an unknown source
]
_REFUSED: list[dict[str, Any]] = [
    {"id": "two", "poly": [1, 1, 2, 2]},  # a polygon of two points
    {"id": "conf", "poly": [1, 1], "confidence": 1.5},
    {"id": "kind", "poly": [1, 1], "meta": {"_kind": "blob"}},
    {"id": "odd", "poly": [1, 1, 2]},
]


def _bench() -> Any:
    sys.path.insert(0, str(_BENCH))
    try:
        import clearml_one_pass_bench as bench
        import formats_bench
    finally:
        sys.path.remove(str(_BENCH))
    return bench, formats_bench


def _lines(tmp_path: Path) -> pa.Table:
    _, formats_bench = _bench()
    file = tmp_path / "clearml.ndjson"
    formats_bench.write_clearml(file, 500)
    with file.open("ab") as out:
        for at, roi in enumerate(_ROIS + _REFUSED):
            frame = {"id": f"x{at}", "sources": [_SOURCE], "rois": [roi, _ROIS[0]]}
            out.write(orjson.dumps(frame) + b"\n")
        several = {"id": "s", "sources": [_SOURCE, {**_SOURCE, "id": "b"}], "rois": _ROIS}
        out.write(orjson.dumps(several) + b"\n")
        out.write(orjson.dumps({"id": "all", "sources": [_SOURCE], "rois": _ROIS}) + b"\n")
    return next(iter(ndjson_batches(file, 10_000))).lines


def test_each_way_makes_the_rows_rois_makes(tmp_path: Path) -> None:
    bench, _ = _bench()
    batch = bench.Batch(_lines(tmp_path))
    today = batch.today()
    # The lines' every rule is there: ROIs refused, warned, of each kind, of frames of one
    # source and of several.
    assert not pc.all(today["ok"]).as_py()
    assert set(today["kind"].to_pylist()) >= {
        "box",
        "point",
        "classification",
        "polyline",
        "polygon",
    }
    for flag in ("outside", "zero_area", "unknown_source"):
        assert pc.any(today[flag]).as_py(), flag
    assert set(today["one"].to_pylist()) == {True, False}
    assert "x0:0" in today["id"].to_pylist()
    assert set(today["field"].to_pylist()) == {"ground_truth", "pred"}
    for other in (batch.fused(), batch.arrow_items()):
        same = bench.same_rois(today, other)
        assert same == dict.fromkeys(today.column_names, True)
    batch.engine.close()


def test_the_check_tells_a_changed_row_apart(tmp_path: Path) -> None:
    bench, _ = _bench()
    batch = bench.Batch(_lines(tmp_path))
    today = batch.today()
    fused = batch.fused()
    at = fused.column_names.index("x_max")
    changed = fused.set_column(at, "x_max", pc.add(fused["x_max"], 1.0))
    differ = [name for name, equal in bench.same_rois(today, changed).items() if not equal]
    assert differ == ["x_max"]
    assert not all(bench.same_rois(today, fused.drop_columns(["ok"])).values())
    batch.engine.close()


def test_the_counted_depth_prefilter_finds_the_deep_lines(tmp_path: Path) -> None:
    bench, _ = _bench()
    deep = "[" * 70 + "]" * 70
    texts = pa.chunked_array([['{"a": 1}', f'{{"a": {deep}}}', '{"a": "' + "[" * 70 + '"}']])
    assert bench.depth_counted(texts).to_pylist() == [False, True, True]
    assert bench.depth_counted(texts).equals(bench.depth_re2(texts))
