"""Where the ClearML first import's CPU goes, step by step, beside the DuckDB baseline's.

    python bench/clearml_cpu_bench.py                          # 200,000 frames, 1 round
    python bench/clearml_cpu_bench.py --rounds 3 --statements  # and each SQL statement
    python bench/clearml_cpu_bench.py --baseline               # and the baseline's statements

Generates bench/formats_bench.py's ClearML file and imports it into a new catalog, in this
process, one step after the other (step_cpu.one_step_at_a_time: a step's process CPU is its
own, the catalog engine's threads included). Each step is timed by wrapping the function
that makes it; steps nest (a write holds its INSERTs), so each is printed with its own CPU
(`self`: what its wrapped children did not take) beside its whole, and its own page faults
(the memory it touched first: the kernel's share of its CPU). The self times add up to
the import's CPU, less what no wrapped step holds (`outside`). With --statements, each
statement of the conversion's engine and of the catalog's transactions is timed too (under
the step that runs it). With --baseline, each statement of the DuckDB baseline's load of
the same file (bench/formats_bench.py), in the same round.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import formats_bench
from step_cpu import load, one_step_at_a_time

WHOLE: collections.Counter[str] = collections.Counter()
SELF: collections.Counter[str] = collections.Counter()
# The page faults of each step (its memory's first touch: the kernel's share of its CPU).
FAULTS: collections.Counter[str] = collections.Counter()
_STACK: list[list[float]] = []  # per step under way: the CPU and page faults its children took


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _begin() -> tuple[float, int]:
    _STACK.append([0.0, 0.0])
    return time.process_time(), _faults()


def _end(label: str, started: tuple[float, int]) -> None:
    spent = time.process_time() - started[0]
    faults = _faults() - started[1]
    children, children_faults = _STACK.pop()
    WHOLE[label] += spent
    SELF[label] += spent - children
    FAULTS[label] += faults - int(children_faults)
    if _STACK:
        _STACK[-1][0] += spent
        _STACK[-1][1] += faults


def _wrap(owner: Any, name: str, label: str) -> None:
    inner: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = _begin()
        try:
            return inner(*args, **kwargs)
        finally:
            _end(label, started)

    setattr(owner, name, timed)


def _wrap_generator(owner: Any, name: str, label: str) -> None:
    inner: Callable[..., Iterator[Any]] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
        items = inner(*args, **kwargs)
        while True:
            started = _begin()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                _end(label, started)
            yield item

    setattr(owner, name, timed)


class _Rel:
    """A relation whose fetches are timed as its statement."""

    def __init__(self, rel: Any, label: str) -> None:
        self._rel, self._label = rel, label

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._rel, name)
        if not callable(found):
            return found

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = _begin()
            try:
                return found(*args, **kwargs)
            finally:
                _end(self._label, started)

        return timed


class _Timed:
    """A connection whose statements are timed (the rest passed through)."""

    def __init__(self, con: Any, tag: str, names: dict[str, str]) -> None:
        self._con, self._tag, self._names = con, tag, names

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def _label(self, query: str) -> str:
        name = self._names.get(query) or re.sub(r"\s+", " ", query).strip()[:80]
        return f"{self._tag}: {name}"

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        label = self._label(query)
        started = _begin()
        try:
            return self._con.execute(query, *args, **kwargs)
        finally:
            _end(label, started)

    def sql(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return _Rel(self._con.sql(query, *args, **kwargs), self._label(query))

    def cursor(self) -> Any:
        return _Timed(self._con.cursor(), self._tag, self._names)


def _instrument(statements: bool) -> None:
    from workbench.ingest import _clearml_columnar as columnar
    from workbench.ingest import _clearml_digests, _storing, writer
    from workbench.ingest import _clearml_sql as sql
    from workbench.store import (
        catalog,
        layout,
        layout_arrays,
        layout_hashes,
        layout_insert,
        line_digests,
        summaries,
        summaries_batch,
    )

    one_step_at_a_time()
    _wrap_generator(columnar, "ndjson_batches", "read: ndjson_batches")
    wrapped = [
        (_clearml_digests.LineDigests, "of_lines", "digests: hash the lines"),
        (_clearml_digests.LineDigests, "unchanged", "digests: lookup"),
        (_clearml_digests.LineDigests, "beside", "digests: beside (rows made)"),
        (columnar, "without", "sift: without"),
        (columnar, "_marked", "lines marked (_marked)"),
        (columnar.NdjsonImport, "_frames", "FRAMES (_frames)"),
        (columnar.NdjsonImport, "_convert", "conversion (_convert)"),
        (columnar.NdjsonImport, "_again", "ids seen (_again)"),
        (columnar.NdjsonImport, "_write", "rows picked (_write)"),
        (columnar, "kept_frames", "rows picked: kept_frames"),
        (columnar, "kept_sources", "rows picked: kept_sources"),
        (columnar, "kept_rois", "rows picked: kept_rois"),
        (columnar, "fetch_items", "rows picked: fetch_items"),
        (columnar, "sorted_by_line", "rows picked: sorted_by_line"),
        (columnar, "rows_table", "rows picked: rows_table"),
        (columnar.NdjsonImport, "_write_pending", "write: concatenated (_write_pending)"),
        (columnar.NdjsonImport, "_store", "write: the writes' job (_store)"),
        (columnar.Beside, "joined", "write: digests joined"),
        (writer.CatalogWriter, "write_rows", "write: write_rows"),
        (writer, "_full_rois", "write: _full_rois"),
        (writer, "uris_of_rows", "write: uris_of_rows"),
        (writer, "count_outside", "write: count_outside"),
        (writer, "store_changed", "write: store_changed"),
        (_storing, "whole", "write: whole"),
        (_storing, "delete_keyed", "write: delete_keyed"),
        (_storing, "insert_keyed", "write: insert_keyed"),
        (layout_insert, "_with_keys", "insert: keys (_with_keys)"),
        (layout_insert, "roi_label_keys", "insert: roi_label_keys"),
        (layout_insert, "_summarise", "insert: frames' summaries (_summarise)"),
        (layout_insert, "_frame_keys", "insert: _frame_keys"),
        (layout, "promote_while_small", "insert: promote_while_small"),
        (layout_hashes, "added", "insert: layout_hashes.added"),
        (summaries_batch, "count_new", "insert: summaries_batch.count_new"),
        (layout_arrays, "store", "insert: layout_arrays.store"),
        (_clearml_digests.Beside, "__call__", "write: digests (Beside)"),
        (line_digests, "record", "write: digests recorded"),
        (layout, "sync", "commit: layout.sync"),
        (summaries, "keep", "commit: summaries.keep"),
    ]
    for owner, name, label in wrapped:
        _wrap(owner, name, label)
    if not statements:
        return
    names = {
        getattr(sql, name): name
        for name in dir(sql)
        if name.isupper() and isinstance(getattr(sql, name), str)
    }
    init = columnar.NdjsonImport.__init__

    def timed_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.con = _Timed(self.con, "engine", names)

    columnar.NdjsonImport.__init__ = timed_init  # type: ignore[method-assign]
    cursor = catalog.Catalog._cursor

    def timed_cursor(self: Any) -> Any:
        return _Timed(cursor(self), "catalog", {})

    catalog.Catalog._cursor = timed_cursor  # type: ignore[method-assign]


def _import(file: Path, db: Path) -> tuple[float, float, float, int, float, float]:
    import workbench
    from workbench.ingest import importer

    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    WHOLE.clear()
    SELF.clear()
    FAULTS.clear()
    started, wall = time.process_time(), time.perf_counter()
    with workbench.open(db) as catalog:
        opened, faults = time.process_time(), _faults()
        before = resource.getrusage(resource.RUSAGE_SELF)
        report = importer("clearml")(catalog, [file], progress=False)
        imported, faults = time.process_time(), _faults() - faults
        after = resource.getrusage(resource.RUSAGE_SELF)
    assert report.ok, report
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    whole = time.process_time() - started
    return imported - opened, whole, time.perf_counter() - wall, faults, user, system


def _baseline(file: Path, db: Path) -> float:
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    return formats_bench.baseline_by_statement("clearml", file, db, indent="    ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--statements", action="store_true", help="each SQL statement too")
    parser.add_argument("--baseline", action="store_true", help="the baseline's statements")
    parser.add_argument("--file", type=Path, help="the ClearML file (made when missing)")
    parser.add_argument(
        "--no-digests", action="store_true", help="without line digests (what they cost)"
    )
    args = parser.parse_args()
    os.environ["TQDM_DISABLE"] = "1"
    import workbench.ingest.clearml  # noqa: F401  (loaded before the clock starts)

    _instrument(args.statements)
    if args.no_digests:  # as a lake-backed catalog keeps none
        from workbench.ingest import _clearml_columnar as columnar

        columnar.LineDigests = lambda *_, **__: None  # type: ignore[assignment,misc]
    with tempfile.TemporaryDirectory(prefix="clearml-cpu-") as tmp:
        file = args.file or Path(tmp) / "clearml.ndjson"
        if not file.exists():
            formats_bench.write_clearml(file, args.frames)
        db = Path(tmp) / "c.duckdb"
        for round_no in range(args.rounds):
            if args.baseline:
                print(f"baseline (round {round_no + 1}, load {load()})")
                _baseline(file, Path(tmp) / "base.duckdb")
            print(f"import (round {round_no + 1}, load {load()})", flush=True)
            cpu, whole, wall, faults, user, system = _import(file, db)
            print(f"  import {cpu:.2f} s CPU ({whole:.2f} s with the catalog's open and close;"
                  f" wall {wall:.2f} s, one step after the other), {faults:,} page faults;"
                  f" load after {load()}")  # fmt: skip
            # the kernel's share (page faults mostly) apart from the process's own
            print(f"  import user {user:.2f} s, system {system:.2f} s; peak RSS"
                  f" {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")  # fmt: skip
            accounted = sum(SELF.values())
            for label, spent in sorted(SELF.items(), key=lambda item: -item[1]):
                if WHOLE[label] >= 0.005:
                    print(f"    self {spent:7.3f} s  whole {WHOLE[label]:7.3f} s"
                          f"  faults {FAULTS[label]:7,}  {label}")  # fmt: skip
            print(f"    self {cpu - accounted:7.3f} s  faults"
                  f" {faults - sum(FAULTS.values()):7,}  outside the steps above")  # fmt: skip
            sys.stdout.flush()


if __name__ == "__main__":
    main()
