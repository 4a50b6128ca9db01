"""Browsing a lake-backed catalog at 1M and 10M frames, and the ingest job's throughput.

    .ci/daft-venv .venv   # Daft for the 1-vs-2-worker figures (runs the bench in that venv)
    ~/.cache/workbench/daft-venv/bin/python bench/lake_bench.py --frames 1000000 10000000

For each size, the lake's tables are generated straight into the Delta folders by DuckDB (the
synthetic catalog of bench/synthetic.py: contexts of 50 frames, 2-6 ROIs a frame), committed
with deltalake, and opened as a catalog; every browse interaction is timed through the View
API and, for reference, as hand-written SQL on the same engine. Then an ingest job of Parquet
exports runs with 1 and 2 workers (Daft's native runner; this process alone when Daft is
missing). Figures: median of 3 after one warm-up, with the load average. The lake is deleted
afterwards.
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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import synthetic

import workbench
from workbench.store import lake_groups
from workbench.store.catalog import engine_config
from workbench.store.lake import BUCKET, LAKE_TABLES, ROW, Lake, table_uri
from workbench.store.lake_write import open_for_lake, summarise_lake
from workbench.store.tags import tag_frames, untag_frames

BUCKETS = 8
ROW_GROUP = 16_384  # what the lake writers use (store/lake_write.py): a page reads one
CTX = synthetic.CONTEXT_SIZE


def bucket_offsets(frames: int) -> list[int]:
    """The first frame key of each bucket: frames are keyed in stored order, bucket by
    bucket (store/layout.py), as `lake init` keys them."""
    sizes = [0] * BUCKETS
    for c in range(0, -(-frames // CTX)):
        sizes[c % BUCKETS] += min(CTX, frames - c * CTX)
    return [sum(sizes[:b]) for b in range(BUCKETS)]


# Frames per generated file: a bucket of more is written as several files, each one range of
# the bucket's stored order (10M frames: one file per table and bucket, as before; 100M: 10).
CHUNK_FRAMES = 1_250_000


def chunks(frames: int) -> list[tuple[int, int, int]]:
    """(bucket, first context, end context) of every file to write, in bucket order: the
    contexts of a bucket are those with context % BUCKETS == bucket."""
    contexts = -(-frames // CTX)
    out = []
    for bucket in range(BUCKETS):
        mine = len(range(bucket, contexts, BUCKETS))
        per = max(1, -(-(mine * CTX) // CHUNK_FRAMES))
        step = -(-mine // per)
        for lo in range(0, mine, step):
            hi = min(mine, lo + step)
            out.append((bucket, bucket + lo * BUCKETS, bucket + (hi - 1) * BUCKETS + 1))
    return out


def _queries(
    names: dict[str, list[tuple[str, str | None]]], frames: int, bucket: int, first: int, end: int
) -> dict[str, str]:
    """The SELECT of each table's rows of contexts [first, end) of `bucket`, in stored order."""
    only = f"FROM range({first * CTX}, {min(end * CTX, frames)}) WHERE (range // {CTX}) % {BUCKETS} = {bucket}"
    base = bucket << 40  # each bucket's files hold one range of the stored order
    offset = bucket_offsets(frames)[bucket]

    def of(sql: str) -> str:
        return sql.replace(f"FROM range({frames})", only)

    def key(no: str) -> str:
        return f"{offset} + ({no} // {CTX} // {BUCKETS}) * {CTX} + {no} % {CTX}"

    def listed(name: str, extra: dict[str, str]) -> str:
        # columns the synthetic rows lack (added to the schema since) are NULL
        return ", ".join(
            extra.get(c, f"t.{c}" if t is None else f"NULL::{t}") + f" AS {c}"
            for c, t in names[name]
            if c != BUCKET
        )

    fno = "CAST(substr(t.id, 2) AS BIGINT)"
    rno = "CAST(substr(t.frame_id, 2) AS BIGINT)"
    roi_row = f"{base} + {rno} * 8 + CAST(substr(t.id, 2) AS BIGINT)"
    return {
        "frames": f"SELECT {listed('frames', {'frame_key': key(fno), ROW: f'{base} + {fno}'})} "
        f"FROM ({of(synthetic._frames_sql(frames, CTX))}) t ORDER BY {ROW}",
        "sources": f"SELECT {listed('sources', {'frame_key': key(rno), ROW: f'{base} + {rno}'})} "
        f"FROM ({of(synthetic._sources_sql(frames, CTX))}) t ORDER BY {ROW}",
        "rois": f"SELECT {listed('rois', {'frame_key': key(rno), 'label_key': 'k.label_key', ROW: roi_row})} "
        f"FROM ({of(synthetic._rois_sql(frames))}) t JOIN label_keys k "
        f"ON k.field = t.field AND k.label = t.label ORDER BY {ROW}",
    }


