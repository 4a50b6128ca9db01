"""JSON records read from files with bounded work per record.

Every JSON importer reads through here. A file is NDJSON (one record per line) or one JSON
document: an array of records, an object whose named members are arrays of records, or one
object that is itself the record. Nothing is parsed before its bytes have been scanned: the
scanner counts nesting and size as it finds where a record ends, so a record nested 100,000
deep or larger than MAX_RECORD_BYTES is refused after one linear pass over its bytes and never
built. Each record is then parsed alone by orjson, so a syntax error or bytes that are not
UTF-8 cost only that record, and the scanner goes on with the next one. Memory holds one
chunk of the file plus one record.

Readers yield `(position, value)` where a record that cannot be read is an `Unreadable`
holding the problem; the caller turns it into a RecordError naming file and position.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from workbench.model.limits import MAX_JSON_DEPTH, MAX_RECORD_BYTES

__all__ = [
    "Unreadable",
    "loads",
    "nesting_depth",
    "read_document",
    "read_lines",
    "read_members",
]

CHUNK_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"

_SPACE = re.compile(rb"[ \t\r\n]*")
# Brackets, whole strings, or a quote whose string goes on past the bytes read so far.
_TOKEN = re.compile(rb'[\[\]{}]|"[^"\\]*(?:\\.[^"\\]*)*"|"', re.DOTALL)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_SCALAR = re.compile(rb"[^,\]}\s\[{\"]*")
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_QUOTED = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_OPEN, _QUOTE = frozenset(b"[{"), ord('"')


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record that could not be read, and why.

    `syntax` is Python's own error for a record that is not JSON (formats quote its message);
    `fatal` marks a problem that ends the document (the records after it cannot be found).
    """

    problem: str
    syntax: json.JSONDecodeError | None = None
    fatal: bool = False


def _fatal(detail: str) -> Unreadable:
    return Unreadable(f"invalid JSON, the rest of the file is skipped: {detail}", fatal=True)


def too_deep() -> str:
    return f"nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects"


def too_large(size: int | None = None) -> str:
    given = f" ({size:,} bytes)" if size is not None else ""
    return f"larger than {MAX_RECORD_BYTES:,} bytes{given}"


def nesting_depth(data: bytes) -> int:
    """How deep arrays and objects nest in `data`, found without parsing it."""
    opens = data.count(b"[") + data.count(b"{")
    if opens <= MAX_JSON_DEPTH:
        return opens  # cannot be deeper than the number of brackets
    # Drop escapes, keep quotes and brackets, drop whole strings: brackets outside strings stay.
    structure = _ESCAPE.sub(b"", data).translate(None, _NOT_STRUCTURE)
    brackets = _QUOTED.sub(b"", structure).replace(b'"', b"")
    return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))


def loads(data: bytes) -> Any:
    """One record's bytes parsed, or Unreadable when too large, too deep or not JSON."""
    if len(data) > MAX_RECORD_BYTES:
        return Unreadable(too_large(len(data)))
    if nesting_depth(data) > MAX_JSON_DEPTH:
        return Unreadable(too_deep())
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Unreadable(f"not UTF-8 text: byte {bad.start:,} is {data[bad.start]:#04x}")
        try:  # Python's parser words syntax errors better; the depth was checked above
            json.loads(text)
        except json.JSONDecodeError as syntax:
            return Unreadable(f"invalid JSON: {syntax}", syntax=syntax)
        return Unreadable(f"invalid JSON: {exc}")


# -- NDJSON ----------------------------------------------------------------------------------


