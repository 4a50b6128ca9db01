"""The actions on the selection: send to annotation, invalidate scenes, delete inputs.

Driven like the app drives them (parameters set, methods and buttons called) against a real
catalog and a real service; what each dialog previews is compared with what the service then
does, and every action is looked up in the audit log.
"""

import panel as pn
import pytest
from bokeh.document import Document

from workbench.services import Workbench
from workbench.store.catalog import Catalog
from workbench.ui.actions import ActionsBar
from workbench.ui.app import WorkbenchApp, create_app
from workbench.ui.dialogs import ActionDialog
from workbench.ui.forms import split_classes
from workbench.ui.grid import TileEvent
from workbench.ui.media import ServedMediaUrls
from workbench.ui.state import WorkbenchState

SCHEMA = {"label_type": "detections", "classes": ["car", "truck"]}


@pytest.fixture
def bar(state: WorkbenchState) -> ActionsBar:
    return ActionsBar(state)


def select(state: WorkbenchState, *contexts: str) -> None:
    state.tile_click(TileEvent(id=contexts[0]))
    for context in contexts[1:]:
        state.tile_click(TileEvent(id=context, ctrl=True))


def audit(state: WorkbenchState, action: str) -> list[tuple[object, ...]]:
    return [
        (e.actor, e.dry_run, e.outcome) for e in reversed(state.service.audit_log(action=action))
    ]


def dry_run(dialog: ActionDialog) -> bool:
    """Run the dialog's dry run (at once: no served session here); whether it previews."""
    dialog.dry_run()
    return dialog.stage == "preview"


def send(bar: ActionsBar, key: str, **form: object) -> None:
    bar.open(bar.send)
    bar.send.param.update(**{"anno_key": key, "label_field": "ground_truth", **SCHEMA, **form})


def test_the_selection_names_the_live_scenes_holding_its_frames(state: WorkbenchState):
    select(state, "ctx-0")
    assert state.selection.scene_uuids == ()
    (scene,) = state.service.create_scenes_from_contexts(["ctx-0"])
    state.tile_click(TileEvent(id="ctx-0"))
    assert state.selection.scene_uuids == (scene.uuid,)
    assert state.selection.summary() == "5 frames in 1 context selected, 1 scene"
    state.service.invalidate_scenes([scene.uuid], "duplicate", confirm=True)
    state.refresh_selection_scenes()
    assert state.selection.scene_uuids == ()
    assert state.selection.frame_ids  # the frames stay selected


def test_send_dialog_starts_from_the_catalog(state: WorkbenchState, bar: ActionsBar):
    select(state, "ctx-0")
    bar.open(bar.send)
    dialog = bar.send
    assert dialog.visible and dialog.stage == "form" and dialog.error == ""
    assert dialog.backend == "local" and dialog.param.backend.objects == ["local"]
    assert dialog.fields == ["ground_truth", "predictions"]
    assert dialog.label_field == "ground_truth"
    assert dialog.classes == ["car", "lane", "nose", "person", "road", "truck"]
    dialog.label_field = "predictions"
    assert dialog.classes == ["car", "night"]
    assert "detections" in dialog.label_types and "scalar" in dialog.label_types


def test_send_dry_run_previews_exactly_what_confirm_creates(state: WorkbenchState, bar: ActionsBar):
    select(state, "ctx-0", "ctx-1")
    send(bar, "boxes", project="city", allow_deletions=False)
    assert dry_run(bar.send), bar.send.error
    preview = bar.send.preview
    assert "10 frames in 2 scenes" in preview
    assert "2 inputs in project <b>city</b> (new)" in preview
    assert "1 task</li>" in preview
    assert "10 labels uploaded" in preview  # one ground-truth car box per frame
    assert "classes car, truck" in preview and "not allowed: deletions" in preview
    # the dry run wrote nothing but its audit row
    assert state.service.list_annotation_runs() == []
    assert state.service.get_projects() == []
    assert audit(state, "annotate") == [("ana", True, "ok")]

    bar.send.confirm()
    assert bar.send.stage == "done", bar.send.error
    assert bar.send.result == (
        "Created annotation run 'boxes' on local: 10 frames in 2 scenes, 2 inputs, 1 task, "
        "10 labels uploaded."
    )
    info = state.service.get_annotation_info("boxes")
    assert (info.frames, info.scenes, info.inputs, info.tasks, info.labels) == (10, 2, 2, 1, 10)
    assert info.config.restrictions.allow_deletions is False
    assert info.label_schema.fields["ground_truth"].classes == ("car", "truck")
    assert [p.external_id for p in state.service.get_projects()] == ["city"]
    assert audit(state, "annotate") == [("ana", True, "ok"), ("ana", False, "ok")]
    # the selection now names the run's scenes, and the state says something changed
    assert len(state.selection.scene_uuids) == 2
    assert state.changes == 1