def _written(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, int, int] | None:
    """Rows and `_row` range of a generated file, or None when it is missing or unreadable
    (so a generation interrupted mid-file resumes)."""
    if not path.exists():
        return None
    try:
        rows, lo, hi = con.execute(
            f"SELECT count(*), min(_row), max(_row) FROM read_parquet('{path}')"
        ).fetchall()[0]
    except duckdb.Error:
        return None
    return int(rows), int(lo), int(hi)


def generate_part(root: Path, frames: int, part: int, parts: int, scratch: Path) -> list[dict]:
    """Write the files of every `parts`-th chunk from `part` (one process of a parallel
    generation); returns what each file's Delta add action needs."""
    from deltalake import DeltaTable

    con = duckdb.connect(config={"threads": 1, "memory_limit": "2GB"})
    con.execute(f"SET temp_directory = '{scratch}'")
    con.execute("SET preserve_insertion_order = false")
    labels = ", ".join(
        f"('{f}', '{label}')" for f in ("ground_truth", "predictions") for label in synthetic.LABELS
    )
    con.execute(
        "CREATE TABLE label_keys AS SELECT (row_number() OVER (ORDER BY field, label) - 1)"
        f"::INTEGER AS label_key, field, label FROM (VALUES {labels}) v(field, label)"
    )
    catalog = duckdb.connect(str(root.parent / "catalog.duckdb"), read_only=True)
    types = {
        n: dict(orjson.loads(c))
        for n, c in catalog.execute("SELECT name, columns FROM _lake").fetchall()
    }
    catalog.close()
    made = {
        "frames": synthetic._frames_sql(1, CTX),
        "sources": synthetic._sources_sql(1, CTX),
        "rois": synthetic._rois_sql(1),
    }
    names: dict[str, list[tuple[str, str | None]]] = {}
    for n in LAKE_TABLES:
        have = {str(r[0]) for r in con.execute(f"DESCRIBE {made[n]}").fetchall()}
        have |= {ROW, BUCKET, "frame_key", "label_key"}
        names[n] = [
            (f.name, None if f.name in have else types[n][f.name])
            for f in DeltaTable(table_uri(str(root), n)).schema().fields
        ]
    written = []
    for no, (bucket, first, end) in enumerate(chunks(frames)):
        if no % parts != part:
            continue
        for name, query in _queries(names, frames, bucket, first, end).items():
            folder = Path(table_uri(str(root), name)) / f"{BUCKET}={bucket}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"gen-{no:04d}.parquet"
            done = _written(con, path)
            if done is None:  # a file left by an interrupted run is made again
                partial = path.with_suffix(".partial")
                con.execute(
                    f"COPY ({query}) TO '{partial}' (FORMAT parquet, COMPRESSION zstd, "
                    f"ROW_GROUP_SIZE {ROW_GROUP})"
                )
                partial.rename(path)
                done = _written(con, path)
                assert done is not None
            rows, lo, hi = done
            written.append(
                {
                    "table": name,
                    "bucket": bucket,
                    "file": path.name,
                    "size": path.stat().st_size,
                    "rows": rows,
                    "lo": lo,
                    "hi": hi,
                }
            )
        print(f"  part {part}: chunk {no} (bucket {bucket}) written", file=sys.stderr, flush=True)
    con.close()
    return written


