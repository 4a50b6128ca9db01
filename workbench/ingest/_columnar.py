"""What the columnar importers share: NDJSON lines read as Arrow batches (with their line
numbers and the problems found before parsing), the in-memory DuckDB engine that turns them
into catalog rows, and rows of records made by the per-record path, in the same Arrow form.

The columnar path lets DuckDB's JSON functions parse the lines and set-based SQL check and
convert them; a line that SQL cannot vouch for goes to the format's per-record Python path,
which either converts it or rejects it with the same error (file and line) as always.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest.jsonread import BOM, nesting_depth, too_deep, too_large
from workbench.model.limits import MAX_JSON_DEPTH, MAX_RECORD_BYTES
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA

LINES_PER_BATCH = 50_000
_CHUNK_BYTES = 16 << 20
_WHITESPACE = " \t\n\r\x0b\x0c"
# A line with more opening brackets than MAX_JSON_DEPTH (only such a line can nest deeper):
# what `many_brackets` finds, as a regular expression (RE2's and Python's).
MANY_BRACKETS = r"^(?:[^\[{]*[\[{]){" + str(MAX_JSON_DEPTH + 1) + "}"
# The bytes `many_brackets` counts at a time: a stretch whose temporaries stay in the cache
# and are reused by the allocator (a whole batch's, 16-32 MiB, cost twice as much in page
# faults as they saved).
_COUNT_BYTES = 1 << 16


def _nesting_at_most(depth: int) -> str:
    """A regular expression (RE2's and Python's) matching the whole of a line whose brackets
    outside strings close in order and nest at most `depth` deep, strings and escapes read as
    `depths` reads them: a line it matches has a depth of at most `depth`; one it does not
    match (deeper, brackets that do not close in order, a string left open) is measured.
    Nesting to a bounded depth is a regular language: one DFA pass, no counting in Python."""
    # Outside brackets: a byte that is none of `"\[]{}`, an escaped byte, a whole string.
    flat = r'[^"\\\[\]{}]|\\.|"(?:[^"\\]|\\.)*"'
    level = f"(?:{flat})*"
    for _ in range(depth):
        level = rf"(?:{flat}|[\[{{]{level}[\]}}])*"
    return f"(?s)^{level}$"


# Lines whose nesting SQL may take without measuring it (`_scan`).
SHALLOW = _nesting_at_most(MAX_JSON_DEPTH)
# What DuckDB's JSON parser takes and JSON (orjson, and so every per-record path) refuses: a
# comma before a closing bracket, NaN and infinities in any case, a number past a double's
# range (here any three-digit exponent). The engine would store such a record's metadata as
# text that is not JSON, so a record holding one goes to the per-record path, which refuses
# it. The patterns are RE2's and Python's alike; a match inside a string costs only speed.
TRAILING_COMMA = r",[ \t\r\n]*[\]}]"
NOT_FINITE = r"[:,\[][ \t\r\n]*-?(?i:nan|inf)|[0-9][eE][-+]?[0-9]{3}"
NOT_JSON = f"{TRAILING_COMMA}|{NOT_FINITE}"
# What sends an NDJSON line to its format's per-record path before it is parsed: an integer
# of 19 digits or more (beyond what SQL's numbers hold exactly), an escaped UTF-16 surrogate,
# or NOT_JSON. Arrow marks the lines holding one as it reads them (`ndjson_batches`).
PER_RECORD_PATTERN = rf"[0-9]{{19}}|\\[uU][dD][89a-fA-F]|{NOT_JSON}"
_BLANK = np.zeros(256, bool)
_BLANK[list(b" \t\r\n")] = True


def trailing_comma(data: bytes) -> bool:
    """Whether `data` holds a comma whose next byte other than blanks closes a bracket (in a
    string too): the part of NOT_JSON a parsed record's text no longer shows. Whole-array
    operations for the commas followed at once by a bracket, then a walk over the blanks
    after the others (few, unless the JSON is indented)."""
    a = np.frombuffer(data, np.uint8)
    comma, after = a[:-1] == ord(","), a[1:]
    if (comma & ((after | 0x20) == ord("}"))).any():  # ']' and '}' alike
        return True
    at = np.flatnonzero(comma & (after <= ord(" "))) + 1
    while at.size:
        at = at[_BLANK[a[at]]] + 1
        at = at[at < a.size]
        if ((a[at] | 0x20) == ord("}")).any():
            return True
    return False


# FRAME_SCHEMA without `ingested` (set when a batch is written), plus the line it came from.
FRAME_ROWS = pa.schema([*[f for f in FRAME_SCHEMA if f.name != "ingested"], ("_line", pa.int64())])
SOURCE_ROWS = pa.schema([*SOURCE_SCHEMA, ("_line", pa.int64())])
# The ROI rows the SQL importers make: every column but keypoint visibility (the writer fills
# it in as NULL; keypoints are made by the per-record paths), then the record's line.
ROI_ROWS = pa.schema([*(f for f in ROI_SCHEMA if f.name != "visibility"), ("_line", pa.int64())])


@dataclass
class LineBatch:
    """Lines of one NDJSON file: `lines` (n, j, and `marked` when asked for) holds those to
    parse; `problems` the line numbers refused before parsing (too large, too deep, not
    UTF-8) with their problem."""

    lines: pa.Table
    problems: list[tuple[int, str]] = field(default_factory=list)


def document_batch(
    entries: list[tuple[str, Any]], pattern: str = PER_RECORD_PATTERN
) -> tuple[LineBatch, dict[int, Any]]:
    """The records of a JSON document (where, record) as a batch of lines for SQL, each
    written back as one line of JSON text and `marked` by `pattern`; and, by place, those SQL
    cannot take (not an object; text orjson cannot write, such as a lone surrogate)."""
    numbers, texts, objects = [], [], {}
    for n, (_, record) in enumerate(entries):
        text = _text(record)
        if text is None:
            objects[n] = record
        else:
            numbers.append(n)
            texts.append(text)
    column = pa.array(texts, pa.string())
    marked = pc.match_substring_regex(column, pattern)
    lines = pa.table({"n": pa.array(numbers, pa.int64()), "j": column, "marked": marked})
    return LineBatch(lines), objects


def _text(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    try:
        return orjson.dumps(record).decode()
    except (TypeError, orjson.JSONEncodeError):
        return None


def ndjson_batches(
    path: Path,
    lines_per_batch: int = LINES_PER_BATCH,
    mark: str | None = None,
    max_bytes: int | None = None,
) -> Iterator[LineBatch]:
    """The non-blank lines of an NDJSON file in batches, numbered from 1 as in an editor;
    with `mark` (a regular expression), the lines have a column `marked`: whether it matches.
    With `max_bytes`, a batch also ends before its lines pass that many bytes (a longer line
    is a batch of its own): a batch of large records holds fewer of them.

    Memory holds one chunk of the file and one batch; a line longer than MAX_RECORD_BYTES is
    counted as it is passed and never held. A UTF-8 byte order mark before the first line is
    ignored. Lines are split by Arrow a chunk at a time, never one by one in Python.
    """
    numbers: list[pa.Array] = []
    texts: list[pa.Array] = []
    problems: list[tuple[int, str]] = []
    held = held_bytes = 0
    for first, pieces, found in _blocks(path):
        problems.extend(found)
        ends = None if max_bytes is None else np.cumsum(pc.binary_length(pieces).to_numpy())
        at = 0
        while at < len(pieces):
            take = min(len(pieces) - at, lines_per_batch - held)
            if ends is not None and max_bytes is not None:
                before = int(ends[at - 1]) if at else 0
                fit = int(np.searchsorted(ends, before + max_bytes - held_bytes, "right")) - at
                take = min(take, max(fit, 0 if held else 1))
                held_bytes += int(ends[at + take - 1]) - before if take else 0
            if take:
                numbers.append(pa.array(np.arange(first + at, first + at + take, dtype=np.int64)))
                texts.append(pieces.slice(at, take))
            held += take
            at += take
            full = max_bytes is not None and held_bytes >= max_bytes
            if held >= lines_per_batch or not take or full:
                last = first + at - 1
                yield _batch(numbers, texts, [p for p in problems if p[0] <= last], mark)
                problems = [p for p in problems if p[0] > last]
                numbers, texts, held, held_bytes = [], [], 0, 0
    if held or problems:
        yield _batch(numbers, texts, problems, mark)


def _blocks(path: Path) -> Iterator[tuple[int, pa.Array, list[tuple[int, str]]]]:
    """(number of the first line, lines, problems) for each chunk of the file: the lines as
    one Arrow binary array (a too long line as an empty one, named in the problems).

    The file is read into one buffer, reused for every chunk: Arrow's split copies the lines
    out of it, so nothing keeps it, and the chunk's lines after its first line break are
    split where they lie (a new 16 MiB of bytes per chunk, and a copy of it joined to the
    line carried over, cost a fifth of the reading's CPU in page faults). The line carried
    over from the chunk before ends at the chunk's first line break: it comes as a block of
    its own."""
    number = 0  # lines passed so far
    carry = b""
    skipping: int | None = None  # bytes of a too long line passed so far
    buffer = bytearray(_CHUNK_BYTES)
    view = memoryview(buffer)
    with path.open("rb") as stream:
        first = True
        while True:
            low, high = 0, stream.readinto(buffer)
            if first:
                low = len(BOM) if high >= len(BOM) and buffer.startswith(BOM) else 0
                first = False
            if high <= low:
                break
            cut = buffer.rfind(b"\n", low, high)
            if cut < 0:
                if skipping is not None:
                    skipping += high - low
                elif len(carry) + high - low > MAX_RECORD_BYTES:
                    skipping, carry = len(carry) + high - low, b""
                else:
                    carry += view[low:high]
                continue
            end = buffer.find(b"\n", low, high)
            if skipping is not None:
                number += 1
                yield number + 1, _EMPTY, [(number, too_large(skipping + end - low + 1))]
                skipping = None
            else:
                head, found = _too_long(pa.array([carry + view[low:end]], pa.binary()), number + 1)
                yield number + 1, head, found
                number += 1
            if end < cut:
                pieces, found = _too_long(_split(view[end + 1 : cut]), number + 1)
                yield number + 1, pieces, found
                number += len(pieces)
            carry = bytes(view[cut + 1 : high])
            if len(carry) > MAX_RECORD_BYTES:
                skipping, carry = len(carry), b""
    if skipping is not None:
        yield number + 1, _EMPTY, [(number + 1, too_large(skipping))]
    elif carry:
        yield number + 1, pa.array([carry], pa.binary()), []


_EMPTY = pa.array([], pa.binary())


def _split(body: bytes | memoryview | None) -> pa.Array:
    """The lines of `body` (no line break at its end) as one binary array."""
    if body is None:
        return pa.array([], pa.binary())
    # the chunk's bytes handed to Arrow as they are: copying them first cost page faults
    offsets = pa.py_buffer(np.array([0, len(body)], dtype=np.int64))
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(body)])
    lines = pc.split_pattern(whole, b"\n").flatten()
    return lines.cast(pa.binary()) if len(body) < 1 << 31 else lines


def _too_long(pieces: pa.Array, first: int) -> tuple[pa.Array, list[tuple[int, str]]]:
    """`pieces` with the lines longer than MAX_RECORD_BYTES emptied (empty lines are
    skipped), and those lines as problems."""
    sizes = pc.binary_length(pieces)
    if not pc.any(pc.greater(sizes, MAX_RECORD_BYTES)).as_py():
        return pieces, []
    problems = [
        (first + at, too_large(size + 1))
        for at, size in enumerate(sizes.to_pylist())
        if size > MAX_RECORD_BYTES
    ]
    return pc.if_else(pc.greater(sizes, MAX_RECORD_BYTES), b"", pieces), problems


def _batch(
    numbers: list[pa.Array],
    texts: list[pa.Array],
    problems: list[tuple[int, str]],
    mark: str | None = None,
) -> LineBatch:
    numbered = pa.concat_arrays(numbers) if numbers else pa.array([], pa.int64())
    # The lines stay in the chunks they were split in (a batch spans two or three): copying
    # them into one array cost a fifth of the reading's CPU, in page faults mostly.
    raw = pa.chunked_array(texts, pa.binary())
    try:
        text = raw.cast(pa.string())
    except pa.ArrowInvalid:
        good = []
        for number, line in zip(numbered.to_pylist(), raw.to_pylist(), strict=True):
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
    if not pc.all(pc.starts_with(text, "{")).as_py():  # some line may be blank
        keep = pc.greater(pc.binary_length(pc.utf8_trim(text, _WHITESPACE)), 0)
        text, numbered = text.filter(keep), numbered.filter(keep)
    text, numbered, marked = _scan(text, numbered, problems, mark)
    problems.sort()
    columns = {"n": numbered, "j": text}
    if marked is not None:
        columns["marked"] = marked
    return LineBatch(pa.table(columns), problems)


def _scan(
    text: pa.ChunkedArray,
    numbered: pa.Array,
    problems: list[tuple[int, str]],
    mark: str | None,
) -> tuple[pa.ChunkedArray, pa.Array, pa.Array | pa.ChunkedArray | None]:
    """`text` and `numbered` without the lines nested deeper than MAX_JSON_DEPTH (added to
    `problems`), and which of the lines kept `mark` matches (None without `mark`).

    The lines with more opening brackets than the depth limit (only they can nest deeper)
    are found first (`_flagged`); of those, only the ones `SHALLOW` does not vouch for are
    measured (`depths`)."""
    marked, flagged = _flagged(text, mark)
    if flagged is None:
        return text, numbered, marked
    at, candidates = flagged
    unsure = pc.invert(pc.match_substring_regex(candidates, SHALLOW))
    keep = np.ones(len(text), dtype=bool)
    deep = at.filter(unsure).to_numpy()[depths(candidates.filter(unsure)) > MAX_JSON_DEPTH]
    for index in deep.tolist():
        problems.append((numbered[index].as_py(), too_deep()))
        keep[index] = False
    if keep.all():
        return text, numbered, marked
    mask = pa.array(keep)
    return (
        text.filter(mask),
        numbered.filter(mask),
        (marked.filter(mask) if marked is not None else None),
    )


def _flagged(
    text: pa.ChunkedArray, mark: str | None
) -> tuple[pa.Array | pa.ChunkedArray | None, tuple[pa.Array, pa.Array] | None]:
    """Which lines `mark` matches (None without it), and the lines that may nest too deep
    (where they are in `text`, and their text; with `mark`, its lines too), None when there
    are none.

    Without `mark` (ClearML's: its lines are marked later, by a pattern of its own), the
    brackets are counted (`many_brackets`): a scan of Arrow's RE2 costs twice as much, about
    0.7 GB/s whatever its pattern. With `mark` (Nucleus'), one RE2 scan finds both kinds of
    lines (it costs less than the mark's scan and the count), told apart after."""
    if mark is None:
        many = many_brackets(text)
        if not many.any():
            return None, None
        at = pa.array(np.flatnonzero(many))
        return None, (at, text.take(at).combine_chunks())
    flagged = pc.match_substring_regex(text, f"{mark}|{MANY_BRACKETS}")
    if not pc.any(flagged).as_py():
        return flagged, None
    flagged = flagged.combine_chunks()  # (the lines stay in their chunks: `_batch`)
    found_at = pc.indices_nonzero(flagged)
    found = text.take(found_at).combine_chunks()
    marks = pc.match_substring_regex(found, mark)
    marked = pc.replace_with_mask(flagged, flagged, marks)
    return marked, (found_at, found)  # (a line found for its mark alone is shallow enough)


def many_brackets(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Which of `text`'s lines (UTF-8) hold more than MAX_JSON_DEPTH opening brackets, in a
    string or not (MANY_BRACKETS' matches): their bytes `[` and `{` counted per line by
    numpy, _COUNT_BYTES of whole lines at a time (a longer line alone)."""
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    found = [np.zeros(0, dtype=bool)]
    for chunk in chunks:
        count = len(chunk)
        if count == 0:
            continue
        wide = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        stored = np.frombuffer(chunk.buffers()[1], dtype=wide)
        offsets: npt.NDArray[np.int64] = stored[chunk.offset : chunk.offset + count + 1].astype(
            np.int64
        )
        brackets = np.zeros(count, dtype=np.int64)
        if offsets[-1] == offsets[0]:  # empty lines only
            found.append(brackets > MAX_JSON_DEPTH)
            continue
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        # line-aligned cuts: the first line starting at or after each _COUNT_BYTES
        cuts = np.searchsorted(offsets, np.arange(offsets[0], offsets[-1], _COUNT_BYTES))
        cuts = np.unique(np.concatenate((cuts, [count])))
        for first, end in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            low, high = int(offsets[first]), int(offsets[end])
            if high == low:
                continue
            # `| 0x20` maps `[` to `{` and no other byte to it
            opening = ((data[low:high] | 0x20) == 0x7B).view(np.uint8)
            starts = offsets[first:end] - low
            # reduceat sums from a start to the next one: the empty lines' starts are left
            # out (their sums stay 0), the others' follow one another strictly
            filled = offsets[first + 1 : end + 1] > offsets[first:end]
            if filled.all():
                brackets[first:end] = np.add.reduceat(opening, starts, dtype=np.int64)
            else:
                sums = np.add.reduceat(opening, starts[filled], dtype=np.int64)
                brackets[first:end][filled] = sums
        found.append(brackets > MAX_JSON_DEPTH)
    return np.concatenate(found)


_ESCAPED = r"(?s)\\."  # a backslash and the character it escapes
_STEP = np.zeros(256, dtype=np.int64)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


def depths(lines: pa.Array) -> np.ndarray:
    """How deep arrays and objects nest in each of `lines` (UTF-8 text), as
    `jsonread.nesting_depth` finds it, for all the lines at once: Arrow cuts out the escapes,
    numpy finds the brackets and quotes of the whole batch and counts the brackets outside
    strings (a bracket is in a string when an odd number of quotes precede it on its line).
    A line with an odd number of quotes (a string left open) is measured by nesting_depth."""
    count = len(lines)
    found = np.zeros(count, dtype=np.int64)
    if count == 0:
        return found
    bare = pc.replace_substring_regex(lines, _ESCAPED, "")
    wide = np.int64 if pa.types.is_large_string(bare.type) else np.int32
    offsets = np.frombuffer(bare.buffers()[1], dtype=wide)[bare.offset : bare.offset + count + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(bare.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    ends = offsets[1:] - offsets[0]
    # The brackets and quotes, in order: `| 0x20` maps `[` to `{` and `]` to `}` (and no other
    # byte to either), fewer passes over the text than a lookup table.
    folded = data | 0x20
    at = np.flatnonzero((data == 0x22) | (folded == 0x7B) | (folded == 0x7D))
    chars = data[at]
    line = np.repeat(np.arange(count), np.diff(np.searchsorted(at, ends), prepend=0))
    quote = chars == ord('"')
    quotes = np.concatenate(([0], np.cumsum(quote, dtype=np.int64)))
    first = np.searchsorted(line, np.arange(count + 1))  # each line's first mark
    before = quotes[first]  # the quotes before each line
    inside = ((quotes[:-1] - before[line]) & 1).astype(bool)
    level = np.cumsum(np.where(inside, 0, _STEP[chars]))
    marked = first[:-1] < first[1:]
    if marked.any():
        starts = first[:-1][marked]
        base = np.where(starts > 0, level[np.maximum(starts - 1, 0)], 0)
        found[marked] = np.maximum(np.maximum.reduceat(level, starts) - base, 0)
    odd = np.flatnonzero((before[1:] - before[:-1]) & 1)
    for index in odd.tolist():
        found[index] = nesting_depth(lines[index].as_py().encode())
    return found


# Frames stored per transaction by the columnar importers: a transaction appending at least
# one of DuckDB's row groups (122,880 rows) to a table writes them to the database file once,
# where smaller ones go through the write-ahead log first (and a checkpoint rewrites them).
ROWS_PER_WRITE = 122_880


def in_row_groups(table: pa.Table) -> pa.Table:
    """`table` in chunks of ROWS_PER_WRITE rows (the last fewer), one row group of the
    engine's each: only the stretches that span two chunks of `table` are copied. The
    engine stores each chunk an INSERT scans in row groups of its own, so a chunk that
    ends short of a row group leaves one part-filled (`in_row_groups_already`); where
    `combine_chunks` copied every row of a write to make one chunk, this copies only the
    stretches that straddle (half of a write's ROIs, whose batches end mid-group)."""
    if in_row_groups_already(table):
        return table
    parts = []
    for start in range(0, table.num_rows, ROWS_PER_WRITE):
        part = table.slice(start, ROWS_PER_WRITE)  # (zero-copy)
        if any(column.num_chunks > 1 for column in part.columns):
            part = part.combine_chunks()  # only the columns of several chunks are copied
        parts.append(part)
    return pa.concat_tables(parts) if parts else table.combine_chunks()


def in_row_groups_already(table: pa.Table) -> bool:
    """Whether every chunk of every column of `table` but its last ends at a multiple of
    ROWS_PER_WRITE rows (a row group of the engine's): an INSERT of it fills each row group
    but the last."""
    for column in table.columns:
        ends = np.cumsum([len(chunk) for chunk in column.chunks[:-1]], dtype=np.int64)
        if np.any(ends % ROWS_PER_WRITE):
            return False
    return True


class MemoryEngine:
    """An in-memory DuckDB that reads only `files` (none: only the Arrow data handed to it);
    held to `memory_limit`. With `spill` (a name prefix), what does not fit spills to a
    temporary folder of its own, removed when the engine closes. `threads`: its threads (by
    default the cores).

    (DuckDB's allowed_paths, then external access off and the configuration locked, like the
    catalog's own engine.)
    """

    def __init__(
        self,
        setup: str = "",
        files: list[str] | None = None,
        *,
        memory_limit: str | None = None,
        spill: str | None = None,
        threads: int | None = None,
    ) -> None:
        config: dict[str, Any] = {"memory_limit": memory_limit} if memory_limit else {}
        if threads:
            config["threads"] = threads
        self._spill = tempfile.mkdtemp(prefix=spill) if spill else None
        if self._spill:
            config["temp_directory"] = self._spill
        try:
            self.con = duckdb.connect(config=config)
        except BaseException:
            self._remove_spill()
            raise
        try:
            self.con.execute("SET enable_progress_bar = false")
            if files:
                self.con.execute("SET allowed_paths = ?", [files])
            self.con.execute("SET enable_external_access = false")
            # The one setting left open: the budget, lowered once the big statements ran.
            self.con.execute("SET allowed_configs = ['memory_limit']")
            self.con.execute("SET lock_configuration = true")
            for statement in (s.strip() for s in setup.split(";")):
                if statement:
                    self.con.execute(statement)
        except BaseException:
            self.close()
            raise

    def hold_to(self, memory_limit: str) -> None:
        """Lower (or raise) the engine's budget: blocks it read back and keeps cached beyond
        it are let go, so what a long run of small reads caches stays bounded."""
        if not re.fullmatch(r"[0-9]+[KMG]B", memory_limit):
            raise ValueError(f"a memory limit such as 256MB, not {memory_limit!r}")
        self.con.execute(f"SET memory_limit = '{memory_limit}'")

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._remove_spill()

    def _remove_spill(self) -> None:
        if self._spill:
            shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.close()


def rows_table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Rows of tuples in schema order -> an Arrow table."""
    if not rows:
        return schema.empty_table()
    columns = zip(*rows, strict=True)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def sorted_by_line(*tables: pa.Table) -> pa.Table:
    """Tables of one schema, each in line order, as one in line order (stable: a line's rows
    keep their order)."""
    filled = [t for t in tables if t.num_rows]
    if len(filled) <= 1:
        return filled[0] if filled else tables[0]
    table = pa.concat_tables(filled)
    return table.take(pc.sort_indices(table, [("_line", "ascending")]))
