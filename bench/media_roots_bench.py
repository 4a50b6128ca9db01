"""What checking imported URIs against the media roots costs, per URI and per imported frame.

    python bench/media_roots_bench.py [--uris 1000000] [--frames 100000]

1. `MediaRootCheck.is_outside` (one realpath and one listing per folder, then string work per
   URI) against the obvious check, `os.path.realpath` of every URI compared with the roots,
   over the same URIs: files in 100 folders, half of them under the root, a few symlinks.
2. A CatalogWriter storing frames (one source, one box each) inside a recorded import, whose
   URIs are all checked, against the same frames written with the check switched off, in
   the same run. Prints the load average with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.ingest.imports import recorded_import
from workbench.media.files import MediaRootCheck, is_under, real_roots


def _tree(base: Path, folders: int = 100) -> tuple[Path, list[str]]:
    root = base / "media"
    names = []
    for n in range(folders):
        parent = root if n % 2 == 0 else base / "elsewhere"
        folder = parent / f"d{n:03d}"
        folder.mkdir(parents=True)
        for i in range(10):
            (folder / f"{i}.jpg").touch()
        if n % 2 == 0:  # a symlink inside the root leading out of it
            os.symlink(base / "elsewhere", folder / "link.jpg")
        names.append(str(folder))
    return root, names


def _uris(folders: list[str], count: int) -> list[str]:
    return [f"{folders[i % len(folders)]}/{i % 10}.jpg" for i in range(count)]


def check_cost(base: Path, count: int) -> dict[str, float]:
    root, folders = _tree(base)
    uris = _uris(folders, count)
    started = time.perf_counter()
    check = MediaRootCheck([root])
    fast = sum(check.is_outside(u) for u in uris)
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    roots = real_roots([root])
    slow = sum(not is_under(Path(os.path.realpath(u)), roots) for u in uris)
    slow_s = time.perf_counter() - started
    assert fast == slow, (fast, slow)
    return {
        "uris": count,
        "outside": fast,
        "is_outside_us_per_uri": round(fast_s / count * 1e6, 3),
        "realpath_us_per_uri": round(slow_s / count * 1e6, 3),
        "realpath_over_is_outside": round(slow_s / fast_s, 1),
    }


def _frames(folder: Path, count: int) -> list[Frame]:
    return [
        Frame(
            id=f"f{i}",
            sources=[Source("cam", f"{folder}/d{i % 100:03d}/{i}.jpg", 640, 480)],
            rois=[Roi("r", "box", ["car"], geometry=[box_ring(1, 2, 30, 40)])],
        )
        for i in range(count)
    ]


def writer_cost(base: Path, count: int) -> dict[str, float]:
    frames = _frames(base / "media", count)
    seconds = {}
    for label in ("checked", "unchecked", "checked", "unchecked"):  # alternate: same load
        with workbench.open(base / f"{label}-{time.monotonic_ns()}.duckdb") as catalog:
            started = time.perf_counter()
            with (
                recorded_import(catalog, "bench", [base / "media"]) as run,
                CatalogWriter(catalog, progress=False) as writer,
            ):
                if label == "unchecked":  # the writer's check, switched off for comparison
                    writer._roots.is_outside = lambda uri: False  # type: ignore[method-assign]
                for frame in frames:
                    writer.add(frame)
                run.report = writer.report
            seconds[label] = min(seconds.get(label, 1e9), time.perf_counter() - started)
    return {
        "frames": count,
        "checked_s": round(seconds["checked"], 3),
        "unchecked_s": round(seconds["unchecked"], 3),
        "checked_over_unchecked": round(seconds["checked"] / seconds["unchecked"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uris", type=int, default=1_000_000)
    parser.add_argument("--frames", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        result = {
            "load_average": os.getloadavg()[0],
            "check": check_cost(base / "check", args.uris),
            "writer": writer_cost(base / "writer", args.frames),
            "load_average_after": os.getloadavg()[0],
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
