"""A synthetic catalog at scale: Parquet files generated in DuckDB SQL, then ingested.

    python bench/synthetic.py generate DIR --frames 1000000
    python bench/synthetic.py ingest DIR CATALOG [--method importer|direct]
    python bench/synthetic.py export CATALOG DIR [--method exporter|direct]

The files have the layout of the Parquet exporter (frames/sources/rois.parquet with the
catalog's columns and types), so the `parquet` importer reads them as it reads an export.
Values come from hash() of the row number: the same N always gives the same catalog, and no
Python object is made per frame. Contexts hold ~50 frames sharing weather, time of day and
camera; each frame has one source and 2 to 6 ROIs (4 on average), alternately ground truth
and predictions, over 10 labels with a skewed distribution.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

import workbench
from workbench.ingest.parquet import TABLES, export_files, import_files

# Weighted so some labels are common and some rare, as in real driving data.
LABELS: dict[str, int] = {
    "car": 30,
    "person": 20,
    "truck": 10,
    "bicycle": 8,
    "traffic_sign": 8,
    "traffic_light": 7,
    "bus": 6,
    "motorcycle": 5,
    "dog": 4,
    "stroller": 2,
}
WEATHER = ["clear", "rain", "fog", "snow"]
TIME_OF_DAY = ["day", "night", "dusk"]
CAMERAS = ["front", "rear", "left", "right"]
CONTEXT_SIZE = 50
DEFAULT_FRAMES = 1_000_000


@dataclass(frozen=True)
class Generated:
    folder: Path
    frames: int
    rois: int
    contexts: int
    seconds: float


def _label_table() -> list[str]:
    """100 slots filled in proportion to the weights: label = slot[hash % 100]."""
    slots = [label for label, weight in LABELS.items() for _ in range(weight)]
    assert len(slots) == 100
    return slots


def _rnd(expr: str, salt: int) -> str:
    """A pseudo-random UBIGINT of an integer, one independent stream per salt.

    (hash(x, salt) is not used: its values for different salts are correlated.)
    """
    return f"hash(({expr}) + {salt << 40})"


def _pick(values: list[str], expr: str) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"[{listed}][(1 + ({expr}) % {len(values)})::BIGINT]"


def _frames_sql(n: int, ctx: int) -> str:
    context = f"(i // {ctx})"
    weather, tod, camera = (
        _pick(WEATHER, _rnd(context, 1)),
        _pick(TIME_OF_DAY, _rnd(context, 2)),
        _pick(CAMERAS, _rnd(context, 3)),
    )
    return f"""
        SELECT printf('f%09d', i) AS id, 'synthetic' AS dataset, 'v1' AS version,
               printf('ctx%07d', {context}) AS context_id,
               1700000000000 + {context} * 3600000 + (i % {ctx}) * 100 AS timestamp,
               (i % {ctx})::INTEGER AS frame_index, {ctx}::INTEGER AS num_frames,
               json_object('weather', weather, 'time_of_day', time_of_day, 'camera', camera,
                           'speed', ({_rnd("i", 4)} % 1300) / 10.0,
                           'scene', printf('scene-%d', {_rnd(context, 5)} % 200))::JSON
                   AS metadata,
               weather, time_of_day, camera, NULL::VARCHAR AS location,
               NULL::TIMESTAMP AS saved, NULL::VARCHAR AS saved_in_version,
               NULL::TIMESTAMP AS ingested
        FROM (SELECT range AS i, {weather} AS weather, {tod} AS time_of_day,
                     {camera} AS camera FROM range({n}))
    """


def _sources_sql(n: int, ctx: int) -> str:
    return f"""
        SELECT printf('f%09d', range) AS frame_id, 'cam' AS id,
               printf('/data/synthetic/images/f%09d.jpg', range) AS uri,
               1920::INTEGER AS width, 1080::INTEGER AS height, 'image/jpeg' AS content_type,
               1700000000000 + (range // {ctx}) * 3600000 + (range % {ctx}) * 100 AS timestamp,
               NULL::VARCHAR AS preview_uri, NULL::JSON AS masks
        FROM range({n})
    """


def _rois_sql(n: int) -> str:
    slots = ", ".join(f"'{s}'" for s in _label_table())
    return f"""
        SELECT printf('f%09d', i) AS frame_id, printf('r%d', k) AS id,
               CASE WHEN k % 2 = 0 THEN 'ground_truth' ELSE 'predictions' END AS field,
               label, [label] AS labels,
               CASE WHEN k % 2 = 1 THEN ({_rnd("i * 8 + k", 6)} % 1000) / 1000.0 END AS confidence,
               'box' AS kind,
               [[x, y, x + w, y, x + w, y + h, x, y + h]] AS geometry,
               x AS x_min, y AS y_min, x + w AS x_max, y + h AS y_max, w * h AS area,
               ['cam'] AS source_ids, NULL::JSON AS mask, NULL::JSON AS attributes,
               NULL::INTEGER AS track_index, NULL::BOOLEAN AS keyframe
        FROM (
            SELECT i, k, [{slots}][(1 + {_rnd("i * 8 + k", 7)} % 100)::BIGINT] AS label,
                   ({_rnd("i * 8 + k", 8)} % 1600)::DOUBLE AS x, ({_rnd("i * 8 + k", 9)} % 870)::DOUBLE AS y,
                   (10 + {_rnd("i * 8 + k", 10)} % 300)::DOUBLE AS w,
                   (10 + {_rnd("i * 8 + k", 11)} % 200)::DOUBLE AS h
            FROM (SELECT range AS i, unnest(range((2 + {_rnd("range", 12)} % 5)::BIGINT)) AS k FROM range({n}))
        )
    """


def generate(
    folder: str | Path, frames: int = DEFAULT_FRAMES, context_size: int = CONTEXT_SIZE
) -> Generated:
    """Write frames.parquet, sources.parquet and rois.parquet for `frames` frames."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    con = duckdb.connect()
    try:
        for name, query in (
            ("frames", _frames_sql(frames, context_size)),
            ("sources", _sources_sql(frames, context_size)),
            ("rois", _rois_sql(frames)),
        ):
            con.execute(
                f"COPY ({query}) TO '{out / (name + '.parquet')}' (FORMAT parquet, COMPRESSION zstd)"
            )
        rois = con.execute(f"SELECT count(*) FROM '{out / 'rois.parquet'}'").fetchall()[0][0]
    finally:
        con.close()
    contexts = -(-frames // context_size)
    return Generated(out, frames, int(rois), contexts, time.perf_counter() - started)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest(folder: str | Path, catalog_path: str | Path, method: str = "importer") -> dict:
    """Load the files into a new catalog; `direct` is a bare INSERT ... SELECT for reference.

    The reference runs on a plain DuckDB connection to the catalog file: the catalog itself
    cannot read files (its engine is sealed, see docs/security.md).
    """
    folder, catalog_path = Path(folder), Path(catalog_path)
    workbench.open(catalog_path).close()  # the schema, outside the timing
    started, cpu_started = time.perf_counter(), time.process_time()
    if method == "importer":
        with workbench.open(catalog_path) as catalog:
            report = import_files(catalog, [folder], progress=False)
            if not report.ok:
                raise SystemExit(f"import rejected rows: {report}")
            catalog.cursor().execute("CHECKPOINT")
    elif method == "direct":
        with duckdb.connect(str(catalog_path)) as con:
            con.execute("BEGIN TRANSACTION")
            for table in ("frames", "sources", "rois"):
                path = str(folder / f"{table}.parquet")
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [path])
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
    else:
        raise SystemExit(f"unknown ingest method {method!r}")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    with duckdb.connect(str(catalog_path), read_only=True) as con:
        frames, rois = con.execute(
            "SELECT (SELECT count(*) FROM frames), (SELECT count(*) FROM rois)"
        ).fetchall()[0]
    return {
        "method": method,
        "frames": int(frames),
        "rois": int(rois),
        "seconds": seconds,
        "frames_per_second": frames / seconds if seconds else 0.0,
        # CPU time of all of DuckDB's threads: what the ingest costs whatever else runs.
        "cpu_seconds": cpu_seconds,
        "peak_rss_mb": peak_rss_mb(),
        "size_mb": catalog_path.stat().st_size / 2**20,
    }


def export(catalog_path: str | Path, folder: str | Path, method: str = "exporter") -> dict:
    """Write the whole catalog as Parquet; `direct` is DuckDB's own COPY, for reference."""
    catalog_path, folder = Path(catalog_path), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    if method == "exporter":
        with workbench.open(catalog_path, read_only=True) as catalog:
            report = export_files(catalog.view(), folder, progress=False)
        frames = report.frames
    elif method == "direct":
        with duckdb.connect(str(catalog_path), read_only=True) as con:
            for table in TABLES:
                con.execute(
                    f"COPY (SELECT * FROM {table}) TO '{folder / (table + '.parquet')}' "
                    "(FORMAT parquet, COMPRESSION zstd)"
                )
            frames = con.execute("SELECT count(*) FROM frames").fetchall()[0][0]
    else:
        raise SystemExit(f"unknown export method {method!r}")
    seconds = time.perf_counter() - started
    return {
        "method": method,
        "frames": int(frames),
        "seconds": seconds,
        "frames_per_second": frames / seconds if seconds else 0.0,
        "cpu_seconds": time.process_time() - cpu_started,
        "peak_rss_mb": peak_rss_mb(),
        "size_mb": sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write the Parquet files")
    gen.add_argument("folder")
    gen.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    ing = sub.add_parser("ingest", help="ingest the files into a new catalog; prints JSON")
    ing.add_argument("folder")
    ing.add_argument("catalog")
    ing.add_argument("--method", choices=["importer", "direct"], default="importer")
    exp = sub.add_parser("export", help="export a catalog as Parquet; prints JSON")
    exp.add_argument("catalog")
    exp.add_argument("folder")
    exp.add_argument("--method", choices=["exporter", "direct"], default="exporter")
    args = parser.parse_args(argv)
    if args.command == "generate":
        result = asdict(generate(args.folder, args.frames))
        result["folder"] = str(result["folder"])
    elif args.command == "export":
        result = export(args.catalog, args.folder, args.method)
    else:
        result = ingest(args.folder, args.catalog, args.method)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
