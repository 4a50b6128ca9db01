"""Format importers and exporters beside DuckDB reading the same files, in the same run.

    python bench/formats_bench.py                    # the full sizes (about 10 minutes)
    python bench/formats_bench.py --scale 0.05       # a quick run
    python bench/formats_bench.py --only clearml coco --runs 3
    python bench/formats_bench.py --only nucleus labelbox --scale 4   # memory as files grow
    python bench/formats_bench.py --only nucleus labelbox --memory   # peak RSS at 1x and 4x
    python bench/formats_bench.py --only nucleus --memory --factors 1 4 8
    python bench/formats_bench.py --only coco --memory --steps import export --exports /tmp/e
    python bench/formats_bench.py --only clearml --memory --factors 64 --steps import \
        --keep /tmp/big     # a 10 GB file: its peak RSS and wall time

Four files are generated (values from the row number, so the same scale gives the same
files): ClearML NDJSON (200,000 frames, 4 ROIs each), a COCO instances file (100,000 images,
400,000 annotations), Nucleus video scenes (100 scenes of 1,000 frames) and Labelbox video
NDJSON (200 videos of 300 frames, onto frames imported first). For each, the workbench's
importer and a hand-written DuckDB `read_json` + SQL load of the same file into equivalent
tables (frames, sources, ROIs) run alternately, each in a child process of its own so that
its peak RSS is its own: a first import into an empty catalog, then the same file again into
the filled one (the update path). Exports run beside DuckDB's COPY of the equivalent JSON. The figures are medians; the ratio is workbench / DuckDB; the load average
is printed before and after.
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
from pathlib import Path
from typing import Any

import duckdb
import orjson

LABELS = ["car", "person", "truck", "bicycle", "bus", "traffic_sign", "dog", "motorcycle"]
WEATHER = ["clear", "rain", "fog", "snow"]
FULL = {"clearml": 200_000, "coco": 100_000, "nucleus": 100, "labelbox": 200}
NUCLEUS_FRAMES, LABELBOX_FRAMES, KEYFRAME_STEP = 1_000, 300, 10
FORMATS = tuple(FULL)


# -- generated files ---------------------------------------------------------------------------
def _label(n: int) -> str:
    return LABELS[(n * 2654435761) % 997 % len(LABELS)]


def write_clearml(path: Path, frames: int) -> dict[str, int]:
    with path.open("wb") as out:
        for i in range(frames):
            rois = []
            for r in range(4):
                x, y = (i * 7 + r * 131) % 1800, (i * 13 + r * 71) % 1000
                poly = (
                    [x, y, x + 40, y, x + 40, y + 30, x, y + 30]
                    if r < 3
                    else [x, y, x + 50, y + 5, x + 45, y + 60, x + 5, y + 40, x - 3, y + 20]
                )
                rois.append(
                    {
                        "id": f"r{r}",
                        "label": [_label(i * 4 + r)],
                        "poly": poly,
                        "confidence": ((i + r) % 100) / 100,
                        "sources": ["default"],
                        "meta": {"occluded": r == 1},
                    }
                )
            frame = {
                "id": f"f{i:07d}",
                "context_id": f"ctx{i // 50:05d}",
                "timestamp": i * 100,
                "meta": {"weather": WEATHER[i // 50 % 4], "speed": i % 90},
                "sources": [
                    {
                        "id": "default",
                        "uri": f"s3://bench/frames/{i:07d}.jpg",
                        "width": 1920,
                        "height": 1080,
                        "content_type": "image/jpeg",
                    }
                ],
                "rois": rois,
            }
            out.write(orjson.dumps(frame) + b"\n")
    return {"frames": frames, "rois": frames * 4}


def write_coco(path: Path, images: int) -> dict[str, int]:
    with path.open("wb") as out:
        out.write(b'{"info": {"description": "bench"}, "images": [')
        for i in range(images):
            image = {"id": i + 1, "file_name": f"s3://bench/coco/{i:07d}.jpg"}
            image.update({"width": 640, "height": 480, "license": 1})
            out.write((b",\n" if i else b"\n") + orjson.dumps(image))
        out.write(b'\n], "annotations": [')
        # Annotations in the order detectors and tools write them: not grouped by image.
        for a in range(images * 4):
            image_id = (a * 7919) % images + 1
            x, y = (a * 7) % 600, (a * 13) % 440
            ann: dict[str, Any] = {
                "id": a + 1,
                "image_id": image_id,
                "category_id": (a % len(LABELS)) + 1,
                "bbox": [x, y, 30.5, 20],
                "area": 610.0,
                "iscrowd": 0,
            }
            if a % 4 == 3:
                ann["segmentation"] = [[x, y, x + 30, y, x + 15, y + 20]]
                ann["area"] = 300.0
            out.write((b",\n" if a else b"\n") + orjson.dumps(ann))
        cats = [
            {"id": n + 1, "name": name, "supercategory": "thing"} for n, name in enumerate(LABELS)
        ]
        out.write(b'\n], "categories": ' + orjson.dumps(cats) + b"}\n")
    return {"frames": images, "rois": images * 4}


def write_nucleus(path: Path, scenes: int) -> dict[str, int]:
    with path.open("wb") as out:
        for s in range(scenes):
            items = [
                {
                    "reference_id": f"scene{s:04d}-{f:05d}",
                    "image_location": f"s3://bench/nucleus/{s:04d}/{f:05d}.jpg",
                    "metadata": {"weather": WEATHER[s % 4], "frame": f},
                }
                for f in range(NUCLEUS_FRAMES)
            ]
            scene = {
                "reference_id": f"scene{s:04d}",
                "frame_rate": 10,
                "metadata": {"site": f"site{s % 7}"},
                "frames": items,
            }
            out.write(orjson.dumps(scene) + b"\n")
    return {"frames": scenes * NUCLEUS_FRAMES, "rois": 0}


def write_labelbox_videos(path: Path, videos: int) -> None:
    """The frames the Labelbox file annotates, as ClearML frames (imported before timing)."""
    with path.open("wb") as out:
        for v in range(videos):
            for f in range(LABELBOX_FRAMES):
                frame = {
                    "id": f"v{v:04d}-{f:04d}",
                    "context_id": f"video{v:04d}",
                    "timestamp": f * 40,
                    "meta": {"_frame_index": f},
                    "sources": [{"id": "default", "uri": f"s3://bench/video/{v}/{f}.jpg"}],
                }
                out.write(orjson.dumps(frame) + b"\n")


def write_labelbox(path: Path, videos: int) -> dict[str, int]:
    rois = 0
    with path.open("wb") as out:
        for v in range(videos):
            row = {"globalKey": f"video{v:04d}"}
            for obj in range(3):
                keyframes = []
                for f in range(1, LABELBOX_FRAMES + 1, KEYFRAME_STEP):
                    left, top = (v * 11 + obj * 100 + f) % 1500, (obj * 200 + f) % 900
                    box = {"top": top, "left": left, "height": 50, "width": 80}
                    keyframes.append({"frame": f, "bbox": box})
                last = LABELBOX_FRAMES - (LABELBOX_FRAMES - 1) % KEYFRAME_STEP
                rois += last
                line = {
                    "uuid": f"00000000-0000-4000-8000-{v:06d}{obj:06d}",
                    "dataRow": row,
                    "name": _label(v * 3 + obj),
                    "segments": [{"keyframes": keyframes}],
                }
                out.write(orjson.dumps(line) + b"\n")
            answer = {
                "uuid": f"00000000-0000-4000-9000-{v:012d}",
                "dataRow": row,
                "name": "weather",
                "answer": {"name": WEATHER[v % 4]},
                "frames": [{"start": 1, "end": LABELBOX_FRAMES // 2}],
            }
            rois += LABELBOX_FRAMES // 2
            out.write(orjson.dumps(answer) + b"\n")
    return {"frames": videos * LABELBOX_FRAMES, "rois": rois}


# -- DuckDB baselines --------------------------------------------------------------------------
# Each loads the file into frames / sources / rois tables with the catalog's main columns.
_BASELINE_CLEARML = """
CREATE TEMP TABLE raw AS SELECT * FROM read_json($file, format = 'newline_delimited',
    columns = {id: 'VARCHAR', context_id: 'VARCHAR', timestamp: 'BIGINT', meta: 'JSON',
      sources: 'STRUCT(id VARCHAR, uri VARCHAR, width INTEGER, height INTEGER,
                       content_type VARCHAR)[]',
      rois: 'STRUCT(id VARCHAR, label VARCHAR[], poly DOUBLE[], confidence DOUBLE,
                    sources VARCHAR[], meta JSON)[]'});
