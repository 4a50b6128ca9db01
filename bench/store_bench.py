"""Where an import's storing step spends its CPU: the formats bench's files imported in-process.

    python bench/store_bench.py                        # ClearML 1x, Labelbox 1x (import, update)
    python bench/store_bench.py --only labelbox --rounds 3 --statements
    python bench/store_bench.py --only nucleus --scale 4 --rounds 3
    python bench/store_bench.py --only coco nucleus --baseline   # and DuckDB's statements

Generates the files of bench/formats_bench.py (the same sizes: ClearML 200,000 frames with
800,000 ROIs; COCO 100,000 images with 400,000 annotations; 800 Labelbox label lines onto
60,000 frames imported first; Nucleus: 100 scenes of 1,000 frames, times --scale) and imports
each in this process, into a fresh catalog, then again (the update path). Prints the process
CPU of opening the catalog, of the import, of closing it, and of each storing function the
import passes through, timed by wrapping it (`time.process_time`, every thread):
`insert_keyed` (new frames, sources and ROIs keyed and summarised as inserted), `append_rows`,
`keyed_rois` and `rois_replaced` (a label write: its INSERT, its rows' keys, its frames
summarised again; `check` and `store_first`: its unchanged check, and a field's first ROIs
stored and summarised from the rows, workbench/ingest/_label_writes.py), `layout.sync` and
`summaries.keep` (every commit; `Catalog._keep_layout`: both, with the reads before them),
`count_new` (the new frames' whole-catalog summaries from the batch,
store/summaries_batch.py), `commit` (every COMMIT statement: where the engine writes a
write's rows; `every statement`: the CPU of all of the catalog's cursors' statements, whose
number is printed with each step; `each COMMIT`: every COMMIT's CPU in order, those that
checkpointed with the file's size before and after) and `groups.build` (the groups' recount at the import's
end). The writer's own steps too (`write_rows`, `write_labels`, the unchanged checks, the
media roots' count) and storing's (`store_changed`, `store_keyed`:
workbench/ingest/_storing.py). The ClearML import runs one step after the other
(step_cpu.one_step_at_a_time), so that each step's process CPU is its own. With --baseline,
each statement of the DuckDB baseline's load of the same file first. With --statements, the
CPU of each SQL statement they run. Run it with PYTHONPATH set to each checkout to compare,
alternating, at the same load: the load average is printed with every round.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import formats_bench

CPU: collections.Counter[str] = collections.Counter()


class _Timed:
    """A connection whose statements are timed (the rest passed through)."""

    def __init__(self, con: Any, tag: str) -> None:
        self._con, self._tag = con, tag

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def __enter__(self) -> Any:  # a cursor used in a `with` (closed at its end)
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            CPU[f"  {self._tag}: {re.sub(r'\s+', ' ', sql)[:90]}"] += time.process_time() - started


def _wrap(module: Any, name: str, statements: bool) -> None:
    inner: Callable[..., Any] = getattr(module, name)

    def timed(con: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            wrapped = statements and hasattr(con, "execute") and type(con) is not _Timed
            given = _Timed(con, name) if wrapped else con
            return inner(given, *args, **kwargs)
        finally:
            CPU[name] += time.process_time() - started

    setattr(module, name, timed)


def _wrap_method(cls: Any, name: str) -> None:
    inner: Callable[..., Any] = getattr(cls, name)

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return inner(self, *args, **kwargs)
        finally:
            CPU[f"{cls.__name__}.{name}"] += time.process_time() - started

    setattr(cls, name, timed)


def _baseline(fmt: str, file: Path, db: Path, setup: Path | None) -> None:
    """The DuckDB baseline's import of `file` (bench/formats_bench.py), each statement timed."""
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    if setup is not None:
        shutil.copy(setup, db)
    formats_bench.baseline_by_statement(fmt, file, db)


