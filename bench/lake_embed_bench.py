"""Embedding computation as a job on a lake-backed catalog, against the catalog's own.

    PYTHONPATH=$PWD:$PWD/bench ~/.cache/workbench/daft-venv/bin/python \\
        bench/lake_embed_bench.py --frames 4000 --engines local daft

`--frames` JPEG pictures (`--width` x `--height`, shapes and noise drawn with NumPy, a few
dozen kB each) are written to a media folder, one frame each (contexts of 20 frames), and the
catalog is made lake-backed with `--buckets` buckets. The built-in descriptor then embeds
every frame with `catalog.compute_embeddings` (in this process, its two reader threads), and
with `jobs.run_embeddings` on each engine with 1 and then 2 workers, one after the other in
this process. Frames per second (wall) and CPU seconds of this process are printed with the
load average; every job's vectors are checked against the local ones. Each job runs in a
process of its own (Daft keeps the runner a process set first); a Spark session is started
before its job and timed apart (`session_s`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import workbench
from workbench.ingest.writer import CatalogWriter
from workbench.jobs import EngineConfig, run_embeddings
from workbench.model.records import Frame, Source
from workbench.store.lake_write import open_for_lake


def _picture(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = rng.integers(0, 255, 3, dtype=np.uint8)
    for _ in range(8):
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        w, h = (int(v) for v in rng.integers(20, 160, 2))
        pixels[y : y + h, x : x + w] = rng.integers(0, 255, 3, dtype=np.uint8)
    noise = rng.integers(0, 24, pixels.shape, dtype=np.uint8)
    return Image.fromarray(np.clip(pixels.astype(np.int16) + noise - 12, 0, 255).astype(np.uint8))


def generate(path: Path, media: Path, frames: int, width: int, height: int) -> None:
    media.mkdir(parents=True)
    rng = np.random.default_rng(3)
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(frames):
            picture = media / f"{i:07d}.jpg"
            _picture(rng, width, height).save(picture, quality=88)
            writer.add(
                Frame(
                    id=f"f{i:07d}",
                    context_id=f"ctx{i // 20:05d}",
                    timestamp=i % 20 * 100,
                    sources=[Source("cam", str(picture), width, height, "image/jpeg")],
                )
            )
    catalog.add_media_roots([media])
    catalog.close()


def _timed(label: str, frames: int, work: Any) -> tuple[Any, dict[str, Any]]:
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    seconds = time.perf_counter() - wall
    figures = {
        "run": label,
        "wall_s": round(seconds, 2),
        "frames_per_s": round(frames / seconds, 1),
        "cpu_s": round(time.process_time() - cpu, 2),
        "load": round(load, 1),
    }
    print(json.dumps(figures), flush=True)
    return out, figures


def _vectors(catalog: workbench.Catalog, key: str) -> dict[str, np.ndarray]:
    rows = catalog.sql(f"SELECT frame_id, vector FROM emb_{key}").fetchall()
    return {r[0]: np.asarray(r[1], dtype=np.float32) for r in rows}


def _job(path: Path, engine: str, workers: int, frames: int) -> dict[str, Any]:
    """One job run, in a process of its own (Daft keeps the first runner a process sets)."""
    key = f"job_{engine}_{workers}"
    session = 0.0
    if engine == "spark":  # its start (a JVM, about a minute here) is timed on its own
        from workbench.jobs.engines import spark_session

        started = time.perf_counter()
        spark_session(EngineConfig(engine, workers))
        session = round(time.perf_counter() - started, 1)
    with workbench.open(path) as catalog:
        report, f = _timed(
            f"run_embeddings on {engine}, {workers} worker(s)",
            frames,
            lambda: run_embeddings(
                catalog, key, config=EngineConfig(engine, workers), progress=False
            ),
        )
        found, expected = _vectors(catalog, key), _vectors(catalog, "local")
    same = found.keys() == expected.keys() and all(
        np.allclose(found[k], v, atol=1e-6) for k, v in expected.items()
    )
    return f | {"session_s": session, "written": report.written, "same_as_local": same}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--engines", nargs="*", default=["local", "daft"])
    parser.add_argument("--workdir", default="/tmp/lake-embed-bench")
    parser.add_argument("--job", nargs=2, metavar=("ENGINE", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    path = work / "c.duckdb"
    if args.job:
        print(json.dumps(_job(path, args.job[0], int(args.job[1]), args.frames)))
        return 0
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    generate(path, work / "media", args.frames, args.width, args.height)
    size = sum(p.stat().st_size for p in (work / "media").iterdir()) / args.frames / 1024
    print(json.dumps({"generated_s": round(time.perf_counter() - started, 1), "kB": round(size)}))
    open_for_lake(str(path), str(work / "lake"), attach=False, buckets=args.buckets, progress=False)
    with workbench.open(path) as catalog:
        _, local = _timed(
            "catalog.compute_embeddings",
            args.frames,
            lambda: catalog.compute_embeddings("local", progress=False),
        )
    figures = [local]
    for engine in args.engines:
        for workers in (1, 2) if engine != "local" else (1,):
            command = [sys.executable, __file__, "--workdir", str(work), "--frames"]
            command += [str(args.frames), "--job", engine, str(workers)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            found = json.loads(out.strip().splitlines()[-1])
            print(json.dumps(found), flush=True)
            figures.append(found)
            if not found["same_as_local"]:
                return 1
    print(json.dumps({"frames": args.frames, "figures": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
