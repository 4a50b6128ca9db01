"""An import under way, and a person's SQL that deletes frames it stored between two of its
writes (`catalog.transaction()`, outside any writer or service): the deleted frames stay
counted as the import stored them, and a frame it then gives again is counted once, its
earlier version taken back as the import stored it (workbench/ingest/_counted_deletes.py).
A lake-backed catalog refuses such a DELETE (test_counted_edits.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from tests.ingest.counting_files import (
    catalog_path,
    counts,
    deleted_by_sql,
    give,
    give_labels,
    recorded_writer,
    stored_first,
    stored_rois,
    whole_frame,
)
from workbench.model.records import Frame, Source
from workbench.store.imports import get_import


def _outside(frame_id: str, rois: int, folder: Path) -> Frame:
    """`whole_frame` whose image and preview are files of `folder` (outside the roots)."""
    source = Source(
        id="image",
        uri=str(folder / f"{frame_id}.jpg"),
        preview_uri=str(folder / f"{frame_id}.s.jpg"),
    )
    return Frame(id=frame_id, sources=[source], rois=whole_frame(frame_id, rois).rois)


@pytest.mark.parametrize("way", ["add", "write_rows"])
def test_a_frame_deleted_by_sql_and_given_again_is_counted_once(tmp_path: Path, way: str) -> None:
    """A writes X (2 boxes, an image and a preview outside the media roots) and Y (1 box,
    its image outside); a person's SQL deletes X; A writes X again (3 boxes, the same
    files): A counts 2 frames, 2 sources, 4 ROIs and 3 files outside, what the catalog
    holds (before: 3 frames, 3 sources, 6 ROIs, 5 files)."""
    folder = tmp_path / "elsewhere"
    path = catalog_path(tmp_path, "local")
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, way, [_outside("x", 2, folder), _outside("y", 1, folder)])
            deleted_by_sql(catalog, ["x"])
            give(writer, way, [_outside("x", 3, folder)])
        assert stored_rois(catalog) == 4
        assert counts(catalog, writer) == (2, 2, 4)
        assert writer.report.outside_media_roots == 4
        assert get_import(catalog, writer.report.import_id).counts.outside_media_roots == 4


@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
def test_labels_on_a_frame_deleted_by_sql_then_written_whole(tmp_path: Path, way: str) -> None:
    """X and Y are stored by a first import; A gives X's `pred` 2 boxes; a person's SQL
    deletes X; A writes X whole (1 box): A counts the frame and its box, its 2 boxes taken
    back as it counted them (before: 3 ROIs)."""
    path = catalog_path(tmp_path, "local")
    with workbench.open(path) as catalog:
        stored_first(catalog, [whole_frame("x", 0), whole_frame("y", 0)])
        with recorded_writer(catalog) as writer:
            give_labels(writer, way, ["x"], 2)
            deleted_by_sql(catalog, ["x"])
            give(writer, "write_rows", [whole_frame("x", 1)])
        assert stored_rois(catalog) == 1
        assert counts(catalog, writer) == (1, 1, 1)


def test_a_delete_by_sql_rolled_back_takes_nothing_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DELETE's transaction fails after the import noted X deleted (a check before its
    COMMIT raises): X stays stored and counted once; written again by A, it is taken back
    once (before the undo: 1 frame, 1 source, 2 ROIs)."""
    from workbench.store import before_commit

    path = catalog_path(tmp_path, "local")
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, "add", [whole_frame("x", 2), whole_frame("y", 1)])

            def failing(catalog: object, con: object, cursor: object) -> None:
                raise RuntimeError("the commit failed")

            monkeypatch.setattr(before_commit, "_CHECKS", [*before_commit._CHECKS, failing])
            with pytest.raises(RuntimeError, match="the commit failed"):
                deleted_by_sql(catalog, ["x"])
            monkeypatch.undo()
            give(writer, "add", [whole_frame("x", 3)])
        assert stored_rois(catalog) == 4
        assert counts(catalog, writer) == (2, 2, 4)
