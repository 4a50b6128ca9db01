"""Nucleus scenes imported column by column: DuckDB parses and checks the scenes of a
batch of lines at once (the scenes of a JSON document are turned into such lines first;
workbench.ingest._nucleus_convert, its SQL in _nucleus_sql), the scenes it cannot vouch for
go through the per-record path (`_SceneImport.add`), and both are stored in file order. What
the catalog holds of a batch's scenes is looked up at once (_nucleus_stored). On an update,
the lines whose scenes the catalog holds as they make them are not converted at all
(workbench.ingest._nucleus_digests).

What stays per frame in Python is the bookkeeping of slots (which frame holds which index of
which scene, across scenes and files) that decides conflicts and replacements, on plain
lists of ids. Errors name file, line, scene, index and item exactly as the per-record path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.ingest import _nucleus_sql as sql
from workbench.ingest._columnar import (
    PER_RECORD_PATTERN,
    LineBatch,
    MemoryEngine,
    document_batch,
    ndjson_batches,
)
from workbench.ingest._nucleus_convert import Scenes, Strict, content_types, convert, others
from workbench.ingest._nucleus_digests import SceneDigests, _ScenesChanged, lines_again
from workbench.ingest._nucleus_rows import rows_batch
from workbench.ingest._nucleus_stored import stored
from workbench.ingest.jsonread import loads
from workbench.model.validation import check_text

if TYPE_CHECKING:
    from workbench.ingest.nucleus import _SceneImport

LINES_PER_BATCH = 200  # scenes converted at once, as long as they hold at most
BYTES_PER_BATCH = 8 << 20  # this much text (memory holds one batch however large its scenes)
FRAMES_PER_WRITE = 122_880  # one DuckDB row group per transaction
# Frames whose place is kept in memory past a batch; beyond, they are read again from the
# catalog, scene by scene (memory stays flat as files grow).
FRAMES_KNOWN = 100_000


@dataclass
class _Pending:
    """Rows of good scenes placed, not yet stored; `dropped` rows were replaced since."""

    tables: list[pa.Table] = field(default_factory=list)
    held: int = 0
    _at: dict[str, int] = field(default_factory=dict)  # frame id -> its row among all held
    dropped: list[int] = field(default_factory=list)
    # (first row, ids) of rows held but not yet in `_at`: indexed only when asked.
    _unindexed: list[tuple[int, pa.Array]] = field(default_factory=list)

    def add(self, rows: pa.Table) -> None:
        """Hold `rows` (their ids indexed only when `at` is asked)."""
        self._unindexed.append((self.held, rows["id"]))
        self.tables.append(rows)
        self.held += rows.num_rows

    def at(self) -> dict[str, int]:
        """Frame id -> its row among all held."""
        for first, ids in self._unindexed:
            self._at.update(zip(ids.to_pylist(), range(first, first + len(ids)), strict=True))
        self._unindexed.clear()
        return self._at

    def ids(self) -> pa.Array:
        return ids_of(self.tables)


def ids_of(tables: list[pa.Table]) -> pa.Array:
    """The `id` column of `tables` as one array (from their chunks: a list of chunked arrays
    given to Arrow would be read value by value)."""
    return pa.chunked_array(
        [c for t in tables for c in t["id"].chunks], pa.string()
    ).combine_chunks()


class ColumnarScenes:
    """One import's engine for files of scenes (NDJSON lines and JSON documents)."""

    def __init__(self, job: _SceneImport) -> None:
        self.job = job
        # One thread: a batch (at most LINES_PER_BATCH scenes) is one of the engine's
        # vectors, which one thread converts; a second only added its scheduling (about a
        # tenth more CPU for the same statements).
        self._engine = MemoryEngine(sql.MACROS, threads=1)
        self.con = self._engine.con
        self._types = content_types()  # (mimetypes' tables, read once an import)
        self._pending = _Pending()
        self._strict = Strict()  # which form of the scenes' statement a batch takes
        # A dataset the ids check refuses: every frame goes the per-record way, to be named.
        self._columnar = job.dataset is None or _valid_dataset(job.dataset)
        # The lines of the batch whose scenes the catalog holds as they stand (update=True).
        self._settled: set[int] = set()
        # Lines found unchanged whose scene changed before the write that counted them.
        self._changed: set[int] = set()
        self.sql_scenes = 0  # scenes converted by SQL and by the per-record path
        self.record_scenes = 0
        self.same_scenes = 0  # scenes found stored as their lines make them, not converted
        self._digests = SceneDigests(job.catalog, self.con, update=job.update, dataset=job.dataset)

    def close(self) -> None:
        self._digests.close()
        self._engine.__exit__(None, None, None)

    def read(self, path: Path) -> None:
        """The scenes of an NDJSON file, one per line."""
        self._digests.start(path, self.job.base)
        batches = ndjson_batches(path, LINES_PER_BATCH, PER_RECORD_PATTERN, BYTES_PER_BATCH)
        for lines in batches:
            self._read_batch(lines, {}, lambda n: f"{path}:{n}")
            self._again(path)
        self.write()
        self._again(path)
        self._digests.start(None, self.job.base)

    def read_entries(self, entries: Iterable[tuple[str, Any]]) -> None:
        """The (where, scene) records of a JSON document (`nucleus.read_scenes`), read a
        record at a time and converted as lines: each scene as JSON text (Python's values,
        so a key given twice keeps its last value), or, when it cannot be written as such,
        as the value itself for the per-record path. A file that cannot be read is rejected;
        the scenes read before a problem are stored either way."""
        self._digests.start(None, self.job.base)
        batch: list[tuple[str, Any]] = []
        try:
            for entry in entries:
                batch.append(entry)
                if len(batch) == LINES_PER_BATCH:
                    self._read_entries(batch)
                    batch = []
        except RecordError as err:
            self.job.writer.reject(err)
        self._read_entries(batch)
        self.write()

    def _read_entries(self, entries: list[tuple[str, Any]]) -> None:
        lines, objects = document_batch(entries, PER_RECORD_PATTERN)
        self._read_batch(lines, objects, lambda n: entries[n][0])

    def _read_batch(
        self,
        lines: LineBatch,
        objects: dict[int, Any],
        where_of: Callable[[int], str],
        look_up: bool = True,
    ) -> None:
        """Store the scenes of one batch in file order: those SQL takes as rows, the others
        (`objects`: values that are not text) through the per-record path. With `look_up`,
        the lines whose scene the catalog holds as they make it are not converted (`_same`)."""
        table, same, digests = lines.lines, {}, None
        if self._digests.on and self._columnar:
            digests = self._digests.of_lines(table)
            found = self._digests.unchanged(digests) if look_up else None
            if found is not None and found.num_rows:
                same = {n: found.slice(i, 1) for i, n in enumerate(found["n"].to_pylist())}
                table = table.filter(pc.invert(pc.is_in(table["n"], value_set=found["n"])))
        rows: pa.Table | None = None
        scenes: Scenes = {}
        texts: list[tuple[int, str]] = []
        if table.num_rows:  # (none left when every line was found unchanged)
            self.con.register("_wb_lines", table)
            try:
                rows, scenes = (
                    convert(self.con, self._strict, self._types) if self._columnar else (None, {})
                )
                texts = others(self.con, set(scenes), table.num_rows)
            finally:
                self.con.unregister("_wb_lines")
        if digests is not None:
            self._digests.converted(digests, scenes)
        events: list[tuple[int, str, Any]] = [(n, "problem", p) for n, p in lines.problems]
        events += [(n, "text", t) for n, t in texts]
        events += [(n, "object", o) for n, o in objects.items()]
        events += [(n, "rows", s) for n, s in scenes.items()]
        if self._good(rows, scenes, alone=len(events) == len(scenes)):
            events = []  # placed at once (no scene of theirs is one of `same`: see `_same`)
        events += [(n, "same", s) for n, s in same.items()]
        for n, kind, value in sorted(events, key=lambda e: e[0]):
            where = where_of(n)
            if kind == "rows":
                self._place(where, value, rows, n)
                continue
            if kind == "same":
                self._same(lines.lines, n, value, where_of)
                continue
            self.write()  # scenes before it first, in file order
            self.record_scenes += 1
            if kind == "problem":
                self.job.writer.reject(RecordError(where, f"not valid JSON: {value}"))
            else:
                self.job.add(_scene(value) if kind == "text" else value, where)
        if self.job.known_frames() - self._pending.held >= FRAMES_KNOWN:
            self._forget()

    def _forget(self) -> None:
        """Drop what is known of stored frames (memory stays flat as files grow). The rows
        placed but not stored stay held, and their places known (with the slots of the
        scenes they left, which the catalog still shows them in), so that the next write is
        still a whole row group, and a frame placed again later is stored, and counted, once
        as on the per-record path."""
        self.job.forget(keep=self._pending.ids())

    def _same(
        self,
        lines: pa.Table,
        n: int,
        scene: pa.Table,
        where_of: Callable[[int], str],
    ) -> None:
        """The line `n`, whose scene the catalog held as it makes it when its batch began
        (`scene`, a row of line_digests.SCENES_SCHEMA): counted as its frames unchanged,
        unless something placed in this import since named its scene or one of its frames
        (or stored one of them again), in which case it is converted and placed as any other
        line, alone."""
        first_key, frames, context = (scene[c][0].as_py() for c in scene.column_names[1:4])
        if not self._touched(first_key, frames, context):
            self.same_scenes += 1
            self._digests.left(scene)
            return
        settled = self._settled
        one = lines.filter(pc.equal(lines["n"], n))
        self._read_batch(LineBatch(one), {}, where_of, look_up=False)
        self._settled = settled

    def _touched(self, first_key: int, frames: int, context: str) -> bool:
        """Whether what this import placed so far may have named the scene `context` or one
        of its frames (`frames` keys from `first_key` on) or stored one of them again: never
        while nothing is known; else when the scene is known, the catalog no longer holds
        them all there, or something known names one of them."""
        job = self.job
        if not (job.by_context or job.by_id or job._bulk or self._pending.held):
            return False
        if context in job.by_context or context in job._bulk_contexts:
            return True
        con = job.catalog.cursor()
        try:
            ids = (
                con.sql(
                    "SELECT id FROM frames WHERE frame_key BETWEEN ? AND ? AND context_id = ?",
                    params=[first_key, first_key + frames - 1, context],
                )
                .to_arrow_table()["id"]
                .combine_chunks()
            )
        finally:
            con.close()
        if len(ids) != frames or not job.unknown([context], ids):
            return True
        pending = self._pending
        return bool(pending.held and pc.any(pc.is_in(ids, value_set=pending.ids())).as_py())

    # -- placing ------------------------------------------------------------------------------
    def _good(self, rows: pa.Table | None, scenes: Scenes, alone: bool) -> bool:
        """Look up what the catalog holds for all the good scenes of a batch at once: where
        their ids are stored (one join), then the slots of their scenes and the places of
        the ids stored, but for the scenes none of whose ids is stored (no places to read)
        and, on an update, those stored as they stand (`_settled`: nothing to read).

        With `alone` (the batch holds no other lines), the scenes are placed at once when
        none can conflict (`_place_whole`): whether they were."""
        self._settled = set()
        if rows is None or not scenes:
            return False
        if self.job._empty:  # nothing to read: the scenes' slots start empty
            if alone and self._place_whole(rows, scenes, set(scenes)):
                return True
            self.job._load_contexts(context for context, _ in scenes.values())
            return False
        placed = rows.select(["_line", "id", "context_id", "frame_index"])
        self._settled, unstored, new = stored(
            self.job.catalog, placed, alone=alone, update=self.job.update
        )
        if alone and self._place_whole(rows, scenes, new):
            return True
        if len(self._settled) == len(scenes):
            return False
        others = {n: scene for n, scene in scenes.items() if n not in self._settled}
        self.job._load_contexts(context for context, _ in others.values())
        skip = pa.array(sorted(self._settled | unstored), pa.int64())
        if len(skip) < len(scenes):
            wanted = pc.invert(pc.is_in(placed["_line"], skip))
            self.job.load_ids(placed["id"].filter(wanted).combine_chunks())
        return False

    def _place_whole(self, rows: pa.Table, scenes: Scenes, new: set[int]) -> bool:
        """Place every scene of a batch at once, with no Python per frame, when none can
        conflict with another or with what is known: each is new (`new`: neither its frames
        nor its scene are stored) or stored as it stands (`_settled`), no scene or frame id
        is given twice in the batch, and nothing placed or read in this import so far names
        one of them. The frames of new scenes are recorded only when something asks
        (`_SceneImport.known`); those stored as they stand are not recorded (the catalog
        says where they are), as `_place` does. Whether it placed them."""
        if any(n not in new and n not in self._settled for n in scenes):
            return False
        contexts = [context for context, _ in scenes.values()]
        ids = rows["id"].combine_chunks()
        if len(set(contexts)) < len(contexts) or pc.count_distinct(ids).as_py() < len(ids):
            return False
        pending = self._pending
        if not self.job.unknown(contexts, ids) or (
            pending.held and pc.any(pc.is_in(ids, value_set=pending.ids())).as_py()
        ):
            return False
        places = rows.select(["_line", "id", "context_id", "frame_index"])  # not the values
        if self._settled:
            settled = pa.array(sorted(self._settled), pa.int64())
            places = places.filter(pc.invert(pc.is_in(places["_line"], value_set=settled)))
        self.job.place_new(places)
        # The new scenes' frames' counts are not refreshed at the end (`contexts`): each
        # row's num_frames is its scene's number of items, which a new scene holds once
        # stored; whatever places a frame into it or takes one from it later (`_place`,
        # `_SceneImport.add`, `_vacate`) names it there. A scene stored as it stands may
        # hold other frames at places of their own: it is recounted.
        self.job.contexts.update(context for n, (context, _) in scenes.items() if n not in new)
        self.sql_scenes += len(scenes)
        pending.add(rows)
        if pending.held >= FRAMES_PER_WRITE:
            self.write(whole=True)
        return True

    def _place(
        self, where: str, scene: tuple[str, slice], rows: pa.Table | None, line: int
    ) -> None:
        assert rows is not None
        context, span = scene
        part = rows.slice(span.start, span.stop - span.start)
        ids = part["id"].to_pylist()
        where = f"{where}, scene {context!r}"
        self.sql_scenes += 1
        job = self.job
        job.contexts.add(context)
        if not self._as_stored(line, context, ids):
            if line in self._settled:  # placed around since the batch was looked up
                job._load_contexts([context])
                job.load_ids(part["id"].combine_chunks())
            indexes = part["frame_index"].to_pylist()
            keep = job.place_ids(
                context,
                ids,
                indexes,
                lambda i: f"{where}, index {indexes[i]}, item {ids[i]!r}",
                self.write,
            )
            if not all(keep):
                self._digests.spoil([line])
                part = part.filter(pa.array(keep))
                ids = [i for i, k in zip(ids, keep, strict=True) if k]
        pending = self._pending  # a new one if place_ids stored those held
        at = pending.at()
        if not at.keys().isdisjoint(ids):  # update=True placed them again
            pending.dropped.extend(at[f] for f in ids if f in at)
        at.update(zip(ids, range(pending.held, pending.held + len(ids)), strict=True))
        pending.held += len(ids)
        pending.tables.append(part)
        if pending.held >= FRAMES_PER_WRITE:
            self.write(whole=True)

    def _as_stored(self, line: int, context: str, ids: list[str]) -> bool:
        """Whether a scene the catalog holds as it stands (`_settled`) still does: nothing
        placed in this import has touched its scene or its frames. Its places are then not
        recorded: what the catalog says of them stays true."""
        job = self.job
        if line not in self._settled:
            return False
        job.known()
        return (
            context not in job.by_context
            and job.by_id.keys().isdisjoint(ids)
            and self._pending.at().keys().isdisjoint(ids)
        )

    def write(self, whole: bool = False) -> None:
        """Store the rows placed so far in one transaction; with `whole`, only as many as
        fill whole row groups (FRAMES_PER_WRITE each), the rest held for the next write.

        A write of whole row groups goes to the database file once; a part-filled one goes
        through the write-ahead log, and the next checkpoint merges it with its neighbours
        and writes them again."""
        pending, self._pending = self._pending, _Pending()
        if not pending.held:
            self._beside_only()
            return
        rows = pa.concat_tables(pending.tables)
        if pending.dropped:
            self._digests.spoil(pc.unique(rows["_line"].take(pending.dropped)).to_pylist())
            keep = np.ones(rows.num_rows, dtype=bool)
            keep[pending.dropped] = False
            rows = rows.filter(pa.array(keep))
        if whole:
            cut = rows.num_rows - rows.num_rows % FRAMES_PER_WRITE
            rest = rows.slice(cut)
            rows = rows.slice(0, cut)
            if rest.num_rows:
                self._pending = _Pending()
                self._pending.add(rest)
        if rows.num_rows:
            self._write_rows(rows)
        else:
            self._beside_only()

    def _beside_only(self) -> None:
        """Count the frames of the lines found unchanged that no write has counted yet."""
        self._write_rows(None)

    def _write_rows(self, rows: pa.Table | None) -> None:
        """Store `rows` with what is kept beside them; the lines found unchanged whose scene
        changed since are left to `_again`, and the rest stored without them."""
        batch = rows_batch(rows, self.job.dataset)
        beside = self._digests.beside(rows)
        while rows is not None or beside is not None:
            try:
                self.job.writer.write_rows(replace(batch, beside=beside))
                return
            except _ScenesChanged as changed:
                self._changed.update(changed.lines.to_pylist())
                beside = changed.rest

    def _again(self, path: Path) -> None:
        """Convert the lines of `path` whose scene changed between their lookup and the
        write that counted them (read again from the file), and store them."""
        while self._changed:
            numbers, self._changed = sorted(self._changed), set()
            settled = self._settled
            batches = ndjson_batches(path, LINES_PER_BATCH, PER_RECORD_PATTERN, BYTES_PER_BATCH)
            lines = lines_again(batches, numbers)
            for i in range(lines.num_rows):
                one = LineBatch(lines.slice(i, 1))
                self._read_batch(one, {}, lambda n: f"{path}:{n}", look_up=False)
            self._settled = settled
            self.write()


def _scene(text: str) -> Any:
    from workbench.ingest.nucleus import _scene_or_bad

    return _scene_or_bad(loads(text.encode().strip()))


def _valid_dataset(dataset: str) -> bool:
    try:
        check_text(dataset, "dataset", "")
    except RecordError:
        return False
    return True
