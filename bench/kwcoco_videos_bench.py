"""A kwcoco video file beside the same images and annotations as plain COCO: import and export.

    PYTHONPATH=$PWD python bench/kwcoco_videos_bench.py            # 100 videos x 200 frames
    PYTHONPATH=$PWD python bench/kwcoco_videos_bench.py --videos 10 --runs 3

The two files hold the same images (4 boxes each); the kwcoco one adds its `videos` and
`tracks` (four a video, each video's annotations on its own), each image's `video_id`,
`frame_index` and `timestamp`, and each annotation's `track_id`. Each import runs in a child
process of its own, alternately, into a new catalog, followed by an import of the same file
again (the update: every frame unchanged; the images its digests left unconverted are
counted) and an export of the whole catalog; then, for the kwcoco file, three more updates:
the file with one video's record changed (its `width`), then with one track's record changed
too (its `name`), each converting one video's frames, then with one annotation's box changed
too (converting its frame alone: the bench's videos have frame indexes and integer tracks). The figures are the child's wall and CPU
seconds (its engine's threads included) and the load average at its start.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import sys, time
from pathlib import Path
import workbench
from workbench.ingest import coco
from workbench.ingest._coco_digests import ImageDigests
given, folder = Path(sys.argv[1]), Path(sys.argv[2])
source = folder / given.name  # a copy, changed in place for the updates of changed records
source.write_bytes(given.read_bytes())
left, close = [], ImageDigests.close
ImageDigests.close = lambda self: (left.append(self.unchanged), close(self))[1]
with workbench.open(folder / "c.duckdb") as catalog:
    t0, c0 = time.perf_counter(), time.process_time()
    report = coco.import_files(catalog, [source], progress=False)
    t1, c1 = time.perf_counter(), time.process_time()
    again = coco.import_files(catalog, [source], progress=False)
    t2, c2 = time.perf_counter(), time.process_time()
    coco.export_files(catalog.view(), folder / "out" / "o.json", progress=False)
    t3, c3 = time.perf_counter(), time.process_time()
    changes = []
    for changed in sys.argv[3:]:  # updates of changed records (the copy made before timing)
        source.write_bytes(Path(changed).read_bytes())
        t4, c4 = time.perf_counter(), time.process_time()
        update = coco.import_files(catalog, [source], progress=False)
        assert update.ok, update.errors[:3]
        changes.append(f"{time.perf_counter() - t4:.2f} {time.process_time() - c4:.2f} {left[-1]}")
assert report.ok and again.ok, (report.errors + again.errors)[:3]
print(f"{t1 - t0:.2f} {c1 - c0:.2f} {t2 - t1:.2f} {c2 - c1:.2f} {t3 - t2:.2f} {c3 - c2:.2f}",
      left[1], *changes)
"""


def document(videos: int, frames: int, kwcoco: bool) -> dict:
    doc: dict = {"categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}]}
    if kwcoco:
        doc["videos"] = [{"id": v + 1, "name": f"video_{v:03d}", "width": 640, "height": 480}
                         for v in range(videos)]  # fmt: skip
        doc["tracks"] = [{"id": t, "name": f"track_{t}"} for t in range(4 * videos)]
    images, annotations = [], []
    for v in range(videos):
        for f in range(frames):
            image_id = v * frames + f + 1
            image = {"id": image_id, "file_name": f"video_{v:03d}/{f:05d}.jpg"}
            image.update({"width": 640, "height": 480})
            if kwcoco:
                image.update(video_id=v + 1, frame_index=f, timestamp=1.7e9 + f / 30)
            images.append(image)
            for t in range(4):
                box = [10 + f % 50 + t * 100, 20, 30, 40]
                annotation = {"id": len(annotations) + 1, "image_id": image_id,
                              "category_id": 1 + t % 2, "bbox": box, "area": 1200.0,
                              "iscrowd": 0}  # fmt: skip
                if kwcoco:
                    annotation["track_id"] = 4 * v + t
                annotations.append(annotation)
    doc.update(images=images, annotations=annotations)
    return doc


def changed(path: Path) -> list[Path]:
    """The kwcoco file with one video's record changed, then with one track's record too,
    then one annotation's box (each in the middle of its list)."""
    doc = json.loads(path.read_text())
    made = []
    changes = (("video", "videos", "width", 800), ("track", "tracks", "name", "t"),
               ("frame", "annotations", "bbox", [1, 2, 3, 4]))  # fmt: skip
    for name, member, key, value in changes:
        doc[member][len(doc[member]) // 2][key] = value
        made.append(path.with_name(f"{path.stem}-{name}.json"))
        made[-1].write_text(json.dumps(doc))
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kwcoco-bench-") as tmp:
        files = {}
        for name, kwcoco in (("kwcoco videos", True), ("plain COCO", False)):
            files[name] = Path(tmp) / f"{name.split()[0]}.json"
            files[name].write_text(json.dumps(document(args.videos, args.frames, kwcoco)))
        changes = changed(files["kwcoco videos"])
        for run in range(args.runs):
            for name, path in files.items():
                folder = Path(tmp) / f"{run}-{path.stem}"
                folder.mkdir()
                load = Path("/proc/loadavg").read_text().split()[:3]
                more = [str(p) for p in changes] if name == "kwcoco videos" else []
                done = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(path), str(folder), *more],
                    capture_output=True, text=True, check=True, env={**os.environ},
                )  # fmt: skip
                wall, cpu, uwall, ucpu, ewall, ecpu, left, *rest = done.stdout.split()
                print(f"{name:14} import wall {wall} s, CPU {cpu} s; update wall {uwall} s, "
                      f"CPU {ucpu} s ({left} images left unconverted); export wall {ewall} s, "
                      f"CPU {ecpu} s (load {' '.join(load)})")  # fmt: skip
                for what, at in (("a video's record", 0), ("a track's record", 3),
                                 ("an annotation's box", 6)):  # fmt: skip
                    if rest[at:]:
                        cwall, ccpu, cleft = rest[at : at + 3]
                        print(f"{'':14} update of {what}: wall {cwall} s, CPU {ccpu} s "
                              f"({cleft} images left unconverted)")  # fmt: skip


if __name__ == "__main__":
    main()
