"""The COCO instances import stores each write's rows in a thread of its own while it makes the
next write's rows (workbench/ingest/_coco_write.py: `Writes`): it stores and reports exactly
what the import with each write stored before the next is made (`OVERLAP_WRITES` off) does,
row for row (the layout's keys and the digests kept included) and error for error, in order;
and an error or Ctrl-C in the making or the storing stops it with the state that import
leaves and no thread left running."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _coco_columnar, _coco_write, coco
from workbench.ingest.writer import CatalogWriter

from .test_clearml_overlap import _state
from .test_coco_columnar import _document
from .test_coco_digests import _document as _clean_document

THREAD = "workbench-coco-write"


def _report(report: Any) -> dict[str, Any]:
    """The report's every field, its errors in the order they were reported."""
    fields = dict(vars(report))
    fields.pop("import_id")
    fields["errors"] = [str(e) for e in report.errors]
    return fields


def _no_write_thread() -> bool:
    return not [t for t in threading.enumerate() if t.name == THREAD]


def _changed(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with every fifth annotation's box moved (their images converted again
    by an update) and one image's file name refused."""
    for n, ann in enumerate(doc["annotations"]):
        if isinstance(ann, dict) and n % 5 == 0 and isinstance(ann.get("bbox"), list):
            ann["bbox"] = [1, 1, 2, 2]
    for image in doc["images"][3:]:
        if isinstance(image, dict):
            image["file_name"] = ""
            break
    return doc


