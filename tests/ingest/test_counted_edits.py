"""An import under way, and a service's edit of the frames it stored between two of its
writes: annotations merged back (`load_annotations`) add, change and delete ROIs of those
frames. No service deletes frames (deleting inputs removes inputs, tasks and id-map rows;
invalidating scenes marks them): the merge is the only edit of a frame's rows besides the
importers'. The import counts each frame as it stored it: giving the frame again takes
back its own ROIs, not the merged ones."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import workbench
from tests.ingest.counting_files import (
    catalog_path,
    counts,
    deleted_by_sql,
    give,
    label_rows,
    recorded_writer,
    stored_rois,
    whole_frame,
)
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
        with recorded_writer(catalog) as writer:
            give(writer, "write_rows", [whole_frame("x", 2), whole_frame("y", 1)])
            _merge(catalog, ["x"], 3)
            assert stored_rois(catalog) == 4 + 1
            if then == "whole":
                give(writer, "add", [whole_frame("x", 1)])
            else:
                writer.write_labels(["x"], "gt", label_rows(["x"], 2, field="gt"), [])
        expected = (2, 2, 2) if then == "whole" else (2, 2, 3)
        assert stored_rois(catalog) == expected[2]
        assert counts(catalog, writer) == expected


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["add", "write_rows"])
def test_frames_deleted_by_sql_during_an_import_stay_counted_as_stored(
    tmp_path: Path, storage: str, way: str
) -> None:
    """A writes X (2 boxes) and Y (1); a person's SQL deletes X; A writes Z (3 boxes). A's
    report counts what A stored, X among it, as it counts a frame another import removed
    (the import reads nothing at its end: docs/benchmarks.md, "Twenty-fourth pass"); the
    catalog holds Y and Z. A lake-backed catalog's frames are not the engine's tables: the
    DELETE is refused, and A's report is what the catalog holds."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, way, [whole_frame("x", 2), whole_frame("y", 1)])
            if storage == "lake":
                with pytest.raises(duckdb.BinderException, match="base table"):
                    deleted_by_sql(catalog, ["x"])
            else:
                deleted_by_sql(catalog, ["x"])
            give(writer, way, [whole_frame("z", 3)])
        assert stored_rois(catalog) == (1 + 3 if storage == "local" else 2 + 1 + 3)
        assert counts(catalog, writer) == (3, 3, 2 + 1 + 3)
