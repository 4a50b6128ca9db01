"""Catalogs for the embedding, similarity, duplicate and sequence QA tests: real DuckDB files
in a temp folder, pictures drawn with Pillow, frames written by the real CatalogWriter."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import workbench
from workbench.ingest.writer import CatalogWriter
from workbench.model.geometry import box_ring
from workbench.model.records import Frame, Roi, Source
from workbench.store.catalog import Catalog


def picture(seed: int, size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A picture unlike those of other seeds: coloured shapes on a coloured background."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.integers(0, size[0] - 20), rng.integers(0, size[1] - 20)
        w, h = rng.integers(10, 70, 2)
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=colour)
        else:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
    noise = rng.integers(0, 30, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(
        np.clip(np.asarray(image, dtype=np.int16) + noise - 15, 0, 255).astype(np.uint8)
    )


def write_frames(path: Path, frames: Sequence[Frame], media: Path | None = None) -> Catalog:
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for frame in frames:
            writer.add(frame)
    assert writer.report.ok, writer.report
    if media is not None:
        catalog.add_media_roots([media])
    return catalog


def picture_catalog(folder: Path, count: int = 12) -> Catalog:
    """`count` frames f00..., one picture each (seeds 0..count-1), one box ROI per frame."""
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(count):
        path = media / f"{i:02d}.jpg"
        picture(i).save(path, quality=92)
        frames.append(
            Frame(
                id=f"f{i:02d}",
                context_id=f"ctx{i % 3}",
                timestamp=1000 + i * 100,
                sources=[Source("cam", str(path), 160, 120, "image/jpeg")],
                rois=[
                    Roi(f"r{i:02d}", "box", ["thing"], geometry=[box_ring(20, 20, 60, 50)]),
                    Roi(
                        f"p{i:02d}",
                        "box",
                        ["other"],
                        field="predictions",
                        geometry=[box_ring(80, 40, 50, 50)],
                        confidence=0.9,
                    ),
                ],
                metadata={"weather": "rain" if i % 2 else "clear"},
            )
        )
    return write_frames(folder / "pictures.duckdb", frames, media)


def clustered(n: int, dim: int, clusters: int, seed: int = 0, spread: float = 0.35) -> np.ndarray:
    """Unit vectors around `clusters` random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    labels = rng.integers(0, clusters, n)
    vectors = centres[labels] + spread * rng.standard_normal((n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def bare_catalog(path: Path, count: int, contexts: int = 10) -> Catalog:
    """`count` frames without pictures (ids f000000...), for vectors brought along."""
    frames = [
        Frame(id=f"f{i:06d}", context_id=f"c{i % contexts}", timestamp=i * 100)
        for i in range(count)
    ]
    return write_frames(path, frames)
