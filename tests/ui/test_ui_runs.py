"""The annotation runs panel: progress per run, loading with the merge report, rename, delete."""

import dataclasses

from workbench.services import Shape, Workbench
from workbench.store.catalog import Catalog
from workbench.ui.runs import RunsPanel, RunsState
from workbench.ui.state import WorkbenchState

FRAMES = [f"ctx-0/f{i}" for i in range(5)]
SCHEMA = {"label_field": "ground_truth", "label_type": "detections", "classes": ["car", "truck"]}


def row_buttons(panel: RunsPanel, index: int) -> dict[str, object]:
    """The buttons of one run's row, by their css class."""
    _, buttons = panel.rows.objects[index].objects
    return {b.css_classes[0]: b for b in buttons.objects}


def test_runs_are_listed_with_their_progress(state: WorkbenchState, service: Workbench):
    service.annotate(FRAMES, "one", **SCHEMA)
    service.annotate(["ctx-1/f0", "ctx-2/f0"], "two", task_size=1, **SCHEMA)
    runs = RunsState(state)
    assert [(r.anno_key, r.backend, r.fields, r.tasks_done, r.tasks) for r in runs.runs] == [
        ("one", "local", "ground_truth", 0, 1),
        ("two", "local", "ground_truth", 0, 2),
    ]
    service.complete_task(service.list_tasks("two")[0].task_id)
    runs.refresh()
    assert runs.row("two").tasks_done == 1
    assert runs.row("two").describe() == "local · ground_truth · 1/2 tasks done · not loaded"

    opened: list[str] = []
    panel = RunsPanel(runs, on_annotate=opened.append)
    assert len(panel.rows.objects) == 2
    buttons = row_buttons(panel, 1)
    assert set(buttons) == {"wb-load-run", "wb-annotate-run", "wb-rename-run", "wb-delete-run"}
    buttons["wb-annotate-run"].clicks += 1
    assert opened == ["two"]


def test_an_action_on_the_selection_refreshes_the_runs(state: WorkbenchState, service: Workbench):
    runs = RunsState(state)
    panel = RunsPanel(runs)
    assert runs.runs == [] and "No annotation runs" in panel.rows.objects[0].object
    service.annotate(FRAMES, "late", **SCHEMA)
    state.after_action()
    assert [r.anno_key for r in runs.runs] == ["late"]


def test_loading_shows_the_merge_report_with_rejections_and_unexpected_labels(
    state: WorkbenchState, service: Workbench, catalog: Catalog
):
    service.annotate(FRAMES, "r", allow_deletions=False, allow_label_edits=False, **SCHEMA)
    (task,) = service.list_tasks("r")
    shapes = {s.frame_id: s for s in service.get_task_annotations(task.task_id)}
    moved = dataclasses.replace(shapes["ctx-0/f0"], geometry=((1, 1, 9, 1, 9, 9, 1, 9),))
    relabelled = dataclasses.replace(shapes["ctx-0/f1"], label="truck")
    polygon = Shape("ctx-0/f3", "ground_truth", "polygon", "car", geometry=((0, 0, 10, 0, 10, 10),))
    kept = [shapes["ctx-0/f3"], shapes["ctx-0/f4"]]  # ctx-0/f2's box is deleted
    service.save_task_annotations(task.task_id, [moved, relabelled, *kept, polygon])
    runs = RunsState(state)
    panel = RunsPanel(runs)

    row_buttons(panel, 0)["wb-load-run"].clicks += 1
    report = runs.report
    assert report is not None and runs.error == ""
    assert [(r.frame_id, r.roi_id) for r in report.changed] == [("ctx-0/f0", "ctx-0/f0/car")]
    assert sorted((r.frame_id, r.change) for r in report.rejected) == [
        ("ctx-0/f1", "label"),
        ("ctx-0/f2", "deletion"),
    ]
    (unexpected,) = report.unexpected
    assert (unexpected.label_type, unexpected.count, unexpected.action) == (
        "polygons",
        1,
        "returned",
    )
    assert panel.report.visible
    html = panel.report.object
    assert "1 added" not in html and "1 changed" in html and "2 rejected" in html
    for rejection in report.rejected:
        assert rejection.reason.replace("'", "&#x27;") in html
    assert "unexpected labels" in html and "polygons" in html
    # the edit allowed is in the catalog, the refused ones are not
    geometry = catalog.sql("SELECT geometry FROM rois WHERE id = 'ctx-0/f0/car'").fetchall()[0][0]
    assert geometry[0][:4] == [1.0, 1.0, 9.0, 1.0]
    assert catalog.sql("SELECT label FROM rois WHERE id = 'ctx-0/f1/car'").fetchall() == [("car",)]
    assert runs.row("r").loaded and runs.row("r").describe().endswith("· loaded")
    assert "loaded 'r': 0 added, 1 changed, 0 deleted" in panel.message.object
    assert state.changes == 1


