"""The count that finds the lines which may nest too deep (`_columnar.many_brackets`) finds
exactly the lines the regular expression it stands for (MANY_BRACKETS) matches: lines of any
length around the limit, empty ones, bytes of several-byte characters, brackets in strings,
slices and several chunks, lines across the stretches it counts at a time and longer ones."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from workbench.ingest import _columnar
from workbench.ingest._columnar import MANY_BRACKETS, many_brackets
from workbench.model.limits import MAX_JSON_DEPTH


def _line(rng: random.Random) -> str:
    brackets = rng.choice([0, 1, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 200])
    pieces = [rng.choice("[{") for _ in range(brackets)]
    # other bytes between: closing brackets, quotes, escapes, and characters whose UTF-8
    # bytes are 0x5B / 0x7B with other high bits (they are none of `[` and `{`)
    fill = ["]", "}", '"', "\\[", "a", "é", "\u015b", "\u017b", "\U0001f35b", "x" * 3000]
    for _ in range(rng.randint(0, 80)):
        pieces.insert(rng.randint(0, len(pieces)), rng.choice(fill))
    return "".join(pieces)


def _expected(lines: list[str]) -> list[bool]:
    return pc.match_substring_regex(pa.array(lines, pa.string()), MANY_BRACKETS).to_pylist()


def test_the_count_finds_the_lines_the_expression_matches() -> None:
    rng = random.Random(5)
    lines = [_line(rng) for _ in range(3000)]
    lines += [
        "",
        "",
        "[" * 65,
        "{" * 64,
        "",
        "[" * 65 + "x" * 70_000,
        "x" * 70_000 + "{" * 65,
        "[" * 65,
        "",
    ]
    expected = _expected(lines)
    assert 500 < sum(expected) < 2500
    assert many_brackets(pa.chunked_array([pa.array(lines)])).tolist() == expected
    # several chunks, one empty, slices of an array, and large_string offsets
    whole = pa.array(lines, pa.string())
    chunks = pa.chunked_array([whole.slice(0, 7), whole.slice(7, 0), whole.slice(7)])
    assert many_brackets(chunks).tolist() == expected
    assert many_brackets(whole.slice(1001, 900)).tolist() == expected[1001:1901]
    assert many_brackets(pa.array(lines, pa.large_string())).tolist() == expected


def test_the_count_takes_lines_a_stretch_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a stretch of a few bytes, most lines are longer than it and many cut across
    its bounds: the lines found are the same."""
    rng = random.Random(8)
    lines = [_line(rng)[:300] for _ in range(500)] + ["", "[" * 66, "", "[" * 65, ""]
    for stretch in (1, 7, 64, 1 << 16):
        monkeypatch.setattr(_columnar, "_COUNT_BYTES", stretch)
        assert many_brackets(pa.array(lines)).tolist() == _expected(lines), stretch


def test_only_empty_lines() -> None:
    assert many_brackets(pa.array(["", ""])).tolist() == [False, False]
    assert many_brackets(pa.chunked_array([], pa.string())).tolist() == []
