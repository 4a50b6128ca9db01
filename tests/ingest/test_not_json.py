"""What DuckDB's JSON parser takes and JSON refuses (a comma before a closing bracket, NaN,
infinities, numbers past a double's range) is refused by the columnar paths as by the
per-record ones: the record alone, with the per-record path's error, and nothing stored of it
that is not JSON."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

import workbench
from workbench.ingest import _coco_columnar, coco
from workbench.ingest._columnar import NOT_JSON, TRAILING_COMMA, trailing_comma

from .test_clearml_columnar import _both_paths
from .test_coco_columnar import _same_on_both_paths

# Values DuckDB parses and orjson refuses, and one that only looks like them (in a string).
ODD = ["NaN", "-Infinity", "inf", "nan", "[1, -INF]", "1e400", "[1,2,]", '{"a": 1 ,\t}']
LOOKALIKE = '"a, info: nan, 2e100"'


def test_each_odd_value_is_matched_and_taken_by_the_engine() -> None:
    """The premise: the engine takes every one of them, JSON none; the pattern sees each."""
    import duckdb

    con = duckdb.connect()
    for value in ODD:
        text = f'{{"x": {value}}}'
        assert con.execute("SELECT json_valid(?)", [text]).fetchone() == (True,), text
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(text)
        assert re.search(NOT_JSON, text), text


def test_trailing_comma_finds_what_the_pattern_finds() -> None:
    rng = random.Random(5)
    alphabet = b' \t\r\n,]}[{1a"'
    for _ in range(5000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert trailing_comma(data) == bool(re.search(TRAILING_COMMA.encode(), data)), data


def _stored_json(catalog: workbench.Catalog) -> list[object]:
    """Every stored metadata and attributes text, parsed as JSON (orjson refuses NaN)."""
    texts = catalog.sql(
        "SELECT metadata FROM frames WHERE metadata IS NOT NULL "
        "UNION ALL SELECT attributes FROM rois WHERE attributes IS NOT NULL"
    ).fetchall()
    return [orjson.loads(text) for (text,) in texts]


def test_clearml_lines_holding_them_are_refused_alone(tmp_path: Path) -> None:
    def line(n: int, value: str) -> str:
        source = f'{{"id": "default", "uri": "s3://b/{n}.jpg"}}'
        roi = f'{{"id": "r{n}", "label": "car", "poly": [1, 1, 5, 1, 5, 5], "meta": {{"v": 1}}}}'
        return f'{{"id": "f{n}", "sources": [{source}], "rois": [{roi}], "meta": {{"x": {value}}}}}'

    values = ["1", *ODD, LOOKALIKE, "2"]
    lines = [line(n, value) for n, value in enumerate(values)]
    lines[-1] = lines[-1].replace('"meta": {"v": 1}', '"meta": {"v": NaN}')  # in a ROI
    folder = tmp_path / "in"
    folder.mkdir()
    columnar, _ = _both_paths(folder, "\n".join(lines) + "\n", "[" + ",\n".join(lines) + "]")
    assert (columnar.frames, columnar.rois) == (2, 2)  # the first line and the lookalike
    refused = sorted(int(str(e.where).rsplit(" ", 1)[1]) for e in columnar.errors)
    assert refused == [*range(2, len(ODD) + 2), len(values)]
    assert all("invalid JSON" in e.problem for e in columnar.errors)
    with workbench.open(folder / "f.ndjson.duckdb") as catalog:
        assert {"x": "a, info: nan, 2e100"} in _stored_json(catalog)


def _document(values: list[str], annotation_values: list[str]) -> str:
    images = [
        f'{{"id": {n}, "file_name": "{n}.jpg", "width": 64, "height": 48, "x": {value}}}'
        for n, value in enumerate(values)
    ]
    annotations = [
        f'{{"id": {n}, "image_id": 0, "category_id": 1, "bbox": [1, 1, 4, 4], "y": {value}}}'
        for n, value in enumerate(annotation_values)
    ]
    categories = '[{"id": 1, "name": "car"}]'
    return (
        f'{{"images": [{", ".join(images)}], "annotations": [{", ".join(annotations)}], '
        f'"categories": {categories}}}'
    )


@pytest.mark.parametrize("piece_bytes", [16 << 20, 150])
@pytest.mark.parametrize("commas", [False, True])
def test_coco_records_holding_them_are_refused_alone(
    tmp_path: Path, commas: bool, piece_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both paths alike, with the odd values in images and annotations, in one piece or in
    many (each piece's bytes are searched for them); a comma before a bracket is dropped from
    the record's text by the engine, so it is looked for in the file."""
    monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", piece_bytes)
    taken: list[bool] = []  # whether the columnar path took the file

    def columnar(*args: Any) -> bool:
        taken.append(_coco_columnar.import_instances(*args))
        return taken[-1]

    monkeypatch.setattr(coco, "import_instances", columnar)
    odd = [v for v in ODD if bool(re.search(TRAILING_COMMA, v)) == commas]
    values = ["1", *odd, LOOKALIKE]
    path = tmp_path / "instances.json"
    path.write_text(_document(values, values))
    report = _same_on_both_paths(tmp_path, path, 50)
    assert taken == [not commas]
    assert (report.frames, report.rois) == (2, 2)
    where = sorted(str(e.where).rsplit(", ", 1)[1] for e in report.errors)
    expected = [f"{kind} #{n + 2}" for kind in ("annotation", "image") for n in range(len(odd))]
    assert where == sorted(expected)
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        stored = _stored_json(catalog)
    assert {"x": "a, info: nan, 2e100"} in stored
    assert json.dumps(stored)  # nothing but JSON values
