"""The columnar importers' shared pieces: NDJSON lines split a chunk at a time, and the update
path leaving frames stored exactly as given as they are."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _columnar, clearml
from workbench.ingest.jsonread import BOM, too_large


def _expected(data: bytes, limit: int) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """What the reader should give, line by line in plain Python: (number, text) of the lines
    to parse and (number, problem) of the lines refused before parsing."""
    lines, problems = [], []
    parts = data.removeprefix(BOM).split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    for number, line in enumerate(parts, 1):
        if len(line) > limit:
            problems.append(
                (number, too_large(len(line) + (number < len(parts) or data.endswith(b"\n"))))
            )
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as bad:
            problems.append(
                (number, f"not UTF-8 text: byte {bad.start:,} is {line[bad.start]:#04x}")
            )
            continue
        if text.strip(" \t\n\r\x0b\x0c"):
            lines.append((number, text))
    return lines, problems


@pytest.mark.parametrize("seed", range(40))
def test_lines_split_across_chunks_keep_their_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    chunk, limit = rng.choice([7, 16, 33, 100]), rng.choice([12, 40, 1000])
    monkeypatch.setattr(_columnar, "_CHUNK_BYTES", chunk)
    monkeypatch.setattr(_columnar, "MAX_RECORD_BYTES", limit)
    parts = [BOM] if rng.random() < 0.2 else []
    for _ in range(rng.randint(0, 30)):
        parts.append(
            rng.choice(
                [
                    b"\n",
                    b"   \r\n",
                    b'{"a":"\xff"}\n',
                    b'{"x":"' + b"y" * rng.randint(0, 60) + b'"}\n',
                ]
            )
        )
    data = b"".join(parts)
    if rng.random() < 0.5:
        data = data.rstrip(b"\n")
    path = tmp_path / "f.ndjson"
    path.write_bytes(data)
    lines, problems = [], []
    for batch in _columnar.ndjson_batches(path, rng.choice([1, 2, 5, 50])):
        lines += list(zip(batch.lines["n"].to_pylist(), batch.lines["j"].to_pylist(), strict=True))
        problems += batch.problems
    want_lines, want_problems = _expected(data, limit)
    assert lines == want_lines
    assert sorted(problems) == want_problems


def _frames(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"f{n:04d}",
            "context_id": f"c{n // 10}",
            "timestamp": n,
            "meta": {"weather": "rain", "n": n},
            "sources": [{"id": "cam", "uri": f"s3://b/{n}.jpg", "width": 64, "height": 48}],
            "rois": [
                {"id": f"r{k}", "label": ["car"], "poly": [k, k, k + 5, k, k + 5, k + 5, k, k + 5]}
                for k in range(3)
            ],
        }
        for n in range(count)
    ]


def _write(path: Path, frames: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    return path


def _stored(catalog: workbench.Catalog) -> list[list[tuple[Any, ...]]]:
    return [
        catalog.sql(query).fetchall()
        for query in (
            "SELECT * EXCLUDE (ingested, frame_key) FROM frames ORDER BY id",
            "SELECT frame_id, id, uri, width, height FROM sources ORDER BY frame_id, rowid",
            "SELECT frame_id, id, label, geometry, attributes FROM rois ORDER BY frame_id, rowid",
        )
    ]


def test_a_reimport_rewrites_only_the_frames_that_changed(tmp_path: Path) -> None:
    first = _frames(60)
    changed = copy.deepcopy(first)
    changed[1]["rois"][0]["poly"][0] += 1
    changed[2]["rois"] = changed[2]["rois"][::-1]  # same ROIs, another order
    changed[3]["meta"]["n"] = -1
    changed[4]["sources"] = []
    changed[5]["rois"] = []
    del changed[6]["rois"][2]
    changed.append({**copy.deepcopy(first[0]), "id": "new"})
    old, new = _write(tmp_path / "a.ndjson", first), _write(tmp_path / "b.ndjson", changed)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert clearml.import_files(catalog, [old], progress=False).ok
        before = dict(catalog.sql("SELECT id, ingested FROM frames").fetchall())
        report = clearml.import_files(catalog, [new], progress=False)
        assert report.ok and report.frames == 61
        after = dict(catalog.sql("SELECT id, ingested FROM frames").fetchall())
        rewritten = {i for i in before if after[i] != before[i]}
        assert rewritten == {f"f{n:04d}" for n in range(1, 7)}
        got = _stored(catalog)
    with workbench.open(tmp_path / "fresh.duckdb") as catalog:
        assert clearml.import_files(catalog, [new], progress=False).ok
        assert got == _stored(catalog)