def _time_commits(module: Any) -> None:
    """Count the CPU of every COMMIT of a catalog's transactions as `commit`, and keep each
    COMMIT's with the sizes of the catalog's file and WAL around it (COMMITS)."""
    catalog = module.Catalog
    inner = catalog._cursor

    def cursor(self: Any) -> Any:
        return _Committing(inner(self), Path(self.path))

    catalog._cursor = cursor


def _sizes(path: Path) -> tuple[int, int]:
    """The bytes of the catalog's file and of its WAL (0: none)."""
    wal = path.with_name(path.name + ".wal")
    return (path.stat().st_size if path.exists() else 0, wal.stat().st_size if wal.exists() else 0)


class _Committing(_Timed):
    """A catalog cursor: its COMMITs timed as `commit`, each kept apart with the file's and
    the WAL's sizes before and after it (COMMITS), every statement counted (STATEMENTS) and
    timed (`every statement`)."""

    def __init__(self, con: Any, path: Path) -> None:
        super().__init__(con, "commit")
        self._path = path

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        STATEMENTS[0] += 1
        before = _sizes(self._path) if sql == "COMMIT" else (0, 0)
        started = time.process_time()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            spent = time.process_time() - started
            CPU["every statement"] += spent
            if sql == "COMMIT":
                CPU["commit"] += spent
                COMMITS.append((spent, before, _sizes(self._path)))


STATEMENTS = [0]  # the statements of the catalog's cursors in one step
# Each COMMIT of a step: its CPU, and (file, WAL) bytes before and after it.
COMMITS: list[tuple[float, tuple[int, int], tuple[int, int]]] = []