CREATE TABLE frames AS SELECT id, context_id, timestamp, meta AS metadata,
    meta->>'weather' AS weather, now() AS ingested FROM raw;
CREATE TABLE sources AS SELECT id AS frame_id, s.id AS id, s.uri, s.width, s.height,
    s.content_type FROM (SELECT id, unnest(sources) AS s FROM raw);
CREATE TABLE rois AS SELECT frame_id, r.id, 'ground_truth' AS field, r.label[1] AS label,
    r.label AS labels, r.confidence, CASE WHEN len(r.poly) = 8 THEN 'box' ELSE 'polygon' END
    AS kind, [r.poly] AS geometry,
    list_min(list_filter(r.poly, lambda v, i: i % 2 = 1)) AS x_min,
    list_min(list_filter(r.poly, lambda v, i: i % 2 = 0)) AS y_min,
    list_max(list_filter(r.poly, lambda v, i: i % 2 = 1)) AS x_max,
    list_max(list_filter(r.poly, lambda v, i: i % 2 = 0)) AS y_max,
    r.sources AS source_ids, r.meta AS attributes
    FROM (SELECT id AS frame_id, unnest(rois) AS r FROM raw);
"""
_BASELINE_COCO = """
CREATE TEMP TABLE raw AS SELECT * FROM read_json($file, maximum_object_size = 2000000000,
    columns = {images: 'STRUCT(id BIGINT, file_name VARCHAR, width INTEGER, height INTEGER)[]',
      annotations: 'STRUCT(id BIGINT, image_id BIGINT, category_id BIGINT, bbox DOUBLE[],
                           segmentation JSON, area DOUBLE, iscrowd INTEGER)[]',
      categories: 'STRUCT(id BIGINT, name VARCHAR, supercategory VARCHAR)[]'});
