"""The public surface: what is exported, that every result survives JSON, who acts."""

import dataclasses
import json

import workbench.services as services
from workbench.services import Shape, Workbench

EXPORTED = {
    "INVALIDATION_REASONS",
    "SCENE_TYPES",
    "UNEXPECTED_MODES",
    "AnnotationConfig",
    "AnnotationResults",
    "AnnotationRunInfo",
    "AttributeSpec",
    "AuditEntry",
    "BackendError",
    "Batch",
    "ConfirmationRequired",
    "Conflict",
    "EditRestrictions",
    "FieldSchema",
    "IdMap",
    "IdMapEntry",
    "Input",
    "InputCreationResult",
    "InvalidArgument",
    "LabelRef",
    "LabelSchema",
    "LabelSchemaError",
    "MergeReport",
    "Project",
    "Rejection",
    "RemovalReport",
    "Request",
    "RequestTooLarge",
    "RoiRef",
    "RunStatus",
    "SaveResult",
    "SavedViewInfo",
    "Scene",
    "SceneSpec",
    "SceneSpecError",
    "ServiceError",
    "Shape",
    "ShapeError",
    "StateError",
    "TagReport",
    "TaskDetail",
    "TaskFrame",
    "TaskSource",
    "TaskStatus",
    "UnexpectedLabels",
    "UnknownIds",
    "Workbench",
    "WorkbenchService",
}


def test_the_public_names_are_pinned():
    assert set(services.__all__) == EXPORTED
    assert all(hasattr(services, name) for name in services.__all__)


def test_every_error_is_a_workbench_error():
    from workbench.errors import WorkbenchError

    for name in ("ConfirmationRequired", "UnknownIds", "LabelSchemaError", "BackendError"):
        assert issubclass(getattr(services, name), WorkbenchError)


def _round_trip(value):
    data = json.loads(json.dumps(value.to_dict()))
    again = type(value).from_dict(data)
    assert again == value, type(value).__name__
    return again


def test_every_result_survives_json(wb):
    wb.create_project("p")
    batch = wb.create_batch("p")
    request = wb.create_request("p", title="r")
    scene = wb.create_scenes_from_frames(["img-0"])[0]
    (created,) = wb.create_inputs([{"frame_ids": ["img-1"]}], "p")
    results = wb.annotate(
        ["img-0", "img-1", "seq-0"],
        "r1",
        label_field="ground_truth",
        attributes={"occluded": {"type": "checkbox", "read_only": True}},
    )
    task = wb.get_task(wb.list_tasks("r1")[0].task_id)

    def change(shapes):
        odd = Shape(
            frame_id="img-0",
            field="ground_truth",
            kind="point",
            label="car",
            geometry=((1.0, 1.0),),
        )
        relabelled = dataclasses.replace(shapes[0], attributes={"occluded": True})
        return [relabelled, *shapes[1:], odd]

    saved = wb.save_task_annotations(task.task.task_id, change(list(task.shapes)))
    report = wb.load_annotations("r1", unexpected="return")
    assert report.rejected and report.unexpected[0].shapes
    removal = wb.delete_input(wb.query_inputs(project="p")[0].uuid, dryrun=True)
    values = [
        wb.get_projects()[0],
        batch,
        request,
        scene,
        created,
        wb.query_inputs()[0],
        results.info,
        wb.get_annotation_status("r1"),
        wb.annotation_id_map("r1"),
        task,
        saved,
        report,
        removal,
        *wb.audit_log(),
    ]
    for value in values:
        _round_trip(value)


def test_the_actor_comes_from_the_argument_or_the_environment(catalog, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    wb = Workbench(catalog)
    assert wb.actor == "alice"
    wb.create_project("p")
    wb.as_actor("bob").create_batch("p")
    assert [(e.actor, e.action) for e in wb.audit_log()] == [
        ("bob", "create_batch"),
        ("alice", "create_project"),
    ]
    assert wb.audit_log(action="create_project")[0].target == {
        "external_id": "p",
        "backend": "local",
    }
