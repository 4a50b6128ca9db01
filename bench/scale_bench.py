"""Browsing at scale: the catalog's layout against the layout before it, at 1M or 10M frames.

    python bench/scale_bench.py --frames 1000000
    python bench/scale_bench.py --frames 10000000 --workdir /tmp/scale-bench
    python bench/scale_bench.py --frames 10000000 --workdir /tmp/scale-bench --reuse

1. generate: a catalog in the layout before frame keys and summaries (the schema up to the
   layout migration), filled by set-based SQL (bench/synthetic.py's generators: contexts of
   50 frames, JSON metadata, 2-6 boxes per frame alternating ground truth and predictions
   with confidences), in a child process;
2. migrate: a copy of it opened with `workbench.open`, which migrates it to the current
   layout, in a child process (its peak RSS is the migration's own);
3. queries: each case through the View API on the migrated catalog, and as hand-written SQL
   on the migrated catalog and on the old one, alternating so all three see the same load;
   the answers are compared before any time is reported.

Wall times on a shared machine are only as good as its load: the load average is printed at
the start and the end, and CPU time (all threads of this process) next to each wall time.
Ingest and export memory, each in a process of its own (peak RSS, `getrusage`), the Parquet
files written first by `python bench/synthetic.py generate DIR --frames N`:

    python bench/scale_bench.py ingest DIR CATALOG [--no-context-keys] [--no-values-keys]
    python bench/scale_bench.py export CATALOG DIR

`--no-context-keys` ingests without the frames' context keys (the catalog writer's step that
numbers each batch's contexts, store/layout_insert.py), `--no-values-keys` without the
values keys of the promoted keys (the same kind of step): what those steps cost, run
alternately with and without them.

The files live in --workdir (default: a temporary folder, deleted at the end; with
--workdir they are kept, and --reuse skips the steps whose files exist).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb
import pyarrow as pa
import synthetic

import workbench
from workbench.store import schema

CONTEXT_SIZE = 50
# A WHERE on the promoted keys, keeping about half the frames: the frame groups answer it
# (store/groups.py), where `f.frame_index % 2 = 0` reads the frames.
GROUPED_WHERE = "f.weather IN ('clear', 'rain')"
# The generator's engine: two threads (the machine has two cores) and a bounded memory.
ENGINE = ("SET threads = 2", "SET memory_limit = '2GB'", "SET preserve_insertion_order = true")


def old_version() -> int:
    """The schema version before the layout migration (the one this bench compares with)."""
    layout = getattr(schema, "LAYOUT_MIGRATION", None)
    return schema.MIGRATIONS.index(layout) if layout is not None else schema.SCHEMA_VERSION


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, frames: int) -> dict[str, Any]:
    """A catalog in the old layout, written by plain DuckDB (workbench.open would migrate it)."""
    path.unlink(missing_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    con = duckdb.connect(str(path))
    try:
        for setting in ENGINE:
            con.execute(setting)
        version = old_version()
        for migration in schema.MIGRATIONS[:version]:
            for statement in migration:
                con.execute(statement)
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(version)])
        for table, query in (
            ("frames", synthetic._frames_sql(frames, CONTEXT_SIZE)),
            ("sources", synthetic._sources_sql(frames, CONTEXT_SIZE)),
            ("rois", synthetic._rois_sql(frames)),
        ):
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM ({query})")
        con.execute("CHECKPOINT")
        rois = con.execute("SELECT count(*) FROM rois").fetchall()[0][0]
    finally:
        con.close()
    return {
        "frames": frames,
        "rois": int(rois),
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_mb": peak_rss_mb(),
        "size_mb": path.stat().st_size / 2**20,
    }


def migrate(old: Path, new: Path) -> dict[str, Any]:
    """Copy the old catalog and open the copy, which migrates it."""
    shutil.copyfile(old, new)
    started, cpu = time.perf_counter(), time.process_time()
    with workbench.open(new) as catalog:
        catalog.cursor().execute("CHECKPOINT")
        version = catalog.schema_version
    return {
        "schema_version": version,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_mb": peak_rss_mb(),
        "size_mb": new.stat().st_size / 2**20,
    }


def ingest(folder: Path, catalog: Path, context_keys: bool, values_keys: bool) -> dict[str, Any]:
    """The Parquet importer into a new catalog (synthetic.ingest); without `context_keys`
    (`values_keys`) the catalog keeps none, so the writer numbers no contexts (no values of
    the promoted keys): layout.has_context_keys, layout.has_values_keys."""
    from workbench.store import layout

    catalog.unlink(missing_ok=True)
    if not context_keys:
        layout.has_context_keys = lambda con: False  # type: ignore[assignment]
    if not values_keys:
        layout.has_values_keys = lambda con: False  # type: ignore[assignment]
    result = synthetic.ingest(folder, catalog)
    result.update(context_keys=context_keys, values_keys=values_keys)
    return result


def count_groups(path: Path) -> str:
    """Count the catalog's frame groups unless they are current (code that keeps none for a
    local catalog skips this)."""
    started, cpu = time.perf_counter(), time.process_time()
    with workbench.open(path) as catalog:
        counting = getattr(catalog, "count_groups", None)
        if counting is None:
            return "frame groups: not kept by this code"
        from workbench.store import groups

        con = catalog.cursor()
        if groups.current(con, groups.LOCAL, lambda: groups.local_stamp(con)) is not None:
            return "frame groups: current"
        count = counting()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return f"frame groups: {count} counted in {wall:.1f} s (CPU {cpu:.1f} s)"


def in_child(*args: str) -> dict[str, Any]:
    """Run one step of this script in a fresh process, so its peak RSS is the step's own."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# -- the measured cases -------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    view: Callable[[], Any]
    hand_new: Callable[[], Any]
    hand_old: Callable[[], Any]
    # How answers compare: "rows" (as sets of rows), "ordered", "page" (ids and ROI counts),
    # "scalar".
    compare: str = "rows"


