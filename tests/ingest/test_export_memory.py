"""Exports in bounded memory: the COCO export read and written a batch at a time writes the
file it writes whole, and every export runs with the catalog's engine held to the import's
memory budget."""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import workbench
from workbench.ingest import FORMATS, coco, exporter, parquet
from workbench.ingest import _coco_export as coco_export
from workbench.ingest import _parquet_export as parquet_export
from workbench.store.catalog import import_memory_limit

from .test_coco_columnar import _document

INFO = {"description": "fixed", "version": "1"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_coco_export_in_small_batches_writes_the_same_file(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 7 images and ROIs (boxes, polygons, masks, ROIs written in Python and
    ROIs skipped all fall on their borders) against one batch for the whole view."""
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document(seed, images=200)))
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        coco.import_files(catalog, [path], progress=False)
        view = catalog.view()
        monkeypatch.setattr(coco_export, "_BATCH", 10**6)
        whole = coco.export_files(view, tmp_path / "whole.json", progress=False, info=INFO)
        monkeypatch.setattr(coco_export, "_BATCH", 7)
        parts = coco.export_files(view, tmp_path / "parts.json", progress=False, info=INFO)
    assert whole.rois > 300
    assert (whole.frames, whole.rois, whole.skipped) == (parts.frames, parts.rois, parts.skipped)
    assert (tmp_path / "parts.json").read_bytes() == (tmp_path / "whole.json").read_bytes()


def test_exports_hold_the_engine_to_the_import_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While an export found by `exporter()` runs (or a COCO or Parquet export called
    directly), the catalog's engine has the import's memory limit; afterwards its own again,
    even when the export fails."""
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document(1)))
    seen: list[str] = []
    write_images = coco_export._write_images

    def watched(con: Any, *args: Any) -> int:
        seen.append(con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return write_images(con, *args)

    def watched_table(con: Any, *args: Any) -> int:
        seen.append(con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return write_table(con, *args)

    write_table = parquet_export._write_table
    monkeypatch.setattr(coco_export, "_write_images", watched)
    monkeypatch.setattr(parquet_export, "_write_table", watched_table)
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        coco.import_files(catalog, [path], progress=False)
        con = catalog.cursor()
        own = con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        shown = duckdb.connect()  # the budget as the engine shows a limit
        shown.execute(f"SET memory_limit = '{import_memory_limit(catalog.memory_limit)}'")
        budget = shown.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        shown.close()
        assert exporter("coco")(catalog.view(), tmp_path / "out.json", progress=False).rois
        assert coco.export_files(catalog.view(), tmp_path / "direct.json", progress=False).rois
        assert parquet.export_files(catalog.view(), tmp_path / "pq", progress=False).rois
        after = con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        with pytest.raises(workbench.errors.IngestError):
            exporter("coco")(catalog.view(), tmp_path / "bad.json", progress=False, media="x")
        failed = con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        con.close()
    assert seen == [budget] * 6  # the COCO file twice, the four Parquet files
    assert budget != own
    assert after == own == failed


@pytest.mark.parametrize(
    ("fmt", "dest", "options"),
    [
        ("clearml", "out.ndjson", {}),
        ("nucleus", "out.json", {}),
        ("nucleus_annotations", "out.ndjson", {}),
        ("labelbox", "out.ndjson", {}),
        ("labelstudio_json", "out.json", {}),
        ("cvat_xml", "out.xml", {"field": "ground_truth"}),
        ("coco", "out.json", {}),
        ("parquet", "out", {}),
    ],
)
def test_a_format_module_export_called_directly_holds_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, dest: str, options: dict[str, Any]
) -> None:
    """Each format's own `export_files` (as its docs call it) holds the engine to the
    import's budget while it runs, not only when found through `exporter()`."""
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document(1)))
    held: list[str] = []
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        coco.import_files(catalog, [path], progress=False, field="ground_truth")
        held_by = catalog.import_memory

        @contextlib.contextmanager
        def watched() -> Iterator[None]:
            with held_by():
                held.append(catalog.cursor().sql("SELECT 1").fetchall()[0][0] and "held")
                yield

        monkeypatch.setattr(catalog, "import_memory", watched)
        module = importlib.import_module(FORMATS[fmt])
        report = module.export_files(catalog.view(), tmp_path / dest, progress=False, **options)
    assert (tmp_path / dest).exists() and report.dest == tmp_path / dest
    assert held == ["held"]
