"""Importers and exporters, one module per format.

Each format module offers `import_files(catalog, paths, *, progress=True, **options)` returning
an IngestReport, and/or `export_files(view, dest, *, progress=True, **options)` returning an
ExportReport. They are found by name through `importer()` / `exporter()`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from workbench.errors import IngestError
from workbench.ingest.writer import CatalogWriter, IngestReport
from workbench.model.geometry import box_ring
from workbench.model.records import Frame, Roi, Source

# format name -> module; every module is imported only when its format is used.
FORMATS: dict[str, str] = {
    "clearml": "workbench.ingest.clearml",
    "coco": "workbench.ingest.coco",
    "nucleus": "workbench.ingest.nucleus",
    "nucleus_annotations": "workbench.ingest.nucleus_annotations",
    "labelbox": "workbench.ingest.labelbox",
    "images": "workbench.ingest.images",
    "video": "workbench.ingest.video",
    "parquet": "workbench.ingest.parquet",
    "cvat_xml": "workbench.ingest.cvat_xml",
    "labelstudio_json": "workbench.ingest.labelstudio_json",
}


def _function(fmt: str, name: str, direction: str) -> Callable[..., Any]:
    if fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    module = importlib.import_module(FORMATS[fmt])
    fn = getattr(module, name, None)
    if fn is None:
        raise IngestError(f"format {fmt!r} cannot be {direction}")
    return fn


def importer(fmt: str) -> Callable[..., IngestReport]:
    return _function(fmt, "import_files", "imported")


def exporter(fmt: str) -> Callable[..., Any]:
    """The format's `export_files` (each runs with the catalog's engine held to the import's
    memory budget: workbench.ingest._budget)."""
    return _function(fmt, "export_files", "exported")


__all__ = [
    "FORMATS",
    "CatalogWriter",
    "Frame",
    "IngestReport",
    "Roi",
    "Source",
    "box_ring",
    "exporter",
    "importer",
]
