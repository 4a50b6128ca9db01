"""An import under way, and a service's edit of the frames it stored between two of its
writes: annotations merged back (`load_annotations`) add, change and delete ROIs of those
frames. No service deletes frames (deleting inputs removes inputs, tasks and id-map rows;
invalidating scenes marks them): the merge is the only edit of a frame's rows besides the
importers'. The import counts each frame as it stored it: giving the frame again takes
back its own ROIs, not the merged ones."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from tests.ingest.counting_files import (
    catalog_path,
    counts,
    give,
    label_rows,
    stored_rois,
    whole_frame,
)
from workbench.ingest.imports import recorded_import
from workbench.ingest.writer import CatalogWriter
from workbench.services import Shape, Workbench

_SCHEMA = {"gt": {"type": "detections", "classes": ["car", "truck"]}}


def _merge(catalog: object, frame_ids: list[str], added: int) -> None:
    """Send `frame_ids` to annotation on the local platform, add `added` boxes to each
    frame's `gt` there, delete its first box, and merge the result back."""
    wb = Workbench(catalog, actor="tester")  # type: ignore[arg-type]
    wb.annotate(frame_ids, "r1", label_schema=_SCHEMA)
    for task in wb.list_tasks("r1"):
        shapes = list(wb.get_task_annotations(task.task_id))
        kept = sorted(shapes, key=lambda s: s.geometry)[1:]  # the box at (0, 0) deleted
        new = [
            Shape.box(f, "gt", "truck", 20 + k, 20, 4, 4) for f in frame_ids for k in range(added)
        ]
        wb.save_task_annotations(task.task_id, [*kept, *new])
    report = wb.load_annotations("r1")
    assert report.added and report.deleted, report


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("then", ["whole", "labels"])
def test_a_frame_a_service_edited_between_two_writes_is_counted_as_stored(
    tmp_path: Path, storage: str, then: str
) -> None:
    """A writes X (2 `gt` boxes) and Y (1); the merge gives X 3 boxes more and deletes one
    of A's (4 stored); A writes X whole again with 1 box (A counts 1 + 1), or gives X's
    `gt` 2 boxes by a label write (A counts 2 + 1): A takes back its own 2 boxes."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with (
            recorded_import(catalog, "api", []) as run,
            CatalogWriter(catalog, progress=False) as writer,
        ):
            give(writer, "write_rows", [whole_frame("x", 2), whole_frame("y", 1)])
            _merge(catalog, ["x"], 3)
            assert stored_rois(catalog) == 4 + 1
            if then == "whole":
                give(writer, "add", [whole_frame("x", 1)])
            else:
                writer.write_labels(["x"], "gt", label_rows(["x"], 2, field="gt"), [])
            run.report = writer.report
        expected = (2, 2, 2) if then == "whole" else (2, 2, 3)
        assert stored_rois(catalog) == expected[2]
        assert counts(catalog, writer) == expected
