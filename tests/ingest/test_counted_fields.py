"""Two imports, one frame: one writes it whole, the other writes the ROIs of one of its
fields (`write_labels`, `add_labels`), in another thread between two of the first one's
writes. Each counts the frame's ROIs as it stored them: the import that wrote the frame
whole takes back its own ROIs of that field, not the other's; the import that labelled the
frame takes back its own labels once the other replaced the frame whole."""

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
    labelled,
    labels_elsewhere,
    other_import,
    recorded_writer,
    stored_first,
    stored_rois,
    whole_frame,
)


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
@pytest.mark.parametrize("then", ["labels", "whole"])
def test_a_field_another_import_labelled_on_a_frame_written_whole(
    tmp_path: Path, storage: str, way: str, then: str
) -> None:
    """A writes X whole (1 `gt` box, 2 `pred`) and Y (1 box); B gives X's `pred` 3 boxes;
    A then gives X's `pred` 4 boxes (X holds 5 ROIs of A's: A counts 1 + 4 + 1), or writes
    X whole again with 1 box (A counts 1 + 1). Either way A takes back its own 2 `pred`
    boxes, not B's 3."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, "write_rows", [labelled("x", 1, 2), whole_frame("y", 1)])
            labels_elsewhere(catalog, way, ["x"], 3)
            if then == "labels":
                give_labels(writer, way, ["x"], 4)
            else:
                give(writer, "add", [whole_frame("x", 1)])
        expected = (2, 2, 6) if then == "labels" else (2, 2, 2)
        assert stored_rois(catalog) == expected[2]
        assert counts(catalog, writer) == expected


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
@pytest.mark.parametrize("then", ["labels", "whole"])
def test_labels_on_a_frame_another_import_then_replaced_whole(
    tmp_path: Path, storage: str, way: str, then: str
) -> None:
    """X and Y are stored by a first import; A gives their `pred` 3 boxes each; B writes X
    whole (1 `gt` box); A then gives X's `pred` 2 boxes (A counts 2 + 3), or writes X whole
    with 1 box (A counts the frame and 1 + 3). A's 3 boxes on B's version of X are taken
    back either way: they are not stored."""
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        stored_first(catalog, [whole_frame("x", 0), whole_frame("y", 0)])
        with recorded_writer(catalog) as writer:
            give_labels(writer, way, ["x", "y"], 3)
            other_import(catalog, "write_rows", [whole_frame("x", 1)], [])
            if then == "labels":
                give_labels(writer, way, ["x"], 2)
            else:
                give(writer, "write_rows", [whole_frame("x", 1)])
        assert stored_rois(catalog) == (1 + 2 + 3 if then == "labels" else 1 + 3)
        assert counts(catalog, writer) == ((0, 0, 5) if then == "labels" else (1, 1, 4))


@pytest.mark.parametrize("storage", ["local", "lake"])
def test_two_imports_in_two_threads_one_writing_frames_whole_both_labelling_them(
    tmp_path: Path, storage: str
) -> None:
    """24 frames stored by a first import. In two threads at once, in writes of 4, twice
    over: A writes them whole (1 `gt` box) and gives their `pred` 1 box, then 2; B gives
    their `pred` 3 boxes, then 1, their writes interleaved however the threads run. A counts
    24 frames, 24 sources and 24 * (1 + 2) ROIs, B 24 * 1 ROIs, each what it stored last."""
    path = catalog_path(tmp_path, storage)
    frames = [f"f{n:02d}" for n in range(24)]
    reports: dict[str, tuple[int, int, int]] = {}
    with workbench.open(path) as catalog:
        stored_first(catalog, [whole_frame(f, 0) for f in frames])

        def work(name: str, boxes: tuple[int, int]) -> None:
            with recorded_writer(catalog) as writer:
                for round_ in range(2):
                    for start in range(0, len(frames), 4):
                        part = frames[start : start + 4]
                        way = "add_labels" if (start // 4 + round_) % 2 else "write_labels"
                        if name == "a":
                            whole = "add" if way == "add_labels" else "write_rows"
                            give(writer, whole, [whole_frame(f, 1) for f in part])
                        give_labels(writer, way, part, boxes[round_])
            reports[name] = counts(catalog, writer)

        at_once([lambda: work("a", (1, 2)), lambda: work("b", (3, 1))])
    assert reports == {"a": (24, 24, 24 * 3), "b": (0, 0, 24)}
