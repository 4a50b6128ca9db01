"""Nucleus annotation payloads read column by column (workbench.ingest.nucleus_annotations):
DuckDB parses and checks a batch of lines at once (the records of a JSON document are turned
into such lines first) and reads the payloads it can vouch for into ROI rows
(_nucleus_annotation_sql), an item's row of one annotation among them, and refuses the
cuboids it can vouch for with the per-record path's error; every other line goes through the
per-record path (_nucleus_payloads.read_payload), which reads it or names its problem (file
and line, or list index) exactly as before. Both are gathered, in file order, in chunks of
CHUNK annotations, each placed and written before the next (_nucleus_placing): a chunk ends
after the record that brings it to CHUNK annotations, as it always has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.ingest import _nucleus_annotation_sql as sql
from workbench.ingest import _nucleus_placing
from workbench.ingest._columnar import (
    PER_RECORD_PATTERN,
    LineBatch,
    MemoryEngine,
    document_batch,
    ndjson_batches,
)
from workbench.ingest._nucleus_items import reference_id
from workbench.ingest._nucleus_payloads import CUBOID, Annotation, read_payload
from workbench.ingest._nucleus_placing import Placing, Rows
from workbench.ingest.jsonread import Unreadable, loads
from workbench.ingest.writer import CatalogWriter

__all__ = ["Reader", "payloads_of", "problem"]

# Lines SQL reads at once, as long as they hold at most BYTES_PER_BATCH of text. Each batch
# plans the statements again (about 0.035 s of CPU, whatever its size): 100,000 lines cost
# 0.475 s against 0.54 s for two batches of 50,000 (docs/benchmarks.md, "Thirtieth pass").
LINES_PER_BATCH = 100_000
BYTES_PER_BATCH = 32 << 20
# The lists of an item's row, by the type their payloads have.
_ROW_TYPES = {"box": "box", "polygon": "polygon", "line": "line", "keypoints": "keypoints",
              "cuboid": "cuboid", "category": "category", "multicategory": "multicategory",
              "segmentation": "mask"}  # fmt: skip

Where = Callable[[int], str]


class Reader:
    """One import's reading of annotation files into chunks, placed by `placing`."""

    def __init__(self, writer: CatalogWriter, placing: Placing) -> None:
        self.writer = writer
        self.placing = placing
        self._engine = MemoryEngine(sql.MACROS, threads=1)
        self.chunk: list[Rows | Annotation] = []
        self.count = 0  # annotations in the chunk
        self.sql_lines = 0  # lines read by SQL and by the per-record path
        self.record_lines = 0
        self.cuboid_lines = 0  # cuboids SQL refused

    def close(self) -> None:
        self._engine.close()

    def finish(self) -> None:
        """Place and write what the chunk holds."""
        self.placing.write(self.chunk)
        self.chunk, self.count = [], 0

    def ndjson(self, path: Path, folder: Path) -> None:
        """The payloads of an NDJSON file, one a line."""
        for lines in ndjson_batches(path, LINES_PER_BATCH, PER_RECORD_PATTERN, BYTES_PER_BATCH):
            self._batch(lines, {}, lambda n: f"{path}:{n}", folder)

    def document(self, entries: Iterable[tuple[str, Any]], folder: Path) -> None:
        """The (where, record) entries of a JSON document (`read_payloads`), a batch at a
        time: each object as a line of JSON text, anything else for the per-record path. A
        problem that ends the document is raised after the records before it are read."""
        batch: list[tuple[str, Any]] = []
        try:
            for entry in entries:
                batch.append(entry)
                if len(batch) == LINES_PER_BATCH:
                    self._entries(batch, folder)
                    batch = []
        finally:
            self._entries(batch, folder)

    def _entries(self, entries: list[tuple[str, Any]], folder: Path) -> None:
        lines, objects = document_batch(entries, PER_RECORD_PATTERN)
        records = [record for _, record in entries]
        self._batch(lines, objects, lambda n: entries[n][0], folder, records)

    def _batch(self, lines: LineBatch, objects: dict[int, Any], where_of: Where,
               folder: Path, records: list[Any] | None = None) -> None:  # fmt: skip
        """Read a batch: the rows SQL takes, the other lines by the per-record path, all in
        line order, into the chunk. `records`: a document's records, read as they are by the
        per-record path (not from their text)."""
        rows, others = self._convert(lines.lines, folder)
        events: list[tuple[int, str, Any]] = [(n, "problem", p) for n, p in lines.problems]
        events += [(n, "cuboid", ref) for n, _, ref in others if ref is not None]
        if records is None:
            events += [(n, "text", j) for n, j, ref in others if ref is None]
        else:
            events += [(n, "object", records[n]) for n, _, ref in others if ref is None]
        events += [(n, "object", o) for n, o in objects.items()]
        events.sort(key=lambda e: e[0])
        # The rows that begin an annotation (a segmentation's segments are one annotation).
        starts = np.flatnonzero(rows["part"].to_numpy() == 0)
        self.sql_lines += len(starts)
        cuboids = sum(ref is not None for _, _, ref in others)
        self.cuboid_lines += cuboids
        self.record_lines += len(events) - cuboids
        lines_of = rows["_line"].to_numpy() if events else None
        at = 0  # rows added so far
        for n, kind, value in events:
            upto = int(lines_of.searchsorted(n)) if lines_of is not None else 0
            self._add_rows(rows, starts, at, upto, where_of, folder)
            at = upto
            if kind == "cuboid":  # refused as the per-record path refuses it
                self.writer.reject(RecordError(f"{where_of(n)}, item {value!r}", CUBOID))
            else:
                self._record(where_of(n), kind, value, folder)
        self._add_rows(rows, starts, at, rows.num_rows, where_of, folder)

    def _convert(
        self, lines: pa.Table, folder: Path
    ) -> tuple[pa.Table, list[tuple[int, str | None, str | None]]]:
        """The rows SQL read, and the other lines: (n, text, None) for the per-record path,
        (n, None, reference_id) for a cuboid SQL refuses (_nucleus_annotation_sql.OTHERS)."""
        con = self._engine.con
        # A relative mask_url is read from the file's folder (`folder / url` as pathlib joins).
        con.execute("SET VARIABLE na_folder = ?", [str(folder).rstrip("/")])
        con.register("_wb_lines", lines)
        try:
            con.execute(sql.PAYLOADS)
            rows = con.sql(sql.ROWS).to_arrow_table()
            taken = pc.sum(pc.equal(rows["part"], 0)).as_py() or 0  # lines (a row each)
            others = con.execute(sql.OTHERS).fetchall() if taken < len(lines) else []
        finally:
            con.unregister("_wb_lines")
        return rows, others

    def _add_rows(self, rows: pa.Table, starts: np.ndarray, low: int, high: int,
                  where_of: Where, folder: Path) -> None:  # fmt: skip
        """Rows `low` to `high` into the chunk, which is written each time it holds CHUNK
        annotations (`starts`: the rows that begin one)."""
        first, last = (int(i) for i in starts.searchsorted([low, high]))
        while first < last:
            take = min(last - first, _nucleus_placing.CHUNK - self.count)
            end = int(starts[first + take]) if first + take < last else high
            self.chunk.append(Rows(rows.slice(low, end - low), where_of, folder))
            self.count += take
            first, low = first + take, end
            if self.count >= _nucleus_placing.CHUNK:
                self.finish()

    def _record(self, where: str, kind: str, value: Any, folder: Path) -> None:
        """One record read by the per-record path into the chunk (its error, named, else)."""
        writer = self.writer
        with writer.record(where):
            if kind == "problem":
                raise RecordError(where, f"not valid JSON: {value}")
            record = loads(value.encode().strip()) if kind == "text" else value
            if isinstance(record, Unreadable):
                raise RecordError(where, f"not valid JSON: {problem(record)}")
            for at, payload in payloads_of(record, where):
                with writer.record(at):
                    self.chunk.append(read_payload(payload, at, folder))
                    self.count += 1
            if self.count >= _nucleus_placing.CHUNK:
                self.finish()