CREATE TABLE frames AS SELECT 'bench:' || i.id AS id, i.file_name AS context_id,
    now() AS ingested FROM (SELECT unnest(images) AS i FROM raw);
CREATE TABLE sources AS SELECT 'bench:' || i.id AS frame_id, 'image' AS id,
    i.file_name AS uri, i.width, i.height FROM (SELECT unnest(images) AS i FROM raw);
CREATE TEMP TABLE cats AS SELECT unnest(categories, recursive := true) FROM raw;
CREATE TABLE rois AS SELECT 'bench:' || a.image_id AS frame_id, a.id::VARCHAR AS id,
    'ground_truth' AS field, c.name AS label, [c.name] AS labels,
    CASE WHEN a.segmentation IS NULL THEN 'box' ELSE 'polygon' END AS kind,
    CASE WHEN a.segmentation IS NULL THEN [[a.bbox[1], a.bbox[2], a.bbox[1] + a.bbox[3],
         a.bbox[2], a.bbox[1] + a.bbox[3], a.bbox[2] + a.bbox[4], a.bbox[1],
         a.bbox[2] + a.bbox[4]]] ELSE a.segmentation::DOUBLE[][] END AS geometry,
    a.bbox[1] AS x_min, a.bbox[2] AS y_min, a.bbox[1] + a.bbox[3] AS x_max,
    a.bbox[2] + a.bbox[4] AS y_max, a.area, json_object('category_id', a.category_id,
    'iscrowd', a.iscrowd, 'area', a.area) AS attributes
    FROM (SELECT unnest(annotations) AS a FROM raw) JOIN cats c ON c.id = a.category_id
    ORDER BY frame_id;
"""
_BASELINE_NUCLEUS = """
CREATE TEMP TABLE raw AS SELECT * FROM read_json($file, format = 'newline_delimited',
    columns = {reference_id: 'VARCHAR', frame_rate: 'DOUBLE', metadata: 'JSON',
      frames: 'STRUCT(reference_id VARCHAR, image_location VARCHAR, metadata JSON)[]'});
CREATE TEMP TABLE items AS SELECT reference_id AS context_id, frame_rate, metadata AS scene,
    unnest(frames) AS item, generate_subscripts(frames, 1) - 1 AS frame_index FROM raw;
CREATE TABLE frames AS SELECT item.reference_id AS id, context_id, frame_index,
    round(frame_index * 1000 / frame_rate)::BIGINT AS timestamp,
    json_merge_patch(item.metadata, json_object('scene', scene, 'fps', frame_rate))
    AS metadata, now() AS ingested FROM items;