@dataclass(frozen=True)
class Figure:
    name: str
    view_ms: float
    view_p95_ms: float
    hand_new_ms: float
    hand_old_ms: float
    view_cpu_ms: float
    hand_new_cpu_ms: float
    hand_old_cpu_ms: float

    @property
    def ratio(self) -> float:
        """View API over hand-written SQL on the same (new) layout."""
        return self.view_ms / self.hand_new_ms if self.hand_new_ms else 0.0

    @property
    def speedup(self) -> float:
        """Hand-written SQL on the old layout over the View API on the new one."""
        return self.hand_old_ms / self.view_ms if self.view_ms else 0.0


def _sql(con: duckdb.DuckDBPyConnection, query: str) -> Callable[[], Any]:
    return lambda: con.sql(query).to_arrow_table()


def _all(*steps: Callable[[], Any]) -> Callable[[], Any]:
    return lambda: [step() for step in steps]


def _page_sql(frames: str, rois: str, key: str, rois_where: str = "TRUE") -> str:
    """A page of frames with nested sources and ROIs: `frames` is a query of frame rows
    with their order in column `_o`."""
    return f"""
        WITH p AS MATERIALIZED ({frames})
        SELECT p.*, s.sources, r.rois FROM p
        LEFT JOIN (SELECT {key}, list(s ORDER BY s.rowid) AS sources FROM sources s
                   WHERE {key} IN (SELECT {_page_key(key)} FROM p) GROUP BY {key}) s
          ON s.{key} = p.{_page_key(key)}
        LEFT JOIN (SELECT {key}, list(r ORDER BY r.rowid) AS rois FROM {rois} r
                   WHERE {key} IN (SELECT {_page_key(key)} FROM p) AND ({rois_where})
                   GROUP BY {key}) r
          ON r.{key} = p.{_page_key(key)}
        ORDER BY p._o"""


def _page_key(key: str) -> str:
    return "id" if key == "frame_id" else key


def _contexts_sql(where: str) -> str:
    return f"""
        WITH m AS MATERIALIZED (
            SELECT context_id, count(*) AS frames, min(timestamp) AS lo, max(timestamp) AS hi,
                   arg_min(id, (coalesce(timestamp, 9223372036854775807),
                                coalesce(frame_index, 2147483647), id)) AS first
            FROM frames WHERE {where} GROUP BY context_id ORDER BY context_id LIMIT 50)
        SELECT m.context_id, m.frames, t.total, m.lo, m.hi, m.first FROM m
        JOIN (SELECT context_id, count(*) AS total FROM frames
              WHERE context_id IN (SELECT context_id FROM m) GROUP BY context_id) t
          ON t.context_id = m.context_id ORDER BY m.context_id"""


HIST = "least(CAST(floor(confidence * 10) AS INTEGER), 9)"


