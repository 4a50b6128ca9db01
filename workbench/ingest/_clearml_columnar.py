"""ClearML NDJSON imported column by column: DuckDB parses and checks every line of a batch
at once (workbench.ingest._clearml_sql), the lines it cannot vouch for go through the
per-record path (workbench.ingest._clearml_convert), and both kinds of rows are written
together in file order.

A write's rows are stored in a thread of their own (workbench.ingest._in_thread) while the
next lines are converted, and each batch's first steps (reading its lines, their digests'
lookup, the frames' statement) run in another while the batch before is converted further:
the import keeps both cores busy. The order of everything is the sequential import's: the
writes follow one another in file order, a batch's rejections go to the report just before
its write (as they did before it), and a write whose unconverted lines changed meanwhile is
written again with them converted before the next write starts.

Errors name file and line exactly as the per-record path always has: `<file> line <n>` and,
when the line has one, the frame's id.
"""

from __future__ import annotations

from contextlib import closing, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.ingest import _clearml_sql as sql
from workbench.ingest._clearml_convert import frame_from_clearml
from workbench.ingest._clearml_digests import (
    NOTHING_BESIDE,
    Beside,
    LineDigests,
    _LinesChanged,
    lines_again,
)
from workbench.ingest._clearml_read import frame_where
from workbench.ingest._clearml_rows import fetch_items, kept, kept_frames, kept_rois, kept_sources
from workbench.ingest._columnar import (
    FRAME_ROWS,
    PER_RECORD_PATTERN,
    ROI_ROWS,
    ROWS_PER_WRITE,
    SOURCE_ROWS,
    LineBatch,
    MemoryEngine,
    in_row_groups,
    ndjson_batches,
    rows_table,
    sorted_by_line,
)
from workbench.ingest._in_thread import InThread, ahead
from workbench.ingest._unchanged import without
from workbench.ingest.jsonread import Unreadable, loads
from workbench.ingest.report import is_record_failure, record_error
from workbench.ingest.writer import CatalogWriter, RowBatch, frame_rows
from workbench.model.validation import (
    WARN_NO_SOURCES,
    WARN_OUTSIDE,
    WARN_UNKNOWN_SOURCE,
    WARN_ZERO_AREA,
)
from workbench.store.arrow import registered

_SQL_WARNINGS = (
    ("no_sources", WARN_NO_SOURCES),
    ("zero_area", WARN_ZERO_AREA),
    ("outside", WARN_OUTSIDE),
    ("unknown_source", WARN_UNKNOWN_SOURCE),
)


# The SQL converts at most LINES_PER_CONVERSION lines at a time (ROWS_PER_WRITE frames are
# stored per transaction), which bounds the memory it takes. Three conversions make one
# write of exactly one row group of frames: a write that leaves a part-filled row group
# beside another makes the next checkpoint merge and rewrite both.
LINES_PER_CONVERSION = ROWS_PER_WRITE // 3


_DROP = (
    "DROP TABLE IF EXISTS _wb_s; DROP TABLE IF EXISTS _wb_sf; "
    "DROP TABLE IF EXISTS _wb_rf; DROP TABLE IF EXISTS _wb_good; DROP VIEW IF EXISTS _wb_f"
)


@dataclass
class _Batch:
    """What one batch of lines became: rejections, rows made in Python, warnings."""

    path: Path
    rejected: list[tuple[int, RecordError]] = field(default_factory=list)
    lines: int = 0  # lines handed to the SQL
    labelled: bool = False  # whether some have their labels parsed as JSON (sql.LABEL_PATTERN)
    ids: list[tuple[int, str]] = field(default_factory=list)  # (line, frame id) made in Python
    frames: list[tuple[Any, ...]] = field(default_factory=list)
    sources: list[tuple[Any, ...]] = field(default_factory=list)
    rois: list[tuple[Any, ...]] = field(default_factory=list)
    warnings: list[tuple[int, str, str, int]] = field(default_factory=list)
    # The lines' digests (n, digest, line_bytes) and the lines left unconverted as their
    # frames are stored (line_digests.LOOKUP_SCHEMA); None without digests.
    digests: pa.Table | None = None
    unchanged: pa.Table | None = None
    # The engine's table of the frame rows the SQL made (sql.FRAMES) of every line it read,
    # and the ROI rows it made (sql.ROIS).
    frames_table: str | None = None
    sql_rois: pa.Table | None = None

    def where(self, line: int, frame_id: Any = None) -> str:
        return frame_where(f"{self.path} line {line}", {"id": frame_id})


