"""Nucleus annotation payloads imported onto stored scenes and exported again, with the
process's peak memory.

    python bench/nucleus_annotations_bench.py /tmp/nab                 # 100 scenes x 200 frames x 10 boxes
    python bench/nucleus_annotations_bench.py /tmp/nab --scenes 200    # twice the annotations

Writes the scenes (NDJSON) and one BoxAnnotation payload per line (as the SDK's `to_json`
writes it) under the folder, imports the scenes, then the annotations (CPU and wall time of
`nucleus_annotations.import_files`), exports them (`export_files`), and prints the peak RSS
after the scenes and after the annotations, with the load average.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import workbench
from workbench.ingest import nucleus, nucleus_annotations


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _write(root: Path, scenes: int, frames: int, boxes: int) -> None:
    with (root / "scenes.ndjson").open("w") as out:
        for s in range(scenes):
            items = [{"reference_id": f"s{s}/{i}", "image_location": f"s3://b/{s}/{i}.jpg"}
                     for i in range(frames)]  # fmt: skip
            out.write(json.dumps({"reference_id": f"s{s}", "frame_rate": 10, "frames": items}))
            out.write("\n")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--frames", type=int, default=200, help="frames per scene")
    parser.add_argument("--boxes", type=int, default=10, help="boxes per frame")
    args = parser.parse_args()
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
    print("load average:", Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
