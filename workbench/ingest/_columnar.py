"""What the columnar importers share: NDJSON lines read as Arrow batches (with their line
numbers and the problems found before parsing), the in-memory DuckDB engine that turns them
into catalog rows, and rows of records made by the per-record path, in the same Arrow form.

The columnar path lets DuckDB's JSON functions parse the lines and set-based SQL check and
convert them; a line that SQL cannot vouch for goes to the format's per-record Python path,
which either converts it or rejects it with the same error (file and line) as always.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest.jsonread import BOM, nesting_depth, too_deep, too_large
from workbench.model.limits import MAX_JSON_DEPTH, MAX_RECORD_BYTES
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA

LINES_PER_BATCH = 50_000
_CHUNK_BYTES = 16 << 20
_WHITESPACE = " \t\n\r\x0b\x0c"
# FRAME_SCHEMA without `ingested` (set when a batch is written), plus the line it came from.
FRAME_ROWS = pa.schema([*[f for f in FRAME_SCHEMA if f.name != "ingested"], ("_line", pa.int64())])
SOURCE_ROWS = pa.schema([*SOURCE_SCHEMA, ("_line", pa.int64())])
ROI_ROWS = pa.schema([*ROI_SCHEMA, ("_line", pa.int64())])


@dataclass
class LineBatch:
    """Lines of one NDJSON file: `lines` (n, j) holds those to parse; `problems` the line
    numbers refused before parsing (too large, too deep, not UTF-8) with their problem."""

    lines: pa.Table
    problems: list[tuple[int, str]] = field(default_factory=list)


def ndjson_batches(path: Path, lines_per_batch: int = LINES_PER_BATCH) -> Iterator[LineBatch]:
    """The non-blank lines of an NDJSON file in batches, numbered from 1 as in an editor.

    Memory holds one chunk of the file and one batch; a line longer than MAX_RECORD_BYTES is
    counted as it is passed and never held. A UTF-8 byte order mark before the first line is
    ignored.
    """
    numbers: list[int] = []
    texts: list[bytes] = []
    problems: list[tuple[int, str]] = []
    for number, line, problem in _lines(path):
        if problem is not None:
            problems.append((number, problem))
        else:
            numbers.append(number)
            texts.append(line)
        if len(texts) >= lines_per_batch:
            yield _batch(numbers, texts, problems)
            numbers, texts, problems = [], [], []
    if texts or problems:
        yield _batch(numbers, texts, problems)


def _lines(path: Path) -> Iterator[tuple[int, bytes, str | None]]:
    """(line number, bytes, problem) for each line; a too long line comes with its problem."""
    number = 0
    carry = b""
    skipping: int | None = None  # bytes of a too long line passed so far
    with path.open("rb") as stream:
        first = True
        while True:
            chunk = stream.read(_CHUNK_BYTES)
            if first:
                chunk, first = chunk.removeprefix(BOM), False
            if not chunk:
                break
            cut = chunk.rfind(b"\n")
            if cut < 0:
                if skipping is not None:
                    skipping += len(chunk)
                elif len(carry) + len(chunk) > MAX_RECORD_BYTES:
                    skipping, carry = len(carry) + len(chunk), b""
                else:
                    carry += chunk
                continue
            pieces = chunk[:cut].split(b"\n")
            if skipping is not None:
                number += 1
                yield number, b"", too_large(skipping + len(pieces[0]) + 1)
                skipping, pieces = None, pieces[1:]
            else:
                pieces[0] = carry + pieces[0]
            for piece in pieces:
                number += 1
                if len(piece) > MAX_RECORD_BYTES:
                    yield number, b"", too_large(len(piece) + 1)
                else:
                    yield number, piece, None
            carry = chunk[cut + 1 :]
            if len(carry) > MAX_RECORD_BYTES:
                skipping, carry = len(carry), b""
    if skipping is not None:
        yield number + 1, b"", too_large(skipping)
    elif carry:
        yield number + 1, carry, None


def _batch(numbers: list[int], texts: list[bytes], problems: list[tuple[int, str]]) -> LineBatch:
    raw = pa.array(texts, pa.binary())
    numbered = pa.array(numbers, pa.int64())
    try:
        text = raw.cast(pa.string())
    except pa.ArrowInvalid:
        good = []
        for number, line in zip(numbers, texts, strict=True):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                problems.append((number, f"not UTF-8 text: byte {bad.start:,} is {line[bad.start]:#04x}"))  # fmt: skip
                good.append(False)
            else:
                good.append(True)
        keep = pa.array(good)
        raw, numbered = raw.filter(keep), numbered.filter(keep)
        text = raw.cast(pa.string())
    keep = pc.greater(pc.binary_length(pc.utf8_trim(text, _WHITESPACE)), 0)
    text, numbered = text.filter(keep), numbered.filter(keep)
    brackets = pc.add(pc.count_substring(text, "["), pc.count_substring(text, "{"))
    deep = pc.greater(brackets, MAX_JSON_DEPTH)
    if pc.any(deep).as_py():
        flags = deep.to_pylist()
        drop = []
        for at, (flag, line) in enumerate(zip(flags, text.to_pylist(), strict=True)):
            if flag and nesting_depth(line.encode()) > MAX_JSON_DEPTH:
                problems.append((numbered[at].as_py(), too_deep()))
                drop.append(at)
        if drop:
            dropped = set(drop)
            mask = pa.array([at not in dropped for at in range(len(text))])
            text, numbered = text.filter(mask), numbered.filter(mask)
    problems.sort()
    return LineBatch(pa.table({"n": numbered, "j": text}), problems)


class MemoryEngine:
    """An in-memory DuckDB that reads only `files` (none: only the Arrow data handed to it).

    (DuckDB's allowed_paths, then external access off and the configuration locked, like the
    catalog's own engine.)
    """

    def __init__(self, setup: str = "", files: list[str] | None = None) -> None:
        self.con = duckdb.connect()
        try:
            self.con.execute("SET enable_progress_bar = false")
            if files:
                self.con.execute("SET allowed_paths = ?", [files])
            self.con.execute("SET enable_external_access = false")
            self.con.execute("SET lock_configuration = true")
            for statement in (s.strip() for s in setup.split(";")):
                if statement:
                    self.con.execute(statement)
        except BaseException:
            self.con.close()
            raise

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def rows_table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Rows of tuples in schema order -> an Arrow table."""
    if not rows:
        return schema.empty_table()
    columns = zip(*rows, strict=True)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def sorted_by_line(*tables: pa.Table) -> pa.Table:
    """Tables of one schema as one, in line order (stable: a line's rows keep their order)."""
    table = pa.concat_tables([t for t in tables if t.num_rows] or tables[:1])
    if table.num_rows == 0:
        return table
    return table.take(pc.sort_indices(table, [("_line", "ascending")]))