def _imports(
    tmp_path: Path, name: str, docs: list[dict[str, Any]], per_write: int, overlap: bool
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Each document imported in turn into one catalog (a first import, then updates); the
    reports and the catalog's state at the end."""
    _coco_columnar.OVERLAP_WRITES = overlap
    reports = []
    path = tmp_path / f"{name}.json"
    with workbench.open(tmp_path / f"{name}-{overlap}.duckdb") as catalog:
        for doc in docs:
            path.write_text(json.dumps(doc))
            report = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
            reports.append(_report(report))
        return reports, _state(catalog)


@pytest.fixture(autouse=True)
def _overlap_back() -> Any:
    yield
    _coco_columnar.OVERLAP_WRITES = True


@pytest.mark.parametrize("per_write", [7, 31, 1000])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_overlapped_import_stores_and_reports_what_the_sequential_one_does(
    tmp_path: Path, per_write: int, seed: int
) -> None:
    """A file of every kind of refused and warned-about record: its first import, its update
    (its images found unchanged) and the update of a changed copy, in writes of a few images."""
    docs = [_document(seed), _document(seed), _changed(_document(seed))]
    found = [_imports(tmp_path, "f", docs, per_write, overlap) for overlap in (False, True)]
    (reports, state), overlapped = found
    assert reports[0]["errors"] and reports[0]["warnings"] and state[3]  # digests kept
    assert overlapped == found[0]
    assert _no_write_thread()


def test_clean_images_are_digested_by_every_write(tmp_path: Path) -> None:
    """Images of no refused record, written a few at a time: each write keeps its frames'
    digests with the frame keys it stored (the write before still under way as its rows were
    made), and the update finds every image unchanged."""
    docs = [_clean_document(40), _clean_document(40)]
    found = [_imports(tmp_path, "c", docs, 3, overlap) for overlap in (False, True)]
    assert found[1] == found[0]
    reports, state = found[0]
    assert len(state[3]) == 40, reports[1]
    assert _no_write_thread()


def _refused_in_every_write(path: Path) -> Path:
    """40 images, a few of each write of 9 refused as they are written (their frame id holds
    a control character: found by the write's own checks, not the staging's)."""
    doc = _clean_document(40)
    for n, image in enumerate(doc["images"]):
        if n % 4 == 2:
            image["id"] = f"bad\u0007{n}"
    path.write_text(json.dumps(doc))
    return path


class _Stop(Exception):
    pass


def _writers(monkeypatch: pytest.MonkeyPatch) -> list[CatalogWriter]:
    """The import's writers, as they are opened (their report read after a stop)."""
    opened: list[CatalogWriter] = []
    enter: Any = CatalogWriter.__enter__

    def kept(self: CatalogWriter) -> CatalogWriter:
        opened.append(self)
        return enter(self)

    monkeypatch.setattr(CatalogWriter, "__enter__", kept)
    return opened


def _stopping(
    monkeypatch: pytest.MonkeyPatch, where: str, at: int, raised: type[BaseException]
) -> None:
    """`raised` at the `at`th write's storing (`store`) or at the making of its ROIs, after
    its frames were checked (`make`)."""
    calls = [0]
    if where == "store":
        original: Any = CatalogWriter.write_rows

        def store(self: CatalogWriter, batch: Any) -> None:
            calls[0] += 1
            if calls[0] == at:
                raise raised("stopped")
            original(self, batch)

        monkeypatch.setattr(CatalogWriter, "write_rows", store)
        return
    made: Any = _coco_write.write_rois

    def make(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] == at:
            raise raised("stopped")
        return made(*args)

    monkeypatch.setattr(_coco_write, "write_rois", make)


@pytest.mark.parametrize("raised", [_Stop, KeyboardInterrupt])
@pytest.mark.parametrize(("where", "at"), [("store", 3), ("make", 4), ("store", 1)])
def test_an_import_stopped_midway_leaves_what_the_sequential_one_leaves(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    at: int,
    raised: type[BaseException],
) -> None:
    """An error or Ctrl-C in a write's storing (in the writes' thread) or in the making of
    the next write's rows (while a write is under way): the writes before are stored, the
    errors reported so far are those of the sequential import, and no thread is left."""
    path = _refused_in_every_write(tmp_path / "f.json")
    found = []
    for overlap in (False, True):
        monkeypatch.setattr(_coco_columnar, "OVERLAP_WRITES", overlap)
        _stopping(monkeypatch, where, at, raised)
        writers = _writers(monkeypatch)
        with workbench.open(tmp_path / f"{overlap}.duckdb") as catalog:
            with pytest.raises(raised):
                coco.import_files(catalog, [path], progress=False, batch_size=9)
            assert _no_write_thread()
            found.append((_report(writers[0].report), _state(catalog)))
        monkeypatch.undo()
    report, state = found[0]
    assert bool(state[0]) == (at > 1)  # the frames of the writes before the stop
    assert len(report["errors"]) > 10  # annotations refused before the stop
    # and frames refused by the writes, as far as the stop
    refused = {("store", 1): 2, ("store", 3): 7, ("make", 4): 9}[where, at]
    assert sum("holds the character" in e for e in report["errors"]) == refused
    assert found[1] == found[0]


def test_a_write_that_fails_stops_the_making_of_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second write's storing fails while the third's rows are made, and the making
    fails too: the import stops with the write's error, as the sequential one (which never
    made the third), and reports none of the third write's rejections."""
    path = _refused_in_every_write(tmp_path / "f.json")
    found = []
    for overlap in (False, True):
        monkeypatch.setattr(_coco_columnar, "OVERLAP_WRITES", overlap)
        _stopping(monkeypatch, "store", 2, _Stop)
        made: Any = _coco_write.write_rois
        calls = [0]

        def make(*args: Any, made: Any = made, calls: list[int] = calls) -> Any:
            calls[0] += 1
            if calls[0] == 3:
                raise RuntimeError("the making failed")
            return made(*args)

        monkeypatch.setattr(_coco_write, "write_rois", make)
        writers = _writers(monkeypatch)
        with workbench.open(tmp_path / f"{overlap}.duckdb") as catalog:
            with pytest.raises(_Stop):
                coco.import_files(catalog, [path], progress=False, batch_size=9)
            assert _no_write_thread()
            found.append((_report(writers[0].report), _state(catalog)))
        monkeypatch.undo()
    assert found[1] == found[0]
