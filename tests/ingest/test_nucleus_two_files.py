"""A Nucleus import of several files (update=True) whose scenes share a frame: the columnar
path stores and reports what the per-record path stores and reports, whatever the batches
and writes, on a first import and on the updates after it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _nucleus_columnar
from workbench.ingest.nucleus import _SceneImport, import_files, read_scenes
from workbench.ingest.video import count_context_frames


def _line(name: str, ids: list[str]) -> str:
    frames = [
        {"reference_id": i, "image_location": f"s3://b/{i}.jpg", "metadata": {"n": k}}
        for k, i in enumerate(ids)
    ]
    return json.dumps({"reference_id": name, "frame_rate": 10, "frames": frames}) + "\n"


def _per_record(catalog: Any, paths: list[Path]) -> Any:
    """The reference: every scene of every file added by the per-record path, one import."""
    job = _SceneImport(catalog, update=True, progress=False, frames_dir=None, dataset=None)
    with job.writer:
        for path in paths:
            job.base = path.resolve().parent
            for where, scene in read_scenes(path):
                job.add(scene, where)
    count_context_frames(catalog, job.contexts)
    return job.writer.report


def _report(report: Any) -> tuple[Any, ...]:
    errors = [str(e) for e in report.errors]
    return report.frames, report.sources, report.rois, report.rejected, errors


def _stored(catalog: Any) -> list[tuple[Any, ...]]:
    return catalog.sql(
        "SELECT * EXCLUDE (ingested, frame_key, context_key) FROM frames"
        " ORDER BY context_id, frame_index, id"
    ).fetchall()


@pytest.mark.parametrize("lines", [1, 200])
@pytest.mark.parametrize("per_write", [1, 1000])
def test_a_frame_placed_by_two_files_of_one_import_is_counted_once(
    tmp_path: Path, lines: int, per_write: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", lines)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_PER_WRITE", per_write)
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    first.write_text(_line("a", ["a0", "a1", "a2", "a3"]) + _line("c", ["c0", "c1"]))
    second.write_text(_line("b", ["a1", "b1"]))  # a1 moves from scene a to scene b
    with (
        workbench.open(tmp_path / "columnar.duckdb") as columnar,
        workbench.open(tmp_path / "reference.duckdb") as reference,
    ):
        for _ in range(2):  # the first import, then an update of the same files
            got = import_files(columnar, [first, second], progress=False, update=True)
            expected = _per_record(reference, [first, second])
            assert _stored(columnar) == _stored(reference)
            assert len(_stored(columnar)) == 7  # a0, a2, a3, c0, c1, a1 (in b), b1
            assert _report(got) == _report(expected)
