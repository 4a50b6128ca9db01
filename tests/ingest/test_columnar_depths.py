"""The nesting depth of a batch of NDJSON lines, measured at once (`_columnar.depths`), is the
depth `jsonread.nesting_depth` finds line by line, and too deep lines are refused by the
columnar reader with the per-record reader's error."""

import random
from itertools import accumulate
from pathlib import Path

import pyarrow as pa

from workbench.ingest import jsonread
from workbench.ingest._columnar import depths, ndjson_batches
from workbench.ingest.jsonread import nesting_depth, too_deep
from workbench.model.limits import MAX_JSON_DEPTH


def _exact(line: str) -> int:
    """The depth as nesting_depth measures it past its shortcut (brackets outside strings)."""
    data = line.encode()
    structure = jsonread._ESCAPE.sub(b"", data).translate(None, jsonread._NOT_STRUCTURE)
    brackets = jsonread._QUOTED.sub(b"", structure).replace(b'"', b"")
    return max(accumulate(map(jsonread._STEP.__getitem__, brackets), initial=0))


def _expected(line: str) -> int:
    # A line whose strings are not closed is measured by nesting_depth itself.
    bare = jsonread._ESCAPE.sub(b"", line.encode())
    return nesting_depth(line.encode()) if bare.count(b'"') % 2 else _exact(line)


def test_depths_of_random_lines_match_the_per_record_measure() -> None:
    rng = random.Random(7)
    pieces = ["[", "{", "]", "}", '"', "a", "\\", "é", '\\"', "\\\\", ",", "1"]
    lines = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 160))) for _ in range(3000)]
    lines += ["", "[" * 70 + "]" * 70, '"' + "[" * 70 + '"', "[" * 65 + '"', '{"a":"\\"[["}']
    expected = [_expected(line) for line in lines]
    for array in (pa.array(lines), pa.array(lines, pa.large_string())):
        assert depths(array).tolist() == expected
        assert depths(array.slice(11, 500)).tolist() == expected[11:511]
    assert depths(pa.array([], pa.string())).tolist() == []


def test_too_deep_lines_are_refused_with_their_line(tmp_path: Path) -> None:
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    in_string = '{"a": "' + "[" * 100 + '"}'
    limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    path = tmp_path / "x.ndjson"
    path.write_text("\n".join(['{"a": 1}', deep, in_string, limit, '{"b": "\\u005b"}']) + "\n")
    (batch,) = list(ndjson_batches(path))
    assert batch.problems == [(2, too_deep())]
    assert batch.lines["n"].to_pylist() == [1, 3, 4, 5]
