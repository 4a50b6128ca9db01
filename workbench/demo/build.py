"""Builds the demo dataset: renders every sequence, writes images and masks, stores the labels.

Sequences are independent (each has its own random generator), so they render in parallel
worker processes and the result does not depend on which worker did what.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from workbench.demo.defects import (
    FROZEN_CAMERA,
    FROZEN_CONTEXT,
    FROZEN_FRAME,
    GAP_AFTER,
    GAP_CONTEXT,
    GAP_FRAMES,
    Defect,
    describe,
)
from workbench.demo.geometry import HEIGHT, WIDTH, Camera
from workbench.demo.labels import drivable_area, ground_truth, predictions, road_type
from workbench.demo.render import Renderer
from workbench.demo.scenario import (
    BROKEN_FRAME,
    CAMERA_YAW,
    CONTEXTS,
    DUPLICATE_NUMBER,
    DUPLICATE_OF,
    ContextSpec,
    World,
    build_world,
)
from workbench.errors import IngestError
from workbench.ingest.imports import recorded_import
from workbench.ingest.writer import CatalogWriter
from workbench.model.records import Frame, Roi, Source
from workbench.query import View

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

DATASET, VERSION = "demo", "v1"
JPEG_QUALITY = 85
MASK_EVERY = 10  # frames between drivable-area masks
_CAMERA_OFFSET_MS = {"front_left": -2, "front": 0, "front_right": 2}


@dataclass(frozen=True)
class DemoSummary:
    frames: int
    contexts: int
    images: int
    rois: dict[str, int]
    defects: tuple[Defect, ...]
    media_dir: Path
    elapsed: float

    def __str__(self) -> str:
        fields = ", ".join(f"{name} {count}" for name, count in sorted(self.rois.items()))
        lines = [
            f"demo {VERSION}: {self.frames} frames in {self.contexts} contexts, "
            f"{self.images} images in {self.media_dir}",
            f"ROIs: {fields}",
            f"{len(self.defects)} planted defects (see docs/demo.md):",
            *(f"  {d}" for d in self.defects),
            f"built in {self.elapsed:.1f} s",
        ]
        return "\n".join(lines)


@dataclass
class _ContextResult:
    spec: ContextSpec
    frames: list[Frame]
    images: int
    missing: dict[int, list[str]] = field(default_factory=dict)
    mislabelled: dict[int, list[str]] = field(default_factory=dict)


def default_media_dir(catalog_path: str | os.PathLike[str]) -> Path:
    """`<catalog stem>.media/demo` next to the catalog file."""
    path = Path(catalog_path)
    return path.parent / f"{path.stem}.media" / "demo"


def build_demo(
    catalog: Catalog,
    media_dir: Path | None = None,
    *,
    seed: int = 7,
    progress: bool = True,
    contexts: Sequence[str] | None = None,
    workers: int | None = None,
    embeddings: bool = True,
) -> DemoSummary:
    """Render the demo driving sequences into `media_dir` and store them in `catalog`.

    The same seed gives byte-identical images and identical rows. `contexts` limits the build
    to some context ids (a quick look, or a test); `workers` is the number of processes that
    render (default: up to two, one per CPU). `embeddings` stores the built-in descriptor of
    every frame under the key `descriptor` (docs/embeddings.md), so similarity search works at
    once.
    """
    started = time.perf_counter()
    media_dir = Path(media_dir) if media_dir is not None else default_media_dir(catalog.path)
    media_dir = media_dir.resolve()
    media_dir.mkdir(parents=True, exist_ok=True)
    specs = [s for s in CONTEXTS if contexts is None or s.context_id in contexts]
    if contexts is not None and len(specs) != len(set(contexts)):
        known = ", ".join(s.context_id for s in CONTEXTS)
        raise IngestError(f"unknown demo context in {list(contexts)}: the demo has {known}")
    results = _render_all(specs, media_dir, seed, workers, progress)
    results = [_plant_sequence_defects(r, media_dir) for r in results]
    duplicate = _duplicate(results, media_dir)
    all_frames = [f for r in results for f in r.frames] + (duplicate or [])
    # Recorded like any import; the media folder it rendered into is its declared media root.
    options = {"seed": seed, "contexts": list(contexts) if contexts is not None else None}
    with (
        recorded_import(catalog, "demo", [media_dir], options=options) as run,
        CatalogWriter(catalog, progress=progress, total=len(all_frames), desc="demo") as writer,
    ):
        for frame in all_frames:
            writer.add(frame)
        run.report = writer.report
    if not writer.report.ok:
        raise IngestError(f"the demo generator produced bad records: {writer.report}")
    if embeddings:
        _embed(catalog, sorted({f.context_id for f in all_frames if f.context_id}), progress)
    rois = Counter(roi.field for f in all_frames for roi in f.rois)
    return DemoSummary(
        frames=len(all_frames),
        contexts=len({f.context_id for f in all_frames}),
        images=sum(r.images for r in results) + sum(len(f.sources) for f in duplicate or []),
        rois=dict(sorted(rois.items())),
        defects=tuple(describe(results, duplicate is not None)),
        media_dir=media_dir,
        elapsed=round(time.perf_counter() - started, 2),
    )


def _render_all(
    specs: list[ContextSpec], media_dir: Path, seed: int, workers: int | None, progress: bool
) -> list[_ContextResult]:
    """Render the sequences, sharing them between this process and `workers - 1` others."""
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    groups = _share(specs, max(1, min(workers, len(specs))))
    total = sum(s.frames for s in specs)
    with (
        tqdm(
            total=total, desc="demo: render", unit="frame", disable=not progress, leave=False
        ) as bar,
        tempfile.TemporaryDirectory(prefix="workbench-demo-") as tmp,
    ):
        children = [
            _start_worker(group, media_dir, seed, Path(tmp) / f"{n}.pickle")
            for n, group in enumerate(groups[1:])
        ]
        try:
            mine = [render_context(s, str(media_dir), seed, bar.update) for s in groups[0]]
            theirs = [r for child in children for r in _finish_worker(*child)]
        finally:
            for proc, _ in children:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        bar.update(total - bar.n)
    by_number = {r.spec.number: r for r in mine + theirs}
    return [by_number[s.number] for s in specs]


def _share(specs: list[ContextSpec], workers: int) -> list[list[ContextSpec]]:
    """Split the sequences into `workers` groups of about the same number of pictures."""
    groups: list[list[ContextSpec]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for spec in sorted(specs, key=lambda s: -s.frames * len(s.cameras)):
        least = loads.index(min(loads))
        groups[least].append(spec)
        loads[least] += spec.frames * len(spec.cameras)
    return groups


def _start_worker(
    group: list[ContextSpec], media_dir: Path, seed: int, out: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    env = dict(os.environ)
    # The worker must import this very workbench, installed or not.
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    args = [sys.executable, "-m", "workbench.demo.worker", str(media_dir), str(seed), str(out)]
    proc = subprocess.Popen(
        args + [s.context_id for s in group],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    return proc, out


def _finish_worker(proc: subprocess.Popen[bytes], out: Path) -> list[_ContextResult]:
    _, err = proc.communicate()
    if proc.returncode != 0 or not out.exists():
        tail = err.decode(errors="replace").strip()[-2000:]
        raise IngestError(f"a demo render worker failed (exit code {proc.returncode}): {tail}")
    results: list[_ContextResult] = pickle.loads(out.read_bytes())
    return results


def render_context(
    spec: ContextSpec, media_dir: str, seed: int, on_frame: Callable[[], object] | None = None
) -> _ContextResult:
    """Render one sequence: write its images and masks, return its frames."""
    world = build_world(spec, seed)
    folder = Path(media_dir) / spec.context_id
    folder.mkdir(parents=True, exist_ok=True)
    renderers = {cam: Renderer(world, Camera(cam, CAMERA_YAW[cam]), seed) for cam in spec.cameras}
    result = _ContextResult(spec, [], 0)
    for index in range(spec.frames):
        frame_id = f"{spec.context_id}/{index:04d}"
        sources, rois = [], []
        for cam, renderer in renderers.items():
            with_mask = cam == "front" and index % MASK_EVERY == 0
            rendered = renderer.render(index, with_mask=with_mask)
            path = folder / f"{index:04d}_{cam}.jpg"
            path.write_bytes(_jpeg(rendered.image))
            result.images += 1
            sources.append(
                Source(
                    id=cam,
                    uri=str(path),
                    width=WIDTH,
                    height=HEIGHT,
                    content_type="image/jpeg",
                    timestamp=world.timestamps[index] + _CAMERA_OFFSET_MS[cam],
                )
            )
            truth, notes = ground_truth(world, index, cam, rendered, frame_id)
            rois += truth
            rois += predictions(world, index, cam, rendered, frame_id, seed)
            if rendered.drivable is not None:
                rois += _mask(
                    rendered.drivable, folder / f"{index:04d}_{cam}_drivable.png", frame_id, cam
                )
            for track in notes.missing:
                result.missing.setdefault(track, []).append(frame_id)
            for track in notes.mislabelled:
                result.mislabelled.setdefault(track, []).append(frame_id)
        rois.append(road_type(world, frame_id))
        result.frames.append(_frame(world, index, frame_id, sources, rois))
        if on_frame is not None:
            on_frame()
    if spec.plant == "broken_image":
        _break(folder / f"{BROKEN_FRAME:04d}_front.jpg")
    return result


def _frame(
    world: World, index: int, frame_id: str, sources: list[Source], rois: list[Roi]
) -> Frame:
    spec = world.spec
    return Frame(
        id=frame_id,
        sources=sources,
        rois=rois,
        context_id=spec.context_id,
        timestamp=world.timestamps[index],
        metadata={
            "weather": spec.weather,
            "time_of_day": spec.time_of_day,
            "camera": spec.cameras[0] if len(spec.cameras) == 1 else "front_array",
            "location": spec.city,
            "speed_kmh": world.speed_kmh[index],
        },
        dataset=DATASET,
        version=VERSION,
        frame_index=index,
        num_frames=spec.frames,
    )


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _mask(mask: np.ndarray, path: Path, frame_id: str, cam: str) -> list[Roi]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return []
    Image.fromarray(mask.astype(np.uint8), "L").save(path, "PNG")
    bbox = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
    return [drivable_area(frame_id, cam, str(path), bbox)]


_FRAME_MS = 100


def _plant_sequence_defects(result: _ContextResult, media_dir: Path) -> _ContextResult:
    """Frames lost from one recording (its timestamps jump), and one camera of the frame
    group repeating its previous picture (docs/demo.md)."""
    number = result.spec.number
    if number == GAP_CONTEXT and len(result.frames) > GAP_AFTER + 1:
        shift = GAP_FRAMES * _FRAME_MS

        def later(frame: Frame) -> Frame:
            sources = [replace(s, timestamp=(s.timestamp or 0) + shift) for s in frame.sources]
            return replace(frame, timestamp=(frame.timestamp or 0) + shift, sources=sources)

        frames = [f if i <= GAP_AFTER else later(f) for i, f in enumerate(result.frames)]
        result = replace(result, frames=frames)
    elif number == FROZEN_CONTEXT and len(result.frames) > FROZEN_FRAME:
        folder = media_dir / result.spec.context_id
        shutil.copyfile(
            folder / f"{FROZEN_FRAME - 1:04d}_{FROZEN_CAMERA}.jpg",
            folder / f"{FROZEN_FRAME:04d}_{FROZEN_CAMERA}.jpg",
        )
    return result


def _embed(catalog: Catalog, contexts: list[str], progress: bool) -> None:
    """The built-in descriptor of every demo frame (about a second for the whole demo)."""
    from workbench.analysis.embeddings import compute_embeddings

    view = View(catalog).select_contexts(contexts)
    report = compute_embeddings(view, "descriptor", progress=progress, image_size=128)
    # The broken picture is refused, as it is everywhere; anything else is a bug.
    if report.refused > 1:
        raise IngestError(f"the demo's embeddings failed: {report}")


def _break(path: Path) -> None:
    """Cut a JPEG short, as a failed upload or a full disk would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])


