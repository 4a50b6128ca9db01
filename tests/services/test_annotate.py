import json

import pytest

from workbench.ingest import CatalogWriter, Roi, box_ring
from workbench.services import (
    AnnotationResults,
    ConfirmationRequired,
    Conflict,
    InvalidArgument,
    LabelSchemaError,
    StateError,
    UnknownIds,
)

from .service_catalog import table_state

BOXES = {"ground_truth": {"type": "detections", "classes": ["car", "truck"]}}
IMAGES = ["img-0", "img-1", "img-2", "img-3"]
SEQUENCE = [f"seq-{i}" for i in range(5)]


class FakeView:
    """What the query layer's View offers annotate(): frame ids in order and a spec."""

    def __init__(self, ids):
        self.ids = ids

    def frame_ids(self):
        return list(self.ids)

    def to_dict(self):
        return {"stages": [{"select": self.ids}]}


def test_annotate_places_scenes_as_inputs_with_tasks_and_an_id_map(wb, catalog):
    results = wb.annotate(FakeView(IMAGES + SEQUENCE), "r1", label_schema=BOXES, task_size=2)
    info = results.info
    assert (info.frames, info.scenes, info.inputs, info.labels) == (9, 5, 5, 9)
    assert info.view == {"stages": [{"select": IMAGES + SEQUENCE}]}
    # five scenes, two per task: the sequence is one scene and never split
    tasks = wb.list_tasks("r1")
    assert [t.frames for t in tasks] == [2, 2, 5] and info.tasks == 3
    inputs = wb.query_inputs(project="default")
    assert {i.anno_key for i in inputs} == {"r1"} and len(inputs) == 5
    id_map = results.id_map()
    assert sorted((e.frame_id, e.roi_id) for e in id_map.entries)[:2] == [
        ("img-0", "b0"),
        ("img-1", "b1"),
    ]
    assert {e.origin for e in id_map.entries} == {"upload"}
    assert wb.list_annotation_runs() == ["r1"]
    assert wb.get_annotation_info("r1") == info


def test_existing_scenes_are_reused(wb):
    sequence = wb.create_scenes_from_contexts(["drive-1"])[0]
    wb.annotate(SEQUENCE, "r1", label_schema=BOXES)
    (placed,) = wb.query_inputs(project="default")
    assert placed.scene_uuid == sequence.uuid


def test_frame_sampling_and_segments_apply_per_sequence(wb):
    wb.annotate(
        [*SEQUENCE, "img-0"],
        "r1",
        label_schema=BOXES,
        frame_start=1,
        frame_stop=3,
        frame_step=2,
        segment_size=1,
    )
    task = wb.get_task(wb.list_tasks("r1")[0].task_id)
    assert [(f.frame_id, f.segment) for f in task.frames] == [("seq-1", 0), ("seq-3", 1)]
    second = wb.get_task(task.task.task_id, segment=1)
    assert [f.frame_id for f in second.frames] == ["seq-3"]
    assert [(s.frame_id, s.track_index) for s in second.shapes] == [("seq-3", 1)]


def test_media_field_picks_the_camera(wb):
    wb.annotate(["rig-0", "rig-1"], "r1", label_schema=BOXES, media_field="rear")
    task = wb.get_task(wb.list_tasks("r1")[0].task_id)
    assert [[s.id for s in f.sources] for f in task.frames] == [["rear"], ["rear"]]
    with pytest.raises(InvalidArgument, match="frames without that source: img-0"):
        wb.annotate(["img-0"], "r2", label_schema=BOXES, media_field="rear")


def test_dry_run_sends_nothing(wb, catalog):
    before = table_state(catalog)
    results = wb.annotate(IMAGES, "r1", label_schema=BOXES, dryrun=True)
    assert (results.info.dryrun, results.info.frames, results.info.labels) == (True, 4, 4)
    assert table_state(catalog) == before
    with pytest.raises(StateError, match="not bound"):
        results.get_status()


def test_refusals_change_nothing(wb, catalog):
    wb.annotate(IMAGES, "r1", label_schema=BOXES)
    before = table_state(catalog)
    with pytest.raises(Conflict, match="an annotation run 'r1' exists"):
        wb.annotate(IMAGES, "r1", label_schema=BOXES)
    with pytest.raises(UnknownIds, match="unknown frames: 'ghost'"):
        wb.annotate(["img-0", "ghost"], "r2", label_schema=BOXES)
    with pytest.raises(InvalidArgument, match="no frames"):
        wb.annotate([], "r2", label_schema=BOXES)
    with pytest.raises(InvalidArgument, match="task_size must be an integer >= 1"):
        wb.annotate(IMAGES, "r2", label_schema=BOXES, task_size=0)
    with pytest.raises(InvalidArgument, match="unknown backend 'cvat'"):
        wb.annotate(IMAGES, "r2", label_schema=BOXES, backend="cvat")
    assert table_state(catalog) == before


