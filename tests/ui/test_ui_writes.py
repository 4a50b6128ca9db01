"""Every write the app makes goes through the service: tags and saved views are audited
actions like the others, refusals are shown, and ui/ holds no SQL of its own."""

from __future__ import annotations

import re
from pathlib import Path

import workbench.ui
from workbench.services import Workbench
from workbench.store.catalog import Catalog
from workbench.ui.actions import ActionsPanel
from workbench.ui.grid import TileEvent
from workbench.ui.state import WorkbenchState

UI = Path(workbench.ui.__file__).parent


def audit(catalog: Catalog, *actions: str) -> list[tuple[object, ...]]:
    rows = catalog.cursor().execute(
        "SELECT actor, action, count, dry_run, outcome FROM audit_log ORDER BY id"
    )
    return [r for r in rows.fetchall() if r[1] in actions]


def test_tagging_in_the_app_is_an_audited_action(state: WorkbenchState, catalog: Catalog):
    actions = ActionsPanel(state)
    state.tile_click(TileEvent("ctx-1"))
    actions.tag_input.value_input = "review"
    actions.tag_button.clicks += 1
    actions.tag_button.clicks += 1  # nothing new, still recorded
    actions.untag_button.clicks += 1
    assert audit(catalog, "tag_frames", "untag_frames") == [
        ("ana", "tag_frames", 5, False, "ok"),
        ("ana", "tag_frames", 0, False, "ok"),
        ("ana", "untag_frames", 5, False, "ok"),
    ]
    assert state.acting == "" and state.action_error == ""
    assert actions.message.object == "removed tag &#x27;review&#x27; from 5 frames"


def test_a_refused_tag_is_audited_and_shown(state: WorkbenchState, catalog: Catalog):
    actions = ActionsPanel(state)
    state.tile_click(TileEvent("ctx-1"))
    actions.tag_input.value_input = "x" * 201
    actions.tag_button.clicks += 1
    assert audit(catalog, "tag_frames") == [
        ("ana", "tag_frames", None, False, "refused: InvalidArgument: a tag is at most 200 "
         "characters, got 201"),
    ]  # fmt: skip
    assert state.action_error.startswith("a tag is at most 200 characters")
    assert actions.message.visible and actions.message.alert_type == "danger"
    assert not actions.tag_button.disabled  # nothing is left running


def test_saving_a_view_in_the_app_is_an_audited_action(
    state: WorkbenchState, catalog: Catalog, service: Workbench
):
    actions = ActionsPanel(state)
    state.query.where = "f.timestamp >= 200"
    actions.view_name.value_input = "  late  "
    actions.save_button.clicks += 1
    actions.save_button.clicks += 1  # the same name again replaces it
    assert audit(catalog, "save_view") == [("ana", "save_view", 1, False, "ok")] * 2
    (saved,) = service.get_saved_views()
    assert saved.name == "late" and saved.spec == state.query.view(catalog).to_dict()
    assert state.saved_views == ["late"] and actions.views.options == ["late"]
    assert state.message == "saved view 'late'"
    # renamed and deleted elsewhere (a notebook, over HTTP): the app reopens what exists
    service.rename_view("late", "later")
    state.query.reset()
    actions.views.value = "late"
    actions.open_button.clicks += 1
    assert "no saved view named 'late'" in state.action_error
    state.open_view("later")
    assert state.query.where == "f.timestamp >= 200" and state.action_error == ""


def test_a_second_write_waits_for_the_first(state: WorkbenchState, catalog: Catalog):
    """While one tag or saved-view action runs, another is refused with a message (served,
    the first runs in the background; the buttons are disabled meanwhile)."""
    actions = ActionsPanel(state)
    state.tile_click(TileEvent("ctx-0"))
    state.acting = "tagging"  # as while a served session's action runs
    assert actions.tag_button.disabled and actions.save_button.disabled
    assert actions.working.visible
    state.tag_selection("again")
    assert state.action_error == "tagging is not finished yet"
    assert audit(catalog, "tag_frames") == []


WRITES = re.compile(
    r"\btransaction\(|(?<!pn\.state)\.execute\(|\bINSERT\b|\bUPDATE\b|\bDELETE\b|store\.tags|store import tags"
    r"|query\.saved|query import .*\b(save_view|delete_view)\b"
)


def test_the_ui_writes_nothing_itself():
    """No SQL and no store or query write in ui/: every write is a service call."""
    found = {
        path.name: WRITES.findall(path.read_text())
        for path in sorted(UI.glob("*.py"))
        if WRITES.search(path.read_text())
    }
    assert found == {}


def test_renaming_and_deleting_a_saved_view_in_the_app(
    state: WorkbenchState, catalog: Catalog, service: Workbench
):
    actions = ActionsPanel(state)
    state.query.where = "f.timestamp >= 200"
    actions.view_name.value_input = "late"
    actions.save_button.clicks += 1
    actions.views.value = "late"
    actions.view_name.value_input = "later"
    actions.rename_button.clicks += 1
    assert state.saved_views == ["later"] and state.message == "renamed view 'late' to 'later'"
    assert [v.name for v in service.get_saved_views()] == ["later"]
    # a taken name is refused, with the service's reason
    actions.view_name.value_input = "other"
    actions.save_button.clicks += 1
    actions.views.value = "other"
    actions.view_name.value_input = "later"
    actions.rename_button.clicks += 1
    assert "exists" in state.action_error and state.saved_views == ["later", "other"]
    # deleting asks first; "keep it" does nothing
    actions.views.value = "other"
    actions.delete_button.clicks += 1
    assert actions.confirm_delete.visible and actions.confirm_delete.label == "Delete 'other'"
    actions.cancel_delete.clicks += 1
    assert not actions.confirm_delete.visible and state.saved_views == ["later", "other"]
    actions.delete_button.clicks += 1
    actions.confirm_delete.clicks += 1
    assert state.saved_views == ["later"] and state.message == "deleted view 'other'"
    assert audit(catalog, "rename_view", "delete_view") == [
        ("ana", "rename_view", 1, False, "ok"),
        ("ana", "rename_view", None, False, "refused: Conflict: a saved view 'later' exists"),
        ("ana", "delete_view", 1, False, "ok"),
    ]