def read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value or Unreadable) for each non-blank line of an NDJSON file.

    A line longer than MAX_RECORD_BYTES is skipped without being held in memory; a UTF-8 byte
    order mark before the first line is ignored.
    """
    with path.open("rb") as stream:
        number = 0
        while True:
            line = stream.readline(MAX_RECORD_BYTES + 1)
            if not line:
                return
            number += 1
            if number == 1:
                line = line.removeprefix(BOM)
            if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                size = len(line) + skip_line(stream)
                yield number, Unreadable(too_large(size))
                continue
            line = line.strip()
            if line:
                yield number, loads(line)


def skip_line(stream: BinaryIO) -> int:
    """Read up to the end of the current line; the number of bytes skipped."""
    skipped = 0
    while chunk := stream.readline(CHUNK_BYTES):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


# -- JSON documents --------------------------------------------------------------------------


def read_document(path: Path, member: str | None = None) -> Iterator[tuple[int | None, Any]]:
    """The records of a JSON file: (index, value or Unreadable).

    A top-level array gives its items. A top-level object gives the items of its `member`
    array when it has that member, else the object itself as one record, with index None.
    """
    with path.open("rb") as stream:
        scanner = _Scanner(stream)
        first = scanner.start()
        if first == b"[":
            for _, index, value in scanner.items(None):
                yield index, value
            return
        if first != b"{":
            if first:
                yield None, _fatal("expected an array or an object")
            return
        if member is not None:
            for _, index, value in scanner.members({member}):
                yield index, value
            if scanner.seen:
                return
    with path.open("rb") as stream:
        data = stream.read(MAX_RECORD_BYTES + 1)
    yield None, loads(data.removeprefix(BOM))


def read_members(
    path: Path, members: Collection[str]
) -> Iterator[tuple[str | None, int | None, Any]]:
    """(member, index, value or Unreadable) for the items of the named arrays of a document.

    The items of a top-level array come as member None. A problem that ends the document (not
    JSON, cut short) comes as an Unreadable after every record read before it.
    """
    with path.open("rb") as stream:
        scanner = _Scanner(stream)
        first = scanner.start()
        if first == b"[":
            yield from scanner.items(None)
        elif first == b"{":
            yield from scanner.members(members)
        elif first:
            yield None, None, _fatal("expected an array or an object")


def raw_items(data: bytes) -> Iterator[bytes | None]:
    """The bytes of each item of the JSON array `data` as written (None for one past a limit),
    up to the first that is not followed by ',' or ']'."""
    scanner = _Scanner(io.BytesIO(data))
    if scanner.start() != b"[" or scanner.peek() in (b"]", b""):
        return
    while scanner.peek():
        raw, problem = scanner.value()
        yield raw if problem is None else None
        after = scanner.peek()
        scanner.pos += 1
        if after != b",":
            return


Item = tuple[str | None, int | None, Any]


class _Scanner:
    """Walks a JSON document a chunk at a time, cutting it into records without parsing them.

    Positions in the file are absolute offsets; `buf` holds the bytes from offset `base` on.
    While a record is collected its bytes are kept from `keep_from`; past MAX_RECORD_BYTES
    they are dropped as they are passed, so memory holds one chunk and one record at most.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.chunk_bytes = CHUNK_BYTES
        self.buf = b""
        self.pos = 0  # next byte to look at, an index into buf
        self.base = 0  # file offset of buf[0]
        self.eof = False
        self.keep_from: int | None = None
        self.seen = False  # members(): whether a wanted member was found

    def start(self) -> bytes:
        """The document's first byte after a byte order mark and whitespace."""
        while len(self.buf) < len(BOM) and self.fill():
            pass
        if self.buf.startswith(BOM):
            self.pos = len(BOM)
        first = self.peek()
        if first in (b"[", b"{"):
            self.pos += 1
        return first

    def fill(self) -> bool:
        """Read one more chunk, dropping what is behind; False at the end of the file."""
        if self.eof:
            return False
        keep = self.pos if self.keep_from is None else self.keep_from - self.base
        chunk = self.stream.read(self.chunk_bytes)
        self.buf = self.buf[keep:] + chunk
        self.base += keep
        self.pos -= keep
        self.eof = not chunk
        return bool(chunk)

    def _grown(self) -> None:
        """Stop keeping the record being collected once it is past the limit."""
        if (
            self.keep_from is not None
            and self.base + len(self.buf) - self.keep_from > MAX_RECORD_BYTES
        ):
            self.keep_from = None

    def peek(self) -> bytes:
        """The next byte after whitespace (b"" at the end of the file), with pos on it."""
        while True:
            self.pos = _match(_SPACE, self.buf, self.pos)
            if self.pos < len(self.buf):
                return self.buf[self.pos : self.pos + 1]
            if not self.fill():
                return b""

    def items(self, member: str | None) -> Iterator[Item]:
        """The items of the array whose '[' was just passed."""
        if self.peek() == b"]":
            self.pos += 1
            return
        index = 0
        while True:
            if not self.peek():
                yield member, index, _fatal("the file ends inside the list")
                return
            offset = self.base + self.pos
            data, problem = self.value()
            if problem is not None and problem.startswith("the file ends"):
                yield member, index, _fatal(f"{problem} (at byte {offset:,})")
                return
            if problem is not None:
                yield member, index, Unreadable(f"{problem} (at byte {offset:,})")
            else:
                yield member, index, loads(data or b"")
            after = self.peek()
            self.pos += 1
            if after == b"]":
                return
            if after != b",":
                offset = self.base + self.pos - 1
                yield (
                    member,
                    index + 1,
                    _fatal(f"expected ',' or ']' after item {index}, at byte {offset:,}"),
                )
                return
            index += 1

    def members(self, wanted: Collection[str]) -> Iterator[Item]:
        """The items of the wanted members of the object whose '{' was just passed."""
        while (first := self.peek()) != b"}":
            if first == b",":
                self.pos += 1
                continue
            key = self._key() if first == b'"' else None
            if key is None or self.peek() != b":":
                yield None, None, _fatal(f"expected a member name at byte {self.base + self.pos:,}")
                return
            self.pos += 1
            if key in wanted:
                self.seen = True
                if self.peek() == b"[":
                    self.pos += 1
                    yield from self.items(key)
                    continue
                yield key, None, Unreadable(f"{key} must be a list")
            if not self.peek():
                break
            _, problem = self.value(collect=False)
            if problem is not None and problem.startswith("the file ends"):
                yield key, None, _fatal(problem)
                return

    def _key(self) -> str | None:
        """The member name at pos (a string), or None when it is not one."""
        start = self.base + self.pos
        self.keep_from = start
        closed = self._string()
        kept, self.keep_from = self.keep_from, None
        if not closed or kept is None:
            return None
        try:
            return str(orjson.loads(self.buf[start - self.base : self.pos]))
        except orjson.JSONDecodeError:
            return None

    def value(self, collect: bool = True) -> tuple[bytes | None, str | None]:
        """Pass the value at pos: (its bytes, None), or (None, problem) past a limit.

        Without `collect` the bytes are dropped as they are passed (a member not wanted).
        """
        start = self.base + self.pos
        self.keep_from = start if collect else None
        first = self.buf[self.pos]
        problem: str | None = None
        if first in _OPEN:
            problem = self._container()
        elif first == _QUOTE:
            if not self._string():
                problem = "the file ends inside a string"
        else:
            self._scalar()
        size = self.base + self.pos - start
        if problem is None and size > MAX_RECORD_BYTES:
            problem = too_large(size)
        data = None
        if problem is None and collect:
            data = self.buf[start - self.base : self.pos]
        self.keep_from = None
        return data, problem

    def _container(self) -> str | None:
        """Pass an array or object; a problem when it is too deep or the file ends inside it."""
        depth = 0
        problem: str | None = None
        scan = self.pos
        while True:
            for m in _TOKEN.finditer(self.buf, scan):
                byte = self.buf[m.start()]
                if byte == _QUOTE:
                    if m.end() - m.start() > 1:
                        continue
                    # A string that goes on past the bytes read: passed a chunk at a time.
                    self.pos = m.start()
                    if not self._string():
                        return "the file ends inside a string"
                    break
                if byte in _OPEN:
                    depth += 1
                    if depth > MAX_JSON_DEPTH and problem is None:
                        problem, self.keep_from = too_deep(), None
                    continue
                depth -= 1
                if depth == 0:
                    self.pos = m.end()
                    return problem
            else:
                self.pos = len(self.buf)
                self._grown()
                if not self.fill():
                    return "the file ends inside an array or object"
            scan = self.pos

    def _string(self) -> bool:
        """Pass the string whose opening quote is at pos; False when the file ends inside it."""
        inside = self.pos + 1
        while True:
            end = _match(_STRING_REST, self.buf, inside)
            if end < len(self.buf) and self.buf[end] == _QUOTE:
                self.pos = end + 1
                return True
            # At the end of the bytes read, or at a backslash whose escaped byte is not read yet.
            self.pos = end
            self._grown()
            if not self.fill():
                return False
            inside = self.pos

    def _scalar(self) -> None:
        """Pass a number, true, false or null (or any junk up to the next delimiter)."""
        while True:
            self.pos = _match(_SCALAR, self.buf, self.pos)
            if self.pos < len(self.buf):
                return
            self._grown()
            if not self.fill():
                return


def _match(pattern: re.Pattern[bytes], data: bytes, pos: int) -> int:
    m = pattern.match(data, pos)
    return m.end() if m is not None else pos