def cases(catalog: Any, old: duckdb.DuckDBPyConnection, frames: int) -> list[Case]:
    """The browse interactions of the app, each as a view and as hand-written SQL."""
    from workbench.ui.facets import compute_facets  # the app's own facet counting

    new = catalog.cursor()
    view = catalog.view()
    cars = view.filter_rois("predictions", labels=["car"])
    car_count = cars.count()
    deep, car_deep = frames // 2, car_count // 2
    where = "f.frame_index % 2 = 0"
    scene = view.match(scene="scene-7")
    low_cars = view.filter_rois("predictions", labels=["car"], max_confidence=0.3)
    car_rois = "r.field <> 'predictions' OR r.label IN ('car')"
    old_cars = "f.id IN (SELECT frame_id FROM rois WHERE field = 'predictions' AND label = 'car')"
    old_half = f"frame_id IN (SELECT id FROM frames f WHERE {where})"
    old_hist = _sql(
        old,
        f"SELECT count(*) FROM (SELECT {HIST} AS bin FROM rois WHERE field = 'predictions'"
        f" AND confidence IS NOT NULL AND {old_half}) GROUP BY bin ORDER BY bin",
    )
    hand = HandNew(new, where)
    grouped = GROUPED_WHERE
    return [
        Case(
            "first page of 50 frames",
            lambda: view.page(0, 50),
            hand.page(0),
            _sql(old, _page_sql("SELECT *, rowid AS _o FROM frames LIMIT 50", "rois", "frame_id")),
            "page",
        ),
        Case(
            "page of 50 frames half-way",
            lambda: view.page(deep, 50),
            hand.page(deep),
            _sql(
                old,
                _page_sql(
                    f"SELECT *, rowid AS _o FROM frames LIMIT 50 OFFSET {deep}", "rois", "frame_id"
                ),
            ),
            "page",
        ),
        Case(
            "first page of frames with a predicted car",
            lambda: cars.page(0, 50),
            hand.label_page(0),
            _sql(
                old,
                _page_sql(
                    f"SELECT *, rowid AS _o FROM frames f WHERE {old_cars} ORDER BY f.rowid LIMIT 50",
                    "rois",
                    "frame_id",
                    car_rois,
                ),
            ),
            "page",
        ),
        Case(
            "page of frames with a predicted car half-way",
            lambda: cars.page(car_deep, 50),
            hand.label_page(car_deep),
            _sql(
                old,
                _page_sql(
                    f"SELECT *, rowid AS _o FROM frames f WHERE {old_cars} ORDER BY f.rowid"
                    f" LIMIT 50 OFFSET {car_deep}",
                    "rois",
                    "frame_id",
                    car_rois,
                ),
            ),
            "page",
        ),
        Case(
            "first 50 contexts with metadata scene = scene-7",
            lambda: scene.contexts(0, 50),
            hand.contexts_scene(),
            _sql(old, _contexts_sql("json_extract_string(metadata, '/scene') = 'scene-7'")),
            "ordered",
        ),
        # A new view each time, as each query of the app makes one: nothing it found is kept.
        Case(
            f"the app's facets under WHERE {where}",
            lambda: compute_facets(view.where(where), "predictions"),
            hand.facets(),
            old_facets(old, where),
            "none",
        ),
        Case(
            f"the app's facets under WHERE {grouped} (frame groups)",
            lambda: compute_facets(view.where(grouped), "predictions"),
            HandNew(new, grouped).facets(),
            old_facets(old, grouped),
            "none",
        ),
        Case(
            f"label counts under WHERE {where}",
            lambda: view.where(where).label_counts(),
            hand.label_counts_where(),
            old_facets_labels(old, old_half),
        ),
        Case(
            "confidence histogram of predictions under that WHERE",
            lambda: view.where(where).confidence_histogram("predictions", 10).select(["count"]),
            hand.histogram_where(),
            old_hist,
            "ordered",
        ),
        Case(
            "label counts, whole catalog",
            view.label_counts,
            hand.label_counts(),
            _sql(old, "SELECT field, label, count(*) FROM rois GROUP BY ALL"),
        ),
        Case(
            "confidence histogram of predictions, whole catalog",
            lambda: view.confidence_histogram("predictions", 10).select(["count"]),
            hand.histogram(),
            _sql(
                old,
                f"SELECT count(*) FROM (SELECT {HIST} AS bin FROM rois WHERE field = "
                "'predictions' AND confidence IS NOT NULL) GROUP BY bin ORDER BY bin",
            ),
            "ordered",
        ),
        Case(
            "first 50 contexts, whole catalog",
            lambda: view.contexts(0, 50),
            hand.contexts_whole(),
            _sql(old, _contexts_sql("TRUE")),
            "ordered",
        ),
        Case(
            "count of contexts, whole catalog",
            view.count_contexts,
            _sql(new, "SELECT count(*) FROM context_summaries"),
            _sql(old, "SELECT count(DISTINCT context_id) FROM frames"),
            "scalar",
        ),
        Case(
            "label fields, whole catalog",
            lambda: pa.table({"field": view.fields()}),
            _sql(
                new,
                "SELECT DISTINCT k.field FROM label_keys k WHERE k.label_key IN"
                " (SELECT code // 2000 FROM code_counts) ORDER BY 1",
            ),
            _sql(old, "SELECT DISTINCT field FROM rois ORDER BY 1"),
            "ordered",
        ),
        Case(
            "promoted keys' values, whole catalog",
            lambda: catalog.view().promoted_counts(),
            _sql(
                new,
                "SELECT k.*, g.frames FROM value_counts g JOIN value_keys k USING (values_key)",
            ),
            _all(
                *(
                    _sql(old, f"SELECT {key}, count(*) FROM frames GROUP BY 1")
                    for key in ("weather", "time_of_day", "camera", "location")
                )
            ),
            "none",
        ),
        Case(
            "count of frames with a car below 0.3 confidence",
            low_cars.count,
            hand.low_car_count(),
            _sql(
                old,
                "SELECT count(DISTINCT frame_id) FROM rois WHERE field = 'predictions'"
                " AND label = 'car' AND confidence <= 0.3",
            ),
            "scalar",
        ),
    ]