def test_cancel_does_nothing(state: WorkbenchState, bar: ActionsBar):
    select(state, "ctx-0")
    send(bar, "never")
    assert dry_run(bar.send)
    bar.send.cancel()
    assert not bar.send.visible and bar.send.preview == ""
    assert state.service.list_annotation_runs() == []
    assert [a for a in audit(state, "annotate") if not a[1]] == []
    assert state.changes == 0


def test_confirm_needs_a_dry_run_of_the_form_as_it_is(state: WorkbenchState, bar: ActionsBar):
    select(state, "ctx-0")
    send(bar, "k")
    bar.send.confirm()
    assert "dry run" in bar.send.error
    assert dry_run(bar.send)
    bar.send.classes = ["car"]  # the preview no longer says what would happen
    assert bar.send.stage == "form" and bar.send.preview == ""
    bar.send.confirm()
    assert state.service.list_annotation_runs() == []


def test_service_refusals_are_shown_in_the_dialog(state: WorkbenchState, bar: ActionsBar):
    select(state, "ctx-0")
    send(bar, "taken")
    assert dry_run(bar.send)
    bar.send.confirm()
    send(bar, "taken")
    assert not dry_run(bar.send)
    assert "an annotation run 'taken' exists" in bar.send.error
    assert bar.send.stage == "form"
    assert audit(state, "annotate")[-1][2].startswith("refused: Conflict")

    send(bar, "other", attribute_mode="custom", attribute_spec="{not json")
    assert not dry_run(bar.send)
    assert bar.send.error.startswith("attributes: not valid JSON")

    send(bar, "other", attribute_mode="custom", attribute_spec='{"kind": {"type": "select"}}')
    assert not dry_run(bar.send)
    assert "kind" in bar.send.error and "values" in bar.send.error  # LabelSchemaError

    send(bar, "other", label_type="", label_field="brand-new-field", classes=[])
    assert not dry_run(bar.send)
    assert "brand-new-field" in bar.send.error


def test_a_failure_while_confirming_is_shown(state: WorkbenchState, bar: ActionsBar):
    select(state, "ctx-0")
    send(bar, "raced")
    assert dry_run(bar.send)
    # Someone else takes the key between the preview and the confirmation.
    state.service.annotate(["ctx-1/f0"], "raced", label_field="ground_truth", **SCHEMA)
    bar.send.confirm()
    assert bar.send.stage == "preview"
    assert "exists" in bar.send.error and bar.send.result == ""


def test_custom_attributes_and_project_batch_options(state: WorkbenchState, bar: ActionsBar):
    state.service.create_project("city")
    state.service.create_batch("city", external_id="week-1")
    select(state, "ctx-2")
    send(bar, "attrs", attribute_mode="custom")
    assert bar.send.projects == ["city"]
    bar.send.project = "city"
    assert bar.send.batches == ["week-1"]
    bar.send.param.update(
        batch="week-1",
        attribute_spec='{"occluded": {"type": "occluded"}, '
        '"kind": {"type": "radio", "values": ["a", "b"], "read_only": true}}',
    )
    assert dry_run(bar.send), bar.send.error
    assert "batch <b>week-1</b>" in bar.send.preview and "(new)" not in bar.send.preview
    assert "kind (radio, read-only)" in bar.send.preview
    bar.send.confirm()
    info = state.service.get_annotation_info("attrs")
    assert set(info.label_schema.fields["ground_truth"].attributes) == {"occluded", "kind"}
    assert state.service.query_inputs(project="city", batch="week-1")[0].anno_key == "attrs"