CREATE TABLE sources AS SELECT item.reference_id AS frame_id, 'image' AS id,
    item.image_location AS uri, round(frame_index * 1000 / frame_rate)::BIGINT AS timestamp
    FROM items;
"""
# Keyframes interpolated linearly between consecutive keyframes; answers over their ranges.
_BASELINE_LABELBOX = """
CREATE TEMP TABLE raw AS SELECT * FROM read_json($file, format = 'newline_delimited',
    columns = {uuid: 'VARCHAR', dataRow: 'STRUCT("globalKey" VARCHAR)', name: 'VARCHAR',
      segments: 'STRUCT(keyframes STRUCT(frame INTEGER, bbox STRUCT(top DOUBLE,
                 "left" DOUBLE, height DOUBLE, width DOUBLE))[])[]',
      answer: 'JSON', frames: 'STRUCT(start INTEGER, "end" INTEGER)[]'});
CREATE TEMP TABLE keys AS SELECT uuid, dataRow.globalKey AS context_id, name, k.frame AS n,
    k.bbox AS b, lead(k.frame) OVER w AS n2, lead(k.bbox) OVER w AS b2
    FROM (SELECT uuid, dataRow, name, unnest(seg.keyframes) AS k FROM (SELECT uuid, dataRow,
          name, unnest(segments) AS seg FROM raw WHERE segments IS NOT NULL))
    WINDOW w AS (PARTITION BY uuid ORDER BY k.frame);
CREATE TEMP TABLE steps AS SELECT uuid, context_id, name, n + o AS n,
    CASE WHEN n2 IS NULL THEN b.left ELSE b.left + (b2.left - b.left) * o / (n2 - n) END AS x,
    CASE WHEN n2 IS NULL THEN b.top ELSE b.top + (b2.top - b.top) * o / (n2 - n) END AS y,
    b.width AS w, b.height AS h, o = 0 AS keyframe
    FROM keys, LATERAL (SELECT unnest(range(0, coalesce(n2 - n, 1))) AS o);
CREATE TABLE rois AS SELECT f.id AS frame_id, s.uuid AS id, 'predictions' AS field,
    s.name AS label, [s.name] AS labels, 'box' AS kind,
    [[x, y, x + w, y, x + w, y + h, x, y + h]] AS geometry, x AS x_min, y AS y_min,
    x + w AS x_max, y + h AS y_max, keyframe, NULL::JSON AS answer FROM steps s
    JOIN frames f ON f.context_id = s.context_id AND f.frame_index = s.n - 1
  UNION ALL
    SELECT f.id, a.uuid, 'predictions', a.name, [a.name], 'classification', NULL, NULL,
    NULL, NULL, NULL, NULL, a.answer FROM (SELECT uuid, dataRow.globalKey AS context_id, name,
      answer, unnest(frames) AS r FROM raw WHERE answer IS NOT NULL) a,
    LATERAL (SELECT unnest(range(a.r.start, a.r."end" + 1)) AS n) x
    JOIN frames f ON f.context_id = a.context_id AND f.frame_index = x.n - 1;
