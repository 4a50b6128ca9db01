"""An import counts the frames it leaves stored once each, whatever other imports store in
the same catalog between its writes (two imports from two threads of a notebook, or one
beside the served app's): the frames another import stored are not taken for its own."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, coco
from workbench.ingest.imports import recorded_import
from workbench.ingest.report import IngestReport
from workbench.model.records import Frame, Source
from workbench.store.imports import get_import
from workbench.store.lake_write import open_for_lake


def _frame(frame_id: str) -> Frame:
    return Frame(id=frame_id, sources=[Source(id="cam", uri=f"s3://b/{frame_id}.jpg")])


def _instances(path: Path) -> Path:
    """Images 1 and 2 (frames `b:1`, `b:2`), no annotation."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in (1, 2)]
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    return path


@pytest.mark.parametrize(
    "storage",
    ["local", "lake"],
)
def test_frames_another_import_stored_between_the_writes_are_counted_by_the_one_replacing_them(
    tmp_path: Path, storage: str
) -> None:
    """Import A stores `a`; import B (a COCO file) stores `b:1` and `b:2`; A then stores its
    own `b:1` and `c`. A leaves `a`, `b:1` and `c` stored: it counts 3 frames, and its
    record keeps 3."""
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    if storage == "lake":
        open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    instances = _instances(tmp_path / "b.json")
    with workbench.open(path) as catalog:
        with (
            recorded_import(catalog, "api", []) as run,
            CatalogWriter(catalog, progress=False) as writer,
        ):
            writer.add(_frame("a"))
            writer.flush()
            # import B runs in a thread of its own, a record of its own, between A's writes
            other: list[IngestReport] = []
            thread = threading.Thread(
                target=lambda: other.append(
                    coco.import_files(catalog, [instances], id_prefix="b:", progress=False)
                )
            )
            thread.start()
            thread.join()
            assert [(r.ok, r.frames, r.import_id == writer.report.import_id) for r in other] == [
                (True, 2, False)
            ]
            writer.add(_frame("b:1"))
            writer.add(_frame("c"))
            writer.flush()
            run.report = writer.report
        held = catalog.sql("SELECT id FROM frames ORDER BY id").fetchall()
        assert held == [("a",), ("b:1",), ("b:2",), ("c",)]
        mine = catalog.sql("SELECT count(*) FROM sources WHERE uri LIKE 's3://%'").fetchall()
        assert mine == [(3,)]  # a, b:1 and c as A stored them
        record = get_import(catalog, writer.report.import_id).counts
        assert (writer.report.frames, writer.report.sources) == (3, 3)
        assert (record.frames, record.sources) == (3, 3)
