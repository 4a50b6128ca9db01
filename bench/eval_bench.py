"""Detection evaluation at scale: workbench's evaluate_detections against pycocotools' COCOeval.

    python bench/eval_bench.py --frames 1000000 --workdir /tmp/evalbench
    python bench/eval_bench.py --frames 100000 --coco-frames 100000   # a quicker run

A catalog of `--frames` frames is generated in DuckDB SQL (bench/synthetic.py's frames and
sources; ~4 ground-truth boxes per frame over 10 skewed labels, 1% crowds; ~4 predictions per
frame: 85% of the objects found again with jittered boxes, 5% of those with another label, plus
stray boxes). The evaluation runs in a child process, so its peak RSS is its own; it is timed
over the whole catalog (COCO method: 10 IoU thresholds, 4 area ranges, caps 1/10/100, results
written to the evaluation tables). Then the first `--coco-frames` frames are written as COCO
files and evaluated by COCOeval (evaluate + accumulate, in a child process) and by workbench on
the same frames (a view), and both mAPs are compared.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic

import workbench
from workbench.query.roi_pages import count_patches, patch_page

TARGETS = {"seconds": 60.0, "peak_rss_mb": 4096.0}


def _rnd(expr: str, salt: int) -> str:
    return synthetic._rnd(expr, salt)


def _gt_sql(n: int) -> str:
    slots = ", ".join(f"'{s}'" for s in synthetic._label_table())
    return f"""
        SELECT i, k, [{slots}][(1 + {_rnd("i * 8 + k", 7)} % 100)::BIGINT] AS label,
               ({_rnd("i * 8 + k", 8)} % 1600)::DOUBLE AS x,
               ({_rnd("i * 8 + k", 9)} % 870)::DOUBLE AS y,
               (10 + {_rnd("i * 8 + k", 10)} % 300)::DOUBLE AS w,
               (10 + {_rnd("i * 8 + k", 11)} % 200)::DOUBLE AS h,
               {_rnd("i * 8 + k", 13)} % 100 = 0 AS crowd
        FROM (SELECT range AS i, unnest(range((2 + {_rnd("range", 12)} % 5)::BIGINT)) AS k
              FROM range({n}))
    """


def _pred_sql() -> str:
    """Predictions from the ground truth rows `_gt`: found objects, then stray boxes."""
    slots = ", ".join(f"'{s}'" for s in synthetic._label_table())
    s = "i * 8 + k"
    found = f"""
        SELECT i, 'p' || k AS id,
               CASE WHEN {_rnd(s, 20)} % 100 < 5
                    THEN [{slots}][(1 + {_rnd(s, 21)} % 100)::BIGINT] ELSE label END AS label,
               0.3 + ({_rnd(s, 22)} % 700) / 1000.0 AS confidence,
               x + w * (({_rnd(s, 23)} % 41)::BIGINT - 20) / 200.0 AS x,
               y + h * (({_rnd(s, 24)} % 41)::BIGINT - 20) / 200.0 AS y,
               w * (0.85 + ({_rnd(s, 25)} % 31) / 100.0) AS w,
               h * (0.85 + ({_rnd(s, 26)} % 31) / 100.0) AS h
        FROM _gt WHERE {_rnd(s, 27)} % 100 < 85 AND NOT crowd
    """
    stray = f"""
        SELECT i, 's' || k AS id, [{slots}][(1 + {_rnd("i * 8 + k", 30)} % 100)::BIGINT] AS label,
               ({_rnd("i * 8 + k", 31)} % 800) / 1000.0 AS confidence,
               ({_rnd("i * 8 + k", 32)} % 1600)::DOUBLE AS x,
               ({_rnd("i * 8 + k", 33)} % 870)::DOUBLE AS y,
               (10 + {_rnd("i * 8 + k", 34)} % 300)::DOUBLE AS w,
               (10 + {_rnd("i * 8 + k", 35)} % 200)::DOUBLE AS h
        FROM (SELECT i, unnest(range(({_rnd("i", 36)} % 3)::BIGINT)) AS k
              FROM (SELECT DISTINCT i FROM _gt))
    """
    return f"({found}) UNION ALL ({stray})"


def _roi_select(source: str, field: str, ident: str, confidence: str, attributes: str) -> str:
    return f"""
        SELECT printf('f%09d', i) AS frame_id, {ident} AS id, '{field}' AS field, label,
               [label] AS labels, {confidence} AS confidence, 'box' AS kind,
               [[x, y, x + w, y, x + w, y + h, x, y + h]] AS geometry,
               x AS x_min, y AS y_min, x + w AS x_max, y + h AS y_max, w * h AS area,
               ['cam'] AS source_ids, NULL::JSON AS mask, {attributes} AS attributes,
               NULL::INTEGER AS track_index, NULL::BOOLEAN AS keyframe
        FROM {source}
    """


def generate(path: Path, frames: int) -> dict[str, Any]:
    started = time.perf_counter()
    with workbench.open(path) as catalog, catalog.transaction() as con:
        con.execute(
            f"INSERT INTO frames BY NAME {synthetic._frames_sql(frames, synthetic.CONTEXT_SIZE)}"
        )
        con.execute(
            f"INSERT INTO sources BY NAME {synthetic._sources_sql(frames, synthetic.CONTEXT_SIZE)}"
        )
        con.execute(f"CREATE TEMP TABLE _gt AS {_gt_sql(frames)}")
        crowd = "CASE WHEN crowd THEN '{\"iscrowd\": 1}'::JSON END"
        con.execute(
            "INSERT INTO rois BY NAME "
            + _roi_select("_gt", "ground_truth", "'g' || k", "NULL::DOUBLE", crowd)
        )
        con.execute(
            "INSERT INTO rois BY NAME "
            + _roi_select(f"({_pred_sql()})", "predictions", "id", "confidence", "NULL::JSON")
        )
        con.execute("DROP TABLE _gt")
    with workbench.open(path) as catalog:
        counts = dict(catalog.sql("SELECT field, count(*) FROM rois GROUP BY 1").fetchall())
    return {"frames": frames, "rois": counts, "seconds": time.perf_counter() - started}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_workbench(
    catalog_path: Path, limit: int | None, eval_key: str, method: str = "coco"
) -> dict[str, Any]:
    """Child process: evaluate and report wall time, CPU time and peak RSS."""
    with workbench.open(catalog_path) as catalog:
        view = catalog.view() if limit is None else catalog.view().limit(limit)
        started, cpu = time.perf_counter(), time.process_time()
        results = view.evaluate_detections(
            "predictions", eval_key=eval_key, overwrite=True, method=method
        )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        rows = catalog.sql(
            "SELECT count(*) FROM eval_rois e JOIN evaluations v USING (run_id) WHERE v.eval_key = ?",
            [eval_key],
        ).fetchall()[0][0]
    return {
        "frames": results.frames,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_mb": peak_rss_mb(),
        "mAP": results.mAP,
        "AP50": results.stats.get("AP50"),
        "eval_rois": rows,
    }


def time_views(catalog_path: Path, runs: int = 3) -> list[dict[str, Any]]:
    """The error-mining views over the stored run, each next to hand-written SQL giving the
    same frames; medians of `runs`, View API and SQL alternating."""
    hand = (
        "SELECT e.frame_id FROM eval_rois e JOIN evaluations v USING (run_id)"
        " WHERE v.eval_key = 'eval' AND e.outcome = 'fp' AND e.confidence >= 0.8"
        " GROUP BY 1 ORDER BY count(*) DESC, min(e.rowid)"
    )
    with workbench.open(catalog_path, read_only=True) as catalog:
        mined = catalog.view().match_eval("eval", "fp", min_confidence=0.8)
        ranked = mined.sort_by_eval_count("eval", "fp", reverse=True)
        whole = catalog.view()
        total = count_patches(whole, ["predictions"])
        deep = (total // 2) // PATCHES * PATCHES
        cases = {
            "match_eval count": (mined.count, f"SELECT count(*) FROM ({hand})"),
            "sorted frame ids": (ranked.frame_ids, hand),
            "sorted page of 50": (lambda: ranked.page(0, 50), hand + " LIMIT 50"),
            "patches: count of predictions": (
                lambda: count_patches(whole, ["predictions"]),
                f"SELECT count(*) FROM rois r WHERE {_PATCH_ROIS}",
            ),
            "patches: first page with outcomes": (
                lambda: patch_page(whole, 0, PATCHES, fields=["predictions"], eval_key="eval"),
                _hand_patches(0),
            ),
            "patches: page half-way with outcomes": (
                lambda: patch_page(whole, deep, PATCHES, fields=["predictions"], eval_key="eval"),
                _hand_patches(deep),
            ),
            "patches: first page of the mined fps": (
                lambda: patch_page(mined, 0, PATCHES, fields=["predictions"], eval_key="eval"),
                None,
            ),
        }
        figures = []
        for name, (view_call, sql) in cases.items():
            view_times, sql_times = [], []
            for _ in range(runs):
                started = time.perf_counter()
                view_call()
                view_times.append(time.perf_counter() - started)
                if sql is not None:
                    started = time.perf_counter()
                    catalog.sql(sql).fetchall()
                    sql_times.append(time.perf_counter() - started)
            view_s = sorted(view_times)[runs // 2]
            sql_s = sorted(sql_times)[runs // 2] if sql_times else None
            figures.append(
                {
                    "query": name,
                    "view_s": view_s,
                    "sql_s": sql_s,
                    "ratio": view_s / sql_s if sql_s else None,
                }
            )
            print(json.dumps(figures[-1]), flush=True)
        for offset in (0, deep):  # the hand-written pages are the same patches
            mine = patch_page(whole, offset, PATCHES, fields=["predictions"], eval_key="eval")
            theirs = catalog.sql(_hand_patches(offset)).fetchall()
            assert mine.column("id").to_pylist() == [row[1] for row in theirs]
            assert mine.column("outcome").to_pylist() == [row[-1] for row in theirs]
        assert (
            len(ranked.frame_ids())
            == catalog.sql(f"SELECT count(*) FROM ({hand})").fetchall()[0][0]
        )
    return figures


PATCHES = 48
_PATCH_ROIS = "r.field = 'predictions' AND r.kind <> 'classification' AND r.x_min IS NOT NULL"


def _hand_patches(offset: int) -> str:
    """A page of prediction patches by hand: the ROIs in stored order, their frame's context,
    the frame's first source and the ROI's outcome in run 'eval'."""
    return (
        "WITH p AS MATERIALIZED (SELECT r.frame_id, r.id, r.field, r.label, r.confidence,"
        " r.x_min, r.y_min, r.x_max, r.y_max, r.rowid AS o FROM rois r"
        f" WHERE {_PATCH_ROIS} ORDER BY r.rowid LIMIT {PATCHES} OFFSET {offset})"
        " SELECT p.*, f.context_id, s.uri, s.width, s.height, e.outcome FROM p"
        " JOIN frames f ON f.id = p.frame_id"
        " JOIN (SELECT frame_id, arg_min(uri, rowid) AS uri, arg_min(width, rowid) AS width,"
        " arg_min(height, rowid) AS height FROM sources"
        " WHERE frame_id IN (SELECT frame_id FROM p) GROUP BY 1) s ON s.frame_id = p.frame_id"
        " LEFT JOIN eval_rois e ON e.run_id = (SELECT run_id FROM evaluations"
        " WHERE eval_key = 'eval') AND e.frame_id = p.frame_id AND e.roi_id = p.id"
        " AND e.field = p.field ORDER BY p.o"
    )


def write_coco(catalog_path: Path, limit: int, folder: Path) -> tuple[Path, Path]:
    """The first `limit` frames as a COCO instances file and a results file."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = list(synthetic.LABELS)
    with workbench.open(catalog_path, read_only=True) as catalog:
        rows = catalog.sql(
            "SELECT CAST(substr(frame_id, 2) AS BIGINT) AS image, field, label, confidence,"
            " x_min, y_min, x_max - x_min AS w, y_max - y_min AS h,"
            " coalesce(json_extract_string(attributes, '$.iscrowd') = '1', false) AS crowd"
            f" FROM rois WHERE frame_id < printf('f%09d', {int(limit)}) ORDER BY frame_id, rowid"
        ).fetchall()
    images = [
        {"id": i, "file_name": f"f{i:09d}.jpg", "width": 1920, "height": 1080} for i in range(limit)
    ]
    gt, dt = [], []
    for image, field, label, confidence, x, y, w, h, crowd in rows:
        ann = {"image_id": image, "category_id": labels.index(label) + 1, "bbox": [x, y, w, h]}
        if field == "ground_truth":
            gt.append({**ann, "id": len(gt) + 1, "area": w * h, "iscrowd": int(crowd)})
        else:
            dt.append({**ann, "score": confidence})
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(labels)]
    gt_path, dt_path = folder / "gt.json", folder / "dt.json"
    gt_path.write_text(json.dumps({"images": images, "annotations": gt, "categories": categories}))
    dt_path.write_text(json.dumps(dt))
    return gt_path, dt_path


