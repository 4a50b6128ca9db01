"""The ClearML NDJSON import stores a write's rows in a thread of its own while it converts the
next lines (workbench/ingest/_in_thread.py): it stores and reports exactly what the import
with each write ended before the next lines are converted (`overlap=False`) does, row for
row and error for error, and an error or Ctrl-C in either thread stops it with the state that
import leaves and no thread left running."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import workbench
from tests.ctrl_c import python_ctrl_c  # noqa: F401 (the fixture, autouse: real SIGINTs)
from workbench.ingest import CatalogWriter
from workbench.ingest._clearml_columnar import NdjsonImport
from workbench.ingest._clearml_digests import LineDigests
from workbench.ingest._in_thread import InThread
from workbench.ingest.imports import recorded_import
from workbench.store.catalog import Catalog

from .test_clearml_columnar import _frames, _rows
from .test_clearml_digests import _as_fresh_import, _labelled, _report, _stored

THREADS = ("workbench-clearml-write", "workbench-clearml-read")


def _file(path: Path, count: int, seed: int) -> Path:
    """Frames of every shape (refused lines, warnings, ids repeated a few lines on), with
    lines that are not JSON, blank lines and a line nested too deep among them."""
    lines = [json.dumps(f) for f in _frames(count, seed)]
    for at in range(7, len(lines), 37):
        lines[at] = "{not json"
    for at in range(11, len(lines), 53):
        lines[at] = ""
    lines[len(lines) // 2] = "[" * 200 + "]" * 200
    # an id of the first lines again near the end (several writes later)
    lines.append(json.dumps({"id": "f1", "sources": [{"id": "cam", "uri": "s3://b/x.jpg"}]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(
    catalog: Catalog, path: Path, *, overlap: bool, frames_per_write: int = 23
) -> tuple[dict[str, Any], int]:
    """Import `path` as `clearml.import_files` does (its record included), writes of
    `frames_per_write` frames; returns the report and the lines left unconverted."""
    with recorded_import(catalog, "clearml", [path]) as run:
        with (
            CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
            NdjsonImport(writer, frames_per_write, overlap=overlap) as columnar,
        ):
            columnar.read(path, path.parent)
        run.report = writer.report
    return _report(writer.report), columnar.unchanged_lines


def _state(catalog: Catalog) -> list[Any]:
    """Every stored row in insertion order (the layout's keys included) and the import
    records' counts and errors."""
    tables = [_rows(catalog, t) for t in ("frames", "sources", "rois")]
    con = catalog.cursor()
    try:  # (not a catalog table the read-only queries may name; the frames' hashes hash
        # the time of the write too)
        digests = "SELECT * EXCLUDE (frame_hash) FROM _line_digests ORDER BY rowid"
        tables.append(con.execute(digests).fetchall())
    finally:
        con.close()
    records = catalog.sql(
        "SELECT status, batches, frames, sources, rois, refused, warnings, errors, error "
        "FROM imports ORDER BY started"
    ).fetchall()
    return [*tables, records]


def _no_write_thread() -> bool:
    """Whether no thread of an import (its writes', its reading's) is left."""
    return not [t for t in threading.enumerate() if t.name in THREADS]


@pytest.mark.parametrize("frames_per_write", [23, 150])
def test_the_overlapped_import_stores_and_reports_what_the_sequential_one_does(
    tmp_path: Path, frames_per_write: int
) -> None:
    """A first import and an update (lines left unconverted), writes of a few batches each."""
    path = _file(tmp_path / "frames.ndjson", 400, 7)
    found = []
    for overlap in (False, True):
        with workbench.open(tmp_path / f"{overlap}.duckdb") as catalog:
            first = _import(catalog, path, overlap=overlap, frames_per_write=frames_per_write)
            again = _import(catalog, path, overlap=overlap, frames_per_write=frames_per_write)
            found.append((first, again, _state(catalog)))
    (first, again, state), overlapped = found
    assert first[0]["errors"] and first[0]["warnings"] and again[1] > 100
    assert overlapped == (first, again, state)
    assert _no_write_thread()


def test_frames_changed_between_the_lookup_and_the_write_are_stored_as_sequentially(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A label write lands after each batch's lookup (while the write before may still be
    under way): the writes rolled back are written again with those lines converted, and
    the import ends as the sequential one does."""
    path = _file(tmp_path / "frames.ndjson", 400, 11)
    lookup = LineDigests.unchanged
    found = []
    for overlap in (False, True):
        with workbench.open(tmp_path / f"{overlap}.duckdb") as catalog:
            _import(catalog, path, overlap=overlap)
            changed: list[str] = []

            def label_write_after_each_lookup(
                self: LineDigests,
                digests: pa.Table,
                catalog: Catalog = catalog,
                changed: list[str] = changed,
            ) -> pa.Table:
                found = lookup(self, digests)
                if found.num_rows:
                    frame_id = found["id"][found.num_rows // 2].as_py()
                    changed.append(frame_id)
                    _labelled(catalog, "write_labels", frame_id)
                return found

            monkeypatch.setattr(LineDigests, "unchanged", label_write_after_each_lookup)
            again = _import(catalog, path, overlap=overlap)
            monkeypatch.undo()
            found.append((again, changed, _state(catalog)))
            # every frame as the file makes it (the label writes replaced)
            assert _stored(catalog) == _as_fresh_import(tmp_path, path)
    assert len(found[0][1]) > 5
    assert found[1] == found[0]
    assert _no_write_thread()


class _Failure(Exception):
    pass


def _failing(after: int, error: BaseException) -> Callable[..., Any]:
    """A wrapper of a method that raises `error` on its call after `after` calls."""
    calls = [0]

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        def failing(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            if calls[0] > after:
                raise error
            return method(*args, **kwargs)

        return failing

    return wrap


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("write", _Failure("the disk is full")),
        ("reading", _Failure("the file went away")),
        ("conversion", _Failure("the engine gave up")),
        ("conversion", KeyboardInterrupt()),
        ("write", KeyboardInterrupt()),
    ],
)
def test_an_error_in_either_thread_stops_the_import_as_the_sequential_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, error: BaseException
) -> None:
    """An error raised by the third write (in the writes' thread), by the first steps of the
    seventh batch (in the reading thread) or by the conversion of the eighth batch (while a
    write is under way) reaches the caller; the catalog, its import record and the report
    are those of the sequential import stopped by the same error, and no thread is left
    running."""
    path = _file(tmp_path / "frames.ndjson", 400, 5)
    found = []
    for overlap in (False, True):
        if where == "write":
            method = CatalogWriter.write_rows
            monkeypatch.setattr(CatalogWriter, "write_rows", _failing(2, error)(method))
        elif where == "reading":  # the batches' first steps (the reading thread's)
            method = NdjsonImport._first_steps
            monkeypatch.setattr(NdjsonImport, "_first_steps", _failing(6, error)(method))
        else:
            method = NdjsonImport._convert
            monkeypatch.setattr(NdjsonImport, "_convert", _failing(7, error)(method))
        with workbench.open(tmp_path / f"{overlap}.duckdb") as catalog:
            with (
                pytest.raises(type(error)),
                recorded_import(catalog, "clearml", [path]),
                CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
                NdjsonImport(writer, 46, overlap=overlap) as columnar,
            ):
                columnar.read(path, path.parent)
            assert _no_write_thread()
            monkeypatch.undo()
            found.append((_report(writer.report), _state(catalog)))
    assert found[0][1][0], "some writes were stored before the error"
    assert found[1] == found[0]


def test_a_ctrl_c_while_waiting_for_a_write_lets_the_write_end_first() -> None:
    """Ctrl-C reaches only the waiting thread: the job ends (it is never left running), then
    the interruption is raised, over the job's own error."""
    started, release, ended = threading.Event(), threading.Event(), []

    def job() -> None:
        started.set()
        release.wait(10)
        ended.append(True)
        raise _Failure("after the interruption")

    def ctrl_c_then_release() -> None:
        started.wait(10)
        time.sleep(0.2)  # the main thread is waiting by now
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: raised in the main thread
        time.sleep(0.3)
        release.set()

    assert threading.current_thread() is threading.main_thread()
    runs = InThread("workbench-test-job")
    runs.start(job)
    other = threading.Thread(target=ctrl_c_then_release)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runs.wait()
    finally:
        release.set()
        other.join()
    assert ended == [True] and not runs.busy
    assert isinstance(runs.raised, _Failure)
    assert not [t for t in threading.enumerate() if t.name == "workbench-test-job"]


def test_ctrl_c_in_the_conversion_lets_the_write_under_way_end_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a slow write is under way (nothing else, such as the import's record,
    waits for the catalog here): the import stops once that write has committed, with its
    frames stored and no thread left running."""
    path = _file(tmp_path / "frames.ndjson", 400, 3)
    write_rows, convert = CatalogWriter.write_rows, NdjsonImport._convert
    writes: list[int] = []

    def slow_write(writer: CatalogWriter, batch: Any) -> None:
        time.sleep(1.0)  # still under way as the conversion is interrupted
        write_rows(writer, batch)
        writes.append(batch.frames.num_rows)

    def interrupted_after_a_write(columnar: NdjsonImport, *args: Any) -> None:
        if columnar._writes.busy:
            raise KeyboardInterrupt
        convert(columnar, *args)

    monkeypatch.setattr(CatalogWriter, "write_rows", slow_write)
    monkeypatch.setattr(NdjsonImport, "_convert", interrupted_after_a_write)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with (
            pytest.raises(KeyboardInterrupt),
            CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
            NdjsonImport(writer, 46) as columnar,
        ):
            columnar.read(path, path.parent)
        assert _no_write_thread()
        assert len(writes) == 1
        stored = catalog.sql("SELECT count(*) FROM frames").fetchall()[0][0]
        assert stored == writes[0] == writer.report.frames
