"""Nucleus annotation payloads imported onto stored scenes and exported again, with the
process's peak memory; or, with `--against`, imports by two trees of the code alternately,
beside a hand-written DuckDB `read_json` load of the same files, each in a process of its own.

    python bench/nucleus_annotations_bench.py /tmp/nab                 # 100 scenes x 200 frames x 10 boxes
    python bench/nucleus_annotations_bench.py /tmp/nab --scenes 200    # twice the annotations
    python bench/nucleus_annotations_bench.py /tmp/nab --against /tmp/before --runs 3

The first form writes the scenes (NDJSON) and one BoxAnnotation payload per line (as the
SDK's `to_json` writes it) under the folder, imports the scenes, then the annotations (CPU
and wall time of `nucleus_annotations.import_files`), exports them (`export_files`), and
prints the peak RSS after the scenes and after the annotations, with the load average.

With `--against TREE` (a copy of the code, `git archive <rev> | tar -x -C TREE`), two files
are imported, the boxes and a mixed file of as many payloads (boxes, box predictions,
polygons, lines, categories, multicategories, then a few keypoints, segmentations, items'
rows and bad lines), each onto a copy of the scenes' catalog, by TREE's code ("before"), by
this tree's ("after") and by DuckDB (`read_json` of the same file into a table of the ROI
columns, the payloads of frames the catalog holds): in turn, the order alternating between
runs. Each prints process CPU, wall time, peak RSS and the load average; then the medians
and the ratios to DuckDB's CPU.
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _write_scenes(root: Path, scenes: int, frames: int) -> None:
    with (root / "scenes.ndjson").open("w") as out:
        for s in range(scenes):
            items = [{"reference_id": f"s{s}/{i}", "image_location": f"s3://b/{s}/{i}.jpg"}
                     for i in range(frames)]  # fmt: skip
            out.write(json.dumps({"reference_id": f"s{s}", "frame_rate": 10, "frames": items}))
            out.write("\n")


def _write(root: Path, scenes: int, frames: int, boxes: int) -> None:
    _write_scenes(root, scenes, frames)
    with (root / "gt.ndjson").open("w") as out:
        for s in range(scenes):
            for i in range(frames):
                for b in range(boxes):
                    box = {"label": "car", "type": "box", "reference_id": f"s{s}/{i}",
                           "geometry": {"x": b, "y": 2, "width": 30, "height": 40},
                           "annotation_id": f"car-{b}", "metadata": {"n": b},
                           "embedding_vector": None, "track_reference_id": f"t{b}",
                           "task_id": None}  # fmt: skip
                    out.write(json.dumps(box) + "\n")


def _mixed(n: int, ref: str) -> Any:
    """The n-th payload of the mixed file: 85% of the common kinds, the rest rare or bad."""
    pick = n % 100
    box = {"x": n % 500, "y": 2.5, "width": 30, "height": 40}
    vertices = [{"x": n % 300 + k, "y": k * 1.5} for k in range(4)]
    if pick < 35:
        return {"label": "car", "type": "box", "reference_id": ref, "geometry": box,
                "annotation_id": f"box-{n}", "metadata": {"n": n}, "track_reference_id": f"t{n % 7}"}  # fmt: skip
    if pick < 50:
        return {"label": "car", "type": "box", "reference_id": ref, "geometry": box,
                "confidence": (n % 97) / 100, "metadata": {"score_source": "model-a"}}  # fmt: skip
    if pick < 60:
        return {"label": "road", "type": "polygon", "reference_id": ref,
                "geometry": {"vertices": vertices}, "annotation_id": f"poly-{n}"}  # fmt: skip
    if pick < 70:
        return {"label": "lane", "type": "line", "reference_id": ref,
                "geometry": {"vertices": vertices}}  # fmt: skip
    if pick < 78:
        return {"label": "day", "type": "category", "reference_id": ref,
                "taxonomy_name": "time", "metadata": {}}  # fmt: skip
    if pick < 85:
        return {"labels": ["rain", "fog"], "type": "multicategory", "reference_id": ref,
                "taxonomy_name": "weather", "confidence": 0.5}  # fmt: skip
    if pick < 90:
        points = [{"x": 1 + k, "y": 2, "visible": True} for k in range(3)]
        return {"label": "hand", "type": "keypoints", "reference_id": ref,
                "geometry": {"keypoints": points, "names": ["a", "b", "c"], "skeleton": [[0, 1]]}}  # fmt: skip
    if pick < 93:
        return {"type": "segmentation", "mask_url": f"s3://m/{n}.png", "reference_id": ref,
                "annotation_id": f"seg-{n}", "annotations": [{"label": "road", "index": 1}]}  # fmt: skip
    if pick < 96:
        return {"item": {"reference_id": ref},
                "box": [{"label": "bus", "annotation_id": f"item-{n}", "geometry": box}]}  # fmt: skip
    if pick < 98:
        return {"label": "car", "type": "cuboid", "reference_id": ref}
    return {"label": "car", "type": "box", "reference_id": f"nowhere/{n}", "geometry": box}


def _write_mixed(root: Path, scenes: int, frames: int, per_frame: int) -> None:
    with (root / "mixed.ndjson").open("w") as out:
        for n in range(scenes * frames * per_frame):
            frame = n // per_frame
            out.write(json.dumps(_mixed(n, f"s{frame // frames}/{frame % frames}")) + "\n")


def single(args: argparse.Namespace) -> None:
    import workbench
    from workbench.ingest import nucleus, nucleus_annotations

    root: Path = args.folder
    root.mkdir(parents=True, exist_ok=True)
    _write(root, args.scenes, args.frames, args.boxes)
    db = root / "c.duckdb"
    db.unlink(missing_ok=True)
    with workbench.open(db) as catalog:
        assert nucleus.import_files(catalog, [root / "scenes.ndjson"], progress=False).ok
        print(f"peak RSS after the scenes: {_peak()} MiB")
        wall, cpu = time.perf_counter(), time.process_time()
        done = nucleus_annotations.import_files(catalog, [root / "gt.ndjson"], progress=False)
        print(f"import: {done.rois:,} ROIs, {time.process_time() - cpu:.1f} CPU s, "
              f"{time.perf_counter() - wall:.1f} s wall; peak RSS {_peak()} MiB")  # fmt: skip
        wall, cpu = time.perf_counter(), time.process_time()
        out = nucleus_annotations.export_files(catalog.view(), root / "out.ndjson", progress=False)
        print(f"export: {out.rois:,} ROIs, {time.process_time() - cpu:.1f} CPU s, "
              f"{time.perf_counter() - wall:.1f} s wall")  # fmt: skip
    print("load average:", _load())


# -- side by side -------------------------------------------------------------------------------
# The payloads of frames the catalog holds as ROI rows: boxes' and vertices' rings, bounds,
# labels, confidence, metadata as attributes, the annotation_id or `<type>-<n>` as the id.
_BASELINE = """
CREATE TEMP TABLE raw AS SELECT *, row_number() OVER () AS o FROM read_json($file,
    format = 'newline_delimited', ignore_errors = true, columns = {
      type: 'VARCHAR', reference_id: 'VARCHAR', annotation_id: 'VARCHAR', label: 'VARCHAR',
      labels: 'VARCHAR[]', confidence: 'DOUBLE', metadata: 'JSON',
      track_reference_id: 'VARCHAR', geometry: 'STRUCT(x DOUBLE, y DOUBLE, width DOUBLE,
        height DOUBLE, vertices STRUCT(x DOUBLE, y DOUBLE)[])'});
CREATE TEMP TABLE ringed AS SELECT r.*, f.context_id,
    CASE WHEN type = 'box' THEN [geometry.x, geometry.y, geometry.x + geometry.width,
        geometry.y, geometry.x + geometry.width, geometry.y + geometry.height, geometry.x,
        geometry.y + geometry.height]
      WHEN type IN ('polygon', 'line')
        THEN flatten(list_transform(geometry.vertices, lambda v: [v.x, v.y])) END AS ring
    FROM raw r JOIN frames f ON f.id = r.reference_id
    WHERE type IN ('box', 'polygon', 'line', 'category', 'multicategory');
CREATE TABLE rois AS SELECT reference_id AS frame_id,
    coalesce(annotation_id, type || '-' || row_number() OVER (PARTITION BY reference_id, type
        ORDER BY o) - 1) AS id,
    'ground_truth' AS field, coalesce(label, labels[1]) AS label,
    coalesce(labels, [label]) AS labels, confidence,
    CASE type WHEN 'line' THEN 'polyline' WHEN 'box' THEN 'box' WHEN 'polygon' THEN 'polygon'
      ELSE 'classification' END AS kind,
    CASE WHEN ring IS NULL THEN [] ELSE [ring] END AS geometry,
    list_min(list_filter(ring, lambda c, i: i % 2 = 1)) AS x_min,
    list_min(list_filter(ring, lambda c, i: i % 2 = 0)) AS y_min,
    list_max(list_filter(ring, lambda c, i: i % 2 = 1)) AS x_max,
    list_max(list_filter(ring, lambda c, i: i % 2 = 0)) AS y_max,
    metadata::VARCHAR AS attributes,
    dense_rank() OVER (ORDER BY context_id, track_reference_id) AS track_index
    FROM ringed
"""


def _child(args: argparse.Namespace) -> None:
    """One import in this process (the catalog already holds the scenes): prints CPU, wall
    time, peak RSS and counts as JSON."""
    if args.side == "duckdb":
        import duckdb
    else:
        import workbench
        from workbench.ingest import nucleus_annotations
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if args.side == "duckdb":
        with duckdb.connect(args.db) as con:
            for statement in (s.strip() for s in _BASELINE.split(";")):
                if statement:
                    con.execute(statement, {"file": args.file} if "$file" in statement else None)
            con.execute("DROP TABLE raw; DROP TABLE ringed; CHECKPOINT")
            counts = {"rois": con.sql("SELECT count(*) FROM rois").fetchall()[0][0], "errors": 0}
        code = "duckdb"
    else:
        with workbench.open(args.db) as catalog:
            done = nucleus_annotations.import_files(catalog, [args.file], progress=False)
        counts = {"rois": done.rois, "errors": len(done.errors)}
        code = str(Path(workbench.__file__).parent.parent)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(json.dumps({"cpu": cpu, "seconds": seconds, "rss_mb": after.ru_maxrss / 1024,
                      "code": code, "load": _load(), **counts}))  # fmt: skip


def _run(side: str, tree: Path, file: Path, db: Path) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "child", side, str(file), str(db)]
    env = {**os.environ, "PYTHONPATH": str(tree), "TQDM_DISABLE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{side} {file.name} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _setup(root: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The scenes' catalog (this tree's code) and DuckDB's frames table, made once."""
    import duckdb

    import workbench
    from workbench.ingest import nucleus

    _write(root, args.scenes, args.frames, args.boxes)
    _write_mixed(root, args.scenes, args.frames, args.boxes)
    scenes_db, frames_db = root / "scenes.duckdb", root / "frames.duckdb"
    for db in (scenes_db, frames_db):
        db.unlink(missing_ok=True)
    with workbench.open(scenes_db) as catalog:
        assert nucleus.import_files(catalog, [root / "scenes.ndjson"], progress=False).ok
    with duckdb.connect(str(frames_db)) as con:
        con.execute(
            "CREATE TABLE frames AS SELECT unnest(frames).reference_id AS id, "
            "reference_id AS context_id FROM read_json($f, format = 'newline_delimited', "
            "columns = {reference_id: 'VARCHAR', frames: 'STRUCT(reference_id VARCHAR)[]'})",
            {"f": str(root / "scenes.ndjson")},
        )
    return scenes_db, frames_db


def _rows(db: Path) -> list[tuple[Any, ...]]:
    """Every ROI row of a catalog, in key order."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(
            "SELECT * EXCLUDE (frame_key, label_key) FROM rois ORDER BY frame_id, field, id"
        ).fetchall()


def side_by_side(args: argparse.Namespace) -> None:
    root: Path = args.folder
    root.mkdir(parents=True, exist_ok=True)
    scenes_db, frames_db = _setup(root, args)
    sides = {"before": args.against.resolve(), "after": HERE, "duckdb": HERE}
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    print(f"load at the start: {_load()}")
    for run in range(args.runs):
        order = ["before", "after", "duckdb"] if run % 2 == 0 else ["after", "before", "duckdb"]
        for name in ("gt.ndjson", "mixed.ndjson"):
            for side in order:
                db = root / f"{side}-{name}.duckdb"
                for path in (db, db.with_name(db.name + ".wal")):
                    path.unlink(missing_ok=True)
                shutil.copy(frames_db if side == "duckdb" else scenes_db, db)
                got = _run(side, sides[side], root / name, db)
                results.setdefault((name, side), []).append(got)
                print(f"run {run} {name} {side}: CPU {got['cpu']:.2f} s, wall "
                      f"{got['seconds']:.2f} s, peak RSS {got['rss_mb']:.0f} MB, "
                      f"{got['rois']:,} ROIs, {got['errors']} errors, load {got['load']} "
                      f"({got['code']})", flush=True)  # fmt: skip
    print(f"\nload at the end: {_load()}")
    for name in ("gt.ndjson", "mixed.ndjson"):
        same = _rows(root / f"before-{name}.duckdb") == _rows(root / f"after-{name}.duckdb")
        print(f"{name}: every ROI row the same before and after: {same}")
    print()
    print("| file | before CPU | after CPU | DuckDB CPU | before / DuckDB | after / DuckDB "
          "| peak RSS before / after / DuckDB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in ("gt.ndjson", "mixed.ndjson"):
        cpu = {s: statistics.median(r["cpu"] for r in results[(name, s)]) for s in sides}
        rss = {s: max(r["rss_mb"] for r in results[(name, s)]) for s in sides}
        print(f"| {name} | {cpu['before']:.2f} s | {cpu['after']:.2f} s | {cpu['duckdb']:.2f} s "
              f"| {cpu['before'] / cpu['duckdb']:.1f}x | {cpu['after'] / cpu['duckdb']:.1f}x "
              f"| {rss['before']:.0f} / {rss['after']:.0f} / {rss['duckdb']:.0f} MB |")  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child = argparse.ArgumentParser()
        for name in ("side", "file", "db"):
            child.add_argument(name)
        _child(child.parse_args(sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--frames", type=int, default=200, help="frames per scene")
    parser.add_argument("--boxes", type=int, default=10, help="boxes (payloads) per frame")
    parser.add_argument("--against", type=Path, help="a tree of the code to compare with")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.against is None:
        single(args)
    else:
        side_by_side(args)


if __name__ == "__main__":
    main()
