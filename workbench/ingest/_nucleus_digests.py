"""Nucleus scene lines left unconverted when the catalog holds the scene they make as it was
made from them (store/line_digests.py keeps one digest per scene line and says when one
holds).

An update of a file of scenes would otherwise parse and convert every scene line, and hand
every frame to the writer, only for the writer to find them stored as given. Before a batch
of lines is converted, each line's digest (DuckDB's `hash` of its text, seeded with what
else its conversion depends on: CONVERSION, the dataset given, the folder relative paths
resolve against) and its length are looked up in its stretch of the file: a line found (its
frames stored as they were then, alone in their scene, without ROIs) makes no rows at all,
unless something placed earlier in the same import touched its scene or frames, in which
case it is converted after all (`ColumnarScenes._same`).

The write that counts the lines found checks their scenes again in its transaction
(`Beside`, line_digests.scenes_changed: the found frames' rows hashed again, writers taking
turns): a scene changed between the lookup and the write (the service layer, a label write)
stops that write with `_ScenesChanged`, rolled back; it is written again without those lines,
which are then read again from the file and converted (`ColumnarScenes._again`).

A scene line converted by SQL, all of whose frames are then stored (or left as they were by
the writer), has its digest kept in the transaction that stores the last of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest._columnar import LineBatch
from workbench.ingest._counting import Tally
from workbench.store import line_digests
from workbench.store.layout import next_frame_key

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# Part of every digest: raise it when a change to the conversion may make other frames of
# the same line, so that digests kept before no longer match.
CONVERSION = 1

_LINES = pa.schema(
    [
        ("line", pa.int64()),
        ("digest", pa.uint64()),
        ("line_bytes", pa.int32()),
        ("frames", pa.int32()),
    ]
)
_NO_URIS = pa.array([], pa.string())


class _ScenesChanged(Exception):
    """Scenes of lines a write left unconverted changed after their lines were looked up:
    the write is rolled back; `rest` is what it keeps beside its rows without those lines
    (None: nothing), and `lines` are to be converted."""

    def __init__(self, lines: pa.Array, rest: Beside | None) -> None:
        super().__init__(f"{len(lines)} scenes changed since their lines were looked up")
        self.lines = lines
        self.rest = rest


@dataclass(frozen=True)
class Beside:
    """What a write keeps and counts beside its rows, of lines of one file (`file`, its
    key): the lines found unchanged (line_digests.SCENES_SCHEMA), and the frames (`rows_of`:
    id, line) and digests (`lines`) of the lines whose last rows it stores; `since`, the
    catalog's next frame key when the file began."""

    file: int
    same: pa.Table
    rows_of: pa.Table | None
    lines: pa.Table | None
    since: int

    def __call__(self, con: Any, tally: Tally) -> pa.Array:
        """Count the unchanged scenes' frames as the writer counts frames it finds
        unchanged (once per import, by their keys), keep the digests. Raises _ScenesChanged
        when some of those scenes changed since they were looked up."""
        lost = line_digests.scenes_changed(con, self.same)
        if len(lost):
            same = self.same.filter(pc.invert(pc.is_in(self.same["n"], value_set=lost)))
            rest = replace(self, same=same)
            raise _ScenesChanged(lost, rest if same.num_rows or self.lines is not None else None)
        if self.same.num_rows:  # one source and no ROI each (what the digests hold)
            keys = _scene_keys(self.same)
            tally.unchanged(keys, sources=len(keys), rois=0)
        if self.rows_of is not None and self.lines is not None:
            line_digests.record_scenes(con, self.file, self.rows_of, self.lines, self.since)
        return _NO_URIS


