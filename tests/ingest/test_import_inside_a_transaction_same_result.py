"""An import run inside the caller's own write transaction (its writes inline, on the caller's
thread: `Catalog.writing_here`, `InThread(inline=True)`) stores and reports exactly what the
same import run on its own does (its writes in a thread of their own), row for row and error
for error, on a first import and an update of a changed file; and leaves no write thread."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import clearml, coco

from .test_clearml_overlap import _file as _clearml_file
from .test_clearml_overlap import _state
from .test_coco_columnar import _document
from .test_coco_overlap import _changed, _report

_THREADS = ("workbench-clearml-write", "workbench-clearml-read", "workbench-coco-write")


def _coco_files(tmp_path: Path) -> list[Path]:
    paths = []
    for n, doc in enumerate([_document(3), _document(3), _changed(_document(3))]):
        path = tmp_path / f"instances-{n}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def _clearml_files(tmp_path: Path) -> list[Path]:
    first = _clearml_file(tmp_path / "frames-0.ndjson", 120, 5)
    changed = _clearml_file(tmp_path / "frames-1.ndjson", 130, 6)
    return [first, first, changed]


def _imports(catalog: Any, module: Any, paths: list[Path], inside: bool) -> list[Any]:
    reports = []
    for path in paths:
        options = {"progress": False, "batch_size": 9 if module is coco else 23}
        if inside:
            with catalog.transaction():
                report = module.import_files(catalog, [path], **options)
        else:
            report = module.import_files(catalog, [path], **options)
        reports.append(_report(report))
    return reports


@pytest.mark.parametrize("fmt", ["coco", "clearml"])
def test_an_import_inside_a_transaction_stores_and_reports_the_same(
    tmp_path: Path, fmt: str
) -> None:
    module, make = (coco, _coco_files) if fmt == "coco" else (clearml, _clearml_files)
    paths = make(tmp_path)
    found = []
    for inside in (False, True):
        with workbench.open(tmp_path / f"{inside}.duckdb") as catalog:
            reports = _imports(catalog, module, paths, inside)
            found.append((reports, _state(catalog)))
        assert not [t for t in threading.enumerate() if t.name in _THREADS]
    (reports, _), _ = found
    assert reports[0]["errors"] and reports[0]["frames"]
    assert found[1] == found[0]
