"""How fast the service layer's bulk actions are on the local annotation platform.

    python bench/services_bench.py                      # 10,000 frames in a 100,000-frame catalog
    python bench/services_bench.py --frames 10000 --background 0 --json out.json

Builds a catalog in a temporary folder (each frame one image file, three ground-truth boxes,
its own context, so every frame is its own scene: the most scenes per frame), then times:

  annotate      send --frames frames with their boxes to the local platform       (< 5 s)
  load          merge the annotated frames back: every box moved, a third
                relabelled, a tenth deleted, one box added per frame              (< 5 s)
  load_again    the same merge a second time (changes nothing)
  invalidate    invalidate every scene of the run, removing inputs and shapes     (< 5 s)

The annotators' edits are written straight into the platform's tables (untimed): the bench
measures the service, not a person drawing 40,000 boxes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.services import Workbench

TARGET_S = 5.0


@dataclass(frozen=True)
class Timing:
    action: str
    seconds: float  # wall clock: the target applies to this
    cpu_seconds: float  # this process's CPU time, all threads (steadier on a busy machine)
    detail: str


class Clock:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def timing(self, action: str, detail: str) -> Timing:
        return Timing(
            action, time.perf_counter() - self.wall, time.process_time() - self.cpu, detail
        )


def build(folder: Path, frames: int, background: int) -> workbench.Catalog:
    media = folder / "media"
    media.mkdir()
    catalog = workbench.open(folder / "bench.duckdb")
    with CatalogWriter(catalog, progress=True, desc="catalog") as writer:
        for i in range(frames + background):
            uri = media / f"{i:07d}.jpg"
            if i < frames:
                uri.touch()  # annotated frames must exist on disk: scenes check their media
            rois = [
                Roi(f"b{k}", "box", ["car" if k else "truck"], geometry=[box_ring(10 * k, 5, 8, 8)])
                for k in range(3)
            ]
            writer.add(Frame(f"f{i:07d}", sources=[Source("image", str(uri), 640, 480)], rois=rois))
    return catalog


def simulate_annotators(catalog: workbench.Catalog, anno_key: str) -> None:
    """Edit every task in SQL: move all boxes, relabel a third, delete a tenth, add one each."""
    with catalog.transaction() as con:
        run_id = con.execute(
            "SELECT run_id FROM annotation_runs WHERE anno_key = ?", [anno_key]
        ).fetchall()[0][0]
        con.execute(
            "UPDATE local_shapes SET geometry = [list_transform(r, lambda x: x + 1) FOR r IN geometry], "
            "label = CASE WHEN hash(id) % 3 = 0 THEN 'truck' ELSE label END WHERE run_id = ?",
            [run_id],
        )
        con.execute("DELETE FROM local_shapes WHERE run_id = ? AND hash(id) % 10 = 0", [run_id])
        con.execute(
            "INSERT INTO local_shapes (run_id, task_id, id, frame_id, field, kind, label, geometry) "
            "SELECT run_id, task_id, gen_random_uuid()::VARCHAR, frame_id, 'ground_truth', 'box', "
            "'car', [[1.0, 1.0, 5.0, 1.0, 5.0, 5.0, 1.0, 5.0]] FROM local_task_frames "
            "WHERE run_id = ?",
            [run_id],
        )


def run(frames: int, background: int) -> list[Timing]:
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory() as tmp:
        catalog = build(Path(tmp), frames, background)
        wb = Workbench(catalog, actor="bench")
        ids = [f"f{i:07d}" for i in range(frames)]

        clock = Clock()
        info = wb.annotate(ids, "bench", label_field="ground_truth", task_size=500).info
        detail = (
            f"{info.frames} frames, {info.scenes} scenes, {info.tasks} tasks, {info.labels} labels"
        )
        timings.append(clock.timing("annotate", detail))
        simulate_annotators(catalog, "bench")
        for action in ("load", "load_again"):
            clock = Clock()
            report = wb.load_annotations("bench")
            timings.append(clock.timing(action, report.describe()))

        scenes = [i.scene_uuid for i in wb.query_inputs()]
        clock = Clock()
        removed = wb.invalidate_scenes(scenes, "bad-content", confirm=True)
        timings.append(clock.timing("invalidate", removed.describe()))
        catalog.close()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--background", type=int, default=90_000, help="frames not annotated")
    parser.add_argument("--json", type=Path, help="write the timings here")
    args = parser.parse_args(argv)
    timings = run(args.frames, args.background)
    total = args.frames + args.background
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n{args.frames} frames acted on in a {total}-frame catalog")
    print(f"{os.cpu_count()} cores, load average {load}")
    print(f"{'action':<12} {'wall s':>8} {'cpu s':>8}  detail")
    failed = False
    for t in timings:
        flag = "" if t.action == "load_again" or t.seconds < TARGET_S else "  SLOW"
        failed = failed or bool(flag)
        print(f"{t.action:<12} {t.seconds:>8.2f} {t.cpu_seconds:>8.2f}  {t.detail}{flag}")
    if args.json:
        args.json.write_text(json.dumps([asdict(t) for t in timings], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
