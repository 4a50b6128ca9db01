"""The QA panel, driven by its parameters: issues by kind with counts, a kind narrows the
view, an issue opens its context at its frame."""

from __future__ import annotations

from workbench.store.catalog import Catalog
from workbench.ui.qa_panel import QaPanel
from workbench.ui.state import WorkbenchState


def test_issues_by_kind_and_one_click_opens_its_frame(state: WorkbenchState, catalog: Catalog):
    # a gap: ctx-2 loses its frame f2 (timestamps 0, 100, _, 300, 400)
    with catalog.transaction() as con:
        con.execute("DELETE FROM rois WHERE frame_id = 'ctx-2/f2'")
        con.execute("DELETE FROM sources WHERE frame_id = 'ctx-2/f2'")
        con.execute("DELETE FROM frames WHERE id = 'ctx-2/f2'")
    state.refresh()
    panel = QaPanel(state)
    s = panel.state
    s.active = True
    assert s.counts == {} and "run the checks" in panel._status(s.counts, "")
    panel.run.clicks += 1
    assert s.counts.get("gap") == 1
    stored = dict(catalog.sql("SELECT kind, count(*) FROM qa_issues GROUP BY 1").fetchall())
    assert s.counts == stored
    assert "gap (1)" in panel.kinds.options
    panel.kinds.value = "gap"
    assert s.kind == "gap"
    assert state.view.frame_ids() == ["ctx-2/f3"] and state.total == 1
    assert list(panel.list.options) == ["1. warning · ctx-2/f3"]
    panel.list.value = 0
    assert state.context.context_id == "ctx-2" and state.context.frame_id == "ctx-2/f3"
    # the query narrows the counts (the panel's own stage aside)
    state.query.where = "f.context_id <> 'ctx-2'"
    assert "gap" not in s.counts and s.issues == []
    state.query.where = ""
    panel.kinds.value = ""
    assert "qa" not in state.query.panels
