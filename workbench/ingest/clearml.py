"""ClearML Hyper-Datasets frames (SingleFrame and FrameGroup), import and export.

Import reads a .json file holding one frame, a JSON array of frames or `{"frames": [...]}`,
NDJSON (.ndjson/.jsonl, one frame per line), or folders of these, streaming so memory stays
flat. Export writes the frames of a view as NDJSON (default) or as one JSON array. See
docs/formats/clearml.md for the mapping of fields.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import pyarrow as pa
from tqdm.auto import tqdm

from workbench.errors import IngestError, RecordError
from workbench.ingest._budget import held_to_budget
from workbench.ingest._clearml_columnar import ROWS_PER_WRITE, NdjsonImport
from workbench.ingest._clearml_convert import frame_from_clearml, frame_to_clearml
from workbench.ingest._clearml_export_sql import FRAMES
from workbench.ingest._clearml_read import NDJSON_SUFFIXES, collect_files, read_frames
from workbench.ingest.export import ExportReport
from workbench.ingest.imports import recorded
from workbench.ingest.views import ViewLike
from workbench.ingest.writer import CatalogWriter, IngestReport
from workbench.store.arrow import registered

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

ExportFormat = Literal["ndjson", "json"]


@recorded("clearml")
def import_files(
    catalog: Catalog,
    paths: Sequence[str | os.PathLike[str]],
    *,
    progress: bool = True,
    resolve_uris: bool = True,
    batch_size: int = ROWS_PER_WRITE,
) -> IngestReport:
    """Import ClearML frames from files or folders into `catalog`.

    NDJSON files are read column by column (workbench.ingest._clearml_columnar); JSON
    documents a record at a time. Each transaction stores about `batch_size` frames (those of
    JSON documents at most 20,000 at a time: they are held as Python objects until then).
    Relative source, preview and mask URIs are made absolute against the folder of the file
    that names them unless `resolve_uris` is False. Frames already in the catalog are replaced
    whole; a bad frame is reported (file and line, or array index and frame id) and skipped,
    and so is a frame whose id came earlier in the same import.
    """
    files = collect_files(paths)
    with (
        CatalogWriter(
            catalog, batch_size=min(batch_size, 20_000), progress=progress,
            desc="clearml import",
            unique_ids=True,
        ) as writer,
        NdjsonImport(writer, batch_size) as columnar,
    ):  # fmt: skip
        for path in files:
            base = path.parent if resolve_uris else None
            if path.suffix.lower() in NDJSON_SUFFIXES:
                columnar.read(path, base)
                continue
            writer.flush()
            for where, data in read_frames(path):
                if isinstance(data, RecordError):
                    writer.reject(data)
                    continue
                with writer.record(where):
                    frame = frame_from_clearml(data, where, base)
                    if columnar.claim(frame.id, where):
                        writer.add(frame, where)
    return writer.report


@held_to_budget
def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    fmt: ExportFormat | None = None,
    batch_size: int = 20_000,
) -> ExportReport:
    """Write the frames of `view`, in its order, as ClearML frames.

    `fmt` is "ndjson" (one frame per line) or "json" (one array); by default a `.json` dest
    gets an array and anything else NDJSON. A folder as dest gets `frames.ndjson` in it.
    """
    target = Path(dest)
    if target.is_dir():
        target = target / ("frames.json" if fmt == "json" else "frames.ndjson")
    chosen: ExportFormat = fmt or ("json" if target.suffix.lower() == ".json" else "ndjson")
    if chosen not in ("ndjson", "json"):
        raise IngestError(f"unknown ClearML export format {chosen!r}: expected ndjson or json")
    target.parent.mkdir(parents=True, exist_ok=True)
    report = ExportReport(dest=target, files=[target])
    ids = view_frame_ids(view)
    with (
        target.open("w", encoding="utf-8") as out,
        tqdm(
            total=len(ids), desc="clearml export", unit="frame", disable=not progress, leave=False
        ) as bar,
    ):
        writer = _ArrayWriter(out) if chosen == "json" else _LineWriter(out)
        for line, rois in _frame_lines(view.catalog, ids, batch_size):
            writer.write_text(line)
            report.frames += 1
            report.rois += rois
            bar.update(1)
        writer.close()
    return report


def _frame_lines(
    catalog: Catalog, ids: Sequence[str], batch_size: int
) -> Iterator[tuple[str, int]]:
    """(JSON text, ROI count) of each frame of `ids`, in that order, built by the catalog's
    engine a chunk at a time; frames whose sources had meta are built in Python."""
    con = catalog.cursor()
    try:
        for start in range(0, len(ids), batch_size):
            chunk = list(ids[start : start + batch_size])
            table = pa.table({"id": pa.array(chunk, pa.string()),
                              "o": pa.array(range(len(chunk)), pa.int64())})  # fmt: skip
            with registered(con, "_wb_export_ids", table):
                rows = con.execute(FRAMES).fetchall()
            for _, frame_id, by_python, line, count in rows:
                if by_python:
                    frame = next(iter_clearml_frames(catalog, [frame_id]))
                    yield _dumps(frame), len(frame.get("rois", ()))
                else:
                    yield line, count
    finally:
        con.close()


def view_frame_ids(view: ViewLike) -> list[str]:
    """The ids of a view's frames, in the view's order."""
    compiled = view.compile()
    con = view.catalog.cursor()
    try:
        result = con.execute(compiled.sql, compiled.params)
        names = [d[0] for d in result.description or ()]
        if "id" not in names:
            raise IngestError("the view's query has no id column")
        column = names.index("id")
        return [row[column] for row in result.fetchall()]
    finally:
        con.close()


def iter_clearml_frames(
    catalog: Catalog, ids: Sequence[str], batch_size: int = 5_000
) -> Iterator[dict[str, Any]]:
    """ClearML frame dicts for `ids`, in that order, reading the catalog a batch at a time."""
    con = catalog.cursor()
    try:
        for start in range(0, len(ids), batch_size):
            chunk = list(ids[start : start + batch_size])
            frames = {row["id"]: row for row in _rows(con, "frames", "id", chunk)}
            sources = _grouped(_rows(con, "sources", "frame_id", chunk))
            rois = _grouped(_rows(con, "rois", "frame_id", chunk))
            for frame_id in chunk:
                if frame_id in frames:
                    yield frame_to_clearml(
                        frames[frame_id], sources.get(frame_id, []), rois.get(frame_id, [])
                    )
    finally:
        con.close()


def _rows(con: Any, table: str, key: str, ids: list[str]) -> list[dict[str, Any]]:
    # rowid order is insertion order: sources and ROIs come back in the order they were given.
    result = con.execute(
        f"SELECT * FROM {table} WHERE {key} IN (SELECT unnest(?::VARCHAR[])) ORDER BY rowid",
        [ids],
    )
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _grouped(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["frame_id"]].append(row)
    return groups


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


class _LineWriter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, frame: dict[str, Any]) -> None:
        self.write_text(_dumps(frame))

    def write_text(self, line: str) -> None:
        self.out.write(line + "\n")

    def close(self) -> None:
        pass


class _ArrayWriter:
    """Streams a JSON array one frame per line, so a million frames never sit in memory."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.first = True
        out.write("[")

    def write(self, frame: dict[str, Any]) -> None:
        self.write_text(_dumps(frame))

    def write_text(self, line: str) -> None:
        self.out.write(("\n" if self.first else ",\n") + line)
        self.first = False

    def close(self) -> None:
        self.out.write("\n]\n")
