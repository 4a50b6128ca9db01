"""Streaming readers for files of ClearML frames.

Each reader yields `(where, frame dict)` pairs, or `(where, RecordError)` for an entry that
cannot be parsed, so the caller keeps every good frame. Nothing holds a whole file in memory:
NDJSON is read line by line, JSON arrays and `{"frames": [...]}` objects a record at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from workbench.errors import IngestError, RecordError
from workbench.ingest.jsonread import Unreadable, read_document, read_lines

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
    """Frame dicts of one file: NDJSON by suffix, else a JSON frame, array or {"frames": [...]}.

    Every record is scanned for size and depth before it is parsed (workbench.ingest.jsonread);
    one that cannot be read comes as a RecordError naming file and line or index.
    """
    if path.suffix.lower() in NDJSON_SUFFIXES:
        for number, data in read_lines(path):
            where = f"{path} line {number}"
            yield _entry(where, data)
        return
    for index, data in read_document(path, "frames"):
        if index is None:
            where = str(path)
            if isinstance(data, Unreadable) and data.problem == "frames must be a list":
                data = Unreadable('"frames" must be a list of frames')
            elif isinstance(data, Unreadable) and data.fatal:
                where = str(path)
        else:
            where = f"{path} [index {index}]"
        yield _entry(where, data)


def _entry(where: str, data: Any) -> Entry:
    if isinstance(data, Unreadable):
        return where, RecordError(where, data.problem)
    return frame_where(where, data), data


def frame_where(where: str, data: Any) -> str:
    """`where` plus the frame's id when it has one, for messages about the frame."""
    frame_id = data.get("id") if isinstance(data, dict) else None
    if frame_id in (None, "") or isinstance(frame_id, dict | list):
        return where
    text = str(frame_id)
    return f"{where}, frame {text[:80]!r}" + ("..." if len(text) > 80 else "")