def test_invalidate_previews_the_affected_inputs_then_invalidates(
    state: WorkbenchState, bar: ActionsBar
):
    select(state, "ctx-0")
    send(bar, "run")
    assert dry_run(bar.send)
    bar.send.confirm()
    (input_,) = state.service.query_inputs(scene_uuids=state.selection.scene_uuids)

    bar.open(bar.invalidate)
    assert not bar.send.visible  # one dialog at a time
    dialog = bar.invalidate
    assert dialog.scene_uuids == list(state.selection.scene_uuids)
    dialog.reason = "duplicate"
    assert dry_run(dialog), dialog.error
    assert input_.uuid in dialog.preview and "ctx-0" in dialog.preview
    assert "1 scene, 1 input, 5 annotations" in dialog.preview
    assert state.service.get_scenes_by_uuids([input_.scene_uuid])[0].status == "created"

    dialog.confirm()
    assert dialog.stage == "done", dialog.error
    assert dialog.result.startswith("Invalidated (duplicate): 1 scene, 1 input")
    scene = state.service.get_scenes_by_uuids([input_.scene_uuid])[0]
    assert scene.status == "invalidated:duplicate"
    assert state.service.query_inputs(scene_uuids=[scene.uuid]) == []
    assert audit(state, "invalidate_scenes") == [("ana", True, "ok"), ("ana", False, "ok")]
    assert state.selection.scene_uuids == ()


def test_nothing_to_invalidate_or_delete_says_so(state: WorkbenchState, bar: ActionsBar):
    select(state, "ctx-3")
    assert bar.invalidate_button.disabled and bar.delete_button.disabled
    assert not bar.send_button.disabled
    bar.open(bar.invalidate)
    assert "no scene holds the selected frames" in bar.invalidate.error
    state.service.create_scenes_from_contexts(["ctx-3"])
    state.refresh_selection_scenes()
    assert not bar.delete_button.disabled
    bar.open(bar.delete)
    assert "in no input" in bar.delete.error
    assert not dry_run(bar.delete)


def test_delete_inputs_deletes_only_the_chosen_inputs(state: WorkbenchState, bar: ActionsBar):
    (scene,) = state.service.create_scenes_from_contexts(["ctx-2"])
    for project in ("p1", "p2"):
        state.service.create_project(project)
        state.service.create_batch(project)
        state.service.create_inputs_from_scenes(project, scene_uuids=[scene.uuid])
    select(state, "ctx-2")
    bar.open(bar.delete)
    dialog = bar.delete
    assert [i.project for i in dialog.inputs] == ["p1", "p2"]
    assert dialog.chosen == [i.uuid for i in dialog.inputs]
    keep, gone = dialog.inputs
    dialog.chosen = [gone.uuid]
    assert dry_run(dialog), dialog.error
    assert gone.uuid in dialog.preview and keep.uuid not in dialog.preview
    assert "1 input" in dialog.preview

    dialog.confirm()
    assert dialog.stage == "done" and dialog.result.startswith("Deleted: 1 input")
    assert [i.uuid for i in state.service.query_inputs(scene_uuids=[scene.uuid])] == [keep.uuid]
    assert audit(state, "delete_inputs") == [("ana", True, "ok"), ("ana", False, "ok")]
    # the dialog no longer lists (nor checks) the deleted input
    assert [i.uuid for i in dialog.inputs] == [keep.uuid] and dialog.chosen == []
    view = next(v for v in bar.views if v.dialog is dialog)
    (choice,) = [w for w in view.form if "wb-input-choice" in w.css_classes]
    assert list(choice.options.values()) == [keep.uuid] and choice.value == []
    assert dialog.stage == "done"  # and it still says what was done

    assert not dry_run(dialog) and "choose the inputs" in dialog.error


