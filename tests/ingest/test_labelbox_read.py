"""The Labelbox import's line reader gives what jsonread.read_lines gives, line for line, on
hostile lines: too deep, many brackets but shallow, brackets and escapes in strings, not JSON,
not UTF-8, NaN, too large, a byte order mark, blank lines, batches cut anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from workbench.ingest import _labelbox_read, jsonread, labelbox
from workbench.model.limits import MAX_JSON_DEPTH


def _seen(values: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Values as compared: an Unreadable by its problem (its syntax error by message)."""
    out = []
    for number, value in values:
        if isinstance(value, jsonread.Unreadable):
            syntax = None if value.syntax is None else value.syntax.msg
            value = ("unreadable", value.problem, syntax, value.fatal)
        out.append((number, value))
    return out


def _keyframes(count: int) -> list[dict[str, Any]]:
    box = {"top": 1, "left": 2, "height": 3, "width": 4}
    return [{"frame": n + 1, "bbox": box} for n in range(count)]


def _lines() -> list[bytes]:
    deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    at_limit = b'{"a":' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}"
    many = orjson.dumps({"segments": [{"keyframes": _keyframes(40)}], "name": "car"})
    quoted = orjson.dumps({"name": "[" * 100 + '\\"{', "x": ["]" * 70]})
    return [
        b'\xef\xbb\xbf{"first": 1}',
        b"",
        b"   \t ",
        many,
        deep,
        at_limit,
        quoted,
        b'{"name": "a\\\\"}',
        b'{"open": "never closed}',
        b'{"a": 1,}',
        b'{"a": NaN}',
        b'{"a": "\xff\xfe"}',
        b"not json at all",
        b"[" * 70 + b"1",
        b'"just a string"',
        b'{"name": "' + b"x" * 300 + b'"}',
        b"  " + many + b"  ",
        b"{}",
    ]


@pytest.mark.parametrize("batch", [1, 3, 1_000])
def test_lines_read_as_jsonread_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(_labelbox_read, "BATCH_LINES", batch)
    path = tmp_path / "lines.ndjson"
    path.write_bytes(b"\n".join(_lines()) + b"\n\n")
    ours = list(_labelbox_read.read_lines(path))
    assert _seen(ours) == _seen(list(jsonread.read_lines(path)))
    problems = [v.problem for _, v in ours if isinstance(v, jsonread.Unreadable)]
    assert jsonread.too_deep() in problems  # the deep line is refused, not parsed
    assert sum(isinstance(v, dict) and "segments" in v for _, v in ours) == 2


def test_a_line_past_the_size_limit_is_skipped_as_jsonread_skips_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonread, "MAX_RECORD_BYTES", 200)
    monkeypatch.setattr(_labelbox_read, "MAX_RECORD_BYTES", 200)
    monkeypatch.setattr(_labelbox_read, "BATCH_LINES", 2)
    path = tmp_path / "large.ndjson"
    path.write_bytes(b"\n".join(_lines()))  # no newline after the last line
    ours = list(_labelbox_read.read_lines(path))
    assert _seen(ours) == _seen(list(jsonread.read_lines(path)))
    assert any(
        isinstance(v, jsonread.Unreadable) and v.problem.startswith("larger than") for _, v in ours
    )


def test_a_batch_is_cut_by_its_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_labelbox_read, "BATCH_BYTES", 64)
    path = tmp_path / "bytes.ndjson"
    path.write_bytes(b"\n".join(_lines()))
    assert _seen(list(_labelbox_read.read_lines(path))) == _seen(list(jsonread.read_lines(path)))


def test_the_import_names_each_bad_line(tmp_path: Path) -> None:
    """Through the importer: a deep line and a line that is not JSON cost only themselves,
    each named by file and line (the import reads with this reader)."""
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b"[" * 70 + b"]" * 70 + b"\n\n{oops\n")
    seen = list(labelbox._lines(path))
    assert [w for w, _ in seen] == [f"{path}:1", f"{path}:3"]
    assert jsonread.too_deep() in str(seen[0][1])
    assert "not valid JSON" in str(seen[1][1])