def _schema_error(wb, **options):
    with pytest.raises(LabelSchemaError) as info:
        wb.annotate(IMAGES, "bad", **options)
    return str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give a label_schema or a label_field"),
        ({"label_field": "new"}, "label field 'new': a new label field needs a label type"),
        ({"label_field": "new", "label_type": "cuboids"}, "unknown label type 'cuboids'"),
        ({"label_field": "new", "label_type": "polygons"}, "give the classes of a new label field"),
        (
            {"label_field": "ground_truth", "label_type": "polygons"},
            "label type 'polygons' does not match the field's labels (detections)",
        ),
        (
            {"label_field": "new", "label_type": "detections", "classes": ["a", "a"]},
            "classes listed twice: ['a']",
        ),
        (
            {"label_schema": {"ground_truth": {"attributes": {"kind": {"type": "select"}}}}},
            "attribute 'kind' of type 'select' needs a list of values",
        ),
        (
            {
                "label_schema": {
                    "ground_truth": {
                        "attributes": {"c": {"type": "radio", "values": ["a"], "default": "b"}}
                    }
                }
            },
            "default 'b' is not one of its values ['a']",
        ),
        (
            {"label_schema": {"ground_truth": {"attributes": {"c": {"type": "slider"}}}}},
            "attribute 'c' has unknown type 'slider'",
        ),
        (
            {"label_schema": {"ground_truth": {"attributes": {"c": {"values": [1]}}}}},
            "attribute 'c' has no type",
        ),
        (
            {"label_field": "score", "label_type": "scalar", "attributes": ["x"]},
            "scalar fields have no attributes",
        ),
        (
            {"label_field": "seg", "label_type": "segmentation", "mask_targets": {"300": "x"}},
            "mask target '300'",
        ),
        ({"label_schema": {"ground_truth": {"colour": 1}}}, "unknown keys ['colour']"),
    ],
)
def test_label_schema_errors_name_the_field_and_problem(wb, catalog, options, message):
    before = table_state(catalog)
    assert message in _schema_error(wb, **options)
    assert table_state(catalog) == before


def test_a_field_holding_several_types_needs_the_type(wb, catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        rois = [
            Roi("b0", "box", ["car"], geometry=[box_ring(10, 10, 20, 10)]),
            Roi("p0", "polygon", ["road"], geometry=[[0, 0, 5, 0, 5, 5]]),
        ]
        writer.add_labels("img-0", "ground_truth", rois)
    message = _schema_error(wb, label_field="ground_truth")
    assert "the field holds detections, polygons: give the label type" in message
    results = wb.annotate(["img-0"], "r1", label_field="ground_truth", label_type="polygons")
    assert results.info.label_schema.fields["ground_truth"].classes == ("road",)
    assert results.info.labels == 1


def test_existing_fields_supply_type_classes_and_attributes(wb):
    results = wb.annotate(IMAGES, "r1", label_field="ground_truth")
    schema = results.info.label_schema.fields["ground_truth"]
    assert (schema.type, schema.classes, schema.existing) == ("detections", ("car",), True)
    assert {k: v.type for k, v in schema.attributes.items()} == {
        "color": "text",
        "occluded": "occluded",
    }
    scalar = wb.annotate(IMAGES, "r2", label_field="quality").info.label_schema.fields["quality"]
    assert (scalar.type, scalar.existing) == ("scalar", True)


def test_run_records_can_be_renamed_and_deleted(wb, catalog):
    wb.annotate(IMAGES, "r1", label_schema=BOXES)
    renamed = wb.rename_annotation_run("r1", "r2")
    assert renamed.anno_key == "r2" and wb.list_annotation_runs() == ["r2"]
    assert len(wb.annotation_id_map("r2").entries) == 4
    with pytest.raises(UnknownIds, match="unknown annotation runs: 'r1'"):
        wb.get_annotation_info("r1")
    with pytest.raises(ConfirmationRequired) as info:
        wb.delete_annotation_run("r2")
    assert str(info.value) == (
        "delete_annotation_run would remove 1 annotation run record, 4 id map rows (its 1 "
        "tasks and 4 annotations stay on the local platform: clean the run up first to remove "
        "them): pass confirm=True to do it, or dryrun=True to see this without an error"
    )
    wb.delete_annotation_run("r2", confirm=True)
    assert wb.list_annotation_runs() == []
    assert catalog.sql("SELECT count(*) FROM annotation_ids").fetchall() == [(0,)]
    assert catalog.sql("SELECT count(*) FROM local_tasks").fetchall() == [(1,)]


def test_cleanup_removes_tasks_after_confirmation(wb, catalog):
    results = wb.annotate(IMAGES, "r1", label_schema=BOXES, task_size=2)
    with pytest.raises(ConfirmationRequired, match="would remove 4 annotations, 2 tasks"):
        results.cleanup()
    assert results.cleanup(dryrun=True).tasks == 2
    assert catalog.sql("SELECT count(*) FROM local_shapes").fetchall() == [(4,)]
    report = results.cleanup(confirm=True)
    assert (report.tasks, report.annotations) == (2, 4)
    assert catalog.sql("SELECT count(*) FROM local_shapes").fetchall() == [(0,)]
    assert wb.get_annotation_info("r1").status == "cleaned"
    with pytest.raises(StateError, match="was cleaned up"):
        wb.load_annotations("r1")


def test_results_report_status_and_round_trip_through_json(wb, capsys):
    results = wb.annotate(IMAGES, "r1", label_schema=BOXES)
    status = results.get_status()
    assert (status.frames, status.annotations, status.status) == (4, 4, "open")
    results.print_status()
    assert "Annotation run 'r1' (local): open, 0/1 tasks done, 4 frames" in capsys.readouterr().out
    again = AnnotationResults.from_dict(json.loads(json.dumps(results.to_dict())), wb)
    assert again.info == results.info
    assert again.get_status() == status


def test_a_query_view_or_its_spec_selects_the_frames(wb, catalog):
    view = catalog.view().select_contexts(["drive-1"])
    results = wb.annotate(view, "r1", label_schema=BOXES)
    assert results.info.frames == 5 and results.info.view == view.to_dict()
    again = wb.annotate(view.to_dict(), "r2", label_schema=BOXES)
    assert again.info.frames == 5 and again.info.scenes == 1
    with pytest.raises(InvalidArgument, match="the view cannot be read"):
        wb.annotate({"stages": "nope"}, "r3", label_schema=BOXES)
