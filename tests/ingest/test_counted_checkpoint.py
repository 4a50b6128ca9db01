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
    coco_file,
    counted,
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


def test_a_coco_file_read_again_after_its_images_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances files of one import give images 3 and 4 (a: images 1-4 with 1 box each,
    b: 3-6 with 2), a write per image. Imported again, file a stores its 3 and 4 again (b's
    were stored), file b then stores its own and finds 5 and 6 unchanged, but 6 changes
    (another connection's write) before the write counting it: the importer goes back to
    the checkpoint taken as b began and reads b again. The import counts each frame once,
    what the catalog holds: 6 frames, 2 + 4 * 2 ROIs."""
    from workbench.ingest import _coco_digests, coco

    files = tmp_path / "files"
    files.mkdir()
    a = coco_file(files / "a.json", range(1, 5), 1)
    b = coco_file(files / "b.json", range(3, 7), 2)
    counting = _coco_digests.Beside.__call__
    changed: list[str] = []

    def then_changed(self: _coco_digests.Beside, con: object, tally: object) -> object:
        if "p:6" in self.unchanged["id"].to_pylist() and not changed:
            with catalog.transaction() as other:
                other.execute("UPDATE frames SET metadata = '{\"n\": 9}' WHERE id = 'p:6'")
            changed.append("p:6")
        return counting(self, con, tally)  # type: ignore[arg-type]

    with workbench.open(tmp_path / "c.duckdb") as catalog:
        first = coco.import_files(catalog, [a, b], id_prefix="p:", progress=False, batch_size=1)
        assert counted(catalog, first) == (6, 6, 10)
        monkeypatch.setattr(_coco_digests.Beside, "__call__", then_changed)
        again = coco.import_files(catalog, [a, b], id_prefix="p:", progress=False, batch_size=1)
        assert changed and again.ok
        assert stored_rois(catalog) == 10
        assert counted(catalog, again) == (6, 6, 10)
