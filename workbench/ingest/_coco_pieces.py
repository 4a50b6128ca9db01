"""A COCO document's top-level arrays cut into small JSON arrays, for DuckDB to parse one by one.

DuckDB's JSON reader parses a document whole: a 212 MB instances file held 1.8-2.7 GB while
it was read, whatever columns were asked for. The byte scan here (numpy, a block at a time,
the way simdjson finds structure: quotes not escaped by an odd run of backslashes, brackets
outside strings) finds the three arrays `images`, `annotations` and `categories` and, in each,
the commas between records where a piece of about `piece_bytes` should end; the caller reads
each run of records (`[...]`, cut from the file by byte range) with the engine's own JSON
parser, so every record's text is what the whole read gave. Only those cuts are kept, a few
per gigabyte, so the scan's memory does not grow with the file. A document whose top level
is not one object holding each of the three keys once, as an array, is not cut (None): the
caller reads it whole, or record by record.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson
import pyarrow as pa

from workbench.ingest.jsonread import BOM

KEYS = ("images", "annotations", "categories")
# Bytes scanned at a time: a block and its masks stay in the cache (4 MB blocks cost half
# as much again).
_BLOCK = 256 << 10
_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("{"), ord("[")]] = 1
_OPEN[[ord("}"), ord("]")]] = -1
_OPENS, _CLOSES, _COMMA = ord("{"), ord("}"), ord(",")
_QUOTE, _SLASH = ord('"'), ord("\\")


@dataclass(frozen=True, slots=True)
class Member:
    """One top-level array: its key, the offsets of its '[' and ']', where its pieces start
    (the '[', then the commas chosen), whether it holds a comma at all, how deep brackets
    nest anywhere in the document (at most: its records' own depth is 2 less), and the
    number of the first record of each piece (the commas between records before its cut:
    exact for a document the engine parses, whose trailing commas are looked for first)."""

    key: str
    start: int
    end: int
    cuts: np.ndarray
    commas: bool
    deepest: int = 0
    firsts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))


@dataclass(slots=True)
class _Run:
    """A container opened at depth 1, while it is scanned: its cuts so far and its end."""

    start: int
    cuts: list[int] = field(default_factory=list)
    commas: bool = False
    end: int | None = None
    firsts: list[int] = field(default_factory=list)  # the records before each cut
    seen: int = 0  # the commas between its records in the blocks before


def _structure(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """(offsets, depth before, bytes) of the brackets and commas outside strings at depth 0-2,
    block by block, with the depth the block reaches (at most); then one with depth -1 if the
    file ends unbalanced or in a string."""
    depth, in_string, slashes, offset = 0, False, 0, 0
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            data = np.frombuffer(block, np.uint8)
            folded = data | 0x20  # '[' and '{', ']' and '}' alike
            quote = data == _QUOTE
            # Brackets, commas and quotes in one pass; what follows works on them only.
            # (`nonzero` rather than `flatnonzero`, and the kept marks taken by their
            # indices rather than by a mask: each half the cost, on a fifth of the bytes.)
            marked = (folded == _OPENS) | (folded == _CLOSES) | (data == _COMMA) | quote
            marks = marked.nonzero()[0]
            chars = data[marks]
            is_quote = chars == _QUOTE
            if slashes or (data == _SLASH).any():
                quotes = quote.nonzero()[0]
                unescaped, slashes = _unescaped(data, quotes, slashes)
                escaped = np.setdiff1d(quotes, unescaped, assume_unique=True)
                is_quote[np.searchsorted(marks, escaped)] = False
            # A bracket or comma is in a string when an odd number of quotes come before it.
            # (Their count's last bit: a cumulative sum costs a quarter of an exclusive-or's
            # accumulation, which is not vectorised.)
            odd = np.cumsum(is_quote, dtype=np.int32) & 1
            kept = (~is_quote & (odd == in_string)).nonzero()[0]
            marks, chars = marks[kept], chars[kept]
            step = _OPEN[chars].astype(np.int64)
            before = depth + np.cumsum(step) - step
            keep = (before <= 2).nonzero()[0]
            deepest = int(before.max()) + 1 if len(before) else 0
            yield marks[keep] + offset, before[keep], chars[keep], deepest
            depth += int(step.sum())
            in_string = in_string != (len(odd) > 0 and bool(odd[-1]))
            offset += len(data)
    if in_string or depth != 0:
        yield np.zeros(0, np.int64), np.full(1, -1, np.int64), np.zeros(0, np.uint8), 0


def _unescaped(data: np.ndarray, quotes: np.ndarray, slashes: int) -> tuple[np.ndarray, int]:
    """The quotes not escaped (after an odd run of backslashes, `slashes` of them carried from
    the block before), and the run of backslashes this block ends with."""
    index = np.arange(len(data), dtype=np.int32)
    last = np.maximum.accumulate(np.where(data == _SLASH, -1, index))  # last other byte
    prior = np.concatenate(([-1], last[:-1]))[quotes]
    run = quotes - prior - 1 + np.where(prior == -1, slashes, 0)
    tail = len(data) - 1 - int(last[-1])
    return quotes[run % 2 == 0], tail + slashes if int(last[-1]) == -1 else tail


def members(path: Path, piece_bytes: int) -> dict[str, Member] | None:
    """The three arrays of an instances document, cut every `piece_bytes` or so, or None when
    it is not that plain shape."""
    tops: list[tuple[int, int, int]] = []  # (offset, depth before, byte) at depth 0-1
    runs: dict[int, _Run] = {}
    run: _Run | None = None  # the container open at depth 1
    deepest = 0
    for offsets, before, chars, depth in _structure(path):
        deepest = max(deepest, depth)
        if len(before) and before[0] == -1:
            return None  # unbalanced, or ends inside a string
        shallow = before <= 1
        rows = (offsets[shallow].tolist(), before[shallow].tolist(), chars[shallow].tolist())
        tops += zip(*rows, strict=True)
        # The commas and closing brackets at depth 2, split by the containers opened at 1.
        opened = offsets[(before == 1) & (_OPEN[chars] == 1)]
        two = (before == 2) & (_OPEN[chars] != 1)
        deep, closes = offsets[two], chars[two] != _COMMA
        bounds = [0, *np.searchsorted(deep, opened).tolist(), len(deep)]
        for number, (a, b) in enumerate(itertools.pairwise(bounds)):
            if number:
                run = runs.setdefault(int(opened[number - 1]), _Run(int(opened[number - 1])))
            if run is not None and a < b:
                run = _cut(run, deep[a:b], closes[a:b], piece_bytes)
    if not tops:
        return None
    with path.open("rb") as f:
        return _arrays(f, tops, runs, deepest)


def _cut(run: _Run, deep: np.ndarray, closes: np.ndarray, piece_bytes: int) -> _Run | None:
    """Add to `run` its cuts among the depth-2 marks `deep`: the first comma at least
    `piece_bytes` past the cut before, with the number of the record after it; None once its
    closing bracket is passed."""
    end = int(np.argmax(closes)) if closes.any() else len(deep)
    commas = deep[:end]
    run.commas = run.commas or len(commas) > 0
    at = 0
    while True:
        last = run.cuts[-1] if run.cuts else run.start
        at += int(np.searchsorted(commas[at:], last + max(1, piece_bytes)))
        if at >= len(commas):
            break
        run.cuts.append(int(commas[at]))
        run.firsts.append(run.seen + at + 1)
    run.seen += len(commas)
    if end < len(deep):
        run.end = int(deep[end])
        return None
    return run


def _arrays(
    f: BinaryIO, tops: list[tuple[int, int, int]], runs: dict[int, _Run], deepest: int
) -> dict[str, Member] | None:
    if tops[0][1:] != (0, ord("{")) or tops[-1][1:] != (1, ord("}")):
        return None
    f.seek(0)
    if f.read(tops[0][0]).strip().removeprefix(BOM).strip() or (
        f.seek(tops[-1][0] + 1) and f.read().strip()
    ):
        return None  # anything before the document but a byte order mark, or after it
    found: dict[str, Member] = {}
    keys: set[str] = set()
    separator = tops[0][0]
    for at, depth, byte in tops[1:-1]:
        if depth != 1 or byte == ord(","):
            separator = at
            continue
        f.seek(separator + 1)
        head = f.read(at - separator - 1).strip()
        try:
            key = orjson.loads(head[:-1]) if head.endswith(b":") else None
        except orjson.JSONDecodeError:
            return None
        if not isinstance(key, str) or key in keys:
            return None
        keys.add(key)
        if key not in KEYS:
            continue
        run = runs.get(at)
        if byte != ord("[") or run is None or run.end is None:
            return None
        cuts = np.array([at, *run.cuts], np.int64)
        firsts = np.array([0, *run.firsts], np.int64)
        found[key] = Member(key, at, run.end, cuts, run.commas, deepest, firsts)
    if len(found) != len(KEYS) or not _plain_outside(f, sorted(found.values(), key=_start)):
        return None
    return found


def _start(member: Member) -> int:
    return member.start


def _plain_outside(f: BinaryIO, arrays: list[Member]) -> bool:
    """Whether the document is valid JSON once the three arrays are emptied (the pieces are
    parsed by the engine; the rest, `info` and `licenses`, would be read by nobody)."""
    return _outside(f, arrays) is not None


def _outside(f: BinaryIO, arrays: list[Member]) -> Any:
    f.seek(0)
    parts, at = [], 0
    for member in arrays:
        parts.append(f.read(member.start + 1 - at))
        f.seek(member.end)
        at = member.end
    parts.append(f.read())
    try:
        return orjson.loads(b"".join(parts).removeprefix(BOM).removesuffix(b"\n"))
    except orjson.JSONDecodeError:
        return None


def outside(path: Path, found: dict[str, Member]) -> dict[str, Any]:
    """The document's other members (kwcoco's `videos`, `info`), parsed, the three arrays
    emptied (a document `members` cut is valid JSON so)."""
    with path.open("rb") as f:
        value = _outside(f, sorted(found.values(), key=_start))
    return value if isinstance(value, dict) else {}


def pieces(path: Path, member: Member) -> Iterator[bytes]:
    """JSON arrays `[records]` of about the size the member was cut for, in file order, read
    from the file by byte range; an empty array is one piece with no record. (The number of
    each one's first record is `member.firsts`.)"""
    for piece in piece_arrays(path, member):
        yield piece[0].as_py()


def piece_arrays(path: Path, member: Member) -> Iterator[pa.BinaryArray]:
    """The pieces of `pieces`, each the one value of an Arrow binary array whose buffer the
    file's bytes are read into, between the brackets: no copy of a piece is made (a piece
    joined to its brackets, then copied into Arrow, cost two copies of the file)."""
    ends = [*member.cuts[1:].tolist(), member.end]
    with path.open("rb", buffering=0) as f:
        for start, end in zip(member.cuts.tolist(), ends, strict=True):
            size = end - start - 1
            data = np.empty(size + 2, np.uint8)
            data[0], data[-1] = ord("["), ord("]")
            f.seek(start + 1)
            read = _read_into(f, memoryview(data)[1:-1])
            if read < size:  # the file got shorter since it was scanned: what is left
                data = np.append(data[: read + 1], np.uint8(ord("]")))
            if member.commas and _NOT_BLANK.search(data, 1, len(data) - 1) is None:
                # an empty record (`[1,]`): invalid, as the whole document was
                data = np.frombuffer(b"[,]", np.uint8)
            if len(data) > _MAX_BINARY:  # past Arrow's binary: refused by it, as before
                yield pa.array([data.tobytes()], pa.binary())
                continue
            offsets = pa.py_buffer(np.array([0, len(data)], np.int32))
            yield pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(data)])


# The most bytes of a value of Arrow's binary type (32-bit offsets).
_MAX_BINARY = (1 << 31) - 1
# What bytes.strip() strips, and so a piece of blanks only (`[1, ]`'s second).
_NOT_BLANK = re.compile(rb"\S")


def _read_into(f: Any, view: memoryview) -> int:
    """Fill `view` from `f` as far as the file goes: how many bytes (a read may return fewer
    than asked)."""
    done = 0
    while done < len(view):
        read = f.readinto(view[done:])
        if not read:
            break
        done += read
    return done