def run_pycocotools(gt_path: Path, dt_path: Path) -> dict[str, Any]:
    """Child process: COCOeval evaluate + accumulate + summarize, timed (loading untimed)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(dt_path))
        started, cpu = time.perf_counter(), time.process_time()
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_mb": peak_rss_mb(),
        "mAP": float(evaluator.stats[0]),
    }


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--coco-frames", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/evalbench")
    parser.add_argument("--child", choices=["workbench", "pycocotools"], help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="*", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--method", default="coco", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "workbench":
        found = run_workbench(Path(args.paths[0]), args.limit, args.paths[1], args.method)
        print(json.dumps(found))
        return 0
    if args.child == "pycocotools":
        print(json.dumps(run_pycocotools(Path(args.paths[0]), Path(args.paths[1]))))
        return 0
    report = run(args.frames, args.coco_frames, Path(args.workdir))
    print(json.dumps(report, indent=2))
    return 0


def run(frames: int, coco_frames: int, work: Path) -> dict[str, Any]:
    """Generate (once) and evaluate; every figure in one dict."""
    work.mkdir(parents=True, exist_ok=True)
    catalog_path = work / f"eval-{frames}.duckdb"
    if not catalog_path.exists():
        print("generated:", json.dumps(generate(catalog_path, frames)), flush=True)
    report: dict[str, Any] = {"load_average_before": os.getloadavg()}
    report["workbench_all"] = _child("--child", "workbench", "--paths", str(catalog_path), "eval")
    print("workbench, all frames:", json.dumps(report["workbench_all"]), flush=True)
    report["open_images_all"] = _child(
        "--child", "workbench", "--method", "open-images", "--paths", str(catalog_path), "oi"
    )
    print("workbench open-images, all frames:", json.dumps(report["open_images_all"]), flush=True)
    report["views"] = time_views(catalog_path)
    print("views:", json.dumps(report["views"]), flush=True)
    coco_frames = min(coco_frames, frames)
    if coco_frames:
        gt_path, dt_path = write_coco(catalog_path, coco_frames, work / f"coco-{coco_frames}")
        report["workbench_subset"] = _child(
            "--child",
            "workbench",
            "--limit",
            str(coco_frames),
            "--paths",
            str(catalog_path),
            "subset",
        )
        print("workbench, subset:", json.dumps(report["workbench_subset"]), flush=True)
        report["pycocotools_subset"] = _child(
            "--child", "pycocotools", "--paths", str(gt_path), str(dt_path)
        )
        print("pycocotools, subset:", json.dumps(report["pycocotools_subset"]), flush=True)
        mine, theirs = report["workbench_subset"], report["pycocotools_subset"]
        report["mAP_difference"] = abs(mine["mAP"] - theirs["mAP"])
        report["speedup_wall"] = theirs["seconds"] / mine["seconds"]
        report["speedup_cpu"] = theirs["cpu_seconds"] / mine["cpu_seconds"]
    report["load_average_after"] = os.getloadavg()
    whole = report["workbench_all"]
    report["targets_met"] = {k: whole[k] < v for k, v in TARGETS.items()}
    return report


if __name__ == "__main__":
    raise SystemExit(main())
