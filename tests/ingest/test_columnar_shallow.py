"""The regular expression that spares a line the depth measure (`_columnar._nesting_at_most`)
vouches only for lines the measure finds within the limit, and the reader still refuses every
line nested too deep (those with brackets in strings, escapes and strings left open too)."""

import random
import re
from itertools import accumulate
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest import jsonread
from workbench.ingest._columnar import SHALLOW, _nesting_at_most, depths, ndjson_batches
from workbench.ingest.jsonread import nesting_depth, too_deep
from workbench.model.limits import MAX_JSON_DEPTH


def _ordered_depth(line: str) -> int | None:
    """The depth of `line`'s brackets outside strings (escapes dropped first, as
    `nesting_depth` drops them), or None when they do not close in order or a string is
    left open or a backslash escapes nothing (at the end): the lines the expression must not
    vouch for whatever their depth."""
    bare = jsonread._ESCAPE.sub(b"", line.encode())
    if bare.count(b'"') % 2 or b"\\" in bare:
        return None
    brackets = jsonread._QUOTED.sub(b"", bare.translate(None, jsonread._NOT_STRUCTURE))
    levels = list(accumulate(map(jsonread._STEP.__getitem__, brackets), initial=0))
    if min(levels) < 0 or levels[-1] != 0:
        return None
    return max(levels)


def _lines(rng: random.Random, count: int, brackets: int) -> list[str]:
    pieces = ["[", "{", "]", "}", '"', "a", "\\", "é", '\\"', "\\\\", ",", "1", "\x7f"]
    lines = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(count)]
    # Balanced ones too, which random pieces rarely give: nested `[`/`{` with strings inside.
    for _ in range(count):
        depth = rng.randint(0, brackets)
        inner = rng.choice(['"]}"', '"\\"[["', "1", "", '"a\\\\"', "é"])
        opens = "".join(rng.choice("[{") for _ in range(depth))
        lines.append(opens + inner + "".join(rng.choice("]}") for _ in range(depth)))
    return lines


def test_the_expression_matches_exactly_the_ordered_lines_within_its_depth() -> None:
    rng = random.Random(11)
    lines = _lines(rng, 3000, 6)
    lines += ["", "[]", '"[', '["]"]', '[\\"]', "\\", "[[]]]", '{"a": "\\\\"}', "][", "[]]["]
    for limit in (0, 1, 3, 5):
        pattern = _nesting_at_most(limit)
        found = pc.match_substring_regex(pa.array(lines), pattern).to_pylist()
        for line, match in zip(lines, found, strict=True):
            depth = _ordered_depth(line)
            assert match == (depth is not None and depth <= limit), (limit, line)
            assert bool(re.fullmatch(pattern, line)) == match, (limit, line)
            if match:  # what the batch's measure would find
                assert depths(pa.array([line]))[0] <= limit, line


def test_the_limit_itself_is_vouched_for_and_one_more_is_not() -> None:
    at_limit = "[" * MAX_JSON_DEPTH + '"x"' + "]" * MAX_JSON_DEPTH
    beyond = "{" * (MAX_JSON_DEPTH + 1) + "}" * (MAX_JSON_DEPTH + 1)
    found = pc.match_substring_regex(pa.array([at_limit, beyond]), SHALLOW).to_pylist()
    assert found == [True, False]


def test_deep_lines_are_refused_and_the_others_kept(tmp_path: Path) -> None:
    """Lines of every kind around the limit (deep, deep only in strings, closing out of
    order, strings left open, escapes), some marked: the reader refuses exactly the lines
    the per-record reader finds too deep, with their line numbers."""
    rng = random.Random(3)
    lines = []
    for n in range(400):
        depth = rng.randint(MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH + 2)
        opens = "".join(rng.choice("[{") for _ in range(depth))
        closes = "".join(rng.choice("]}") for _ in range(depth))
        middle = rng.choice(['"a"', '"]]]]"', '"\\"]"', "1", '"open', "]]", "\\"])
        tail = rng.choice(["", "[" * 70, '"' + "[" * 70 + '"', "x" * 19 + "1" * 19])
        lines.append(f'{{"n": {n}, "v": {opens}{middle}{closes}, "t": "{tail}"}}')
    path = tmp_path / "deep.ndjson"
    path.write_text("\n".join(lines) + "\n")
    expected = [
        n for n, line in enumerate(lines, 1) if nesting_depth(line.encode()) > MAX_JSON_DEPTH
    ]
    assert 50 < len(expected) < 350
    problems, kept = [], []
    for batch in ndjson_batches(path, 37, r"[0-9]{19}"):
        problems += batch.problems
        kept += batch.lines["n"].to_pylist()
    assert problems == [(n, too_deep()) for n in expected]
    assert kept == [n for n in range(1, len(lines) + 1) if n not in set(expected)]