class SceneDigests:
    """One import's use of the scene digests, file by file (NDJSON files only): the
    digests of the lines converted and not yet recorded, and the lines found unchanged."""

    def __init__(
        self,
        catalog: Catalog,
        engine: duckdb.DuckDBPyConnection,
        *,
        update: bool,
        dataset: str | None,
    ) -> None:
        self.engine = engine
        self._catalog = catalog.cursor()
        self._keeps = catalog.lake is None  # lake-backed catalogs keep no digests
        self._look_up = self._keeps and update and catalog.has_frames()
        self._dataset = dataset or ""
        self.file: int | None = None
        self._seed = ""
        self._since = 0
        # line -> (digest, line_bytes, frames) of the scene lines converted, not recorded
        self._converted: dict[int, tuple[int, int, int]] = {}
        self._dirty: set[int] = set()  # lines of which a row was left out or replaced
        self._carry: list[pa.Table] = []  # (id, line) of lines written in part so far
        self._same: list[pa.Table] = []  # lines found unchanged, not yet counted

    def close(self) -> None:
        self._catalog.close()

    @property
    def on(self) -> bool:
        return self._keeps and self.file is not None

    def start(self, path: Path | None, base: Path) -> None:
        """Digest the lines of the NDJSON file `path` from now on (None: the records of a
        JSON document, never digested)."""
        self._converted.clear()
        self._dirty.clear()
        self._carry.clear()
        if path is None or not self._keeps:
            self.file = None
            return
        self._seed = f"nucleus\x00{CONVERSION}\x00{self._dataset}\x00{base.resolve()}"
        self.file = line_digests.file_key(self.engine, str(path.resolve()))
        self._since = next_frame_key(self._catalog)  # this file's new frames: keys from here

    def of_lines(self, lines: pa.Table) -> pa.Table:
        """(n, digest, line_bytes) of each line of `lines` (n, j, marked) SQL may take."""
        return line_digests.hash_lines(self.engine, lines, self._seed, "NOT marked")

    def unchanged(self, digests: pa.Table) -> pa.Table:
        """The lines of `digests` whose scene is stored as they make it
        (line_digests.SCENES_SCHEMA); none unless the import updates a catalog that held
        frames as it began."""
        if not self._look_up or self.file is None:
            return line_digests.SCENES_SCHEMA.empty_table()
        return line_digests.scenes_unchanged(self._catalog, self.file, digests)

    def converted(self, digests: pa.Table, scenes: dict[int, tuple[str, slice]]) -> None:
        """Hold the digests of the lines of `scenes` (converted by SQL), to be kept once
        their frames are stored."""
        if not self.on or not scenes:
            return
        numbers = line_digests.int64s(digests["n"])
        values = np.asarray(digests["digest"].to_numpy(), dtype=np.uint64)
        sizes = line_digests.int64s(digests["line_bytes"])
        at = {int(n): i for i, n in enumerate(numbers)}
        for n, (_, span) in scenes.items():
            i = at.get(n)
            if i is not None:
                self._converted[n] = (int(values[i]), int(sizes[i]), span.stop - span.start)

    def spoil(self, lines: Any) -> None:
        """Keep no digest for `lines` in this import (a row of theirs was left out or
        replaced)."""
        self._dirty.update(int(n) for n in lines)

    def left(self, found: pa.Table) -> None:
        """Count the line `found` (a row of `unchanged`) as left unconverted, its frames
        counted by the next write."""
        self._same.append(found)

    def beside(self, rows: pa.Table | None) -> Beside | None:
        """What a write of `rows` (with `_line`, `id`) keeps and counts beside them: the
        frames of lines found unchanged so far, and the digests of the lines whose last rows
        it stores. None when there is nothing."""
        parts, self._same = self._same, []
        rows_of, lines = self._complete(rows) if self.on and rows is not None else (None, None)
        if not parts and rows_of is None:
            return None
        same = (
            pa.concat_tables(parts).combine_chunks()
            if parts
            else line_digests.SCENES_SCHEMA.empty_table()
        )
        return Beside(self.file or 0, same, rows_of, lines, self._since)

    def _complete(self, rows: pa.Table) -> tuple[pa.Table | None, pa.Table | None]:
        """(id, line) of the frames of the lines whose last rows are in `rows`, and those
        lines (_LINES); the rows of lines written in part are carried to the next write."""
        if rows.num_rows == 0 or not self._converted:
            return None, None
        table = pa.table({"id": rows["id"], "line": rows["_line"]})
        if self._carry:
            table = pa.concat_tables([*self._carry, table])
            self._carry.clear()
        numbers = line_digests.int64s(table["line"])
        found, counts = np.unique(numbers, return_counts=True)
        complete: list[int] = []
        rest: list[int] = []
        for n, count in zip(found.tolist(), counts.tolist(), strict=True):
            held = self._converted.get(n)
            if held is None or n in self._dirty:
                continue
            (complete if count >= held[2] else rest).append(n)
        if rest:
            self._carry.append(table.filter(pc.is_in(table["line"], pa.array(rest, pa.int64()))))
        if not complete:
            return None, None
        wanted = pa.array(complete, pa.int64())
        lines = pa.table(
            {
                "line": wanted,
                "digest": pa.array([self._converted[n][0] for n in complete], pa.uint64()),
                "line_bytes": pa.array([self._converted[n][1] for n in complete], pa.int32()),
                "frames": pa.array([self._converted[n][2] for n in complete], pa.int32()),
            },
            schema=_LINES,
        )
        for n in complete:
            del self._converted[n]
        return table.filter(pc.is_in(table["line"], value_set=wanted)), lines


def _scene_keys(scenes: pa.Table) -> np.ndarray:
    """The keys of the frames of `scenes` (line_digests.SCENES_SCHEMA): `frames` keys from
    each scene's `first_key`."""
    firsts = line_digests.int64s(scenes["first_key"])
    counts = line_digests.int64s(scenes["frames"])
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(firsts, counts) + (np.arange(int(counts.sum()), dtype=np.int64) - starts)


def lines_again(batches: Iterable[LineBatch], numbers: list[int]) -> pa.Table:
    """The lines `numbers` (in order) of a file read again in `batches`, as they were read
    first (n, j, marked); the reading stops past the last of them."""
    wanted = pa.array(numbers, pa.int64())
    parts = []
    for batch in batches:
        lines = batch.lines
        parts.append(lines.filter(pc.is_in(lines["n"], value_set=wanted)))
        if lines.num_rows and lines["n"][-1].as_py() >= numbers[-1]:
            break
    return pa.concat_tables(parts) if parts else pa.table({"n": wanted.slice(0, 0)})