@dataclass
class _Rows:
    """One batch's rows converted, not yet stored, and its lines' rejections (in line order):
    they go to the report just before the write that stores the rows."""

    rows: RowBatch
    rejected: list[RecordError]


class NdjsonImport:
    """One import's engine: the SQL's macros and the ids stored so far (each id once)."""

    def __init__(
        self, writer: CatalogWriter, frames_per_write: int = ROWS_PER_WRITE, *, overlap: bool = True
    ) -> None:
        self.writer = writer
        self.frames_per_write = frames_per_write
        # False: each write ends before the next lines are converted (the import on one core,
        # as it ran before the overlap: what tests and benchmarks compare it with).
        self.overlap = overlap
        self.lines_per_batch = min(frames_per_write, LINES_PER_CONVERSION)
        # One thread: each statement scans one Arrow chunk of a batch, which one thread reads
        # whatever the engine has; a second only cost CPU (about 5% of an import).
        self._engine = MemoryEngine(sql.MACROS, threads=1)
        self.con = self._engine.con
        self._synced: set[str] = set()  # ids of frames of JSON files put in _wb_seen
        self._read_any = False
        self._frame_tables = 0  # FRAMES' tables made so far (each batch's named apart)
        self._pending: list[_Rows] = []  # rows converted, not yet stored
        # The writes, one at a time beside the conversion, and the rows of one to write again.
        # Inside the caller's own write transaction, a write's thread would wait for it.
        inline = writer.catalog.writing_here()
        self._writes = InThread("workbench-clearml-write", inline=inline)
        self._written: RowBatch | None = None
        self._file: tuple[Path, Path | None] = (Path(), None)  # read now, and its base
        # A lake-backed catalog keeps no digests (store/line_digests.py).
        catalog = writer.catalog
        self._digests = LineDigests(catalog, self.con) if catalog.lake is None else None
        # The reading thread's own connection to the engine, and its own digests' cursor.
        self._reading_con = self.con.cursor()
        self._reading_digests = None
        if self._digests is not None:
            self._reading_digests = LineDigests(catalog, self._reading_con)
        # Lines converted by SQL and by the per-record path, and lines left unconverted as
        # their frames are stored, for tests and benchmarks.
        self.sql_lines = 0
        self.record_lines = 0
        self.unchanged_lines = 0

    def __enter__(self) -> NdjsonImport:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            # `read` waits for its writes; one still under way is of an import already
            # stopped by an error of its own (the one raised), so only its thread is waited for.
            with suppress(Exception):
                self._writes.wait()
        finally:
            for digests in (self._digests, self._reading_digests):
                if digests is not None:
                    digests.close()
            self._reading_con.close()
            self._engine.__exit__(*exc)

    def claim(self, frame_id: str, where: str) -> bool:
        """Whether a frame of a JSON document may be stored: False (and rejected) when an
        NDJSON file of this import stored its id already."""
        if self._read_any:
            found = self.con.execute("SELECT 1 FROM _wb_seen WHERE id = ?", [frame_id]).fetchall()
            if found:
                problem = f"frame id {frame_id!r} came earlier in this import"
                self.writer.reject(RecordError(where, problem))
                return False
        return True

    def read(self, path: Path, base: Path | None) -> None:
        """Import one NDJSON file; relative URIs resolve against `base` (None: as written)."""
        self.writer.flush()
        stored = self.writer.stored_ids() - self._synced
        if stored:
            table = pa.table({"id": pa.array(sorted(stored), pa.string())})
            self.con.register("_wb_ids", table)
            self.con.execute("INSERT INTO _wb_seen SELECT id FROM _wb_ids")
            self.con.unregister("_wb_ids")
            self._synced |= stored
        self._read_any = True
        self._file = (path, base)
        for digests in (self._digests, self._reading_digests):
            if digests is not None:
                digests.start(path, base)
        batches = (
            self._first_steps(path, base, lines)
            for lines in ndjson_batches(path, self.lines_per_batch)
        )
        try:
            # With the overlap, each batch's first steps run in a thread of their own while
            # the batch before is converted further (`_first_steps`).
            prepared = ahead(batches, "workbench-clearml-read") if self.overlap else batches
            with closing(prepared):
                for batch, lines in prepared:
                    if batch.unchanged is not None:
                        self.unchanged_lines += batch.unchanged.num_rows
                    self._convert_rest(batch, lines, base)
            self._write_pending()
            self._settle()
        except BaseException as exc:
            self._abandon(exc)
            raise

    def _first_steps(
        self, path: Path, base: Path | None, lines: LineBatch
    ) -> tuple[_Batch, pa.Table]:
        """What a batch of lines becomes whatever the batches before it became: the problems
        found reading them, the lines to convert (`_sift`, `_marked`) and the frame rows the
        SQL makes of them (`batch.frames_table`). With the overlap they run in the reading
        thread, on an engine connection and a catalog cursor of its own."""
        batch = _Batch(path)
        for number, problem in lines.problems:
            batch.rejected.append((number, RecordError(f"{path} line {number}", problem)))
        con, digests = self.con, self._digests
        if self.overlap:
            con, digests = self._reading_con, self._reading_digests
        sifted = self._sift(batch, lines.lines, digests, look_up=True)
        return batch, self._frames(batch, sifted, base, con)

    def _convert_lines(self, batch: _Batch, lines: pa.Table, base: Path | None) -> None:
        self._convert_rest(batch, self._frames(batch, lines, base, self.con), base)

    def _frames(
        self, batch: _Batch, lines: pa.Table, base: Path | None, con: duckdb.DuckDBPyConnection
    ) -> pa.Table:
        """The lines `lines` marked (`_marked`), their frame rows made on `con`. Lines are
        marked after the digests' lookup, not as they are read: one scan of the lines
        converted finds what the two scans of every line found."""
        batch.lines = lines.num_rows
        lines = _marked(lines)
        labelled = lines["l"]
        batch.labelled = pc.any(labelled).as_py()  # parsed apart (sql.FRAMES_LABELLED)
        if batch.labelled:
            typed, labelled_lines = lines.filter(pc.invert(labelled)), lines.filter(labelled)
        else:
            typed, labelled_lines = lines, lines.slice(0, 0)
        where = {"base": str(base.resolve()) if base is not None else None}
        # A table of the engine's own (not a temporary one: the reading thread's connection
        # makes it, the converting one reads it), named apart from the batch's before it.
        self._frame_tables += 1
        name = f"_wb_frames_{self._frame_tables}"
        with registered(con, "_wb_typed", typed), registered(con, "_wb_labelled", labelled_lines):
            _frame_rows(con, name, batch.labelled, where)
        batch.frames_table = name
        return lines

    def _convert_rest(self, batch: _Batch, lines: pa.Table, base: Path | None) -> None:
        """The conversion of `lines` after their frame rows were made (`_frames`)."""
        with registered(self.con, "_wb_lines", lines):
            self._convert(batch, base)

    def _sift(
        self, batch: _Batch, lines: pa.Table, digests: LineDigests | None, *, look_up: bool
    ) -> pa.Table:
        """The lines of `lines` to convert: with `look_up`, those whose frame is stored as
        they make it are left out (kept in `batch.unchanged`); every line's digest is kept in
        the batch."""
        if digests is None:
            return lines
        batch.digests = digests.of_lines(lines)
        if not look_up:
            return lines
        batch.unchanged = digests.unchanged(batch.digests)
        return without(lines, "n", batch.unchanged["n"].combine_chunks())

    def _convert(self, batch: _Batch, base: Path | None) -> None:
        con = self.con
        where = {"base": str(base.resolve()) if base is not None else None}
        assert batch.frames_table is not None
        con.execute(f"CREATE OR REPLACE TEMP VIEW _wb_f AS FROM {batch.frames_table}")
        con.execute(sql.SOURCES, where)
        con.execute(sql.SOURCES_BY_FRAME)
        batch.sql_rois = con.sql(sql.ROIS).to_arrow_table()
        con.register("_wb_r", batch.sql_rois)
        try:
            con.execute(sql.ROIS_BY_FRAME)
            if batch.sql_rois.num_rows and not pc.all(batch.sql_rois["one"]).as_py():
                con.execute(sql.ROIS_BY_FRAME_MANY)
        finally:
            con.unregister("_wb_r")
        con.execute(sql.GOOD)
        # Only the frames with a warning come to Python, to name them in it.
        names = [name for name, _ in _SQL_WARNINGS]
        warned = con.execute(
            f"SELECT n, id, {', '.join(names)} FROM _wb_good "
            f"WHERE {' OR '.join(f'{name}::INTEGER > 0' for name in names)}"
        ).fetchall()
        for n, frame_id, *counts in warned:
            for (_, kind), count in zip(_SQL_WARNINGS, counts, strict=True):
                if count:
                    batch.warnings.append((n, kind, batch.where(n, frame_id), int(count)))
        others = con.execute(
            "SELECT n, j FROM _wb_lines WHERE n NOT IN (SELECT n FROM _wb_good) ORDER BY n"
        ).fetchall()
        self.sql_lines += batch.lines - len(others)
        self.record_lines += len(others)
        for n, text in others:
            _per_record(batch, n, text, base)
        self._write(batch, self._again(batch))

    def _again(self, batch: _Batch) -> set[int]:
        """The lines whose frame id came earlier in this import (rejected here); `_wb_keep`
        is left holding the lines whose rows the SQL made and which are stored."""
        ids = pa.table(
            {
                "n": pa.array([n for n, _ in batch.ids], pa.int64()),
                "id": pa.array([i for _, i in batch.ids], pa.string()),
            }
        )
        if batch.unchanged is not None:  # their ids count as stored by this import too
            ids = pa.concat_tables([ids, batch.unchanged.select(["n", "id"])])
        self.con.register("_wb_ids", ids)
        try:
            self.con.execute(
                # The batch's ids looked up in the ids seen, not the other way round: a hash
                # table over every id seen, built per batch, grew with the file (0.9 GB at 12.8M).
                "CREATE OR REPLACE TEMP TABLE _wb_keep AS WITH b AS ("
                "SELECT n, id, true AS sql FROM _wb_good "
                "UNION ALL SELECT n, id, false FROM _wb_ids) "
                "SELECT n, id, sql, row_number() OVER (PARTITION BY id ORDER BY n) > 1 "
                "OR id IN (SELECT id FROM _wb_seen SEMI JOIN b USING (id)) AS again FROM b"
            )
            again = self.con.execute("SELECT n, id FROM _wb_keep WHERE again").fetchall()
            self.con.execute("INSERT INTO _wb_seen SELECT id FROM _wb_keep WHERE NOT again")
            self.con.execute("DELETE FROM _wb_keep WHERE again OR NOT sql")
        finally:
            self.con.unregister("_wb_ids")
        for n, frame_id in again:
            problem = f"frame id {frame_id!r} came earlier in this import"
            batch.rejected.append((n, RecordError(batch.where(n, frame_id), problem)))
        return {n for n, _ in again}

    def _write(self, batch: _Batch, again: set[int]) -> None:
        rejected = [error for _, error in sorted(batch.rejected, key=lambda item: item[0])]
        python_lines = {n for n, _ in batch.ids if n not in again}
        keep = self.con.sql("SELECT n FROM _wb_keep").to_arrow_table()["n"].combine_chunks()
        sql_frames = self.con.sql(sql.FRAME_ROWS).to_arrow_table()
        frames = sorted_by_line(
            kept_frames(sql_frames, keep),
            kept(rows_table(batch.frames, FRAME_ROWS), python_lines),
        )
        sources = sorted_by_line(
            kept_sources(sql_frames, keep),
            fetch_items(self.con, sql.SOURCE_ROWS, "_wb_s", SOURCE_ROWS),
            kept(rows_table(batch.sources, SOURCE_ROWS), python_lines),
        )
        rois = sorted_by_line(
            kept_rois(batch.sql_rois, keep),
            kept(rows_table(batch.rois, ROI_ROWS), python_lines),
        )
        # The conversion's tables are let go before the rows are stored (a tenth of the
        # import's memory otherwise held through the write).
        del sql_frames
        self.con.execute(_DROP)
        self.con.execute(f"DROP TABLE {batch.frames_table}")
        batch.frames_table = None
        batch.sql_rois = None
        warnings = [
            (kind, where, count)
            for n, kind, where, count in sorted(batch.warnings)
            if n not in again
        ]
        beside = None
        if self._digests is not None and batch.digests is not None:
            warned = {n for n, *_ in batch.warnings}
            stored = (frames, sources, rois)
            beside = self._digests.beside(batch.digests, batch.unchanged, again, stored, warned)
        rows = RowBatch(
            frames.drop_columns(["_line"]),
            sources.drop_columns(["_line"]),
            rois.drop_columns(["_line"]),
            warnings,
            beside,
        )
        self._pending.append(_Rows(rows, rejected))
        # Four times as many ROIs as frames stored at once also make a write (bounded memory);
        # frames left unconverted count as stored, so the writes fall where they always have.
        held = sum(p.rows.frames.num_rows + _beside_of(p.rows).frames for p in self._pending)
        rois_held = sum(p.rows.rois.num_rows + _beside_of(p.rows).rois for p in self._pending)
        if held >= self.frames_per_write or rois_held >= 4 * self.frames_per_write:
            self._write_pending()

    def _write_pending(self) -> None:
        """Store the rows converted so far in one transaction, one statement per table (each
        table in chunks of whole row groups: _columnar.in_row_groups), in the writes' thread
        once the write before has ended (`_settle`); the conversions' own tables were let go
        first."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        frames, sources, rois = (
            in_row_groups(pa.concat_tables([getattr(p.rows, name) for p in pending]))
            for name in ("frames", "sources", "rois")
        )
        warnings = [w for p in pending for w in p.rows.warnings]
        parts = [p.rows.beside for p in pending if isinstance(p.rows.beside, Beside)]
        beside = Beside.joined(parts) if parts else None
        rejected = [error for p in pending for error in p.rejected]
        del pending
        batch = RowBatch(frames, sources, rois, warnings, beside)
        del frames, sources, rois
        self._settle()
        self._writes.start(partial(self._store, batch, rejected))
        if not self.overlap:
            self._settle()

    def _store(self, batch: RowBatch, rejected: list[RecordError]) -> None:
        """One write, in the writes' thread: its lines' rejections reported, its rows stored
        (kept, when it is to be written again, for `_settle`)."""
        for error in rejected:
            self.writer.reject(error)
        try:
            self.writer.write_rows(batch)
        except _LinesChanged:
            self._written = batch
            raise
        del batch
        pa.default_memory_pool().release_unused()  # what Arrow's allocator kept of them

    def _settle(self) -> None:
        """Wait for the write under way to end. One whose unconverted lines' frames changed
        after they were looked up was rolled back (`_LinesChanged`): it is written again
        with those lines converted, before anything else is written, as it always was."""
        while self._writes.busy:
            try:
                self._writes.wait()
            except _LinesChanged as changed:
                batch, self._written = self._written, None
                assert batch is not None
                self._writes.raised = None  # taken care of here
                again = replace(batch, beside=_beside_of(batch).without(changed.lines))
                self._pending = [_Rows(again, [])]  # its rejections are reported already
                self._convert_again(changed)
                self._write_pending()

    def _abandon(self, exc: BaseException) -> None:
        """After `exc` stopped the import: wait for the write under way, and leave the
        report as the sequential import would have. A write's own error is raised over
        `exc` (the import would have stopped there first); otherwise the rejections of the
        batches converted since are reported, as they were before their write."""
        held, self._pending = self._pending, []
        if isinstance(exc, Exception):
            self._settle()
        else:  # Ctrl-C: a write rolled back for changed lines is left so, as if interrupted
            try:
                self._writes.wait()
            except _LinesChanged:
                return
        if self._writes.raised is None:
            for rows in held:
                for error in rows.rejected:
                    self.writer.reject(error)

    def _convert_again(self, changed: _LinesChanged) -> None:
        """Convert the lines whose frames changed after they were looked up, read again."""
        path, base = self._file
        self.unchanged_lines -= len(changed.lines)
        ids = pa.table({"id": changed.ids})
        with registered(self.con, "_wb_ids", ids):  # seen as unchanged, converted now
            self.con.execute("DELETE FROM _wb_seen WHERE id IN (SELECT id FROM _wb_ids)")
        lines = lines_again(path, changed.lines, self.lines_per_batch)
        for start in range(0, lines.num_rows, self.lines_per_batch):
            batch = _Batch(path)
            some = lines.slice(start, self.lines_per_batch)
            self._convert_lines(batch, self._sift(batch, some, self._digests, look_up=False), base)


def _frame_rows(
    con: duckdb.DuckDBPyConnection, name: str, labelled: bool, where: dict[str, Any]
) -> None:
    """FRAMES' rows of the lines registered, as the engine's table `name`: parsed unguarded,
    unless a line is not JSON (which stops that statement: the batch is then parsed again,
    that line as NULL)."""
    unguarded = sql.FRAMES_LABELLED_UNGUARDED if labelled else sql.FRAMES_UNGUARDED
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {unguarded}", where)
    except duckdb.InvalidInputException:
        guarded = sql.FRAMES_LABELLED if labelled else sql.FRAMES
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {guarded}", where)


def _beside_of(batch: RowBatch) -> Beside:
    return batch.beside if isinstance(batch.beside, Beside) else NOTHING_BESIDE


def _marked(lines: pa.Table) -> pa.Table:
    """`lines` (n, j) with a column `marked`: whether the line goes to the per-record path
    (_columnar.PER_RECORD_PATTERN, or a typed key holding another JSON type:
    sql.RETYPED_PATTERN), a column `t`: whether its ids and labels are checked for forbidden
    characters (sql.TEXT_PATTERN), and a column `l`: whether its labels are parsed as JSON
    (sql.LABEL_PATTERN).

    One scan finds the lines matching any of the patterns (it costs about what one of them
    does alone; with the reading's depth scan, which the reading does alone, twice as much);
    the few it finds are told apart by a scan of each kind."""
    texts = lines["j"]
    either = pc.match_substring_regex(texts, _ANY).to_numpy(zero_copy_only=False)
    found = np.flatnonzero(either)
    some = texts.take(pa.array(found)) if len(found) else None
    for name, pattern in (
        ("marked", _PER_RECORD),
        ("t", sql.TEXT_PATTERN),
        ("l", sql.LABEL_PATTERN),
    ):
        column = np.zeros(len(either), dtype=bool)
        if some is not None:
            column[found] = pc.match_substring_regex(some, pattern).to_numpy(zero_copy_only=False)
        lines = lines.append_column(name, pa.array(column))
    return lines


_PER_RECORD = PER_RECORD_PATTERN + "|" + sql.RETYPED_PATTERN
_ANY = "|".join([_PER_RECORD, sql.TEXT_PATTERN, sql.LABEL_PATTERN])


def _per_record(batch: _Batch, n: int, text: str, base: Path | None) -> None:
    """One line the SQL did not take: converted and checked by the per-record path."""
    where = f"{batch.path} line {n}"
    data = loads(text.encode())
    if isinstance(data, Unreadable):
        batch.rejected.append((n, RecordError(where, data.problem)))
        return
    where = frame_where(where, data)
    try:
        frame = frame_from_clearml(data, where, base)
        row, sources, rois, warnings = frame_rows(frame, where)
    except Exception as exc:
        if not is_record_failure(exc):
            raise
        batch.rejected.append((n, record_error(exc, where)))
        return
    batch.ids.append((n, frame.id))
    batch.frames.append((*row, n))
    batch.sources.extend((*r, n) for r in sources)
    batch.rois.extend((*r, n) for r in rois)
    for kind in warnings:
        batch.warnings.append((n, kind, where, 1))
