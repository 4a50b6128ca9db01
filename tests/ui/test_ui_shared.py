"""Reads shared by the served sessions of a catalog, kept per catalog version."""

import subprocess
import sys
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc

import workbench.ui.state as state_module
from workbench.query import View
from workbench.services import Workbench
from workbench.store.catalog import Catalog
from workbench.ui.media import InlineMediaUrls
from workbench.ui.shared import MAX_PAGES, PAGES, catalog_version, kept_read, shared_read
from workbench.ui.state import WorkbenchState


def test_a_served_read_is_kept_until_the_catalog_changes(catalog: Catalog):
    reads: list[int] = []

    def read() -> list[str]:
        reads.append(1)
        return [str(len(reads))]

    first = shared_read(catalog, ("test", 1), read, served=True)
    assert shared_read(catalog, ("test", 1), read, served=True) is first
    assert kept_read(catalog, ("test", 1), served=True) is first
    assert len(reads) == 1
    # another key is read on its own; a caller that is not served never shares
    shared_read(catalog, ("test", 2), read, served=True)
    assert shared_read(catalog, ("test", 1), read, served=False) == ["3"]
    assert kept_read(catalog, ("test", 1), served=False) is None
    # a write moves the version on: the next read asks the catalog again
    version = catalog_version(catalog)
    frame_id = str(View(catalog).frame_ids()[0])
    Workbench(catalog).tag_frames([frame_id], "seen")
    assert catalog_version(catalog) > version
    assert kept_read(catalog, ("test", 1), served=True) is None
    assert shared_read(catalog, ("test", 1), read, served=True) == ["4"]


def test_an_empty_answer_is_kept_as_any_other(catalog: Catalog):
    reads: list[int] = []

    def read() -> str:
        reads.append(1)
        return ""

    assert shared_read(catalog, ("test", "empty"), read, served=True) == ""
    assert shared_read(catalog, ("test", "empty"), read, served=True) == ""
    assert kept_read(catalog, ("test", "empty"), served=True) == ""
    assert len(reads) == 1


def test_a_failed_read_is_not_kept(catalog: Catalog):
    def fail() -> Any:
        raise ValueError("no")

    for _ in range(2):
        with pytest.raises(ValueError):
            shared_read(catalog, ("test", "fails"), fail, served=True)
    assert kept_read(catalog, ("test", "fails"), served=True) is None


def test_pages_are_kept_apart_from_the_first_screen_reads(catalog: Catalog):
    shared_read(catalog, ("fields",), lambda: ["first screen"], served=True)
    for page in range(MAX_PAGES + 5):
        shared_read(catalog, ("tiles", page), lambda p=page: [p], served=True, kind=PAGES)
    # paging never pushes the first screen's reads out; the oldest pages go first
    assert kept_read(catalog, ("fields",), served=True) == ["first screen"]
    assert kept_read(catalog, ("tiles", 0), served=True, kind=PAGES) is None
    assert kept_read(catalog, ("tiles", MAX_PAGES + 4), served=True, kind=PAGES) == [MAX_PAGES + 4]
    assert kept_read(catalog, ("tiles", MAX_PAGES + 4), served=True) is None  # not a page


class _Served:
    """What a served session's context says of itself, as much as the state asks."""

    def __init__(self) -> None:
        self.id, self.destroyed = "test", False
        self.server_context = SimpleNamespace(application_context=None, sessions=[])
        self.request = SimpleNamespace(arguments={}, cookies={}, headers={})


def test_a_page_turned_to_again_or_in_another_session_is_not_read_again(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
):
    reads: list[int] = []
    read_tiles = state_module.frame_tiles

    def counted(view: View, offset: int, limit: int, media: Any) -> list[dict[str, Any]]:
        reads.append(offset)
        return read_tiles(view, offset, limit, media)

    monkeypatch.setattr(state_module, "frame_tiles", counted)
    # Nothing runs the served sessions' event loop here: their background reads (facets,
    # marks) start at once on the pool rather than wait on that loop's clock for ever.
    monkeypatch.setattr(state_module, "_served_pause", lambda: 0.0)
    pages: list[list[str]] = []
    media = InlineMediaUrls()  # one for the server's sessions, as served
    for _ in range(2):  # two served sessions
        doc, context = Document(), _Served()
        doc._session_context = weakref.ref(context)  # type: ignore[assignment]
        with set_curdoc(doc):
            state = WorkbenchState(catalog, media, page_size=2)
            state.mode = "frames"
            assert state.pages > 2
            for page in (1, 2, 1, 2, 0):
                state.page = page
                pages.append([str(t["id"]) for t in state.tiles])
    # the first session read pages 0 (the mode's first read), 1 and 2 once each (turned back
    # to, page 0 is the mode's first read again); the second session read none of them
    assert reads == [0, 2, 4], reads
    assert pages[:5] == pages[5:] and pages[0] != pages[1]
    assert pages[0] == [str(i) for i in View(catalog).frame_ids()[2:4]]


def test_the_pages_bench_produces_every_figure(spare_demo_catalog: Path):
    """bench/ui_pages_bench.py runs end to end (timings are not asserted)."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "ui_pages_bench.py"
    command = [sys.executable, str(bench), "--catalog", str(spare_demo_catalog), "--calls", "3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for figure in ("first_kept", "first_read", "turn_kept", "turn_read", "load average"):
        assert figure in result.stdout, result.stdout
