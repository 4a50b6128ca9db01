"""Streaming readers for files of ClearML frames.

Each reader yields `(where, frame dict)` pairs, or `(where, RecordError)` for an entry that
cannot be parsed, so the caller keeps every good frame. Nothing holds a whole file in memory:
NDJSON is read line by line, JSON arrays and `{"frames": [...]}` objects through ijson.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from workbench.errors import IngestError, RecordError

NDJSON_SUFFIXES = frozenset({".ndjson", ".jsonl"})
JSON_SUFFIXES = frozenset({".json"}) | NDJSON_SUFFIXES

Entry = tuple[str, Any]


def collect_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The files named, and every .json/.ndjson/.jsonl file under the folders named, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in JSON_SUFFIXES
                )
            )
        elif path.is_file():
            files.append(path)
        else:
            raise IngestError(f"{path}: no such file or folder")
    return files


def read_frames(path: Path) -> Iterator[Entry]:
    """Frame dicts of one file: NDJSON by suffix, else a JSON frame, array or {"frames": [...]}."""
    if path.suffix.lower() in NDJSON_SUFFIXES:
        yield from _read_ndjson(path)
        return
    with path.open("rb") as stream:
        first = _first_char(stream)
    if first == b"[":
        yield from _read_items(path, "item")
    elif first == b"{":
        yield from _read_object(path)
    elif first:
        problem = 'not JSON: expected a frame, a list of frames or {"frames": [...]}'
        yield str(path), RecordError(str(path), problem)


def frame_where(where: str, data: Any) -> str:
    """`where` plus the frame's id when it has one, for messages about the frame."""
    frame_id = data.get("id") if isinstance(data, dict) else None
    return f"{where}, frame {str(frame_id)!r}" if frame_id not in (None, "") else where


def _read_ndjson(path: Path) -> Iterator[Entry]:
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                data = json.loads(line)
            except ValueError as exc:
                yield where, RecordError(where, f"invalid JSON: {exc}")
                continue
            yield frame_where(where, data), data


def _read_items(path: Path, prefix: str) -> Iterator[Entry]:
    count = 0
    with path.open("rb") as stream:
        try:
            for data in ijson.items(stream, prefix, use_float=True):
                yield frame_where(f"{path} [index {count}]", data), data
                count += 1
        except ijson.JSONError as exc:
            # A syntax error ends the stream: the frames before it are kept.
            where = f"{path} [index {count}]" if count else str(path)
            problem = f"invalid JSON, the rest of the file is skipped: {_one_line(exc)}"
            yield where, RecordError(where, problem)


def _read_object(path: Path) -> Iterator[Entry]:
    """Either `{"frames": [...]}` (streamed) or one frame object (small: parsed whole)."""
    found = False
    for entry in _read_items(path, "frames.item"):
        found = True
        yield entry
    if found:
        return
    with path.open("rb") as stream:
        try:
            data = next(ijson.items(stream, "", use_float=True))
        except (ijson.JSONError, StopIteration) as exc:
            yield str(path), RecordError(str(path), f"invalid JSON: {_one_line(exc)}")
            return
    if isinstance(data, dict) and "frames" in data:
        if not isinstance(data["frames"], list):
            yield str(path), RecordError(str(path), '"frames" must be a list of frames')
        return  # an empty list of frames
    yield frame_where(str(path), data), data


def _first_char(stream: BinaryIO) -> bytes:
    while chunk := stream.read(4096):
        stripped = chunk.lstrip()
        if stripped:
            return stripped[:1]
    return b""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