"""
_BASELINE_SQL = {
    "clearml": _BASELINE_CLEARML,
    "coco": _BASELINE_COCO,
    "nucleus": _BASELINE_NUCLEUS,
    "labelbox": _BASELINE_LABELBOX,
}
_EXPORT_SQL = {
    "clearml": """COPY (SELECT f.id, f.context_id, f.timestamp, f.metadata AS meta,
        (SELECT list({id: s.id, uri: s.uri, width: s.width, height: s.height})
           FROM sources s WHERE s.frame_id = f.id) AS sources,
        r.rois FROM frames f LEFT JOIN (SELECT frame_id, list({id: id, label: labels,
           poly: flatten(geometry), confidence: confidence, sources: source_ids,
           meta: attributes}) AS rois FROM rois GROUP BY frame_id) r ON r.frame_id = f.id
        ORDER BY f.id) TO '{out}' (FORMAT json)""",
    "coco": """COPY (SELECT (SELECT list({id: s.frame_id, file_name: s.uri, width: s.width,
           height: s.height}) FROM sources s) AS images,
        (SELECT list({id: id::BIGINT, image_id: split_part(frame_id, ':', 2)::BIGINT,
           bbox: [x_min, y_min, x_max - x_min, y_max - y_min], area: area,
           segmentation: CASE WHEN kind = 'polygon' THEN geometry END, category: label})
           FROM rois) AS annotations) TO '{out}' (FORMAT json)""",
    # One scene per context, its frames in order; one line per object (keyframes) or answer.
    "nucleus": """COPY (SELECT f.context_id AS reference_id,
        any_value(f.metadata->'$.fps') AS frame_rate, any_value(f.metadata->'$.scene')
           AS metadata,
        list({reference_id: f.id, image_location: s.uri, metadata: f.metadata}
           ORDER BY f.frame_index) AS frames
        FROM frames f JOIN sources s ON s.frame_id = f.id GROUP BY f.context_id
        ORDER BY f.context_id) TO '{out}' (FORMAT json)""",
    # The workbench's content: per track its segments (runs of frames that follow each
    # other), each with its keyframes and its ends; per answer its value and frame ranges.
    "labelbox": """COPY (WITH b AS (SELECT r.id, f.context_id, r.label, r.kind, r.answer,
           f.frame_index + 1 AS n, r.x_min, r.y_min, r.x_max, r.y_max, r.keyframe
           OR lag(f.frame_index) OVER w IS DISTINCT FROM f.frame_index - 1
           OR lead(f.frame_index) OVER w IS DISTINCT FROM f.frame_index + 1 AS kept,
           f.frame_index - row_number() OVER w AS run
        FROM rois r JOIN frames f ON f.id = r.frame_id
        WINDOW w AS (PARTITION BY r.id ORDER BY f.context_id, f.frame_index)),
      s AS (SELECT id, context_id, run, any_value(label) AS name, any_value(kind) AS kind,
           any_value(answer) AS answer, {start: min(n), "end": max(n)} AS frames,
           {keyframes: list({frame: n, bbox: {top: y_min, "left": x_min,
              height: y_max - y_min, width: x_max - x_min}, classifications: []}
              ORDER BY n) FILTER (WHERE kept AND kind = 'box')} AS segment
        FROM b GROUP BY ALL)
      SELECT id AS uuid, {globalKey: context_id} AS "dataRow", any_value(name) AS name,
        any_value(answer) AS answer,
        CASE WHEN any_value(kind) = 'box' THEN [] END AS classifications,
        list(segment ORDER BY run) FILTER (WHERE kind = 'box') AS segments,
        list(frames ORDER BY run) FILTER (WHERE kind = 'classification') AS frames
      FROM s GROUP BY id, context_id
      ORDER BY any_value(kind) = 'classification', context_id, id) TO '{out}' (FORMAT json)""",
}


def same_lines(ours: Path, theirs: Path) -> bool:
    """Whether two NDJSON exports hold the same lines in the same order, values compared as
    parsed (DuckDB writes a key it has no value for as null; the workbench leaves it out)."""

    def lines(path: Path) -> list[dict[str, Any]]:
        with path.open("rb") as f:
            return [{k: v for k, v in orjson.loads(line).items() if v is not None} for line in f]

    return lines(ours) == lines(theirs)


def baseline_setup(setup: Path, db: Path) -> dict[str, int]:
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE frames AS SELECT id, context_id, (meta->>'_frame_index')::INT "
            "AS frame_index FROM read_json($f, format = 'newline_delimited', columns = "
            "{id: 'VARCHAR', context_id: 'VARCHAR', meta: 'JSON'})",
            {"f": str(setup)},
        )
        return {"frames": _count(con, "frames"), "rois": 0}


def baseline_import(fmt: str, file: Path, db: Path) -> dict[str, int]:
    with duckdb.connect(str(db)) as con:
        if fmt != "labelbox":
            for table in ("frames", "sources", "rois"):
                con.execute(f"DROP TABLE IF EXISTS {table}")
        else:
            con.execute("DROP TABLE IF EXISTS rois")
        for statement in _statements(_BASELINE_SQL[fmt]):
            con.execute(statement, {"file": str(file)} if "$file" in statement else None)
        con.execute("DROP TABLE raw")
        con.execute("CHECKPOINT")
        counts = {"frames": _count(con, "frames")}
        counts["rois"] = _count(con, "rois") if _has_table(con, "rois") else 0
    return counts


def baseline_export(fmt: str, db: Path, out: Path) -> dict[str, int]:
    with duckdb.connect(str(db)) as con:
        con.execute(_EXPORT_SQL[fmt].replace("{out}", str(out)))
        rois = _count(con, "rois") if _has_table(con, "rois") else 0
        return {"frames": _count(con, "frames"), "rois": rois}


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def baseline_by_statement(fmt: str, file: Path, db: Path, *, indent: str = "  ") -> float:
    """The DuckDB baseline's load of `file` into `db` (which may hold tables already), each
    statement's CPU printed; returns the whole load's CPU seconds (connect and close in it)."""
    started = time.process_time()
    with duckdb.connect(str(db)) as con:
        for statement in _statements(_BASELINE_SQL[fmt]):
            at = time.process_time()
            con.execute(statement, {"file": str(file)} if "$file" in statement else None)
            head = " ".join(statement.split())[:60]
            print(f"{indent}{time.process_time() - at:7.3f} s  {head}")
        con.execute("DROP TABLE raw")
        at = time.process_time()
        con.execute("CHECKPOINT")
        print(f"{indent}{time.process_time() - at:7.3f} s  CHECKPOINT")
    spent = time.process_time() - started
    print(f"{indent}{spent:7.3f} s  baseline {fmt} in all (connect and close included)")
    return spent


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()
    return bool(rows)


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


# -- the workbench -----------------------------------------------------------------------------
def workbench_setup(setup: Path, db: Path) -> dict[str, int]:
    import workbench
    from workbench.ingest import importer

    with workbench.open(db) as catalog:
        done = importer("clearml")(catalog, [setup], progress=False)
        assert done.ok, done
        return {"frames": done.frames, "rois": 0}


def workbench_import(fmt: str, file: Path, db: Path) -> dict[str, int]:
    import workbench
    from workbench.ingest import importer

    options: dict[str, Any] = {"progress": False}
    if fmt == "coco":
        options["id_prefix"] = "bench:"
    if fmt == "nucleus":
        options["update"] = True
    with workbench.open(db) as catalog:
        report = importer(fmt)(catalog, [file], **options)
        if not report.ok:
            raise SystemExit(f"{fmt} import refused records: {report}")
        return {"frames": report.frames, "rois": report.rois}


def workbench_export(fmt: str, db: Path, out: Path) -> dict[str, int]:
    import workbench
    from workbench.ingest import exporter

    with workbench.open(db) as catalog:
        report = exporter(fmt)(catalog.view(), out, progress=False)
        return {"frames": report.frames, "rois": report.rois}


# -- child processes ---------------------------------------------------------------------------
def child(args: argparse.Namespace) -> None:
    """One measured step, in a process of its own: prints seconds, peak RSS and counts."""
    steps: dict[str, Callable[[], dict[str, int]]] = {
        "workbench-setup": lambda: workbench_setup(Path(args.file), Path(args.db)),
        "duckdb-setup": lambda: baseline_setup(Path(args.file), Path(args.db)),
        "workbench-import": lambda: workbench_import(args.fmt, Path(args.file), Path(args.db)),
        "duckdb-import": lambda: baseline_import(args.fmt, Path(args.file), Path(args.db)),
        "workbench-export": lambda: workbench_export(args.fmt, Path(args.db), Path(args.file)),
        "duckdb-export": lambda: baseline_export(args.fmt, Path(args.db), Path(args.file)),
    }
    if args.step.startswith("workbench"):  # loaded before the clock starts, as duckdb is
        import workbench.ingest.clearml
        import workbench.ingest.coco
        import workbench.ingest.labelbox
        import workbench.ingest.nucleus  # noqa: F401
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    counts = steps[args.step]()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    rss = after.ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_mb": rss, **counts}))


def run_child(step: str, fmt: str, file: Path, db: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "child", step, fmt, str(file), str(db)]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{step} {fmt} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _fresh(db: Path, setup_db: Path | None) -> None:
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    if setup_db is not None:
        shutil.copy(setup_db, db)


def measure(fmt: str, folder: Path, runs: int, scale: float) -> list[dict[str, Any]]:
    count = max(1, round(FULL[fmt] * scale))
    file = folder / f"{fmt}.{'json' if fmt == 'coco' else 'ndjson'}"
    started = time.perf_counter()
    setup = None
    if fmt == "labelbox":
        setup = folder / "labelbox-videos.ndjson"
        write_labelbox_videos(setup, count)
    size = {"clearml": write_clearml, "coco": write_coco, "nucleus": write_nucleus,
            "labelbox": write_labelbox}[fmt](file, count)  # fmt: skip
    print(f"\n{fmt}: {file.stat().st_size / 1e6:.0f} MB, {size['frames']:,} frames, "
          f"{size['rois']:,} ROIs (written in {time.perf_counter() - started:.1f} s)")  # fmt: skip
    rows: list[dict[str, Any]] = []
    sides = {"workbench": folder / "wb.duckdb", "duckdb": folder / "base.duckdb"}
    setups: dict[str, Path | None] = {"workbench": None, "duckdb": None}
    if setup is not None:  # the frames of the videos, stored once, copied before each run
        for side, db in sides.items():
            _fresh(db, None)
            run_child(f"{side}-setup", "labelbox", setup, db)
            setups[side] = db.with_name(f"{side}-setup.duckdb")
            shutil.copy(db, setups[side])  # type: ignore[arg-type]
    figures: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for _ in range(runs):
        for side, db in sides.items():  # alternately: both see the same machine load
            _fresh(db, setups[side])
            first = run_child(f"{side}-import", fmt, file, db)
            again = run_child(f"{side}-import", fmt, file, db)
            figures.setdefault("import", {}).setdefault(side, []).append(first)
            figures.setdefault("update", {}).setdefault(side, []).append(again)
            if fmt in _EXPORT_SQL:
                out = folder / f"{side}-export.{'json' if fmt == 'coco' else 'ndjson'}"
                done = run_child(f"{side}-export", fmt, out, db)
                figures.setdefault("export", {}).setdefault(side, []).append(done)
    if fmt == "labelbox":  # the baseline's export must say what the workbench's says
        same = same_lines(folder / "workbench-export.ndjson", folder / "duckdb-export.ndjson")
        print(f"  export: DuckDB's lines {'are' if same else 'are NOT'} the workbench's")
    for step, by_side in figures.items():
        wb, base = by_side["workbench"], by_side["duckdb"]
        row = {
            "format": fmt,
            "step": step,
            "frames": size["frames"],
            "rois": wb[0]["rois"],
            "duckdb_rois": base[0]["rois"],
            "workbench_s": statistics.median(r["seconds"] for r in wb),
            "duckdb_s": statistics.median(r["seconds"] for r in base),
            "workbench_cpu_s": statistics.median(r["cpu"] for r in wb),
            "duckdb_cpu_s": statistics.median(r["cpu"] for r in base),
            "workbench_rss_mb": max(r["rss_mb"] for r in wb),
            "duckdb_rss_mb": max(r["rss_mb"] for r in base),
        }
        row["ratio"] = row["workbench_s"] / row["duckdb_s"]
        # CPU seconds of the process (every thread): what a loaded machine inflates least.
        row["cpu_ratio"] = row["workbench_cpu_s"] / max(row["duckdb_cpu_s"], 1e-9)
        row["frames_per_s"] = row["frames"] / row["workbench_s"]
        # the baseline's own rate: what the engine itself reaches on this machine
        row["duckdb_frames_per_s"] = row["frames"] / row["duckdb_s"]
        rows.append(row)
        print(
            f"  {step:7s} workbench {row['workbench_s']:7.2f} s "
            f"({row['frames_per_s']:>9,.0f} frames/s, {row['workbench_rss_mb']:5.0f} MB RSS) | "
            f"DuckDB {row['duckdb_s']:6.2f} s ({row['duckdb_frames_per_s']:>9,.0f} frames/s, "
            f"{row['duckdb_rss_mb']:5.0f} MB) | "
            f"ratio {row['ratio']:.2f}x; CPU {row['workbench_cpu_s']:.2f} s / "
            f"{row['duckdb_cpu_s']:.2f} s = {row['cpu_ratio']:.2f}x; "
            f"ROIs {row['rois']:,} / {row['duckdb_rois']:,}",
            flush=True,
        )
    return rows


def memory(
    fmt: str,
    folder: Path,
    scale: float,
    factors: tuple[int, ...] = (1, 4),
    steps: tuple[str, ...] = ("import", "update", "export"),
    exports: Path | None = None,
) -> list[dict[str, Any]]:
    """Peak RSS of the workbench's first import, update and export (or those of `steps`) at
    `scale` and at each of `factors` times it: flat memory means a larger file does not take
    more memory (past the size where a batch is full, which the smallest file may not reach).
    `exports`: a folder that keeps each export (`coco-4x.json`, ...), e.g. to compare two
    versions' files byte for byte."""
    rows: list[dict[str, Any]] = []
    for factor in factors:
        count = max(1, round(FULL[fmt] * scale * factor))
        sub = folder / f"{fmt}-{factor}x"
        sub.mkdir(parents=True, exist_ok=True)
        file = sub / f"{fmt}.{'json' if fmt == 'coco' else 'ndjson'}"
        db = sub / "wb.duckdb"
        _fresh(db, None)
        if fmt == "labelbox":
            setup = sub / "labelbox-videos.ndjson"
            write_labelbox_videos(setup, count)
            run_child("workbench-setup", "labelbox", setup, db)
        writers = {"clearml": write_clearml, "coco": write_coco, "nucleus": write_nucleus,
                   "labelbox": write_labelbox}  # fmt: skip
        size = writers[fmt](file, count)
        row: dict[str, Any] = {"format": fmt, "factor": factor, "mb": file.stat().st_size / 1e6,
                               **size}  # fmt: skip
        for step in steps:
            if step == "export" and fmt not in _EXPORT_SQL:
                continue
            out = sub / f"export.{'json' if fmt == 'coco' else 'ndjson'}"
            name = "workbench-export" if step == "export" else "workbench-import"
            done = run_child(name, fmt, out if step == "export" else file, db)
            row[f"{step}_rss_mb"], row[f"{step}_cpu_s"] = done["rss_mb"], done["cpu"]
            row[f"{step}_s"] = done["seconds"]
            if step == "export" and exports is not None:
                exports.mkdir(parents=True, exist_ok=True)
                shutil.move(out, exports / f"{fmt}-{factor}x{out.suffix}")
            row[f"{step}_load"] = os.getloadavg()[0]  # a long step's wall time is mostly load
            print(
                f"  memory {fmt} {step:7s} {factor}x ({row['mb']:,.0f} MB, {row['frames']:,} "
                f"frames): peak RSS {done['rss_mb']:,.0f} MB, {done['seconds']:.1f} s, CPU "
                f"{done['cpu']:.1f} s, load {row[f'{step}_load']:.1f} at the end",
                flush=True,
            )
        rows.append(row)
        shutil.rmtree(sub)
    for step in ("import", "update", "export"):
        if f"{step}_rss_mb" not in rows[0]:
            continue
        first = rows[0]
        for row in rows[1:]:
            small, large = first[f"{step}_rss_mb"], row[f"{step}_rss_mb"]
            print(
                f"  memory {fmt} {step:7s} peak RSS {small:6.0f} MB at {first['factor']}x "
                f"({first['mb']:.0f} MB, {first['frames']:,} frames) -> {large:6.0f} MB at "
                f"{row['factor']}x ({row['mb']:.0f} MB): x{large / small:.2f}; "
                f"CPU {first[f'{step}_cpu_s']:.1f} s -> {row[f'{step}_cpu_s']:.1f} s",
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("child")
    one.add_argument("step")
    one.add_argument("fmt")
    one.add_argument("file")
    one.add_argument("db")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--keep", type=Path, help="generate the files in this folder")
    parser.add_argument(
        "--memory", action="store_true", help="peak RSS at --scale and at 4x it (no DuckDB side)"
    )
    parser.add_argument(
        "--factors", type=int, nargs="+", default=[1, 4], help="with --memory: the file sizes"
    )
    parser.add_argument(
        "--steps",
        nargs="+",
        choices=("import", "update", "export"),
        default=["import", "update", "export"],
        help="with --memory: the steps measured (an update and an export follow an import)",
    )
    parser.add_argument(
        "--exports", type=Path, help="with --memory: keep the exported files in this folder"
    )
    args = parser.parse_args()
    if args.command == "child":
        child(args)
        return
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="formats-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for fmt in args.only:
            if args.memory:
                rows.extend(
                    memory(
                        fmt,
                        folder,
                        args.scale,
                        tuple(args.factors),
                        tuple(args.steps),
                        args.exports,
                    )
                )
            else:
                rows.extend(measure(fmt, folder, args.runs, args.scale))
    after = os.getloadavg()
    print(f"load average after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"load": [load, after], "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
