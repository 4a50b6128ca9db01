"""A COCO document's top-level arrays cut into small documents, for DuckDB to read one by one.

DuckDB's JSON reader parses a document whole: a 212 MB instances file held 1.8-2.7 GB while
it was read, whatever columns were asked for. The byte scan here (numpy, a block at a time,
the way simdjson finds structure: quotes not escaped by an odd run of backslashes, brackets
outside strings) finds where each record of `images`, `annotations` and `categories` starts,
and writes runs of records as documents of their own (`{"annotations":[...]}`) of about
`piece_bytes`; each is read with the same reader, so every record's text is what the whole
read gave. A document whose top level is not one object holding each of the three keys once,
as an array, is not cut (None): the caller reads it whole, or record by record.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import orjson

KEYS = ("images", "annotations", "categories")
_BLOCK = 4 << 20
_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("{"), ord("[")]] = 1
_OPEN[[ord("}"), ord("]")]] = -1
_OPENS, _CLOSES, _COMMA = ord("{"), ord("}"), ord(",")
_QUOTE, _SLASH = ord('"'), ord("\\")


@dataclass(frozen=True, slots=True)
class Member:
    """One top-level array: its key, the offsets of its '[' and ']', the commas between its
    records (depth 2)."""

    key: str
    start: int
    end: int
    commas: np.ndarray


def _structure(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(offsets, depth before, bytes) of the brackets and commas outside strings at depth 0-2,
    block by block; then one triple with depth -1 if the file ends unbalanced or in a string."""
    depth, in_string, slashes, offset = 0, False, 0, 0
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            data = np.frombuffer(block, np.uint8)
            quotes = np.flatnonzero(data == _QUOTE)
            if slashes or len(np.flatnonzero(data == _SLASH)):
                quotes, slashes = _unescaped(data, quotes, slashes)
            folded = data | 0x20  # '[' and '{', ']' and '}' alike
            candidates = np.flatnonzero((folded == _OPENS) | (folded == _CLOSES) | (data == _COMMA))
            # A bracket or comma is in a string when an odd number of quotes come before it.
            toggles = np.zeros(len(data), np.uint8)
            toggles[quotes] = 1
            inside = np.bitwise_xor.accumulate(toggles)[candidates] != in_string
            marks = candidates[~inside]
            step = _OPEN[data[marks]].astype(np.int64)
            before = depth + np.cumsum(step) - step
            keep = before <= 2
            yield marks[keep] + offset, before[keep], data[marks[keep]]
            depth += int(step.sum())
            in_string = (len(quotes) + in_string) % 2 == 1
            offset += len(data)
    if in_string or depth != 0:
        yield np.zeros(0, np.int64), np.full(1, -1, np.int64), np.zeros(0, np.uint8)


def _unescaped(data: np.ndarray, quotes: np.ndarray, slashes: int) -> tuple[np.ndarray, int]:
    """The quotes not escaped (after an odd run of backslashes, `slashes` of them carried from
    the block before), and the run of backslashes this block ends with."""
    index = np.arange(len(data), dtype=np.int32)
    last = np.maximum.accumulate(np.where(data == _SLASH, -1, index))  # last other byte
    prior = np.concatenate(([-1], last[:-1]))[quotes]
    run = quotes - prior - 1 + np.where(prior == -1, slashes, 0)
    tail = len(data) - 1 - int(last[-1])
    return quotes[run % 2 == 0], tail + slashes if int(last[-1]) == -1 else tail


def members(path: Path) -> dict[str, Member] | None:
    """The three arrays of an instances document, or None when it is not that plain shape."""
    tops: list[tuple[int, int, int]] = []  # (offset, depth before, byte) at depth 0-1
    deep: list[np.ndarray] = []  # offsets of the commas and closing brackets at depth 2
    closing: list[np.ndarray] = []
    for offsets, before, chars in _structure(path):
        if len(before) and before[0] == -1:
            return None  # unbalanced, or ends inside a string
        shallow = before <= 1
        rows = (offsets[shallow].tolist(), before[shallow].tolist(), chars[shallow].tolist())
        tops += zip(*rows, strict=True)
        two = (before == 2) & (chars != ord("[")) & (chars != ord("{"))
        deep.append(offsets[two])
        closing.append(chars[two] != ord(","))
    if not deep:
        return None
    with path.open("rb") as f:
        return _arrays(f, tops, np.concatenate(deep), np.concatenate(closing))


def _arrays(
    f: BinaryIO, tops: list[tuple[int, int, int]], marks: np.ndarray, closes: np.ndarray
) -> dict[str, Member] | None:
    if not tops or tops[0][1:] != (0, ord("{")) or tops[-1][1:] != (1, ord("}")):
        return None
    f.seek(0)
    if f.read(tops[0][0]).strip() or (f.seek(tops[-1][0] + 1) and f.read().strip()):
        return None  # a byte order mark, or anything after the document
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
        if byte != ord("["):
            return None
        first = int(np.searchsorted(marks, at))
        last = first + int(np.argmax(closes[first:]))  # its ']': the first close after it
        found[key] = Member(key, at, int(marks[last]), marks[first:last])
    if len(found) != len(KEYS) or not _plain_outside(f, sorted(found.values(), key=_start)):
        return None
    return found


def _start(member: Member) -> int:
    return member.start


def _plain_outside(f: BinaryIO, arrays: list[Member]) -> bool:
    """Whether the document is valid JSON once the three arrays are emptied (the pieces are
    read by DuckDB; the rest, `info` and `licenses`, would be read by nobody)."""
    f.seek(0)
    parts, at = [], 0
    for member in arrays:
        parts.append(f.read(member.start + 1 - at))
        f.seek(member.end)
        at = member.end
    parts.append(f.read())
    try:
        orjson.loads(b"".join(parts).removesuffix(b"\n"))
    except orjson.JSONDecodeError:
        return False
    return True


def pieces(
    path: Path, member: Member, folder: Path, piece_bytes: int
) -> Iterator[tuple[Path, int]]:
    """Documents `{key: [records]}` of about `piece_bytes` each, in file order, with their
    sizes; an empty array is one document with no record. Each is deleted once read."""
    starts = np.concatenate(([member.start], member.commas))
    ends = np.concatenate((member.commas, [member.end]))
    cuts = [0]
    while cuts[-1] < len(starts):
        target = starts[cuts[-1]] + max(1, piece_bytes)
        cuts.append(max(cuts[-1] + 1, int(np.searchsorted(starts, target))))
    cuts[-1] = len(starts)
    head = b'{"' + member.key.encode() + b'":['
    with path.open("rb") as f:
        for number, (a, b) in enumerate(itertools.pairwise(cuts)):
            f.seek(int(starts[a]) + 1)
            text = f.read(int(ends[b - 1]) - int(starts[a]) - 1)
            if len(starts) > 1 and not text.strip():
                text = b","  # an empty record (`[1,]`): invalid, as the whole document was
            piece = folder / f"{member.key}-{number}.json"
            piece.write_bytes(head + text + b"]}")
            yield piece, len(head) + len(text) + 2
            piece.unlink()
