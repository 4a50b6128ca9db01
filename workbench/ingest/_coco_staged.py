"""The COCO import's annotations, converted a batch of pieces at a time and kept by write.

A file's annotations are not grouped by image, and its frames are written in the order of its
images, a range of image ordinals (`o`) per write. With one write, the converted annotations
stay in the engine (`_wb_ann`), as they are. Past one write, each batch's converted rows are
fetched in image order and cut by bisection into the writes' ranges, each range appended to
that write's own Arrow file (compressed) in a folder of the import's: a write then reads its
own file only, and no sort of every annotation of the file is ever made (one such sort, the
engine's, wrote several times the file's size to its spill folder at 10 GB). The disk held
is the converted rows, compressed, and each write's file is deleted once written.

Either way, while a write runs `_wb_ann` names its annotations (a table of the engine, or the
Arrow table of its file registered under that name), with the columns of
sql.ANNOTATION_ROWS but the record's text.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest import _coco_sql as sql

# What a conversion of a batch hands its table to (the digests' sums): the connection, the
# table's name and the number of the batch's first record.
Converted = Callable[[Any, str, int], None]
# The writes' files: LZ4 frames, a fifth of the CPU of zstd for about twice its size.
COMPRESSION = "lz4"
# Rows fetched from the engine at a time (by default).
CHUNK = 122_880


class InEngine:
    """One write's annotations: `_wb_ann`, a table of the engine."""

    def __init__(self, tracks: bool = False) -> None:
        self._batches = 0
        self._rows = sql.annotation_rows(tracks)

    def add(self, con: Any, converted: Converted | None = None) -> None:
        """Convert the records of `_wb_items` (one batch of pieces) into `_wb_ann`, then hand
        `converted` the table and the number of the batch's first record (its rows are
        those numbered from there)."""
        since = None
        if converted is not None:
            since = con.execute("SELECT min(i) FROM _wb_items").fetchall()[0][0]
        con.execute((sql.MORE_ANNOTATIONS if self._batches else sql.ANNOTATIONS) + self._rows)
        self._batches += 1
        if converted is not None and since is not None:
            converted(con, "_wb_ann", since)

    def rest(self, con: Any) -> list[tuple[int, str]]:
        """(number, text) of the records SQL does not take, in file order."""
        return con.execute("SELECT i, x FROM _wb_ann WHERE NOT ok ORDER BY i").fetchall()

    def refuse(self, con: Any, repeated: set[int]) -> None:
        """Leave out the annotations numbered `repeated` (an id repeated on its image)."""
        if repeated:  # (an UPDATE reads every row, even of an empty list)
            con.execute(
                "UPDATE _wb_ann SET ok = false WHERE i IN (SELECT unnest(?::BIGINT[]))",
                [sorted(repeated)],
            )

    def load(self, con: Any, first: int, last: int, columns: list[str] | None = None) -> None:
        """Make `_wb_ann` hold the annotations of images first..last (it holds them all)."""

    def unload(self, con: Any) -> None:
        """Done reading the annotations `load` gave."""

    def release(self, con: Any, first: int) -> None:
        """Let go of the annotations of the write starting at `first`."""


