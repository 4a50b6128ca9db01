"""An import counts each frame it leaves stored once, with its last version's sources and
ROIs, whatever another import does to that frame between its writes: import A stores X,
import B (another writer on the same catalog) replaces or removes X, A gives X again. A's
first version is counted no more, as A stored it (not as B did). The ROIs of a field that
label-only writes give twice are counted once too, beside frames written whole."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from tests.ingest.counting_files import (
    at_once,
    catalog_path,
    counts,
    give,
    give_labels,
    label_rows,
    other_import,
    recorded_writer,
    stored_first,
    stored_rois,
    whole_frame,
)
from workbench.model.records import Frame, Roi, Source
from workbench.store.imports import get_import


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["add", "write_rows"])
@pytest.mark.parametrize("between", ["replaced", "removed"])
def test_a_frame_another_import_took_between_two_writes_is_counted_once(
    tmp_path: Path, storage: str, way: str, between: str
) -> None:
    """A stores X (2 sources, 2 ROIs) and Y; B replaces X (1 source, 5 ROIs) or removes
    it; A gives X again (1 source, 1 ROI). A counts X once, as A's last version: 2 frames,
    2 sources, 1 ROI (not 3 frames, nor X's first version taken back as B stored it)."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, way, [whole_frame("x", 2, sources=2), whole_frame("y", 0)])
            if between == "replaced":
                other_import(catalog, way, [whole_frame("x", 5)], [])
            else:
                other_import(catalog, way, [], ["x"])
            give(writer, way, [whole_frame("x", 1)])
        assert counts(catalog, writer) == (2, 2, 1)
        held = catalog.sql("SELECT count(*) FROM rois").fetchall()[0][0]
        assert held == 1


@pytest.mark.parametrize("storage", ["local", "lake"])
def test_a_frame_another_import_took_then_removed_by_the_import_is_not_counted(
    tmp_path: Path, storage: str
) -> None:
    """A stores X and Y; B replaces X; A removes X (as a Nucleus update removes a frame
    whose place another took): A counts Y only."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, "add", [whole_frame("x", 2), whole_frame("y", 1)])
            other_import(catalog, "add", [whole_frame("x", 5)], [])
            writer.remove(["x"])
        assert counts(catalog, writer) == (1, 1, 1)


@pytest.mark.parametrize("storage", ["local", "lake"])
def test_a_checkpoint_restored_keeps_what_another_import_took(tmp_path: Path, storage: str) -> None:
    """A stores X; at a checkpoint, A stores Y; B replaces X; A goes back to the checkpoint
    (an importer reading its file again) and gives Y and X again: A counts each once."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, "write_rows", [whole_frame("x", 2)])
            point = writer.checkpoint()
            give(writer, "write_rows", [whole_frame("y", 3)])
            other_import(catalog, "write_rows", [whole_frame("x", 5), whole_frame("y", 4)], [])
            writer.restore(point)
            give(writer, "write_rows", [whole_frame("y", 3), whole_frame("x", 1)])
        assert counts(catalog, writer) == (2, 2, 4)


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
def test_a_field_given_twice_counts_its_last_rois(tmp_path: Path, storage: str, way: str) -> None:
    """Frames f1 and f2 are stored by one import; another gives their `pred` field 3 boxes,
    then f1's 2: it counts 3 + 2 ROIs, what the catalog holds, and its record the same."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        stored_first(catalog, [whole_frame("f1", 0), whole_frame("f2", 0)])
        with recorded_writer(catalog) as writer:
            give_labels(writer, way, ["f1", "f2"], 3)
            give_labels(writer, way, ["f1"], 2)
        assert stored_rois(catalog) == 5
        assert counts(catalog, writer) == (0, 0, 5)


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
def test_labels_and_whole_frames_of_one_import_count_what_is_stored(
    tmp_path: Path, storage: str, way: str
) -> None:
    """One import writes f1 whole (2 `gt` and 2 `pred` boxes), then gives f1's `pred` 3
    boxes (the 2 replaced: 5 ROIs), and gives f2's (stored by another import) 4, then
    writes f2 whole with 1 box (its `pred` boxes gone). Each step's report is what the
    catalog holds of the import."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        stored_first(catalog, [whole_frame("f2", 0)])
        with recorded_writer(catalog) as writer:
            f1 = whole_frame("f1", 2)
            f1 = Frame(
                id="f1",
                sources=f1.sources,
                rois=[*f1.rois, *whole_frame("f1", 2, field="pred").rois],
            )
            give(writer, "write_rows", [f1])
            give_labels(writer, way, ["f1"], 3)
            assert (writer.report.rois, stored_rois(catalog)) == (5, 5)
            give_labels(writer, way, ["f2"], 4)
            assert (writer.report.rois, stored_rois(catalog)) == (9, 9)
            give(writer, "add", [whole_frame("f2", 1)])
        assert stored_rois(catalog) == 6
        assert counts(catalog, writer) == (2, 2, 6)


@pytest.mark.parametrize("storage", ["local", "lake"])
def test_two_imports_in_two_threads_each_count_their_frames_once(
    tmp_path: Path, storage: str
) -> None:
    """Two imports in two threads give the same 24 frames twice each, in writes of 4 (A's
    with 1 ROI, B's with 2), and give the `pred` field of 24 frames another import stored
    twice each (A 1 box, then 3; B 2, then 1), their writes interleaved however the threads
    run: A counts 24 frames, 24 sources and 24 + 24 * 3 ROIs, B 24, 24 and 48 + 24, each
    whatever the other did."""
    path = catalog_path(tmp_path, storage)
    given = [f"g{n:02d}" for n in range(24)]
    labelled = [f"f{n:02d}" for n in range(24)]
    reports: dict[str, tuple[int, int, int]] = {}
    with workbench.open(path) as catalog:
        stored_first(catalog, [whole_frame(f, 0) for f in labelled])

        def work(name: str, rois: int, boxes: tuple[int, int]) -> None:
            with recorded_writer(catalog) as writer:
                for round_ in range(2):
                    for start in range(0, len(given), 4):
                        way = "add" if (start // 4 + round_) % 2 else "write_rows"
                        give(writer, way, [whole_frame(f, rois) for f in given[start : start + 4]])
                        part = labelled[start : start + 4]
                        writer.write_labels(part, "pred", label_rows(part, boxes[round_]), [])
            reports[name] = counts(catalog, writer)

        at_once([lambda: work("a", 1, (1, 3)), lambda: work("b", 2, (2, 1))])
    assert reports == {"a": (24, 24, 24 + 72), "b": (24, 24, 48 + 24)}


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["add", "write_rows"])
def test_the_outside_files_of_a_frame_another_import_took_are_counted_once(
    tmp_path: Path, storage: str, way: str
) -> None:
    """A stores X naming three files outside the media roots (an image, its preview, an ROI
    mask file) and Y naming one; B replaces X; A gives X again naming one. A's report counts
    the files of its last versions: 2, not 5 (X's first version's files taken back as A
    stored them, not as B did)."""
    elsewhere = tmp_path / "elsewhere"

    def frame(name: str, files: int) -> Frame:
        source = Source(
            id="image",
            uri=str(elsewhere / f"{name}.jpg"),
            preview_uri=str(elsewhere / f"{name}.small.jpg") if files > 1 else None,
        )
        mask = {"uri": str(elsewhere / f"{name}.png"), "value": 1}
        rois = [Roi(f"r{name}", "mask", ["car"], mask=mask, bbox=(1, 1, 4, 4))] if files > 2 else []
        return Frame(id=name, sources=[source], rois=rois)

    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, way, [frame("x", 3), frame("y", 1)])
            other_import(catalog, way, [whole_frame("x", 5)], [])
            give(writer, way, [frame("x", 1)])
        assert writer.report.outside_media_roots == 2
        record = get_import(catalog, writer.report.import_id).counts
        assert record.outside_media_roots == 2