def test_dialog_widgets_drive_the_dialog(state: WorkbenchState, bar: ActionsBar):
    select(state, "ctx-0")
    bar.send_button.clicks += 1
    view = bar.views[0]
    assert bar.send.visible and view.root.visible
    assert view.confirm_button.disabled  # nothing to confirm before a dry run
    anno_key, classes = view.form[1], view.form[6]
    anno_key.value_input = "typed"  # what typing does
    classes.value_input = "car,\ntruck"
    assert bar.send.anno_key == "typed" and bar.send.classes == ["car", "truck"]
    view.form[5].value = "detections"
    assert bar.send.label_type == "detections"

    view.dry_run_button.clicks += 1
    assert bar.send.stage == "preview", bar.send.error
    assert view.preview.visible and "5 frames in 1 scene" in view.preview.object
    assert not view.confirm_button.disabled
    view.confirm_button.clicks += 1
    assert view.result.visible and view.result.alert_type == "success"
    assert "Created annotation run 'typed'" in view.result.object
    assert not view.progress.visible

    anno_key.value_input = "typed"
    view.dry_run_button.clicks += 1
    assert view.result.alert_type == "danger" and "exists" in view.result.object
    view.cancel_button.clicks += 1
    assert not view.root.visible


def test_split_classes():
    assert split_classes("car, truck\nperson,,car\n") == ["car", "truck", "person"]


def test_the_app_takes_a_service_and_renders_the_action_hooks(catalog: Catalog):
    service = Workbench(catalog, actor="bob")
    app = create_app(catalog, ServedMediaUrls(), service)
    assert app.service is service and app.state.service is service
    default = WorkbenchApp(catalog, media=ServedMediaUrls())
    assert isinstance(default.service, Workbench) and default.service.catalog is catalog
    root = pn.panel(app).get_root(Document())

    def found() -> set[str]:
        classes: set[str] = set()
        for model in root.references():
            classes.update(getattr(model, "css_classes", None) or [])
        return classes

    page = {"wb-actions", "wb-send", "wb-invalidate", "wb-delete-inputs", "wb-runs",
            "wb-annotator"}  # fmt: skip
    assert page <= found(), sorted(page - found())
    # A dialog is built in the page the first time it opens (the next times it is there).
    assert "wb-dialog" not in found()
    select(app.state, "ctx-0")
    for dialog in app.actions_bar.dialogs:
        app.actions_bar.open(dialog)
    dialogs = {
        "wb-dialog", "wb-confirm", "wb-cancel", "wb-action-result", "wb-preview",
        "wb-anno-key", "wb-label-field", "wb-reason", "wb-input-choice",
    }  # fmt: skip
    assert dialogs <= found(), sorted(dialogs - found())
    app.actions_bar.open(app.actions_bar.send)
    assert app.actions_bar.send.visible and "wb-merge-report" not in found()


def test_send_warns_about_existing_labels_outside_the_classes(
    state: WorkbenchState, bar: ActionsBar
):
    select(state, "ctx-group")  # a car box on the front camera, a truck box on the rear
    bar.open(bar.send)
    send = bar.send
    assert send.label_field == "ground_truth"
    assert send.classes == ["car", "lane", "nose", "person", "road", "truck"]
    assert send.outside_classes == ""  # every label of the field is a class
    send.param.update(anno_key="cars", label_type="detections", classes=["car"])
    assert send.outside_classes == (
        "3 of the 6 existing labels of field 'ground_truth' in the selected frames are not "
        "of the classes car (truck 3): they are uploaded as they are, and loading the run's "
        "annotations will reject them (they stay unchanged in the catalog)."
    )
    view = next(v for v in bar.views if v.dialog is send)
    (warning,) = [w for w in view.form if "wb-outside-classes" in w.css_classes]
    assert warning.visible and "truck 3" in warning.object
    assert dry_run(send), send.error
    assert "wb-outside-classes" in send.preview and "truck 3" in send.preview
    send.classes = ["car", "truck"]
    assert send.outside_classes == "" and not warning.visible
    # the warning says what then happens: the merge refuses the truck boxes
    send.classes = ["car"]
    assert dry_run(send)
    send.confirm()
    (task,) = state.service.list_tasks("cars")
    state.service.complete_task(task.task_id)
    report = state.service.load_annotations("cars", unexpected="return")
    assert [r.change for r in report.rejected] == ["class"] * 3
