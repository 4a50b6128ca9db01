"""The duplicates panel, driven by its parameters: a search stores the groups, the counts are
those among the view's frames, and "show" becomes a stage of the app's view the grid follows.

The catalog: contexts `a` and `b` of three frames each with pictures of their own (noise), and
context `copy` whose two frames are byte copies of a/f0 and a/f1 in files of their own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import panel as pn
import pytest
from PIL import Image

import workbench
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.store.catalog import Catalog
from workbench.ui.duplicates_panel import DuplicatesPanel
from workbench.ui.state import WorkbenchState

COPIES = ["copy/f0", "copy/f1"]


def _picture(path: Path, seed: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")
    return str(path)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    media = tmp_path / "media"
    catalog = workbench.open(tmp_path / "dups.duckdb")
    catalog.add_media_roots([media])
    uris = {
        f"{ctx}/f{i}": _picture(media / ctx / f"f{i}.png", 10 * k + i)
        for k, ctx in enumerate("ab")
        for i in range(3)
    }
    for i in range(2):
        copied = media / "copy" / f"f{i}.png"
        copied.parent.mkdir(exist_ok=True)
        shutil.copyfile(uris[f"a/f{i}"], copied)
        uris[f"copy/f{i}"] = str(copied)
    with CatalogWriter(catalog, progress=False) as writer:
        for n, (fid, uri) in enumerate(uris.items()):
            context = fid.split("/")[0]
            source = Source("image", uri, 64, 48, "image/png")
            writer.add(Frame(id=fid, context_id=context, timestamp=n, sources=[source]))
    assert writer.report.ok, str(writer.report)
    yield catalog
    catalog.close()


def test_found_groups_are_counted_and_shown(catalog: Catalog, state: WorkbenchState):
    panel = DuplicatesPanel(state)
    assert pn.panel(panel).get_root() is not None  # the panel draws
    s = panel.state
    s.active = True
    assert s.counts == {} and "No duplicate groups" in s.status
    state.mode = "frames"
    everything = state.total
    s.kinds = ["exact"]
    s.find()
    assert s.error == "" and s.working == ""
    assert s.found.startswith("duplicates (exact: 2 groups, 2 copies)")
    assert s.counts == {"exact": (2, 2)} and s.status == "exact: 2 groups, 2 copies"
    s.show = "extra"
    assert state.total == 2 and sorted(t["id"] for t in state.tiles) == COPIES
    s.show = "all"
    assert state.total == 4 and [t["id"] for t in state.tiles][:2] == ["a/f0", "copy/f0"]
    s.show = "without"
    assert state.total == everything - 2
    assert not set(COPIES) & {t["id"] for t in state.tiles}
    s.kind = "perceptual"  # none stored of that kind: nothing is a copy of it
    assert state.total == everything
    # the counts follow the query: no group among b's frames
    s.param.update(show="", kind="")
    state.query.where = "f.context_id = 'b'"
    assert s.counts == {} and state.total == 3
    state.query.where = ""
    s.show = "extra"
    state.query.reset()  # "Reset filters" drops the panel's stage and its pick
    assert s.show == "" and state.total == everything


def test_within_contexts_and_refusals(catalog: Catalog, state: WorkbenchState):
    s = DuplicatesPanel(state).state
    s.active = True
    s.param.update(kinds=["embedding"])
    s.find()  # no embeddings stored: refused, with the reason shown
    assert "embedding" in s.error and s.working == "" and s.counts == {}
    s.kinds = []
    s.find()
    assert s.error == "pick at least one kind of duplicate"
    s.param.update(kinds=["exact", "perceptual"], scope="all")
    s.find()
    assert s.error == "" and s.counts["exact"] == (2, 2)
    stored = catalog.sql("SELECT DISTINCT kind FROM duplicate_groups").fetchall()
    assert {k for (k,) in stored} <= {"exact", "perceptual"}
    audited = "SELECT count(*) FROM audit_log WHERE action LIKE '%duplicate%'"
    assert catalog.sql(audited).fetchall()[0][0] == 1  # the search that ran
