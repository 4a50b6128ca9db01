"""The catalog: one DuckDB file per workspace holding frames, ROIs, scenes and their history.

This is the store's catalog: connections, transactions, person-typed SQL. It imports nothing
above the store; what a person reaches from a catalog in the layers above (`view()`,
evaluations, `app()`) is added by `workbench.Catalog` (workbench/catalog.py), the subclass
`workbench.open` returns. Beside it: its engine's settings and seal (store/engine.py), the
migrations run as it opens (store/migrations.py) and its media roots (store/media_roots.py).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb

from workbench.errors import CatalogError, LakeError, QueryError
from workbench.store import groups, interrupts, lake_groups, layout, layout_build, summaries
from workbench.store.before_commit import run as checked_before_commit
from workbench.store.engine import (
    DEFAULT_IMPORT_MEMORY_LIMIT,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_TIME_LIMIT,
    IMPORT_MEMORY_LIMIT_ENV,
    MEMORY_LIMIT_ENV,
    THREADS_ENV,
    TIME_LIMIT_ENV,
    default_time_limit,
    engine_config,
    import_memory_limit,
    seal,
    set_memory_limit,
)
from workbench.store.lake import Lake
from workbench.store.lake_repair import name_writer, rolled_back, settle
from workbench.store.lent import lent
from workbench.store.media_roots import INFERRED, MediaRoot, MediaRoots
from workbench.store.migrations import check_version, migrate
from workbench.store.schema import PUBLIC_TABLES
from workbench.store.sqlsafe import check_read_only
from workbench.store.sqlsafe import time_limit as time_limit_of

# The names this module offers, those of the modules beside it that it always offered too.
__all__ = [
    "CLOSE_WAIT", "DEFAULT_CATALOG", "DEFAULT_IMPORT_MEMORY_LIMIT", "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIME_LIMIT", "IMPORT_MEMORY_LIMIT_ENV", "INFERRED", "LAKE_REFRESH_ENV",
    "MEMORY_LIMIT_ENV", "THREADS_ENV", "TIME_LIMIT_ENV", "Catalog", "CatalogInfo", "MediaRoot",
    "default_catalog_path", "default_time_limit", "engine_config", "import_memory_limit",
    "open_catalog",
]  # fmt: skip


DEFAULT_CATALOG = "workbench.duckdb"
# Seconds close() waits for interrupted queries to let go of the connection, and for a write
# past its lake's commits (or in its COMMIT) to end.
CLOSE_WAIT = 10.0
# Seconds between looks at whether a lake-backed catalog's tables moved on (docs/scale-out.md).
LAKE_REFRESH_ENV = "WORKBENCH_LAKE_REFRESH"


def default_catalog_path() -> Path:
    """`WORKBENCH_CATALOG` if set, else workbench.duckdb in the working directory."""
    return Path(os.environ.get("WORKBENCH_CATALOG") or DEFAULT_CATALOG)


@dataclass(frozen=True)
class CatalogInfo:
    path: str
    schema_version: int
    datasets: int
    frames: int
    contexts: int
    sources: int
    rois: int
    fields: dict[str, int]
    labels: int
    scenes: int
    size_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Catalog(MediaRoots):
    """An open catalog file. People create one with `workbench.open(path)` (a subclass with
    views, evaluations and the app); library code takes this class.

    `sql()` runs read-only SQL typed by a person; `cursor()` gives the library's own code a
    connection per thread. The catalog is opened read-write by one process at a time: share it
    through the service's HTTP API, not by opening the file twice.

    The engine is sealed once the schema is up to date: it cannot read or write any file but
    its own, load extensions or change its settings (docs/security.md). Files are read and
    written beside it, in ingest/, and reach it as Arrow. `time_limit` bounds each query
    typed by a person (seconds; default $WORKBENCH_SQL_TIME_LIMIT or 30; 0: none).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        time_limit: float | None = None,
        accept_lake: bool = False,
    ):
        self.path = Path(path) if path is not None else default_catalog_path()
        self.read_only = read_only
        self._accept_lake = accept_lake  # `lake accept --confirm` (store/lake_accept.py)
        self.time_limit = default_time_limit() if time_limit is None else float(time_limit)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        config = engine_config()
        self.memory_limit = str(config["memory_limit"])  # the engine's own, outside imports
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only, config=config)
        except duckdb.Error as exc:
            raise CatalogError(f"cannot open catalog {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._has_frames: bool | None = None
        self._table_names: list[str] | None = None
        self.lake: Lake | None = None
        self._lake_checked = time.monotonic()
        self._writing = 0  # transactions open (a lake's pins are not moved under them)
        self._writer: int | None = None  # the thread inside `transaction()`, if any
        self._open: duckdb.DuckDBPyConnection | None = None  # that transaction's cursor
        self._nested = 0  # transactions nested in it, open (they join it)
        self._failed_inside: BaseException | None = None  # what a nested one raised
        self._importing = 0  # imports running (the engine holds to the import's budget)
        self._memory_lock = threading.Lock()
        # Every cursor handed out, so close() can interrupt their queries.
        self._cursors: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()
        # Transactions keep the layout in step once the schema is current (store/layout.py).
        self._layout_ready = False
        # Counts committed transactions: what was read before may be out of date after.
        self.generation = 0
        # Held while the generation moves with the caches forgotten, and while a read's answer
        # is kept if the generation did not move: a thread may switch between any two steps.
        self._cache_lock = threading.Lock()
        # Counts changes of the layout's columns (optimize() may promote metadata keys).
        self.layout_changes = 0
        try:
            version = None if read_only else self._migrate()
            check_version(self, version)
            self._open_lake()
            seal(self._con, self.path)
        except BaseException:
            self._con.close()
            raise
        self._layout_ready = True

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the catalog. Queries still running on other threads (a served app stopping
        mid-query) are interrupted first: they raise (a write rolls back whole), and the file
        is closed. A write that stands once begun (its COMMIT under way, or a lake-backed
        catalog's write past the lake's commits, store/interrupts.py) is let end instead, up
        to CLOSE_WAIT seconds, and no lake write begins its commits meanwhile; one still
        committing then leaves the catalog open (CatalogError)."""
        if self.lake is not None:
            with self.lake.gate:
                self.lake.closing = True
        mine = self._open if self._writer == threading.get_ident() else None
        deadline = time.monotonic() + CLOSE_WAIT
        if not interrupts.stop_all_but_committing(self._cursors, mine, deadline):
            if self.lake is not None:
                self.lake.closing = False
            raise CatalogError(f"cannot close catalog {self.path}: a write is committing")
        while True:
            try:
                self._con.close()
                return
            except duckdb.Error as exc:
                # An interrupted query takes a moment to let go of the connection.
                if time.monotonic() > deadline:
                    raise CatalogError(f"cannot close catalog {self.path}: {exc}") from exc
                time.sleep(0.01)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({str(self.path)!r})"

    # -- schema ----------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        con = self._con.cursor()
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
        ).fetchall()[0][0]
        if not exists:
            return 0
        rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        return int(rows[0][0]) if rows else 0

    def _migrate(self) -> int | None:
        """Bring the file to this workbench's schema version (store/migrations.py; the check
        of a new file's schema runs every migration in turn, store/fresh.py); returns the
        version it is at then (None: read it again)."""
        return migrate(self)

    def _open_lake(self) -> None:
        """A lake-backed catalog (store/lake.py): let the engine read the lake's files, then
        point the big tables' views at the tables' latest snapshots."""
        self.lake = Lake.load(self._con.cursor())
        if self.lake is None:
            return
        self.lake.prepare(self._con)
        if not self.read_only:  # read-only, the views stay at the snapshot last pinned
            if self._accept_lake:  # a write rolled back kept as the lake holds it
                from workbench.store.lake_accept import accept

                accept(self)
            else:
                versions = settle(self.lake)  # a write rolled back undone first
                with self.transaction() as con:
                    name_writer(con, self.lake)
                    self.lake.pin(con, versions)
            self._adopt()
        else:
            con = self._con.cursor()
            try:
                self.lake.index(con)
            finally:
                con.close()

    def refresh_lake(self, *, force: bool = True) -> bool:
        """Move a lake-backed catalog's views to the tables' latest snapshots if they moved
        on (a job wrote to them); returns whether they did. Without `force`, looks at most
        every $WORKBENCH_LAKE_REFRESH seconds (default 2)."""
        if self.lake is None or self.read_only:
            return False
        now = time.monotonic()
        if not force and (self._writing or now - self._lake_checked < _refresh_seconds()):
            return False  # never from inside a write: it moves the pins itself
        self._lake_checked = now
        versions = settle(self.lake, strict=force)
        if versions is None or versions == self.lake.pins():
            return False
        with self.transaction() as con:
            self.lake.pin(con, versions)
        self._adopt()
        return True

    def _adopt(self) -> None:
        """Key and summarise the rows a job appended to the lake (store/layout.py)."""
        from workbench.store.lake_write import adopt

        if self.lake is None:
            return
        con = self._cursor()
        try:
            frame_ids = adopt(self.lake, con)
        finally:
            con.close()
        if frame_ids:
            from workbench.store.lake_write import edit

            with self.transaction() as con, edit(self.lake, con, frame_ids, adopting=True):
                pass

    def editing(
        self, con: duckdb.DuckDBPyConnection, frame_ids: Sequence[str], *, dry_run: bool = False
    ) -> AbstractContextManager[None]:
        """Wrap, inside `transaction()`, SQL that changes the frames, sources or ROIs of
        `frame_ids`: on a lake-backed catalog those frames' rows are checked out into
        temporary tables for the block and written back to the lake after it
        (store/lake_write.py), unless `dry_run`; on a local catalog this does nothing.
        Refused in a nested transaction, and once a nested one failed (`transaction`)."""
        if self.lake is None:
            return nullcontext()
        if self._failed_inside is not None:
            raise CatalogError(
                "a transaction nested in this one failed: it rolls back whole, and a lake's "
                "commits would not"
            ) from self._failed_inside
        if self._nested and not dry_run:
            raise LakeError(
                "a transaction nested in another cannot change a lake-backed catalog's rows: "
                "its lake commits could not roll back with the outer one (run it on its own)"
            )
        from workbench.store.lake_write import edit

        return edit(self.lake, con, frame_ids, dry_run=dry_run)

    @contextmanager
    def import_memory(self) -> Iterator[None]:
        """Hold the engine to the import's memory budget (`import_memory_limit()`) while the
        block runs, then give it back its own (`WORKBENCH_MEMORY_LIMIT`).

        DuckDB keeps every block a write stores in its cache until the cache reaches the
        engine's limit; lowering the limit evicts them. Queries run meanwhile (a served app
        browsing during an import) have the lower budget too: what does not fit spills to
        the catalog's temp folder. Imports may overlap: the last one to end restores it.
        """
        if self.read_only:
            yield
            return
        with self._memory_lock:
            if not self._importing:
                set_memory_limit(self._con, import_memory_limit(self.memory_limit))
            self._importing += 1
        try:
            yield
        finally:
            with self._memory_lock:
                self._importing -= 1
                if not self._importing:
                    set_memory_limit(self._con, self.memory_limit)

    # -- connections -----------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the catalog: one per thread, never shared. On the thread whose
        write transaction is open, that transaction's cursor, lent (closing it closes
        nothing): a read inside the block sees what the block wrote, as a transaction
        nested in it does (`transaction`)."""
        if self._open is not None and self._writer == threading.get_ident():
            return lent(self._open)
        if self.lake is not None and not self._writing:
            self.refresh_lake(force=False)
        return self._cursor()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = self._con.cursor()
        self._cursors.add(cursor)
        return cursor

    @contextmanager
    def transaction(self, *, layout: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN/COMMIT; ROLLBACK on any error. Writers take turns.

        Before COMMIT the layout is brought up to date with what the block wrote (keys and
        summaries of new frames and ROIs, store/layout.py), in the same transaction. A block
        that writes no frames, sources or ROIs (the catalog's own records: an import's,
        media roots) may say so with `layout=False`: a local catalog then skips that upkeep,
        whose reads find nothing to do (a lake-backed one still settles its lake).

        Opened again on the thread whose transaction is open (an import, or a service's
        write, inside a caller's block), it joins that one: the same cursor, its writes
        committed or rolled back with the outer block's, the layout brought up to date as
        it begins and ends (what it reads is keyed as after a commit). An error that leaves
        a nested block rolls the whole back: the outer block then ends with CatalogError
        even if it caught the error, as it cannot commit half of the nested write. On a
        lake-backed catalog a nested block may not change the lake's rows (`editing`
        refuses: its lake commits could not roll back with the outer), nor may any block
        once a nested one failed (docs/scale-out.md).
        """
        if self._open is not None and self._writer == threading.get_ident():
            yield from self._joined(self._open)
            return
        pressed = False
        with self._lock:
            con = self._cursor()
            con.execute("BEGIN TRANSACTION")
            pins = self.lake.pins() if self.lake is not None else {}
            self._writing += 1
            outer, self._writer = self._writer, threading.get_ident()
            self._open, self._failed_inside = con, None
            try:
                yield con
                if self._failed_inside is not None:
                    raise CatalogError(
                        "the transaction was rolled back whole: a transaction nested in it "
                        f"failed ({self._failed_inside!r})"
                    ) from self._failed_inside
                if layout or self.lake is not None:
                    self._keep_layout(con)
                undo = checked_before_commit(self, con, self._cursor)
            except BaseException as exc:
                interrupts.release(con)  # the block's error stands for a Ctrl-C noted in it
                con.execute("ROLLBACK")
                if self.lake is not None:  # its lake commits undone (store/lake_repair.py)
                    rolled_back(self.lake, con, pins)
                pressed_in = interrupts.ctrl_c(exc)  # in one of the block's statements
                if pressed_in is not None:
                    raise pressed_in from exc
                raise
            else:
                # Held through the COMMIT too (and the checkpoint DuckDB may run after it,
                # whose interruption it reports as an error though the COMMIT stands); since
                # the lake's commits on a lake-backed catalog (lake_write.edit).
                interrupts.hold(con)
                try:
                    con.execute("COMMIT")
                except Exception:
                    undo()
                    raise
                finally:
                    pressed = interrupts.release(con)
            finally:
                self._writing -= 1
                self._writer = outer
                self._open, self._failed_inside = None, None
                con.close()
                # A write may add frames, or a backend's table (store/ledger.py). The
                # generation moves first: a read that began before this write's COMMIT then
                # sees it moved and keeps nothing (`has_frames`), or keeps its answer before
                # the lines below forget it.
                with self._cache_lock:
                    self.generation += 1
                    self._has_frames = None
                    self._table_names = None
        if pressed:
            interrupts.deliver()

    def _joined(self, con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction nested in the one open on this thread (`transaction`)."""
        if self._failed_inside is not None:
            raise CatalogError(
                "a transaction nested in this one failed: it rolls back whole"
            ) from self._failed_inside
        self._nested += 1
        try:
            if self.lake is None:
                self._keep_layout(con)  # what the outer block wrote, keyed for this one
            yield con
            self._keep_layout(con)
        except BaseException as exc:
            if self._failed_inside is None:
                self._failed_inside = exc
            pressed_in = interrupts.ctrl_c(exc)
            if pressed_in is not None:
                raise pressed_in from exc
            raise
        finally:
            self._nested -= 1

    def _keep_layout(self, con: duckdb.DuckDBPyConnection) -> None:
        """The layout brought up to date with what the transaction wrote (before COMMIT)."""
        if self._layout_ready and self.lake is not None:
            self.lake.settled(con)  # its writes keep the layout (lake_write.edit)
        elif self._layout_ready:
            # what is left to key, the next frame key and the summaries' mark, in one read
            row = con.execute(
                f"SELECT {layout.WRITTEN}, ({layout.NEXT_FRAME_KEY}), {summaries.MARKED}"
            ).fetchall()[0]
            written = [int(n) for n in row[:4]]
            if layout.sync(con, written=written):
                self.layout_changes += 1
            if any(written):  # keyed by `sync`: the key and mark read again as it left them
                summaries.keep(con, layout.next_frame_key(con))  # the whole catalog's summaries
            else:
                summaries.keep(con, layout.key_of(row[4]), mark=row[5])

    def turn(self) -> AbstractContextManager[Any]:
        """Held, no write runs (writes take turns: `transaction`): for code that reads what
        writes note between them, outside their transactions."""
        return self._lock

    def writing_here(self) -> bool:
        """Whether this thread is inside a write transaction of the catalog: a write handed to
        another thread would then wait for this one's end, which waits for it."""
        return self._writer == threading.get_ident()

    def optimize(self) -> list[str]:
        """Rewrite sources and ROIs clustered by frame and every summary sorted, and promote
        the metadata keys most frames have to columns; returns the keys newly promoted.

        Writes keep the layout correct as they go but append in arrival order; after large
        imports into a catalog (or labels added to old frames) this restores the order that
        makes filters read few row groups (docs/scale.md). It rewrites the big tables:
        seconds per million frames.
        """
        if self.lake is not None:  # compaction rewrites the lake; promotion fills columns
            from workbench.store.lake_compact import promote

            return promote(self, progress=False)
        with self._lock:
            con = self.cursor()
            try:
                promoted = layout_build.build(con)
            finally:
                con.close()
            with self.transaction() as con:
                layout_build.swap(con)
            self.count_groups()
        self.layout_changes += 1
        self.cursor().execute("CHECKPOINT")
        return promoted

    def count_groups(self, *, progress: bool = False) -> int:
        """Count the catalog's frame groups (store/groups.py), which facets under a WHERE on
        their columns read while no write has changed frames or ROIs since (on a lake: while
        the pins stay); returns the number of groups."""
        with self.transaction() as con:
            if self.lake is not None:
                return lake_groups.build(con, self.lake, progress=progress)
            return groups.build(con, groups.LOCAL, groups.local_stamp(con), progress=progress)

    def has_frames(self) -> bool:
        known = self._has_frames
        if known is None:
            generation = self.generation
            known = bool(self.cursor().execute("SELECT 1 FROM frames LIMIT 1").fetchall())
            with self._cache_lock:
                if generation == self.generation:  # no write committed since the read began
                    self._has_frames = known
        return known

    # -- reading ---------------------------------------------------------------------------
    def sql(
        self,
        query: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        *,
        time_limit: float | None = None,
    ) -> duckdb.DuckDBPyRelation:
        """Run a read-only query; returns a DuckDB relation (`.df()`, `.arrow()`, `.pl()`)
        over its result.

        Anything but one SELECT over the catalog's tables is refused with ReadOnlyQueryError.
        The query runs at once, within `time_limit` seconds (default: the catalog's), or
        raises QueryError. Ctrl-C (the notebook's stop button) stops it with a
        KeyboardInterrupt.
        """
        con = self.cursor()
        check_read_only(con, query, self.table_names())
        try:
            with (
                interrupts.statements_stopped(),
                time_limit_of(con, self.time_limit if time_limit is None else time_limit),
            ):
                result = con.sql(query, params=params)
                table = result.to_arrow_table() if result is not None else None
        except duckdb.Error as exc:
            raise QueryError(str(exc).strip()) from exc
        if table is None:
            raise QueryError("the query returned no result")
        return con.from_arrow(table)

    def table_names(self) -> list[str]:
        """The catalog's tables. Migrations and backends' ledgers create tables inside a
        transaction, so the list is read again only after one (every person-typed query
        checks against it)."""
        known = self._table_names
        if known is None:
            generation = self.generation
            rows = (
                self.cursor()
                .execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
                )
                .fetchall()
            )
            known = [r[0] for r in rows if r[0] in PUBLIC_TABLES or not r[0].startswith("_")]
            with self._cache_lock:
                if generation == self.generation:  # as in `has_frames`
                    self._table_names = known
        return list(known)

    def info(self) -> CatalogInfo:
        con = self.cursor()

        def one(q: str) -> int:
            return int(con.execute(q).fetchall()[0][0] or 0)

        fields = dict(
            con.execute("SELECT field, count(*) FROM rois GROUP BY 1 ORDER BY 1").fetchall()
        )
        return CatalogInfo(
            path=str(self.path),
            schema_version=self.schema_version,
            datasets=one("SELECT count(*) FROM datasets"),
            frames=one("SELECT count(*) FROM frames"),
            contexts=one("SELECT count(DISTINCT context_id) FROM frames"),
            sources=one("SELECT count(*) FROM sources"),
            rois=one("SELECT count(*) FROM rois"),
            fields={str(k): int(v) for k, v in fields.items()},
            labels=one("SELECT count(DISTINCT label) FROM rois"),
            scenes=one("SELECT count(*) FROM scenes"),
            size_bytes=sum(p.stat().st_size for p in (self.path, _wal(self.path)) if p.exists()),
        )


def _refresh_seconds() -> float:
    try:
        return float(os.environ.get(LAKE_REFRESH_ENV) or 2.0)
    except ValueError as exc:
        raise CatalogError(f"{LAKE_REFRESH_ENV} is not a number of seconds") from exc


def _wal(path: Path) -> Path:
    """DuckDB's write-ahead log: recent writes live there until a checkpoint."""
    return path.with_name(path.name + ".wal")


def open_catalog(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    time_limit: float | None = None,
) -> Catalog:
    """Open (creating or upgrading as needed) the catalog at `path`.

    `time_limit`: seconds each query typed by a person may run (default
    $WORKBENCH_SQL_TIME_LIMIT or 30; 0 for none).
    """
    return Catalog(path, read_only=read_only, time_limit=time_limit)
