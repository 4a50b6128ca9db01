"""A writer set back to a checkpoint (`CatalogWriter.restore`: an importer reading a file
again after a failure of its own) counts from what it had counted then, although its own
writes since changed the catalog: a field it labelled since on a frame it had counted whole,
a frame it wrote whole again since, a frame whose field its label writes had counted that it
wrote whole since. Giving the same again after the restore counts each frame and field once,
what the catalog holds."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from tests.ingest.counting_files import (
    catalog_path,
    counts,
    give,
    give_labels,
    labelled,
    labels_elsewhere,
    recorded_writer,
    stored_first,
    stored_rois,
    whole_frame,
)


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
@pytest.mark.parametrize("before", ["own", "elsewhere"])
def test_a_field_labelled_after_a_checkpoint_on_a_frame_counted_whole(
    tmp_path: Path, storage: str, way: str, before: str
) -> None:
    """A writes X whole (1 `gt` box, 2 `pred`) and Y (1 box), or B then gives X's `pred` 5
    boxes (A still counts its 2 there); at a checkpoint A gives X's `pred` 3 boxes, goes back
    to the checkpoint and gives them again: A counts 1 + 3 + 1 ROIs, what it stored (not its
    2 `pred` boxes left counted, nor B's 5 taken back)."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, "write_rows", [labelled("x", 1, 2), whole_frame("y", 1)])
            if before == "elsewhere":
                labels_elsewhere(catalog, way, ["x"], 5)
            point = writer.checkpoint()
            give_labels(writer, way, ["x"], 3)
            writer.restore(point)
            give_labels(writer, way, ["x"], 3)
        assert stored_rois(catalog) == 5
        assert counts(catalog, writer) == (2, 2, 5)


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["add", "write_rows"])
def test_a_frame_written_again_after_a_checkpoint(tmp_path: Path, storage: str, way: str) -> None:
    """A writes X (2 ROIs) and Y (1); at a checkpoint A writes X with 3 ROIs, goes back to
    the checkpoint and writes X with 3 again: A counts 2 frames and 4 ROIs (X's first
    version taken back once, as A stored it)."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, way, [whole_frame("x", 2), whole_frame("y", 1)])
            point = writer.checkpoint()
            give(writer, way, [whole_frame("x", 3)])
            writer.restore(point)
            give(writer, way, [whole_frame("x", 3)])
        assert stored_rois(catalog) == 4
        assert counts(catalog, writer) == (2, 2, 4)


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
@pytest.mark.parametrize("then", ["labels", "whole"])
def test_labels_counted_at_a_checkpoint_on_a_frame_written_whole_since(
    tmp_path: Path, storage: str, way: str, then: str
) -> None:
    """X is stored by a first import; A gives X's `pred` 3 boxes; at a checkpoint A writes X
    whole (1 `gt` box: the 3 gone), goes back to the checkpoint and gives X's `pred` 2 boxes
    (A counts 2: the box its write since stored is counted when it is written again), or
    writes X whole again (A counts the frame and its box): A's 3 boxes, which the catalog no
    longer holds, are taken back."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        stored_first(catalog, [whole_frame("x", 0)])
        with recorded_writer(catalog) as writer:
            give_labels(writer, way, ["x"], 3)
            point = writer.checkpoint()
            give(writer, "write_rows", [whole_frame("x", 1)])
            writer.restore(point)
            if then == "labels":
                give_labels(writer, way, ["x"], 2)
            else:
                give(writer, "write_rows", [whole_frame("x", 1)])
        assert stored_rois(catalog) == (1 + 2 if then == "labels" else 1)
        assert counts(catalog, writer) == ((0, 0, 2) if then == "labels" else (1, 1, 1))
