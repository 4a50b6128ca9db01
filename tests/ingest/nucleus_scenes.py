"""The Nucleus scene import's reference path and stored rows, for the tests that compare the
columnar path with it."""

from __future__ import annotations

from pathlib import Path

import workbench
from workbench.ingest.nucleus import _SceneImport, read_scenes
from workbench.ingest.report import IngestReport
from workbench.ingest.video import count_context_frames


def per_record(catalog: workbench.Catalog, path: Path, update: bool = False) -> IngestReport:
    """The reference: every scene of `path` added by the per-record path."""
    job = _SceneImport(catalog, update=update, progress=False, frames_dir=None, dataset=None)
    job.base = path.resolve().parent
    with job.writer:
        for where, scene in read_scenes(path):
            job.add(scene, where)
    count_context_frames(catalog, job.contexts)
    return job.writer.report


def stored_rows(catalog: workbench.Catalog) -> tuple[list[tuple[object, ...]], ...]:
    """Frames and sources as stored. frame_key numbers frames in the order they were stored:
    the columnar path leaves a frame stored exactly as given where it is, the per-record path
    writes it again."""
    frames = catalog.sql(
        "SELECT * EXCLUDE (ingested, frame_key) FROM frames ORDER BY context_id, frame_index, id"
    ).fetchall()
    sources = catalog.sql("SELECT * EXCLUDE (frame_key) FROM sources ORDER BY frame_id").fetchall()
    return frames, sources