def test_rename_and_delete_ask_first(state: WorkbenchState, service: Workbench):
    service.annotate(FRAMES, "old", **SCHEMA)
    service.annotate(["ctx-1/f0"], "other", **SCHEMA)
    runs = RunsState(state)
    panel = RunsPanel(runs)

    row_buttons(panel, 0)["wb-rename-run"].clicks += 1
    assert panel.dialog.visible and panel.new_key.visible
    panel.new_key.value_input = "new"
    panel.cancel_button.clicks += 1
    assert runs.pending is None and service.list_annotation_runs() == ["old", "other"]

    runs.ask_rename("old")
    panel.new_key.value_input = "other"
    panel.confirm_button.clicks += 1
    assert "'other' exists" in runs.error and panel.message.alert_type == "danger"
    assert runs.pending is not None  # still waiting for a usable key
    panel.new_key.value_input = "new"
    panel.confirm_button.clicks += 1
    assert set(service.list_annotation_runs()) == {"new", "other"}
    assert runs.pending is None and not panel.dialog.visible
    assert [r.anno_key for r in runs.runs if r.anno_key == "new"] == ["new"]

    runs.ask_delete("new")
    assert panel.dialog.visible and not panel.new_key.visible
    text = panel.confirm_text.object
    assert "1 annotation run record" in text and "5 id map rows" in text
    panel.confirm_button.clicks += 1
    assert service.list_annotation_runs() == ["other"]
    assert [e.action for e in service.audit_log(limit=2)] == [
        "delete_annotation_run",
        "delete_annotation_run",
    ]


def test_refusals_are_shown(state: WorkbenchState, service: Workbench):
    service.annotate(FRAMES, "gone", **SCHEMA)
    runs = RunsState(state)
    panel = RunsPanel(runs)
    service.delete_annotation_run("gone", confirm=True)  # in another session, say
    runs.load("gone")
    assert runs.report is None and runs.loading is None
    assert "gone" in runs.error and panel.message.visible
    assert panel.message.alert_type == "danger"
    runs.ask_delete("gone")
    assert runs.pending is None and "gone" in runs.error


def test_the_merge_report_names_labels_and_groups_rejections_by_cause(
    state: WorkbenchState, service: Workbench
):
    """Labels of classes the run leaves out are uploaded, come back untouched and are refused:
    one line says so, with the frames concerned, instead of one row per label; the labels
    written and deleted are named by their label, not their ROI id."""
    frames = [f"ctx-group/f{i}" for i in range(3)]
    service.annotate(frames, "cars", label_field="ground_truth", label_type="detections",
                     classes=["car"])  # fmt: skip
    (task,) = service.list_tasks("cars")
    shapes = service.get_task_annotations(task.task_id)
    cars = [s for s in shapes if s.label == "car"]
    moved = dataclasses.replace(cars[0], geometry=((1, 1, 9, 1, 9, 9, 1, 9),))
    trucks = [s for s in shapes if s.label == "truck"]
    service.save_task_annotations(task.task_id, [moved, cars[1], *trucks])  # cars[2] deleted
    runs = RunsState(state)
    panel = RunsPanel(runs)
    runs.load("cars")
    report = runs.report
    assert report is not None
    assert len(report.rejected) == 3 and len(report.changed) == 1 and len(report.deleted) == 1
    html = panel.report.object
    # one line for the three refused trucks, naming the frames concerned
    assert html.count("is not a class of field") == 1
    assert "ctx-group/f0, ctx-group/f1, ctx-group/f2" in html
    assert "<td style='padding-right:8px'>3</td>" in html
    # the changed and deleted boxes are named "car", not by their ROI ids
    assert moved.frame_id in html and "car" in html
    for ref in (*report.changed, *report.deleted):
        assert ref.roi_id is not None and ref.roi_id not in html