def old_facets(old: duckdb.DuckDBPyConnection, where: str) -> Callable[[], Any]:
    """The app's facets under `where` on the layout before frame keys: each facet by itself."""
    old_half = f"frame_id IN (SELECT id FROM frames f WHERE {where})"
    return _all(
        _sql(old, f"SELECT field, label, count(*) FROM rois WHERE {old_half} GROUP BY ALL"),
        _sql(
            old,
            f"SELECT count(*) FROM (SELECT {HIST} AS bin FROM rois WHERE field = 'predictions'"
            f" AND confidence IS NOT NULL AND {old_half}) GROUP BY bin ORDER BY bin",
        ),
        *(
            _sql(old, f"SELECT {key}, count(*) FROM frames f WHERE {where} GROUP BY 1")
            for key in ("weather", "time_of_day", "camera", "location")
        ),
        _sql(old, f"SELECT count(*) FROM frames f WHERE {where}"),
        _sql(old, f"SELECT count(DISTINCT context_id) FROM frames f WHERE {where}"),
    )


def old_facets_labels(old: duckdb.DuckDBPyConnection, frames_in: str) -> Callable[[], Any]:
    return _sql(old, f"SELECT field, label, count(*) FROM rois WHERE {frames_in} GROUP BY ALL")


class HandNew:
    """Hand-written SQL over the current layout (frame keys, label summaries, promoted
    metadata columns), one method per case: what a person who knows the layout would write."""

    def __init__(self, con: duckdb.DuckDBPyConnection, where: str) -> None:
        self.con = con
        self.where = where
        self.top = con.execute("SELECT max(frame_key) FROM frames").fetchall()[0][0]
        self.car = con.execute(
            "SELECT label_key FROM label_keys WHERE field = 'predictions' AND label = 'car'"
        ).fetchall()[0][0]
        self.scene = con.execute(
            "SELECT column_name FROM metadata_columns WHERE key = 'scene'"
        ).fetchall()[0][0]

    def _bits(self, where: str) -> str:
        """A CTE `s` holding the bitmap of the frames matching `where`."""
        return (
            f"WITH s AS (SELECT bitstring_agg(frame_key, 0, {self.top}) AS bm FROM frames f"
            f" WHERE {where}) "
        )

    def page(self, offset: int) -> Callable[[], Any]:
        return _sql(
            self.con,
            _page_sql(
                f"SELECT *, frame_key AS _o FROM frames LIMIT 50 OFFSET {offset}",
                "rois",
                "frame_key",
            ),
        )

    def label_page(self, offset: int) -> Callable[[], Any]:
        return _sql(
            self.con,
            _page_sql(
                "SELECT *, frame_key AS _o FROM frames WHERE frame_key IN (SELECT frame_key"
                f" FROM frame_labels WHERE label_key = {self.car} ORDER BY frame_key"
                f" LIMIT 50 OFFSET {offset})",
                "rois",
                "frame_key",
                "r.field <> 'predictions' OR r.label IN ('car')",
            ),
        )

    def contexts_whole(self) -> Callable[[], Any]:
        """The catalog's first contexts from its summaries (store/summaries.py)."""
        return _sql(
            self.con,
            "SELECT context_id, frames, frames AS total, first_timestamp, last_timestamp,"
            " first_frame_id"
            " FROM context_summaries ORDER BY context_id LIMIT 50",
        )

    def contexts_scene(self) -> Callable[[], Any]:
        return _sql(self.con, _contexts_sql(f"{self.scene} = 'scene-7'"))

    def _labels(self, where: str | None) -> str:
        counted = "SELECT label_key, sum(rois)::BIGINT AS n FROM frame_labels GROUP BY label_key"
        if where is not None:  # the frames' ROI codes (label_key * 2000 + confidence bin)
            counted = (
                self._bits(where) + "SELECT x // 2000 AS label_key, count(*) AS n FROM"
                " (SELECT unnest(codes) AS x FROM frame_codes, s"
                " WHERE get_bit(s.bm, frame_key::INTEGER) = 1) GROUP BY ALL"
            )
        return (
            f"SELECT k.field, k.label, c.n FROM ({counted}) c"
            " JOIN label_keys k ON k.label_key = c.label_key"
        )

    def label_counts_where(self) -> Callable[[], Any]:
        return _sql(self.con, self._labels(self.where))

    def histogram_where(self) -> Callable[[], Any]:
        return _sql(
            self.con,
            self._bits(self.where) + "SELECT count(*) FROM (SELECT unnest(codes) AS x"
            " FROM frame_codes, s WHERE get_bit(s.bm, frame_key::INTEGER) = 1)"
            " WHERE x % 2000 < 1000 AND x // 2000 IN"
            " (SELECT label_key FROM label_keys WHERE field = 'predictions')"
            " GROUP BY (x % 2000) // 100 ORDER BY (x % 2000) // 100",
        )

    def facets(self) -> Callable[[], Any]:
        """Labels and histogram from one read of the ROI codes, frame counts from one of
        frames."""
        bits = self._bits(self.where)
        return _all(
            _sql(
                self.con,
                f"{bits}SELECT x // 100 AS g, count(*) FROM (SELECT unnest(codes) AS x"
                " FROM frame_codes, s WHERE get_bit(s.bm, frame_key::INTEGER) = 1) GROUP BY g",
            ),
            _sql(
                self.con,
                "SELECT count(*), count(DISTINCT context_id), "
                + ", ".join(
                    f"histogram({key}), count({key})"
                    for key in ("weather", "time_of_day", "camera", "location")
                )
                + f" FROM frames f WHERE {self.where}",
            ),
        )

    def label_counts(self) -> Callable[[], Any]:
        return _sql(self.con, self._labels(None))

    def histogram(self) -> Callable[[], Any]:
        return _sql(
            self.con,
            f"SELECT count(*) FROM (SELECT {HIST} AS bin FROM rois WHERE field = 'predictions'"
            " AND confidence IS NOT NULL) GROUP BY bin ORDER BY bin",
        )

    def low_car_count(self) -> Callable[[], Any]:
        return _sql(
            self.con,
            f"SELECT count(*) FROM frame_labels WHERE label_key = {self.car}"
            " AND min_confidence <= 0.3",
        )


