"""ClearML NDJSON lines left unconverted when the catalog holds the frame they make as it
was made from them (store/line_digests.py keeps the digests and says when one holds).

Before a batch of lines is converted, each line's digest (DuckDB's `hash` of its text,
seeded with what else its conversion depends on: the folder relative URIs resolve against
and CONVERSION) and its length are looked up at the line's place in its file: a line found
is counted as an unchanged frame and not converted. A line converted without error or
warning, whose frame is then stored or found unchanged, has its digest kept in the same
transaction; lines with warnings are never digested, so they are converted, and warned
about, on every import.

The write that counts the lines found looks them up again in its transaction (`Beside`):
a frame changed between the lookup and the write (a label write landing meanwhile) stops
that write with `_LinesChanged`, rolled back; the importer converts those lines, read again
from the file, and writes again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest._columnar import ndjson_batches
from workbench.ingest._counting import Tally
from workbench.ingest._unchanged import without
from workbench.store import layout_hashes, line_digests
from workbench.store.layout import next_frame_key

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# Part of every digest: raise it when a change to the conversion may make another frame of
# the same line, so that digests kept before no longer match.
CONVERSION = 1

DIGESTED_ROWS = line_digests.DIGESTED_ROWS


class _LinesChanged(Exception):
    """Frames of lines a write left unconverted changed after their lines were looked up:
    the write is rolled back, and those lines (`lines`, their frames' `ids`) are to be
    converted."""

    def __init__(self, lines: pa.Array, ids: pa.Array) -> None:
        super().__init__(f"{len(lines)} frames changed since their lines were looked up")
        self.lines = lines
        self.ids = ids


@dataclass(frozen=True)
class Beside:
    """What a write keeps and counts beside its rows, of lines of one file (`file`, its
    key): the lines left unconverted (line_digests.LOOKUP_SCHEMA) and the digests of the
    lines it converted (DIGESTED_ROWS); `since`, the catalog's next frame key when they
    were converted (the write's new frames have keys from there on)."""

    file: int
    unchanged: pa.Table
    digested: pa.Table
    since: int = 0

    @property
    def frames(self) -> int:
        return self.unchanged.num_rows

    @property
    def rois(self) -> int:
        return int(pc.sum(self.unchanged["rois"]).as_py() or 0)

    def __call__(self, con: Any, tally: Tally) -> pa.Array:
        """Count the unchanged frames as the writer counts frames it finds unchanged, keep
        the digests; returns the unchanged frames' URIs (checked against the media roots).
        Raises _LinesChanged when some of them changed since they were looked up."""
        lost = line_digests.changed_since(con, self.file, self.unchanged)
        if len(lost):
            gone = self.unchanged.filter(pc.is_in(self.unchanged["n"], value_set=lost))
            raise _LinesChanged(lost, gone["id"].combine_chunks())
        sources = int(pc.sum(self.unchanged["sources"]).as_py() or 0)
        tally.unchanged(self.unchanged["frame_key"], sources, self.rois)  # once per import
        found = partial(layout_hashes.candidates, con, layout_hashes.FRAMES)
        line_digests.record(con, self.file, self.digested, self.since, found)
        return line_digests.unchanged_uris(con, self.unchanged["frame_key"].combine_chunks())

    def without(self, lines: pa.Array) -> Beside:
        """The same without the unchanged lines `lines` (to be converted after all)."""
        return Beside(self.file, without(self.unchanged, "n", lines), self.digested, self.since)

    @staticmethod
    def joined(parts: list[Beside]) -> Beside:
        """The parts (of one file, in line order) as one."""
        return Beside(
            parts[0].file,
            pa.concat_tables([p.unchanged for p in parts]).combine_chunks(),
            pa.concat_tables([p.digested for p in parts]).combine_chunks(),
            min(p.since for p in parts),
        )


NOTHING_BESIDE = Beside(0, line_digests.LOOKUP_SCHEMA.empty_table(), DIGESTED_ROWS.empty_table())


class LineDigests:
    """One import's use of the digests: their lines' digests, and the lines left as stored
    (looked up only when the catalog held frames as the import began)."""

    def __init__(self, catalog: Catalog, engine: duckdb.DuckDBPyConnection) -> None:
        self.engine = engine
        self._catalog = catalog.cursor()
        self._look_up = catalog.has_frames()
        self._seed = ""
        self.file = 0

    def close(self) -> None:
        self._catalog.close()

    def start(self, path: Path, base: Path | None) -> None:
        """Digest and look up lines of the file `path` from now on, relative URIs in them
        resolving against `base`."""
        self._seed = f"{CONVERSION}\x00{base.resolve() if base is not None else ''}"
        self.file = line_digests.file_key(self.engine, str(path.resolve()))

    def of_lines(self, lines: pa.Table) -> pa.Table:
        """(n, digest, line_bytes) of each line of `lines` (n, j)."""
        return line_digests.hash_lines(self.engine, lines, self._seed)

    def unchanged(self, digests: pa.Table) -> pa.Table:
        """The lines of `digests` whose frame is stored as they make it
        (line_digests.LOOKUP_SCHEMA)."""
        if not self._look_up:
            return line_digests.LOOKUP_SCHEMA.empty_table()
        return line_digests.lookup(self._catalog, self.file, digests)

    def beside(
        self,
        digests: pa.Table,
        unchanged: pa.Table | None,
        left_out: set[int],
        stored: tuple[pa.Table, pa.Table, pa.Table],
        warned: set[int],
    ) -> Beside:
        """What a write of a batch keeps beside its rows: the lines of `unchanged` but those
        `left_out` (rejected), and the digests (`digests`) of the lines of the frames,
        sources and ROIs `stored` (with `_line`) but those `warned`."""
        if unchanged is None:
            unchanged = line_digests.LOOKUP_SCHEMA.empty_table()
        elif left_out and unchanged.num_rows:
            unchanged = without(unchanged, "n", pa.array(sorted(left_out), pa.int64()))
        since = next_frame_key(self._catalog)  # keys are never given twice: a bound
        return Beside(self.file, unchanged, digested(digests, *stored, warned), since)


def lines_again(path: Path, numbers: pa.Array, lines_per_batch: int) -> pa.Table:
    """The lines `numbers` of the NDJSON file `path` read again, as they were read first
    (n, j)."""
    wanted = pa.array(np.sort(numbers.to_numpy(zero_copy_only=False)), pa.int64())
    last = wanted[-1].as_py()
    parts = []
    for batch in ndjson_batches(path, lines_per_batch):
        lines = batch.lines
        parts.append(lines.filter(pc.is_in(lines["n"], value_set=wanted)))
        if lines.num_rows and lines["n"][-1].as_py() >= last:
            break
    return pa.concat_tables(parts) if parts else pa.table({"n": pa.array([], pa.int64())})


def digested(
    digests: pa.Table, frames: pa.Table, sources: pa.Table, rois: pa.Table, warned: set[int]
) -> pa.Table:
    """DIGESTED_ROWS of the lines of `frames` (rows with `_line`, stored or found unchanged)
    but those `warned`, with their counts of `sources` and `rois`. Every table is in line
    order (`digests` by `n`, the others by `_line`): lines are found by binary search, not
    joined."""
    line = line_digests.int64s(frames["_line"])
    if warned:
        line = line[~np.isin(line, np.fromiter(warned, np.int64, len(warned)))]
    if len(line) == 0:
        return DIGESTED_ROWS.empty_table()
    at = pa.array(np.searchsorted(line_digests.int64s(digests["n"]), line))
    ids = frames["id"].combine_chunks()
    if len(line) < frames.num_rows:
        ids = ids.filter(pa.array(np.isin(line_digests.int64s(frames["_line"]), line)))
    return pa.table(
        {
            "id": ids,
            "line": pa.array(line, pa.int64()),
            "digest": digests["digest"].combine_chunks().take(at),
            "line_bytes": digests["line_bytes"].combine_chunks().take(at),
            "sources": _counts(sources["_line"], line),
            "rois": _counts(rois["_line"], line),
        },
        schema=DIGESTED_ROWS,
    )


def _counts(rows_line: pa.ChunkedArray, lines: np.ndarray) -> pa.Array:
    """How many of the rows (their `_line`, in line order) each of `lines` has."""
    found = line_digests.int64s(rows_line)
    if len(found) > 1 and not np.all(found[1:] >= found[:-1]):
        found = np.sort(found)
    counts = np.searchsorted(found, lines, "right") - np.searchsorted(found, lines, "left")
    return pa.array(counts.astype(np.int32), pa.int32())