def _duplicate(results: list[_ContextResult], media_dir: Path) -> list[Frame] | None:
    """The planted duplicate: one sequence stored again, files and all, under a new id."""
    original = next((r for r in results if r.spec.number == DUPLICATE_OF), None)
    if original is None:
        return None
    old_id = original.spec.context_id
    new_id = replace(original.spec, number=DUPLICATE_NUMBER).context_id
    folder = media_dir / new_id
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((media_dir / old_id).iterdir()):
        shutil.copyfile(path, folder / path.name)
    old_dir, new_dir = str(media_dir / old_id), str(folder)
    return [_renamed(frame, old_id, new_id, old_dir, new_dir) for frame in original.frames]


def _renamed(frame: Frame, old_id: str, new_id: str, old_dir: str, new_dir: str) -> Frame:
    def move(uri: str) -> str:
        return new_dir + uri[len(old_dir) :] if uri.startswith(old_dir) else uri

    rois = [
        replace(
            roi,
            id=new_id + roi.id[len(old_id) :],
            mask={**roi.mask, "uri": move(str(roi.mask["uri"]))} if roi.mask else None,
        )
        for roi in frame.rois
    ]
    return replace(
        frame,
        id=new_id + frame.id[len(old_id) :],
        context_id=new_id,
        sources=[replace(s, uri=move(s.uri)) for s in frame.sources],
        rois=rois,
    )
