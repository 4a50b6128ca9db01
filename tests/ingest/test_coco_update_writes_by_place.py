"""A COCO update whose changed images lie all over the file writes them a stretch of the file
at a time: each write replaces the frames of one stretch of `batch_size` images, which lie
together in the catalog. (One write of every changed image replaced frames in every row
group of the catalog's tables, and the catalog's engine holds memory for each row group a
transaction deletes from until it commits: at 3.8M images, 1% of them changed, the first
write ran out of the import's 256MB.) What is stored is what a first import of the changed
file stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import coco
from workbench.ingest.writer import CatalogWriter, RowBatch

IMAGES = 12_000
PER_WRITE = 1_000
EVERY = 100
PREFIX = "x:"


def _write(path: Path, changed: set[int]) -> None:
    """IMAGES images, two annotations each (the second far from the first in the file); the
    images `changed` have a wider first box."""
    annotations = [
        {
            "id": a,
            "image_id": (a - 1) % IMAGES + 1,
            "category_id": 1,
            "bbox": [a % 600, 10, 31.5 if a in changed else 30.5, 20],
            "area": 610.0,
            "iscrowd": 0,
        }
        for a in range(1, 2 * IMAGES + 1)
    ]
    doc: dict[str, Any] = {
        "images": [
            {"id": n, "file_name": f"s3://b/{n:06d}.jpg", "width": 640, "height": 480}
            for n in range(1, IMAGES + 1)
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car", "supercategory": "thing"}],
    }
    path.write_text(json.dumps(doc))


def _rows(catalog: workbench.Catalog) -> list[tuple[Any, ...]]:
    return catalog.sql(
        "SELECT frame_id, id, x_min, x_max, y_max FROM rois ORDER BY frame_id, id"
    ).fetchall()


def test_an_updates_writes_each_replace_one_stretch_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "instances.json"
    _write(path, set())
    written: list[list[int]] = []
    store = CatalogWriter.write_rows

    def spied(self: CatalogWriter, batch: RowBatch) -> None:
        ids = batch.frames["id"].to_pylist()
        if ids:
            written.append([int(i.removeprefix(PREFIX)) for i in ids])
        store(self, batch)

    with workbench.open(tmp_path / "c.duckdb") as catalog:
        coco.import_files(catalog, [path], id_prefix=PREFIX, batch_size=PER_WRITE, progress=False)
        before = catalog.sql("SELECT max(frame_key) FROM frames").fetchall()[0][0]
        changed = set(range(EVERY, IMAGES + 1, EVERY))  # their first annotation, by id
        _write(path, changed)
        monkeypatch.setattr(CatalogWriter, "write_rows", spied)
        report = coco.import_files(
            catalog, [path], id_prefix=PREFIX, batch_size=PER_WRITE, progress=False
        )
        monkeypatch.undo()
        assert report.ok and not report.warnings, str(report)
        after = catalog.sql("SELECT max(frame_key), count(*) FROM frames").fetchall()[0]
        updated = _rows(catalog)
    assert sorted(i for frames in written for i in frames) == sorted(changed)
    assert after == (before + len(changed), IMAGES)  # the changed frames only written again
    # one write a stretch of PER_WRITE images of the file, each holding its changed ones
    assert [(frames[0] - 1) // PER_WRITE for frames in written] == list(range(IMAGES // PER_WRITE))
    assert all((f[-1] - 1) // PER_WRITE == (f[0] - 1) // PER_WRITE for f in written)
    with workbench.open(tmp_path / "fresh.duckdb") as catalog:
        coco.import_files(catalog, [path], id_prefix=PREFIX, batch_size=PER_WRITE, progress=False)
        assert _rows(catalog) == updated