class ByWrite:
    """The annotations of each write of `per_write` images in a file of its own in `folder`,
    the rows SQL takes only (the others' numbers and texts are kept for the per-record path)."""

    def __init__(
        self, folder: Path, per_write: int, chunk: int = CHUNK, tracks: bool = False
    ) -> None:
        self._folder, self._per_write, self._chunk = folder, per_write, chunk
        self._rows = sql.annotation_rows(tracks)
        self._writers: dict[int, pa.ipc.RecordBatchWriter] = {}
        self._schema: pa.Schema | None = None
        self._rest: list[tuple[int, str]] = []
        self._repeated = pa.array([], pa.int64())
        self._options = pa.ipc.IpcWriteOptions(compression=COMPRESSION)

    def add(self, con: Any, converted: Converted | None = None) -> None:
        """Convert the records of `_wb_items` (one batch of pieces), in image order, and
        append each write's range of them to that write's file (`converted` is handed the
        batch's table first). (Fetched a chunk at a time: the engine sorts within its budget,
        Python holds one chunk.) The batch is converted into a table first and then sorted:
        the conversion's join with every staged image and the sort in one streamed statement
        ran out of the engine's memory at 19M images."""
        con.execute("CREATE OR REPLACE TEMP TABLE _wb_batch AS " + self._rows)
        if converted is not None:
            converted(con, "_wb_batch", 0)
        reader = con.sql(
            f"SELECT * EXCLUDE ({', '.join(sql.DIGESTED)}) FROM _wb_batch " + sql.IN_IMAGE_ORDER
        ).to_arrow_reader(self._chunk)
        for chunk in reader:
            self._keep(pa.Table.from_batches([chunk]))
        con.execute("DROP TABLE _wb_batch")
        if self._schema is None:
            self._schema = reader.schema.remove(reader.schema.get_field_index("x"))

    def _keep(self, rows: pa.Table) -> None:
        ok = rows["ok"]
        others = rows.filter(pc.invert(ok)).select(["i", "x"])
        self._rest += zip(others["i"].to_pylist(), others["x"].to_pylist(), strict=True)
        rows = rows.filter(ok).drop_columns(["x"])
        if self._schema is None:
            self._schema = rows.schema
        ordinals = rows["o"].to_numpy()  # ascending: sorted by the engine, never NULL when ok
        if not len(ordinals):
            return
        per_write = self._per_write
        writes = range(int(ordinals[0]) // per_write, int(ordinals[-1]) // per_write + 1)
        starts = np.searchsorted(ordinals, [w * per_write for w in writes])
        ends = [*starts[1:].tolist(), len(ordinals)]
        for write, start, end in zip(writes, starts.tolist(), ends, strict=True):
            if end > start:
                self._writer(write).write_table(rows.slice(start, end - start))

    def _writer(self, write: int) -> pa.ipc.RecordBatchWriter:
        if write not in self._writers:
            assert self._schema is not None
            self._writers[write] = pa.ipc.new_file(
                str(self._path(write)), self._schema, options=self._options
            )
        return self._writers[write]

    def _path(self, write: int) -> Path:
        return self._folder / f"annotations-{write}.arrow"

    def rest(self, con: Any) -> list[tuple[int, str]]:
        """(number, text) of the records SQL does not take, in file order; the writes' files
        are complete from here on."""
        for writer in self._writers.values():
            writer.close()
        return sorted(self._rest)

    def refuse(self, con: Any, repeated: set[int]) -> None:
        """Leave out the annotations numbered `repeated` when their write loads them."""
        self._repeated = pa.array(sorted(repeated), pa.int64())

    def load(self, con: Any, first: int, last: int, columns: list[str] | None = None) -> None:
        """Register the annotations of images first..last (one write's) as `_wb_ann`: their
        `columns` only when given (the others are not read from the file)."""
        assert self._schema is not None  # set by the first batch, even one of no rows
        write = first // self._per_write
        schema = self._schema
        if columns is not None:
            schema = pa.schema([schema.field(c) for c in columns])
        if write in self._writers:
            fields = [self._schema.get_field_index(c) for c in columns] if columns else None
            options = pa.ipc.IpcReadOptions(included_fields=fields)
            with pa.OSFile(str(self._path(write))) as source:
                rows = pa.ipc.open_file(source, options=options).read_all()
        else:
            rows = schema.empty_table()
        if len(self._repeated) and "ok" in rows.column_names:
            kept = pc.and_(rows["ok"], pc.invert(pc.is_in(rows["i"], value_set=self._repeated)))
            rows = rows.set_column(rows.schema.get_field_index("ok"), "ok", kept)
        con.register("_wb_ann", rows)

    def unload(self, con: Any) -> None:
        """Done reading the annotations `load` gave."""
        con.unregister("_wb_ann")

    def release(self, con: Any, first: int) -> None:
        """Unregister the write's annotations and delete its file."""
        con.unregister("_wb_ann")
        write = first // self._per_write
        if self._writers.pop(write, None) is not None:
            os.remove(self._path(write))


@dataclass
class Stored:
    """The images stored, and annotations handled in Python, by image ordinal (`rois` in
    the order of (image ordinal, annotation number) once staged, `ordinals` their ordinals)."""

    keys: dict[str, tuple[int, str, Any, int | None, int | None]] = field(default_factory=dict)
    rois: list[tuple[Any, ...]] = field(default_factory=list)
    warnings: dict[int, list[str]] = field(default_factory=dict)
    ordinals: list[int] = field(default_factory=list)
    # The annotations SQL converted, where each write finds its own.
    staged: InEngine | ByWrite = field(default_factory=InEngine)
    # The frames' digests (workbench.ingest._coco_digests.ImageDigests), when kept.
    digests: Any = None
    # kwcoco's video frames and tracks (workbench.ingest._coco_videos.StagedVideos), if any.
    videos: Any = None

    def rois_of(self, first: int, last: int) -> list[tuple[Any, ...]]:
        """The ROIs made in Python of the images first..last, found by bisection: a write
        costs what its own rows cost, not a pass over every ROI of the file."""
        start = bisect.bisect_left(self.ordinals, first)
        return self.rois[start : bisect.bisect_right(self.ordinals, last, lo=start)]