def generate(root: Path, frames: int, parts: int = 1) -> float:
    """Write the three tables' Parquet files into the lake's folders (in stored order, with
    the layout's frame and label keys), in `parts` processes of their own, and commit them."""
    from deltalake import DeltaTable
    from deltalake.transaction import AddAction

    started = time.perf_counter()
    scratch = root.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--generate-part",
                str(root),
                str(frames),
                str(p),
                str(parts),
                str(BUCKETS),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for p in range(parts)
    ]
    written = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"a generating process failed ({proc.returncode})")
        written += json.loads(out.strip().splitlines()[-1])
    shutil.rmtree(scratch, ignore_errors=True)
    now = int(time.time() * 1000)
    for name in LAKE_TABLES:
        dt = DeltaTable(table_uri(str(root), name))
        committed = {Path(f).name for f in dt.file_uris()}  # files of an earlier, cut run
        actions = []
        for w in sorted((w for w in written if w["table"] == name), key=lambda w: w["lo"]):
            if w["file"] in committed:
                continue
            stats = {
                "numRecords": w["rows"],
                "minValues": {"_row": w["lo"]},
                "maxValues": {"_row": w["hi"]},
                "nullCount": {"_row": 0},
            }
            actions.append(
                AddAction(
                    f"{BUCKET}={w['bucket']}/{w['file']}",
                    w["size"],
                    {BUCKET: str(w["bucket"])},
                    now,
                    True,
                    orjson.dumps(stats).decode(),
                )
            )
        if actions:
            dt.create_write_transaction(actions, "append", dt.schema(), [BUCKET])
    return time.perf_counter() - started


def summarise(path: Path) -> float:
    """The catalog's side of the layout for the generated rows (label keys, per-frame
    summaries, the next frame key, the frame groups), as `lake attach` makes it; prints each
    step's wall and CPU seconds and the process's peak RSS."""
    started = time.perf_counter()
    con = duckdb.connect(str(path), config=engine_config())  # the catalog's memory budget
    try:
        lake = Lake.load(con)
        assert lake is not None
        con.execute("BEGIN TRANSACTION")
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("clear", lambda: clear_summaries(con)),
            ("pins", lambda: (lake.prepare(con), lake.pin(con))),
            ("summaries", lambda: summarise_lake(con, progress=True)),
            ("groups", lambda: lake_groups.build(con, lake, progress=True)),
            ("commit", lambda: con.execute("COMMIT")),
        ]
        for name, step in steps:
            t, c = time.perf_counter(), time.process_time()
            step()
            print(
                f"  {name}: {time.perf_counter() - t:.0f} s wall, "
                f"{time.process_time() - c:.0f} s CPU, peak RSS {peak_rss_mb():.0f} MB",
                flush=True,
            )
    finally:
        con.close()
    return time.perf_counter() - started