# -- checking and timing ------------------------------------------------------------------------
def _rows(table: Any) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in table.to_pylist()]


def _page(table: Any) -> list[tuple[str, int]]:
    return [(r["id"], len(r["rois"] or [])) for r in table.to_pylist()]


def answer(value: Any, compare: str) -> Any:
    if compare == "scalar":
        return value if isinstance(value, int) else value.column(0)[0].as_py()
    if compare == "page":
        return _page(value)
    if compare == "ordered":
        return _rows(value)
    return sorted(_rows(value), key=repr)


def check(case: Case) -> None:
    """Refuse to time queries that do not give the same answer."""
    if case.compare == "none":
        return
    view = answer(case.view(), case.compare)
    for side in (case.hand_new, case.hand_old):
        if answer(side(), case.compare) != view:
            raise SystemExit(f"{case.name}: the view and the hand-written SQL disagree")


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(case: Case, runs: int) -> Figure:
    check(case)
    sides = (case.view, case.hand_new, case.hand_old)
    for side in sides:  # warm caches on every side
        side()
    times: list[list[tuple[float, float]]] = [[], [], []]
    for _ in range(runs):
        for i, side in enumerate(sides):
            times[i].append(_timed(side))
    wall = [[w for w, _ in t] for t in times]
    cpu = [statistics.median(c for _, c in t) for t in times]
    return Figure(
        case.name,
        statistics.median(wall[0]),
        _p95(wall[0]),
        statistics.median(wall[1]),
        statistics.median(wall[2]),
        *cpu,
    )