def payloads_of(record: Any, where: str) -> Iterator[tuple[str, Any]]:
    """The payloads of a record: itself, or those of an item's row (`{"item": {...},
    "annotations": {"box": [...], ...}}` as Dataset.items_and_annotations gives them, or
    the rows Nucleus exports, `{"item": {...}, "box": [...], "segmentation": {...}}`), each
    given the item's reference_id and, when it names none, the type of its list."""
    if not isinstance(record, Mapping) or "item" not in record:
        yield where, record
        return
    item = record["item"]
    ref = reference_id(item.get("reference_id") if isinstance(item, Mapping) else None,
                       "item", where)  # fmt: skip
    lists = record.get("annotations", record)
    if not isinstance(lists, Mapping):
        raise RecordError(where, f"annotations must be an object, got {type(lists).__name__}")
    for key, kind in _ROW_TYPES.items():
        given = lists.get(key)
        if given is None:
            continue
        for n, payload in enumerate(given if isinstance(given, list) else [given]):
            if isinstance(payload, Mapping):
                payload = {"type": kind, **payload, "reference_id": ref}
            yield f"{where}, {key}[{n}]", payload


def problem(value: Unreadable) -> str:
    if value.syntax is not None:
        return f"{value.syntax.msg} at column {value.syntax.colno}"
    return value.problem
