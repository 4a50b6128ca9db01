"""An import's checkpoint (`CatalogWriter.checkpoint`, `Counted.state`) taken while another
import's write is under way: the copy is made between writes, in their turn
(`Catalog.turn`), so it holds what that write tells of the frames counted, or is told it.
Taken in the middle, after the write read what to tell and before it told it, the copy
would miss it: the import set back to it would count a frame twice."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.ingest.counting_files import (
    catalog_path,
    counts,
    give,
    recorded_writer,
    stored_rois,
    whole_frame,
)
from workbench.ingest import _counting
from workbench.ingest.writer import CatalogWriter, Checkpoint


@pytest.mark.parametrize("storage", ["local", "lake"])
def test_a_checkpoint_taken_while_another_import_writes(
    tmp_path: Path, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writes X (2 boxes) and Y (1). B writes X (5 boxes) in another thread, and stops
    after reading what it tells A (X as A stored it) and before telling it; A then takes a
    checkpoint, B ends, A goes back to the checkpoint and writes X (3 boxes): A counts 2
    frames and 4 ROIs, X's first version taken back once (a copy made in the middle of B's
    write: 3 frames, 6 ROIs)."""
    told, go = threading.Event(), threading.Event()
    tell = _counting.Counted._tell

    def held_tell(self: _counting.Counted) -> None:
        if threading.current_thread().name == "b" and self._told:
            told.set()
            go.wait(timeout=30)
        tell(self)

    monkeypatch.setattr(_counting.Counted, "_tell", held_tell)
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, "write_rows", [whole_frame("x", 2), whole_frame("y", 1)])
            other = _thread("b", lambda: _replace(catalog, [whole_frame("x", 5)]))
            assert told.wait(timeout=30)
            point: list[Checkpoint] = []
            taking = _thread("a", lambda: point.append(writer.checkpoint()))
            taking.join(timeout=1.0)  # (in B's turn it waits: B's write is under way)
            go.set()
            other.join()
            taking.join()
            writer.restore(point[0])
            give(writer, "write_rows", [whole_frame("x", 3)])
        assert stored_rois(catalog) == 4
        assert counts(catalog, writer) == (2, 2, 4)


def _thread(name: str, work: Any) -> threading.Thread:
    thread = threading.Thread(target=work, name=name)
    thread.start()
    return thread


def _replace(catalog: Any, frames: list[Any]) -> None:
    with CatalogWriter(catalog, progress=False) as other:
        give(other, "write_rows", frames)
