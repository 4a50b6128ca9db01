"""Labelbox NDJSON lines read as `jsonread.read_lines` reads them, their nesting vouched for a
batch of lines at a time.

`read_lines` measures every line's nesting before parsing it (`jsonread.nesting_depth`): a
line with more opening brackets than MAX_JSON_DEPTH is taken apart in Python, and a Labelbox
object line is such a line as soon as its segments hold some thirty keyframes (two brackets
each). Here the lines of a batch are matched at once against `_columnar.SHALLOW`, the regular
expression of the lines that nest within the limit (one pass of RE2 over the batch's bytes); a
line it vouches for is parsed by orjson straight away, any other goes through
`jsonread.loads` as before, so that a line too deep, too large or not JSON is refused in the
same words. The values, and the order and numbers of the lines, are read_lines' own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest._columnar import SHALLOW
from workbench.ingest.jsonread import BOM, Unreadable, loads, skip_line, too_large
from workbench.model.limits import MAX_RECORD_BYTES

# A batch holds at most so many lines or bytes (whichever comes first) before it is parsed.
BATCH_LINES = 1_000
BATCH_BYTES = 4 << 20


def read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value or Unreadable) for each non-blank line of an NDJSON file, as
    `jsonread.read_lines` gives them: a line longer than MAX_RECORD_BYTES is skipped without
    being held in memory, a UTF-8 byte order mark before the first line is ignored."""
    batch: list[tuple[int, bytes]] = []
    held = 0
    with path.open("rb") as stream:
        number = 0
        while line := stream.readline(MAX_RECORD_BYTES + 1):
            number += 1
            if number == 1:
                line = line.removeprefix(BOM)
            if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                yield from _parsed(batch)
                batch, held = [], 0
                size = len(line) + skip_line(stream)
                yield number, Unreadable(too_large(size))
                continue
            line = line.strip()
            if line:
                batch.append((number, line))
                held += len(line)
                if len(batch) >= BATCH_LINES or held >= BATCH_BYTES:
                    yield from _parsed(batch)
                    batch, held = [], 0
    yield from _parsed(batch)


def _parsed(batch: list[tuple[int, bytes]]) -> Iterator[tuple[int, Any]]:
    """The lines of a batch parsed in order: orjson for those `SHALLOW` vouches for."""
    if not batch:
        return
    texts = pa.array([line for _, line in batch], pa.binary())
    shallow = pc.match_substring_regex(texts, SHALLOW).to_pylist()
    for (number, line), vouched in zip(batch, shallow, strict=True):
        yield number, _vouched(line) if vouched else loads(line)


def _vouched(line: bytes) -> Any:
    """A line that nests within the limit (and, stripped, is no longer than the limit on a
    record's size) parsed; `loads` words its problem when it is not JSON."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return loads(line)
