"""What the counting tests share: a catalog, local or lake-backed; a COCO file; an import's
figures checked against its record."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import workbench
from workbench.ingest.report import IngestReport
from workbench.store.imports import get_import
from workbench.store.lake_write import open_for_lake


def catalog_path(tmp_path: Path, storage: str) -> Path:
    """A new catalog's file; with `storage` "lake", its tables in a lake beside it."""
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    if storage == "lake":
        open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    return path


def coco_file(path: Path, ids: Sequence[int], boxes: int) -> Path:
    """Instances whose images `ids` carry `boxes` boxes each."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in ids]
    annotations = [
        {"id": 1000 * i + k, "image_id": i, "category_id": 1, "bbox": [k, k, 4, 4], "area": 16}
        for i in ids
        for k in range(boxes)
    ]
    categories = [{"id": 1, "name": "car"}]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def counted(catalog: Any, report: IngestReport) -> tuple[int, int, int]:
    """The report's frames, sources and ROIs, checked against those its import's record
    keeps."""
    record = get_import(catalog, report.import_id).counts
    figures = (report.frames, report.sources, report.rois)
    assert (record.frames, record.sources, record.rois) == figures
    return figures