def clear_summaries(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the summaries of an earlier run (a lake summarised when partly generated)."""
    for table in ("frame_labels", "frame_codes", "code_counts", "label_keys"):
        con.execute(f"DELETE FROM {table}")
    lake_groups.drop(con)


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Median wall ms of `repeat` runs after a warm-up (CPU ms in CPU_MS[-1])."""
    fn()
    runs, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU_MS.append(statistics.median(cpu) * 1000)
    return statistics.median(runs) * 1000


# The CPU time (this process, every thread) of each timed() call, in order: on a machine
# whose cores are shared, wall time is mostly waiting.
CPU_MS: list[float] = []


def hand_page(where: str, offset: int) -> str:
    """A page of frames with their ROIs as a person would write it (frames in stored order)."""
    return (
        f"WITH p AS MATERIALIZED (SELECT * FROM frames {where} LIMIT 50 OFFSET {offset}) "
        "SELECT p.id, list(r.id) FROM p LEFT JOIN rois r ON r.frame_id = p.id GROUP BY p.id"
    )


HAND_FACETS = (
    "SELECT r.label, count(*) FROM rois r JOIN frames f ON f.frame_key = r.frame_key"
    " WHERE f.weather = 'rain' AND r.field = 'ground_truth' GROUP BY 1",
    "SELECT camera, count(*) FROM frames WHERE weather = 'rain' GROUP BY 1",
)


def browse(catalog: Any, frames: int) -> dict[str, Any]:
    """Every interaction through the View API first (the serving side's peak RSS is read
    after them), then the hand-written SQL of the same answers."""
    from workbench.ui.facets import compute_facets

    v = catalog.view()
    con = catalog.cursor()

    def sql(*queries: str) -> Callable[[], Any]:
        return lambda: [con.execute(q).fetchall() for q in queries]

    def facets() -> tuple[Any, Any]:
        rain = catalog.view().match(weather="rain")
        return rain.label_counts("ground_truth"), rain.metadata_values("camera")

    cases: dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]] = {
        "first page (50)": (lambda: v.page(0, 50), sql(hand_page("", 0))),
        "deep page (offset N/2)": (
            lambda: v.page(frames // 2, 50),
            sql(hand_page("", frames // 2)),
        ),
        "filtered page (weather=rain)": (
            lambda: v.match(weather="rain").page(0, 50),
            sql(hand_page("WHERE weather = 'rain'", 0)),
        ),
        "facets under WHERE": (facets, sql(*HAND_FACETS)),
        "app's facet set (typed WHERE)": (
            lambda: compute_facets(catalog.view().where("f.weather = 'rain'"), "predictions"),
            None,
        ),
        "label counts": (
            lambda: v.label_counts("ground_truth"),
            sql("SELECT label, count(*) FROM rois WHERE field = 'ground_truth' GROUP BY 1"),
        ),
        "count with ROI filter": (
            lambda: v.filter_rois("predictions", labels=["dog"], max_confidence=0.3).count(),
            sql(
                "SELECT count(DISTINCT frame_id) FROM rois WHERE field = 'predictions' "
                "AND label = 'dog' AND confidence <= 0.3"
            ),
        ),
    }
    cases.update(memo_cases(catalog, con, frames))
    views, cpus = {}, {}
    for name, (view_fn, _) in cases.items():
        if name in MEMO_CASES:  # the first call counts every group: shown on its own
            t, c = time.perf_counter(), time.process_time()
            view_fn()
            COLD[name] = ((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)
        views[name] = timed(view_fn)
        cpus[name] = CPU_MS[-1]
    rss = peak_rss_mb()
    print(f"  peak RSS after the View API's interactions: {rss:.0f} MB")
    # the view's answers are the hand-written SQL's (a ratio against a wrong answer is none)
    labels, cameras = facets()
    hand_labels, hand_cameras = sql(*HAND_FACETS)()
    assert {r["label"]: r["count"] for r in labels.to_pylist()} == dict(hand_labels)
    assert {r["value"]: r["count"] for r in cameras.to_pylist()} == dict(hand_cameras)
    counted = {r["label"]: r["count"] for r in v.label_counts("ground_truth").to_pylist()}
    assert counted == dict(cases["label counts"][1]()[0])  # type: ignore[misc]
    assert cases["count with ROI filter"][0]() == cases["count with ROI filter"][1]()[0][0][0]  # type: ignore[misc]
    for name in MEMO_CASES:
        got = cases[name][0]()
        want = cases[name][1]()[0]  # type: ignore[misc]
        if name.startswith("tag"):
            assert {r["tag"]: r["count"] for r in got.to_pylist()} == dict(want)
        else:
            assert {i: r["count"] for i, r in enumerate(got.to_pylist()) if r["count"]} == dict(
                want
            )
    with catalog.transaction() as tagging:
        untag_frames(tagging, TAGGED, "bench")
    out: dict[str, Any] = {"view_rss_mb": rss, "first_call": dict(COLD)}
    for name, (ms, cpu) in COLD.items():
        print(f"  {name:30s} first call {ms:8.1f} ms (CPU {cpu:7.1f})")
    for name, (_, hand) in cases.items():
        ms = views[name]
        # past 50M frames the hand-written scans take minutes: timed once after a warm-up
        ref = timed(hand, repeat=1 if frames >= 50_000_000 else 3) if hand else None
        ref_cpu = CPU_MS[-1] if hand else None
        out[name] = {"view_ms": ms, "view_cpu_ms": cpus[name], "sql_ms": ref, "sql_cpu_ms": ref_cpu}
        ratio = f"{ms / ref:.3f}x" if ref else "-"
        print(
            f"  {name:30s} {ms:8.1f} ms (CPU {cpus[name]:7.1f})   hand SQL {ref or 0:8.1f} ms"
            f" (CPU {ref_cpu or 0:7.1f})   ratio {ratio}"
        )
        if name in COLD and ref:  # the first call against the same hand SQL
            cold, cold_cpu = COLD[name]
            out[name]["first_call_ratio"] = cold / ref
            by_cpu = cold_cpu / (ref_cpu or 1.0)
            print(f"  {name:30s} first call / hand SQL {cold / ref:.3f}x (CPU {by_cpu:.3f}x)")
    return out


MEMO_CASES = ("tag counts under WHERE", "range histogram under WHERE")
COLD: dict[str, tuple[float, float]] = {}
TAGGED: list[str] = []


def memo_cases(
    catalog: Any, con: Any, frames: int
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """Tag counts (1,000 frames tagged `bench` for the run) and a timestamp histogram in 24
    bins under `f.weather = 'rain'`, with the hand-written SQL of each."""
    from workbench.query.ranges import value_histogram

    TAGGED[:] = [
        r[0]
        for r in con.execute(f"SELECT id FROM frames LIMIT 1000 OFFSET {frames // 3}").fetchall()
    ]
    with catalog.transaction() as tagging:
        tag_frames(tagging, TAGGED, "bench")
    low, high = con.execute("SELECT min(timestamp), max(timestamp) FROM frames").fetchall()[0]
    width = (high - low) / 24
    rain = "f.weather = 'rain'"
    return {
        "tag counts under WHERE": (
            lambda: catalog.view().where(rain).tag_counts(),
            lambda: [
                con.execute(
                    "SELECT t.tag, count(DISTINCT t.frame_id) FROM tags t JOIN frames f"
                    f" ON f.id = t.frame_id WHERE t.roi_id IS NULL AND {rain} GROUP BY 1"
                ).fetchall()
            ],
        ),
        "range histogram under WHERE": (
            lambda: value_histogram(catalog.view().where(rain), "timestamp", low, high, 24),
            lambda: [
                con.execute(
                    f"SELECT least(floor((timestamp - {low}) / {width}), 23)::INTEGER, count(*)"
                    f" FROM frames f WHERE {rain} AND timestamp BETWEEN {low} AND {high}"
                    " GROUP BY 1"
                ).fetchall()
            ],
        ),
    }


def ingest_throughput(work: Path) -> dict[str, Any]:
    """An ingest job of 4 Parquet exports (25k frames each) with 1 and 2 workers of the same
    engine (Daft's native runner, or this process alone when Daft is missing)."""
    from workbench.jobs import EngineConfig, IngestJob, run_ingest

    paths = []
    for k in range(4):
        made = synthetic.generate(work / f"in{k}", frames=25_000)
        con = duckdb.connect()
        for name in ("frames", "sources", "rois"):
            key = "id" if name == "frames" else "frame_id"
            path = made.folder / f"{name}.parquet"
            con.execute(
                f"COPY (SELECT * REPLACE ('p{k}-' || {key} AS {key}) FROM read_parquet('{path}')) "
                f"TO '{path}.tmp' (FORMAT parquet)"
            )
            os.replace(f"{path}.tmp", path)
        con.close()
        paths.append(str(made.folder))
    try:
        import daft  # noqa: F401

        engine = "daft"
    except ImportError:
        engine = "local"
    out: dict[str, Any] = {"engine": engine}
    for workers in (1, 2):
        catalog = work / f"job{workers}.duckdb"
        open_for_lake(
            str(catalog),
            str(work / f"joblake{workers}"),
            attach=False,
            buckets=BUCKETS,
            progress=False,
        )
        report = run_ingest(
            IngestJob(str(work / f"joblake{workers}"), "parquet", tuple(paths)),
            EngineConfig(engine, workers),
            progress=False,
        )
        # the catalog keys and summarises the job's rows when it first sees them
        t = time.perf_counter()
        with workbench.open(catalog) as opened:
            keyed = opened.sql("SELECT count(frame_key) FROM frames").fetchall()[0][0]
        adopted = time.perf_counter() - t
        out[f"workers_{workers}"] = {
            "frames": report.frames,
            "seconds": report.seconds,
            "frames_per_second": report.frames / report.seconds,
            "keyed_on_open_s": adopted,
        }
        print(
            f"  ingest job, {workers} worker(s): {report.frames} frames in "
            f"{report.seconds:.1f} s = {report.frames / report.seconds:,.0f} frames/s; "
            f"{keyed} keyed by the catalog on opening in {adopted:.1f} s"
        )
    out["scaling"] = out["workers_2"]["frames_per_second"] / out["workers_1"]["frames_per_second"]
    print(f"  scaling 1 -> 2 workers: {out['scaling']:.2f}x")
    return out


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: after fork and exec it keeps the
    parent's peak (the generating and summarising bench), which is what 3.3 GB was at 10M."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def browse_only(path: str, frames: int) -> None:
    """Open the catalog, time the interactions, print them; the last line is JSON."""
    t = time.perf_counter()
    catalog = workbench.open(path)
    opened = time.perf_counter() - t
    rois = catalog.cursor().execute("SELECT count(*) FROM rois").fetchall()[0][0]
    print(f"  opened (pin {len(LAKE_TABLES)} snapshots) in {opened * 1000:.0f} ms; {rois:,} ROIs")
    found: dict[str, Any] = {"open_ms": opened * 1000, "rois": rois}
    found["browse"] = browse(catalog, frames)
    catalog.close()
    found["load"] = os.getloadavg()
    found["rss_mb"] = peak_rss_mb()
    print(
        f"  load average {found['load']}, peak RSS of the browsing process {found['rss_mb']:.0f} MB"
    )
    print(json.dumps(found))


def main() -> int:
    global BUCKETS
    if len(sys.argv) == 7 and sys.argv[1] == "--generate-part":
        BUCKETS = int(sys.argv[6])
        root, frames, part, parts = Path(sys.argv[2]), *map(int, sys.argv[3:6])
        print(json.dumps(generate_part(root, frames, part, parts, root.parent / "scratch")))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "--summarise":
        print(f"summaries made in {summarise(Path(sys.argv[2])):.0f} s")
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--browse-only":
        browse_only(sys.argv[2], int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/workbench-lake-bench"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-ingest", action="store_true")
    parser.add_argument("--no-browse", action="store_true")
    parser.add_argument("--buckets", type=int, default=BUCKETS)
    parser.add_argument("--parts", type=int, default=2, help="generating processes")
    parser.add_argument(
        "--resume", action="store_true", help="keep the files of an interrupted generation"
    )
    parser.add_argument("--generate-only", action="store_true", help="and the summaries")
    args = parser.parse_args()
    BUCKETS = args.buckets
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    try:
        for n in [] if args.no_browse else args.frames:
            folder = args.dir / f"n{n}"
            path = folder / "catalog.duckdb"
            if not (args.resume and path.exists()):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                open_for_lake(
                    str(path), str(folder / "lake"), attach=False, buckets=BUCKETS, progress=False
                )
            seconds = generate(folder / "lake", n, args.parts)
            size = sum(f.stat().st_size for f in (folder / "lake").rglob("*.parquet"))
            print(f"{n:,} frames: lake generated in {seconds:.0f} s, {size / 2**30:.2f} GiB")
            if args.generate_only:  # summaries and browsing later (--summarise, --browse-only)
                continue
            summarised = summarise(path)
            print(f"  summaries (label keys, per-frame labels) made in {summarised:.0f} s")
            # Browsing runs in a process of its own: its peak RSS is the serving side's.
            out = subprocess.run(
                [sys.executable, __file__, "--browse-only", str(path), str(n)],
                check=True,
                capture_output=True,
                text=True,
            )
            shown = out.stdout.strip().splitlines()
            print("\n".join(shown[:-1]))
            results[str(n)] = {
                "generate_s": seconds,
                "summarise_s": summarised,
                "lake_gib": size / 2**30,
                **json.loads(shown[-1]),
            }
            if not args.keep:
                shutil.rmtree(folder)
        if not args.no_ingest:
            work = args.dir / "ingest"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            results["ingest"] = ingest_throughput(work)
            results["ingest"]["load"] = os.getloadavg()
            print(f"  load average {results['ingest']['load']}")
    finally:
        if not args.keep and not args.generate_only:
            shutil.rmtree(args.dir, ignore_errors=True)
    print(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
