"""The columnar importers' writes (`CatalogWriter.write_rows`: ClearML NDJSON, COCO by SQL,
Nucleus NDJSON) into a lake-backed catalog: a first import and an update that changes some
frames store what they store in a local catalog, with the same report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import clearml, coco, nucleus
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA
from workbench.store.lake_write import open_for_lake


def _clearml(folder: Path, version: int) -> Path:
    frames = []
    for n in range(12):
        rois = [
            {
                "id": f"r{k}",
                "label": ["car"],
                "poly": [k, k, k + 5, k, k + 5, k + 5, k, k + 5],
                "sources": ["cam"],
                "meta": {"_kind": "box", "_field": "predictions"},
            }
            for k in range(3 if n != 4 or version == 0 else 1)  # frame 4 loses two ROIs
        ]
        meta = {"n": 77 if (n == 3 and version) else n}  # frame 3 changes
        source = {"id": "cam", "uri": f"s3://b/{n}.jpg", "width": 64, "height": 48}
        frames.append(
            {
                "id": f"f{n}",
                "context_id": f"c{n // 4}",
                "timestamp": n,
                "meta": meta,
                "sources": [source],
                "rois": rois,
            }
        )
    path = folder / f"frames{version}.ndjson"
    path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    return path


def _coco(folder: Path, version: int) -> Path:
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 10, "height": 10} for i in range(6)]
    boxes = [[0, 0, 2, 2 + version if i == 2 else 2] for i in range(6)]  # image 2's box changes
    annotations = [
        {"id": i + 1, "image_id": i, "category_id": 1, "bbox": box} for i, box in enumerate(boxes)
    ]
    path = folder / f"instances{version}" / "inst.json"
    path.parent.mkdir()
    document = {"images": images, "annotations": annotations}
    path.write_text(json.dumps({**document, "categories": [{"id": 1, "name": "car"}]}))
    return path


def _nucleus(folder: Path, version: int) -> Path:
    def line(name: str, ids: list[str]) -> str:
        frames = [{"reference_id": i, "image_location": f"s3://b/{i}.jpg"} for i in ids]
        return json.dumps({"reference_id": name, "frame_rate": 10, "frames": frames}) + "\n"

    path = folder / f"scenes{version}.ndjson"
    moved = ["s0", "s2"] if version else ["s0", "s1", "s2"]  # s1 moves to scene t
    path.write_text(line("s", moved) + line("t", ["s1"] if version else ["t0"]) + line("u", ["u0"]))
    return path


def _import(kind: str) -> Callable[[Any, Path], Any]:
    if kind == "clearml":
        return lambda catalog, path: clearml.import_files(catalog, [path], progress=False)
    if kind == "coco":
        return lambda catalog, path: coco.import_files(catalog, [path], progress=False)
    return lambda catalog, path: nucleus.import_files(catalog, [path], progress=False, update=True)


_MAKE = {"clearml": _clearml, "coco": _coco, "nucleus": _nucleus}


def _public(catalog: Any) -> list[list[tuple[Any, ...]]]:
    """Every table's public columns (no layout keys, no `ingested`), sorted."""
    found = []
    for table, schema in (("frames", FRAME_SCHEMA), ("sources", SOURCE_SCHEMA), ("rois", ROI_SCHEMA)):  # fmt: skip
        names = ", ".join(f'"{f.name}"' for f in schema if f.name != "ingested")
        rows = catalog.sql(f"SELECT {names} FROM {table}").fetchall()
        found.append(sorted(rows, key=repr))
    return found


def _report(report: Any) -> tuple[Any, ...]:
    return report.frames, report.sources, report.rois, [str(e) for e in report.errors]


@pytest.mark.parametrize("kind", ["clearml", "coco", "nucleus"])
def test_an_import_and_an_update_on_a_lake_store_what_a_local_catalog_stores(
    tmp_path: Path, kind: str
) -> None:
    files = [_MAKE[kind](tmp_path, version) for version in (0, 1)]
    run = _import(kind)
    found = {}
    for storage in ("local", "lake"):
        path = tmp_path / f"{storage}.duckdb"
        workbench.open(path).close()
        if storage == "lake":
            open_for_lake(
                str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False
            )
        with workbench.open(path) as catalog:
            reports = [_report(run(catalog, file)) for file in files]
            found[storage] = (reports, _public(catalog))
    assert found["lake"] == found["local"]
    frames = found["local"][1][0]
    assert len(frames) == len({row[0] for row in frames})  # each frame id once
