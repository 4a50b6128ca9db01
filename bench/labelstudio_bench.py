"""How fast annotation runs go through a real Label Studio server.

    python bench/labelstudio_bench.py                  # starts its own server (needs .ci/labelstudio-venv)
    python bench/labelstudio_bench.py --frames 1000 --rois 5 --json out.json
    python bench/labelstudio_bench.py --url http://127.0.0.1:8080 --token ... --document-root /srv/files

Builds a catalog of --frames frames (each its own image below the server's document root, its
own context and scene, --rois car boxes with two attributes each), then times:

  annotate   send every frame with its boxes: project, local-files storage, tasks with
             predictions, in bulk                                              (< 15 s)
  load       read every task back and merge: all frames annotated, a tenth of them with
             one box moved                                                     (< 15 s)

Annotating is untimed and done the way Label Studio does it in bulk: the Data Manager's
"predictions to annotations" action, then PATCH /api/annotations/{id} for the moved boxes.
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
from typing import Any

import httpx
from PIL import Image

import workbench
from workbench.backends import LocalBackend
from workbench.backends.labelstudio import LabelStudioBackend, LabelStudioConfig
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.services import Workbench

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "backends" / "labelstudio"))
import lsserver  # the tests' server launcher

TARGET_S = 15.0
SCHEMA = {
    "ground_truth": {
        "type": "detections",
        "classes": ["car", "truck"],
        "attributes": {
            "occluded": {"type": "occluded"},
            "color": {"type": "select", "values": ["red", "blue"]},
        },
    }
}


@dataclass(frozen=True)
class Timing:
    action: str
    seconds: float  # wall clock: the target applies to this
    cpu_seconds: float  # this process's CPU time (the server's is not in it)
    detail: str


class Clock:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def timing(self, action: str, detail: str) -> Timing:
        return Timing(
            action, time.perf_counter() - self.wall, time.process_time() - self.cpu, detail
        )


def build(folder: Path, media: Path, frames: int, rois: int) -> workbench.Catalog:
    media.mkdir(parents=True, exist_ok=True)
    catalog = workbench.open(folder / "bench.duckdb")
    with CatalogWriter(catalog, progress=True, desc="catalog") as writer:
        for i in range(frames):
            path = media / f"{i:05d}.png"
            Image.new("RGB", (64, 48), (i % 256, 80, 160)).save(path)
            boxes = [
                Roi(
                    f"b{k}",
                    "box",
                    ["car"],
                    geometry=[box_ring(100 * k + 10, 50, 60, 40)],
                    attributes={"occluded": False, "color": "red"},
                )
                for k in range(rois)
            ]
            writer.add(
                Frame(f"f{i:05d}", sources=[Source("image", str(path), 640, 480)], rois=boxes)
            )
    return catalog


def annotate_everything(api: httpx.Client, project: int, moved: int) -> None:
    """Every task gets an annotation from its prediction; `moved` of them move a box."""
    response = api.post(
        "/api/dm/actions",
        params={"id": "predictions_to_annotations", "project": project},
        json={"selectedItems": {"all": True, "excluded": []}},
        timeout=300,
    )
    response.raise_for_status()
    tasks = api.get(
        "/api/tasks",
        params={"project": project, "fields": "all", "page_size": 100_000},
        timeout=300,
    )
    for task in tasks.json()["tasks"][:moved]:
        annotation = task["annotations"][0]
        result: list[dict[str, Any]] = annotation["result"]
        box = next(r for r in result if r["from_name"] == "ground_truth")
        box["value"]["x"] += 1.0
        api.patch(
            f"/api/annotations/{annotation['id']}", json={"result": result}
        ).raise_for_status()


def run(config: LabelStudioConfig, media: Path, frames: int, rois: int) -> list[Timing]:
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory() as tmp:
        catalog = build(Path(tmp), media, frames, rois)
        backend = LabelStudioBackend(config)
        wb = Workbench(
            catalog, actor="bench", backends={"local": LocalBackend(), "labelstudio": backend}
        )
        ids = [f"f{i:05d}" for i in range(frames)]

        clock = Clock()
        info = wb.annotate(ids, "ls-bench", backend="labelstudio", label_schema=SCHEMA).info
        timings.append(
            clock.timing(
                "annotate", f"{info.frames} frames, {info.tasks} tasks, {info.labels} labels"
            )
        )

        project = backend.project_of_run(info.run_id)
        assert project is not None
        headers = {"Authorization": f"Token {config.token}"}
        with httpx.Client(base_url=config.api_url, headers=headers, timeout=60) as api:
            annotate_everything(api, project, frames // 10)

        clock = Clock()
        report = wb.load_annotations("ls-bench")
        timings.append(clock.timing("load", report.describe()))
        wb.cleanup_annotation_run("ls-bench", confirm=True)
        backend.close()
        catalog.close()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--rois", type=int, default=5)
    parser.add_argument("--url", help="an existing server (default: start one)")
    parser.add_argument("--token", help="its legacy API token")
    parser.add_argument(
        "--document-root", type=Path, help="its LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
    )
    parser.add_argument("--json", type=Path, help="write the timings here")
    args = parser.parse_args(argv)
    server = None
    with tempfile.TemporaryDirectory() as work:
        if args.url:
            if not (args.token and args.document_root):
                parser.error("--url needs --token and --document-root")
            config = LabelStudioConfig(
                url=args.url, token=args.token, local_files_root=str(args.document_root)
            )
        else:
            if not lsserver.installed():
                parser.error(lsserver.not_installed_reason())
            server = lsserver.LabelStudioServer(Path(work))
            server.start()
            config = lsserver.backend_config(server, progress=True, retries=8, backoff=0.5)
        try:
            root = Path(str(config.local_files_root))
            timings = run(config, root / f"bench-{os.getpid()}", args.frames, args.rois)
        finally:
            if server is not None:
                server.stop()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n{args.frames} frames with {args.rois} boxes each, Label Studio {lsserver.VERSION}")
    print(f"{os.cpu_count()} cores, load average {load}")
    print(f"{'action':<10} {'wall s':>8} {'cpu s':>8}  detail")
    failed = False
    for t in timings:
        flag = "" if t.seconds < TARGET_S else "  SLOW"
        failed = failed or bool(flag)
        print(f"{t.action:<10} {t.seconds:>8.2f} {t.cpu_seconds:>8.2f}  {t.detail}{flag}")
    if args.json:
        args.json.write_text(json.dumps([asdict(t) for t in timings], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
