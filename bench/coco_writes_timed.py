"""The statements of a COCO import counted by engine: the import's and the catalog's.

bench/coco_writes_bench.py's `--statements`: each statement's CPU (the process's, every
thread of the engines in it) told to a `Counter`, keyed by its text, the catalog's cursors'
under CATALOG. A statement read through an Arrow reader is counted from the reader's making,
where the engine runs it, and then for each batch read.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from typing import Any, Protocol

from workbench.store.catalog import Catalog

# What the catalog's statements are counted under.
CATALOG = "catalog: "


class Counter(Protocol):
    def count(self, sql: str, seconds: float, engine: str = "") -> None: ...


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


class Timed:
    """A connection whose statements' CPU (the process's: the engine's threads are in it) is
    told to `watch`, under `engine` (a prefix: "" for the import's engine)."""

    def __init__(self, con: Any, watch: Counter, engine: str = "") -> None:
        self._con, self._watch, self._engine = con, watch, engine

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        started = _cpu()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            self._watch.count(sql, _cpu() - started, self._engine)

    def executemany(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        started = _cpu()
        try:
            return self._con.executemany(sql, *args, **kwargs)
        finally:
            self._watch.count(sql, _cpu() - started, self._engine)

    def sql(self, sql: str, **kwargs: Any) -> Any:
        return TimedRelation(self._con.sql(sql, **kwargs), sql, self._watch, self._engine)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def __enter__(self) -> Timed:  # a cursor in a `with` block, closed as it ends
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()


class TimedRelation:
    def __init__(self, relation: Any, sql: str, watch: Counter, engine: str = "") -> None:
        self._relation, self._sql, self._watch, self._engine = relation, sql, watch, engine

    def __getattr__(self, name: str) -> Any:  # any other read: not counted
        return getattr(self._relation, name)

    def to_arrow_table(self) -> Any:
        started = _cpu()
        try:
            return self._relation.to_arrow_table()
        finally:
            self._watch.count(self._sql, _cpu() - started, self._engine)

    def to_arrow_reader(self, rows: int) -> Any:
        # The reader's making counted too: the engine runs a statement that sorts, groups or
        # joins to its end there, before the first batch is read.
        started = _cpu()
        try:
            reader = self._relation.to_arrow_reader(rows)
        finally:
            self._watch.count(self._sql, _cpu() - started, self._engine)
        return TimedReader(reader, self._sql, self._watch, self._engine)


class TimedReader:
    """A relation's chunks, the CPU of fetching them counted (not of what is done with them;
    the statement's run when the reader was made, by `TimedRelation`)."""

    def __init__(self, reader: Any, sql: str, watch: Counter, engine: str = "") -> None:
        self._reader, self._sql, self._watch, self._engine = reader, sql, watch, engine
        self.schema = reader.schema

    def __iter__(self) -> Any:
        while True:
            started = _cpu()
            try:
                chunk = self._reader.read_next_batch()
            except StopIteration:
                return
            finally:
                self._watch.count(self._sql, _cpu() - started, self._engine)
            yield chunk


def catalog_cursors(watch: Counter) -> Callable[[], None]:
    """Count the statements of every cursor the catalog makes from now on (its writes'
    INSERTs and COMMITs, the layout's upkeep, the digests' rows) under CATALOG; the undoing."""
    made = Catalog._cursor

    def cursor(self: Catalog) -> Any:
        return Timed(made(self), watch, CATALOG)

    Catalog._cursor = cursor  # type: ignore[method-assign]

    def undo() -> None:
        Catalog._cursor = made  # type: ignore[method-assign]

    return undo