def each_commit() -> str:
    """Each COMMIT of the step in order, its CPU; one that checkpointed (the WAL empty after
    it, where it held something before or the file grew) with the file's size before and
    after and the WAL it emptied. DuckDB checkpoints at a COMMIT that leaves its WAL past
    `checkpoint_threshold` (16 MB): the rows of a write smaller than a row group are
    compressed and stored then, where the INSERTs of whole row groups store theirs as they
    run."""
    told = []
    for spent, (file_before, wal_before), (file_after, wal_after) in COMMITS:
        text = f"{spent:.3f}"
        if wal_after == 0 and (wal_before > 0 or file_after > file_before):
            text += (
                f" (checkpoint: file {file_before / 1e6:.1f} -> {file_after / 1e6:.1f} MB,"
                f" WAL {wal_before / 1e6:.1f} MB before)"
            )
        told.append(text)
    return f"  each COMMIT: {', '.join(told)} s" if told else "  each COMMIT: none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=("clearml", "coco", "labelbox", "nucleus"))
    parser.add_argument("--scale", type=int, default=1, help="Nucleus: times 100 scenes")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--statements", action="store_true", help="CPU of each SQL statement")
    parser.add_argument(
        "--baseline", action="store_true", help="and the DuckDB baseline's statements, each timed"
    )
    args = parser.parse_args()
    os.environ["TQDM_DISABLE"] = "1"
    from step_cpu import one_step_at_a_time

    import workbench
    import workbench.ingest.clearml
    import workbench.ingest.labelbox
    from workbench.ingest import importer, writer
    from workbench.store import catalog as store_catalog
    from workbench.store import groups, layout, summaries

    for module, name in ((writer, "insert_keyed"), (writer, "keyed_rois"),
                         (writer, "append_rows"), (writer, "rois_replaced"), (layout, "sync"),
                         (summaries, "keep"), (groups, "build"), (writer, "unchanged_ids"),
                         (writer, "without"), (writer, "count_outside"), (writer, "touch"),
                         (writer, "_uris_of"), (writer, "_full_rois"),
                         (writer, "unchanged_labels")):  # fmt: skip
        if hasattr(module, name):  # not every name is in older checkouts
            _wrap(module, name, args.statements)
    try:  # the new frames' summaries from the batch in hand (not in older checkouts)
        from workbench.store import summaries_batch

        _wrap(summaries_batch, "count_new", args.statements)
    except ImportError:
        pass
    try:  # a label write's own steps (not in older checkouts)
        from workbench.ingest import _label_writes

        for name in ("check", "store_first", "append_rows"):
            _wrap(_label_writes, name, args.statements)
    except ImportError:
        pass
    one_step_at_a_time()  # each step's process CPU its own
    try:  # storing a write's rows, out of the writer (not in older checkouts)
        from workbench.ingest import _storing

        for name in ("insert_keyed", "unchanged_ids", "without", "touch", "store_keyed"):
            _wrap(_storing, name, args.statements)
        for name in ("store_changed", "store_queued"):  # as the writer calls them
            _wrap(writer, name, args.statements)
    except ImportError:
        pass
    for name in ("write_rows", "write_labels", "_store_changed", "_store"):
        if hasattr(writer.CatalogWriter, name):
            _wrap_method(writer.CatalogWriter, name)
    _time_commits(store_catalog)
    if hasattr(store_catalog.Catalog, "_keep_layout"):  # every transaction's layout upkeep
        _wrap_method(store_catalog.Catalog, "_keep_layout")
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        folder = Path(tmp)
        files = {"clearml": folder / "clearml.ndjson", "labelbox": folder / "labelbox.ndjson",
                 "nucleus": folder / "nucleus.ndjson", "coco": folder / "coco.json"}  # fmt: skip
        formats_bench.write_clearml(files["clearml"], formats_bench.FULL["clearml"])
        formats_bench.write_coco(files["coco"], formats_bench.FULL["coco"])
        formats_bench.write_nucleus(files["nucleus"], formats_bench.FULL["nucleus"] * args.scale)
        videos = folder / "videos.ndjson"
        formats_bench.write_labelbox_videos(videos, formats_bench.FULL["labelbox"])
        formats_bench.write_labelbox(files["labelbox"], formats_bench.FULL["labelbox"])
        setup = folder / "videos.duckdb"
        with workbench.open(setup) as catalog:
            importer("clearml")(catalog, [videos], progress=False)
        base_setup = folder / "videos-base.duckdb"
        formats_bench.baseline_setup(videos, base_setup)
        for round_no in range(args.rounds):
            for fmt in args.only or ("clearml", "coco", "labelbox", "nucleus"):
                if args.baseline:
                    print(f"{fmt} baseline (round {round_no + 1}, load {os.getloadavg()[0]:.1f})")
                    labelbox = base_setup if fmt == "labelbox" else None
                    _baseline(fmt, files[fmt], folder / "base.duckdb", labelbox)
                db = folder / f"{fmt}.duckdb"
                for path in (db, db.with_name(db.name + ".wal")):
                    path.unlink(missing_ok=True)
                if fmt == "labelbox":
                    shutil.copy(setup, db)
                for step in ("import", "update"):
                    CPU.clear()
                    STATEMENTS[0] = 0
                    COMMITS.clear()
                    load = os.getloadavg()[0]
                    options: dict[str, Any] = {}  # as formats_bench.workbench_import
                    if fmt == "nucleus":
                        options["update"] = True
                    if fmt == "coco":
                        options["id_prefix"] = "bench:"
                    started = time.process_time()
                    catalog = workbench.open(db)
                    opened = time.process_time()
                    report = importer(fmt)(catalog, [files[fmt]], progress=False, **options)
                    imported = time.process_time()
                    catalog.close()
                    closed = time.process_time()
                    assert report.ok, report
                    print(
                        f"{fmt} {step} (round {round_no + 1}, load {load:.1f}): CPU "
                        f"{closed - started:.2f} s: open {opened - started:.3f}, import "
                        f"{imported - opened:.2f}, close {closed - imported:.3f};"
                        f" {STATEMENTS[0]} statements of the catalog's cursors"
                    )
                    for name, seconds in sorted(CPU.items(), key=lambda item: -item[1]):
                        if seconds >= 0.005:
                            print(f"  {seconds:7.3f} s  {name}")
                    print(each_commit())
                    sys.stdout.flush()


if __name__ == "__main__":
    main()
