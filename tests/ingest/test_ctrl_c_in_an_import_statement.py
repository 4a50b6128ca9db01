"""Ctrl-C while a COCO import's engine runs one of its statements (the staging and the
conversion are DuckDB statements on the caller's thread: most of an import's time) stops the
import as Ctrl-C does anywhere else: a KeyboardInterrupt, the import recorded as interrupted.
DuckDB's Python client stops the statement and raises RuntimeError("Query interrupted") in
its place, the KeyboardInterrupt consumed; the import tells that error apart
(`store.interrupts.ctrl_c`) and raises the KeyboardInterrupt it stands for, rather than
ending as a failure.

The Ctrl-C is a real SIGINT, sent by another thread once the main thread has been blocked in
one call of the import's COCO modules for a while (inside a statement)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import workbench
from tests.ctrl_c import ctrl_c_when, python_ctrl_c  # noqa: F401 (the fixture, autouse)
from workbench.ingest import coco
from workbench.ingest.writer import CatalogWriter
from workbench.model.records import Frame, Source


def _document(path: Path, images: int) -> Path:
    annotations = [
        {"id": k, "image_id": k % images, "category_id": 1, "bbox": [1, 2, 3, 4],
         "area": 12, "iscrowd": 0}
        for k in range(8 * images)
    ]  # fmt: skip
    doc = {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in range(images)
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car"}],
    }
    path.write_text(json.dumps(doc))
    return path


def _ctrl_c_inside_a_statement(where: str = "_coco_") -> threading.Thread:
    """SIGINT once the main thread has stood at one instruction of a function of the modules
    whose file names hold `where` (the COCO importer's) for a while (blocked in a call that
    let go of the GIL)."""
    return ctrl_c_when(
        lambda f: (f.f_code, f.f_lasti) if where in f.f_code.co_filename else None, 300
    )


def test_ctrl_c_in_an_import_statement_interrupts_the_import(tmp_path: Path) -> None:
    path = _document(tmp_path / "instances.json", 60_000)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        watcher = _ctrl_c_inside_a_statement()
        try:
            with pytest.raises(KeyboardInterrupt):
                coco.import_files(catalog, [path], progress=False)
        finally:
            watcher.join()
        assert catalog.sql("SELECT status FROM imports").fetchall() == [("interrupted",)]


def test_a_writer_stopped_by_ctrl_c_in_a_statement_stores_nothing_it_had_queued(
    tmp_path: Path,
) -> None:
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        con = catalog.cursor()
        watcher = _ctrl_c_inside_a_statement(Path(__file__).stem)
        try:
            with (
                pytest.raises(RuntimeError, match="interrupted"),
                CatalogWriter(catalog, batch_size=100, progress=False) as writer,
            ):
                writer.add(Frame(id="queued", sources=[Source("image", "/q.jpg", 40, 30)]))
                while True:  # Ctrl-C stops one of these, and the block with it
                    con.execute("SELECT sum(hash(range)) FROM range(300000000)").fetchall()
        finally:
            watcher.join()
        assert catalog.sql("SELECT count(*) FROM frames").fetchall() == [(0,)]
