"""Catalog speed: Parquet ingest and export, and queries via the View API vs hand-written SQL.

    python bench/catalog_bench.py                  # 1,000,000 frames, ~4,000,000 ROIs
    python bench/catalog_bench.py --frames 20000   # a quick run

Ingest and export run in child processes (bench/synthetic.py ingest / export) so each peak
RSS is that step's own, each beside DuckDB's own reader or writer on the same files. Each query runs `--runs` times through the View API and as hand-tuned SQL, alternating,
so both see the same machine load; both answers are compared before any time is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic

import workbench
from workbench.store.catalog import Catalog

TARGETS = {
    "ingest_frames_per_second": 100_000,
    "query_median_ms": 50.0,
    "ratio": 1.5,
    "ingest_peak_rss_mb": 2048,
}


@dataclass(frozen=True)
class QueryFigure:
    name: str
    view_median_ms: float
    view_p95_ms: float
    hand_median_ms: float
    hand_p95_ms: float
    # CPU time of the process (every DuckDB thread), which other load on the machine does not
    # inflate the way it inflates wall time.
    view_cpu_ms: float
    hand_cpu_ms: float

    @property
    def ratio(self) -> float:
        return self.view_median_ms / self.hand_median_ms if self.hand_median_ms else 0.0


@dataclass(frozen=True)
class Case:
    name: str
    view: Callable[[], Any]
    hand: Callable[[], Any]


def _hand(catalog: Catalog, query: str) -> Callable[[], Any]:
    con = catalog.cursor()
    return lambda: con.sql(query).to_arrow_table()


def _rows(table: Any) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in table.to_pylist()]


def cases(catalog: Catalog) -> list[Case]:
    """The four measured queries; `check` below asserts both sides give the same answer."""
    view = catalog.view()
    return [
        Case(
            "frames with a car below 0.3 confidence (count)",
            lambda: view.filter_rois("predictions", labels=["car"], max_confidence=0.3).count(),
            _hand(
                catalog,
                "SELECT count(DISTINCT frame_id) FROM rois WHERE field = 'predictions' "
                "AND label = 'car' AND confidence <= 0.3",
            ),
        ),
        Case(
            "label counts per field",
            view.label_counts,
            _hand(
                catalog,
                "SELECT field, label, count(*) AS count FROM rois GROUP BY field, label "
                "ORDER BY count DESC, field, label",
            ),
        ),
        Case(
            "first 50 contexts with weather = rain",
            lambda: view.match(weather="rain").contexts(0, 50),
            _hand(
                catalog,
                """WITH m AS (SELECT context_id, count(*) AS frames, min(timestamp) AS lo,
                                     max(timestamp) AS hi, arg_min(id, timestamp) AS first
                              FROM frames WHERE weather = 'rain'
                              GROUP BY context_id ORDER BY context_id LIMIT 50)
                   SELECT m.context_id, m.frames, t.total, m.lo, m.hi, m.first FROM m
                   JOIN (SELECT context_id, count(*) AS total FROM frames
                         WHERE context_id IN (SELECT context_id FROM m) GROUP BY context_id) t
                   ON t.context_id = m.context_id ORDER BY m.context_id""",
            ),
        ),
        Case(
            "page of 50 frames with sources and ROIs",
            lambda: view.page(_page_offset(catalog), 50),
            _hand(
                catalog,
                f"""WITH p AS MATERIALIZED (SELECT * FROM frames
                                            LIMIT 50 OFFSET {_page_offset(catalog)})
                    SELECT p.*, s.sources, r.rois FROM p
                    LEFT JOIN (SELECT frame_id, list(s) AS sources FROM sources s
                               WHERE frame_id IN (SELECT id FROM p) GROUP BY frame_id) s
                      ON s.frame_id = p.id
                    LEFT JOIN (SELECT frame_id, list(r) AS rois FROM rois r
                               WHERE frame_id IN (SELECT id FROM p) GROUP BY frame_id) r
                      ON r.frame_id = p.id""",
            ),
        ),
    ]


def _page_offset(catalog: Catalog) -> int:
    """A page in the middle of the catalog, not the first one the scan reaches."""
    total = catalog.cursor().execute("SELECT count(*) FROM frames").fetchall()[0][0]
    return max(int(total) // 2 - 25, 0)


def check(case: Case) -> None:
    """Refuse to time two queries that do not give the same answer."""
    view, hand = case.view(), case.hand()
    if isinstance(view, int):
        same = view == hand.column(0)[0].as_py()
    elif "page" in case.name:
        got = {r["id"]: len(r["rois"]) for r in view.to_pylist()}
        want = {r["id"]: len(r["rois"] or []) for r in hand.to_pylist()}
        same = got == want and len(got) == min(50, len(got) or 50)
    elif "label" in case.name:
        same = sorted(_rows(view)) == sorted(_rows(hand))
    else:
        same = _rows(view) == _rows(hand)
    if not same:
        raise SystemExit(f"{case.name}: the view and the hand-written SQL disagree")


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one call."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(case: Case, runs: int) -> QueryFigure:
    check(case)
    for _ in range(2):  # warm caches on both sides
        case.view()
        case.hand()
    view, hand = [], []
    for _ in range(runs):
        view.append(_timed(case.view))
        hand.append(_timed(case.hand))
    view_ms, hand_ms = [w for w, _ in view], [w for w, _ in hand]
    return QueryFigure(
        case.name,
        statistics.median(view_ms),
        _p95(view_ms),
        statistics.median(hand_ms),
        _p95(hand_ms),
        statistics.median(c for _, c in view),
        statistics.median(c for _, c in hand),
    )


def ingest_in_child(folder: Path, catalog: Path, method: str) -> dict[str, Any]:
    """Ingest in a fresh process, so its peak RSS (getrusage) is the ingest's alone."""
    if catalog.exists():
        catalog.unlink()
    script = Path(synthetic.__file__).resolve()
    out = subprocess.run(
        [sys.executable, str(script), "ingest", str(folder), str(catalog), "--method", method],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def export_in_child(catalog: Path, folder: Path, method: str) -> dict[str, Any]:
    """Export in a fresh process, for the same reason as ingest_in_child."""
    shutil.rmtree(folder, ignore_errors=True)
    script = Path(synthetic.__file__).resolve()
    out = subprocess.run(
        [sys.executable, str(script), "export", str(catalog), str(folder), "--method", method],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(frames: int, runs: int, workdir: Path) -> dict[str, Any]:
    """Generate, ingest and export two ways each, measure the queries; returns every figure."""
    generated = synthetic.generate(workdir / "parquet", frames)
    catalog_path = workdir / "catalog.duckdb"
    direct = ingest_in_child(generated.folder, workdir / "direct.duckdb", "direct")
    importer = ingest_in_child(generated.folder, catalog_path, "importer")
    exporter = export_in_child(catalog_path, workdir / "export", "exporter")
    copy = export_in_child(catalog_path, workdir / "export-direct", "direct")
    with workbench.open(catalog_path, read_only=True) as catalog:
        queries = [measure(case, runs) for case in cases(catalog)]
    return {
        "frames": generated.frames,
        "rois": generated.rois,
        "contexts": generated.contexts,
        "generate_seconds": generated.seconds,
        "ingest": importer,
        "ingest_direct": direct,
        "export": exporter,
        "export_direct": copy,
        "queries": queries,
        "runs": runs,
    }


def report(figures: dict[str, Any]) -> str:
    ing, direct = figures["ingest"], figures["ingest_direct"]
    lines = [
        f"{figures['frames']:,} frames, {figures['rois']:,} ROIs, {figures['contexts']:,} contexts"
        f" on {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}",
        f"generate Parquet:              {figures['generate_seconds']:.1f} s",
        f"ingest, parquet importer:      {ing['frames_per_second']:,.0f} frames/s "
        f"({ing['seconds']:.1f} s, CPU {ing['cpu_seconds']:.1f} s), "
        f"peak RSS {ing['peak_rss_mb']:,.0f} MB, "
        f"catalog {ing['size_mb']:,.0f} MB",
        f"ingest, bare INSERT ... SELECT: {direct['frames_per_second']:,.0f} frames/s "
        f"({direct['seconds']:.1f} s, CPU {direct['cpu_seconds']:.1f} s), "
        f"peak RSS {direct['peak_rss_mb']:,.0f} MB",
        _export_line("export, parquet exporter:     ", figures["export"]),
        _export_line("export, bare COPY (reference): ", figures["export_direct"]),
        "",
    ]
    return "\n".join(lines) + "\n" + report_queries(figures["queries"], figures["runs"])


def _export_line(title: str, figure: dict[str, Any]) -> str:
    return (
        f"{title}{figure['frames_per_second']:,.0f} frames/s ({figure['seconds']:.1f} s, "
        f"CPU {figure['cpu_seconds']:.1f} s), peak RSS {figure['peak_rss_mb']:,.0f} MB, "
        f"files {figure['size_mb']:,.0f} MB"
    )


def report_queries(queries: list[QueryFigure], runs: int) -> str:
    lines = [
        f"{f'query ({runs} runs, view and hand alternating)':48} {'view med':>9} {'p95':>8}"
        f" {'hand med':>9} {'p95':>8} {'ratio':>6} {'cpu view':>9} {'cpu hand':>9}"
    ]
    for q in queries:
        lines.append(
            f"{q.name:48} {q.view_median_ms:7.1f}ms {q.view_p95_ms:6.1f}ms"
            f" {q.hand_median_ms:7.1f}ms {q.hand_p95_ms:6.1f}ms {q.ratio:6.2f}"
            f" {q.view_cpu_ms:7.1f}ms {q.hand_cpu_ms:7.1f}ms"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=synthetic.DEFAULT_FRAMES)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    parser.add_argument(
        "--catalog", type=Path, help="only time the queries, on this existing catalog"
    )
    args = parser.parse_args(argv)
    if args.catalog:
        with workbench.open(args.catalog, read_only=True) as catalog:
            figures = [measure(case, args.runs) for case in cases(catalog)]
        print(report_queries(figures, args.runs))
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="catalog-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(report(run(args.frames, args.runs, workdir)))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
