"""Two imports of the same frames in two threads, through the importers, each of two files
(or with `update=True`): each counts every frame it leaves stored once, with its last
version's sources and ROIs, however the two imports' writes interleave, and its record keeps
the same figures; so does the same pair of imports run again (frames found unchanged, or
replaced by the other import since)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import workbench
from tests.ingest.counting_files import at_once, catalog_path, coco_file, counted
from workbench.ingest import _nucleus_columnar, coco, nucleus
from workbench.ingest.report import IngestReport


def _both(imports: dict[str, Callable[[], IngestReport]]) -> dict[str, IngestReport]:
    """Run the imports, each in a thread of its own, at once."""
    reports: dict[str, IngestReport] = {}

    def run(name: str) -> None:
        reports[name] = imports[name]()

    at_once([functools.partial(run, name) for name in imports])
    return reports


@pytest.mark.parametrize("storage", ["local", "lake"])
def test_two_coco_imports_of_two_files_each_in_two_threads(tmp_path: Path, storage: str) -> None:
    """A imports images 1-6 with a box each, then 4-8 with 2 (its last version of 4-6);
    B images 1-8 with 3 boxes, then 2-3 with 1; both under one prefix, a write per image.
    A counts 8 frames and 3 + 5 * 2 ROIs, B 8 and 6 * 3 + 2, twice over."""
    files = tmp_path / "files"
    files.mkdir()
    a = [
        coco_file(files / "a1.json", range(1, 7), 1),
        coco_file(files / "a2.json", range(4, 9), 2),
    ]
    b = [
        coco_file(files / "b1.json", range(1, 9), 3),
        coco_file(files / "b2.json", range(2, 4), 1),
    ]
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        for _ in range(2):
            reports = _both(
                {
                    name: lambda files=files: coco.import_files(
                        catalog, files, id_prefix="p:", progress=False, batch_size=1
                    )
                    for name, files in (("a", a), ("b", b))
                }
            )
            assert all(r.ok for r in reports.values()), [r.errors for r in reports.values()]
            figures = {name: counted(catalog, report) for name, report in reports.items()}
            assert figures == {"a": (8, 8, 13), "b": (8, 8, 20)}


def _scenes(path: Path, scenes: dict[str, list[str]], where: str) -> Path:
    lines = [
        json.dumps(
            {
                "reference_id": name,
                "frame_rate": 10,
                "frames": [
                    {"reference_id": i, "image_location": f"s3://{where}/{i}.jpg"} for i in ids
                ],
            }
        )
        for name, ids in scenes.items()
    ]
    path.write_text("\n".join(lines + lines) + "\n")  # each scene given twice
    return path


@pytest.mark.parametrize("storage", ["local", "lake"])
def test_two_nucleus_updates_in_two_threads(
    tmp_path: Path, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two Nucleus imports with `update=True` give the same scenes' frames, each with its
    own images, each scene twice (its second line replaces its first), in writes of two
    frames: each counts its 40 frames once, twice over."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", 1)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_PER_WRITE", 2)
    scenes = {f"s{n}": [f"s{n}f{k}" for k in range(4)] for n in range(10)}
    files = {name: _scenes(tmp_path / f"{name}.ndjson", scenes, name) for name in ("a", "b")}
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        for _ in range(2):
            reports = _both(
                {
                    name: lambda file=file: nucleus.import_files(
                        catalog, [file], progress=False, update=True
                    )
                    for name, file in files.items()
                }
            )
            assert all(r.ok for r in reports.values()), [r.errors for r in reports.values()]
            figures = {name: counted(catalog, report) for name, report in reports.items()}
            assert figures == {"a": (40, 40, 0), "b": (40, 40, 0)}