def report(figures: list[Figure], runs: int) -> str:
    lines = [
        f"{f'case ({runs} runs, medians)':52} {'view':>9} {'p95':>8} {'hand new':>9}"
        f" {'hand old':>9} {'view/new':>8} {'old/view':>8} {'cpu view':>9} {'cpu old':>9}"
    ]
    for f in figures:
        lines.append(
            f"{f.name:52} {f.view_ms:7.1f}ms {f.view_p95_ms:6.1f}ms {f.hand_new_ms:7.1f}ms"
            f" {f.hand_old_ms:7.1f}ms {f.ratio:8.2f} {f.speedup:8.1f} {f.view_cpu_ms:7.1f}ms"
            f" {f.hand_old_cpu_ms:7.1f}ms"
        )
    return "\n".join(lines)


def _step_line(title: str, figure: dict[str, Any]) -> str:
    return (
        f"{title:10} {figure['seconds']:7.1f} s (CPU {figure['cpu_seconds']:.1f} s),"
        f" peak RSS {figure['peak_rss_mb']:,.0f} MB, file {figure['size_mb']:,.0f} MB"
    )


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(frames: int, runs: int, workdir: Path, reuse: bool) -> int:
    old, new = workdir / "old.duckdb", workdir / "new.duckdb"
    print(f"{frames:,} frames on {os.cpu_count()} cores; load average {load()} at the start")
    if not (reuse and old.exists()):
        print(_step_line("generate", in_child("generate", str(old), "--frames", str(frames))))
    if not (reuse and new.exists()):
        print(_step_line("migrate", in_child("migrate", str(old), str(new))))
    print(count_groups(new))
    old_con = duckdb.connect(str(old), read_only=True)
    for setting in ENGINE[:1]:
        old_con.execute(setting)
    try:
        with workbench.open(new, read_only=True) as catalog:
            figures = []
            for case in cases(catalog, old_con, frames):
                figures.append(measure(case, runs))
                print(f"  measured: {case.name} (load {load()})", flush=True)
    finally:
        old_con.close()
    print(report(figures, runs))
    print(f"load average {load()} at the end; peak RSS of this process {peak_rss_mb():,.0f} MB")
    if os.environ.get("SCALE_BENCH_JSON"):
        Path(os.environ["SCALE_BENCH_JSON"]).write_text(
            json.dumps([asdict(f) for f in figures], indent=1)
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("generate", help="write an old-layout catalog; prints JSON")
    gen.add_argument("path", type=Path)
    gen.add_argument("--frames", type=int, default=1_000_000)
    mig = sub.add_parser("migrate", help="copy an old catalog and migrate the copy; prints JSON")
    mig.add_argument("old", type=Path)
    mig.add_argument("new", type=Path)
    ing = sub.add_parser("ingest", help="Parquet files into a new catalog; prints JSON")
    ing.add_argument("folder", type=Path)
    ing.add_argument("catalog", type=Path)
    ing.add_argument("--no-context-keys", action="store_true", help="without context keys")
    ing.add_argument("--no-values-keys", action="store_true", help="without values keys")
    exp = sub.add_parser("export", help="a catalog exported as Parquet; prints JSON")
    exp.add_argument("catalog", type=Path)
    exp.add_argument("folder", type=Path)
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="keep the catalogs here")
    parser.add_argument("--reuse", action="store_true", help="reuse catalogs in --workdir")
    args = parser.parse_args(argv)
    if args.command == "generate":
        print(json.dumps(generate(args.path, args.frames)))
        return 0
    if args.command == "migrate":
        print(json.dumps(migrate(args.old, args.new)))
        return 0
    if args.command == "ingest":
        keys = (not args.no_context_keys, not args.no_values_keys)
        print(json.dumps(ingest(args.folder, args.catalog, *keys)))
        return 0
    if args.command == "export":
        print(json.dumps(synthetic.export(args.catalog, args.folder)))
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return run(args.frames, args.runs, workdir, args.reuse)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
