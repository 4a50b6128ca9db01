"""The whole loop: annotate -> edit on the local platform -> load_annotations."""

import dataclasses

import pyarrow as pa
import pytest

from workbench.backends import LocalBackend
from workbench.services import (
    BackendError,
    ConfirmationRequired,
    InvalidArgument,
    Shape,
    UnexpectedLabels,
    Workbench,
)

from .service_catalog import table_state

IMAGES = ["img-0", "img-1", "img-2", "img-3"]
SEQUENCE = [f"seq-{i}" for i in range(5)]
SCHEMA = {
    "ground_truth": {
        "type": "detections",
        "classes": ["car", "truck"],
        "attributes": {
            "occluded": {"type": "occluded"},
            "color": {"type": "select", "values": ["red", "blue"], "read_only": True},
        },
    }
}


def edit(wb, anno_key, change):
    """Apply `change(shapes) -> shapes` to every task of the run, through the service."""
    for task in wb.list_tasks(anno_key):
        shapes = wb.get_task_annotations(task.task_id)
        wb.save_task_annotations(task.task_id, change(list(shapes)))


def replace_where(frame_id, field="ground_truth", **changes):
    def change(shapes):
        return [
            dataclasses.replace(s, **changes) if (s.frame_id, s.field) == (frame_id, field) else s
            for s in shapes
        ]

    return change


def roi(catalog, frame_id, roi_id):
    rows = catalog.sql(
        "SELECT label, geometry, attributes->>'$.color', attributes->>'$.occluded', track_index, "
        "keyframe, x_min FROM rois WHERE frame_id = ? AND id = ?",
        [frame_id, roi_id],
    ).fetchall()
    return rows[0] if rows else None


def labels_state(catalog):
    return {
        k: v for k, v in table_state(catalog).items() if k in ("frames", "rois", "annotation_ids")
    }


def test_edits_are_merged_and_a_second_merge_changes_nothing(wb, catalog):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    moved = (40.0, 10.0, 60.0, 10.0, 60.0, 20.0, 40.0, 20.0)

    def change(shapes):
        shapes = replace_where(
            "img-0", label="truck", attributes={"occluded": True, "color": "red"}
        )(shapes)
        shapes = replace_where("img-1", geometry=(moved,))(shapes)
        shapes = [s for s in shapes if s.frame_id != "img-2"]
        return [*shapes, Shape.box("img-3", "ground_truth", "car", 0, 0, 4, 4)]

    edit(wb, "r1", change)
    report = wb.load_annotations("r1")
    assert [(r.frame_id, r.roi_id) for r in report.changed] == [("img-0", "b0"), ("img-1", "b1")]
    assert [(r.frame_id, r.roi_id) for r in report.deleted] == [("img-2", "b2")]
    (added,) = report.added
    assert (added.frame_id, added.field) == ("img-3", "ground_truth")
    assert (report.unchanged, report.rejected) == (1, ())
    assert roi(catalog, "img-0", "b0")[:4] == (
        "truck",
        [[10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0]],
        "red",
        "true",
    )
    assert roi(catalog, "img-1", "b1")[6] == 40.0  # bounding box columns follow the geometry
    assert roi(catalog, "img-2", "b2") is None
    assert roi(catalog, "img-3", added.roi_id)[0] == "car"
    after = labels_state(catalog)
    second = wb.load_annotations("r1")
    assert (second.added, second.changed, second.deleted, second.unchanged) == ((), (), (), 4)
    assert labels_state(catalog) == after
    assert wb.get_annotation_info("r1").status == "loaded"


def test_attributes_outside_the_schema_are_kept(wb, catalog):
    wb.annotate(IMAGES, "r1", label_field="ground_truth", attributes=["occluded"])
    edit(wb, "r1", replace_where("img-0", attributes={"occluded": True, "color": "green"}))
    wb.load_annotations("r1")
    # color is not in the schema: the platform's value is ignored, the catalog's kept
    assert roi(catalog, "img-0", "b0")[2:4] == ("red", "true")


RESTRICTED = [
    (
        "allow_label_edits",
        replace_where("img-0", label="truck"),
        "label",
        "label edits are not allowed",
    ),
    (
        "allow_spatial_edits",
        replace_where("img-0", geometry=((0.0, 0.0, 5.0, 0.0, 5.0, 5.0, 0.0, 5.0),)),
        "spatial",
        "spatial edits are not allowed",
    ),
    (
        "allow_additions",
        lambda shapes: [*shapes, Shape.box("img-0", "ground_truth", "car", 1, 1, 2, 2)],
        "addition",
        "additions are not allowed",
    ),
    (
        "allow_deletions",
        lambda shapes: [s for s in shapes if s.frame_id != "img-0"],
        "deletion",
        "deletions are not allowed",
    ),
]


@pytest.mark.parametrize(("flag", "change", "kind", "reason"), RESTRICTED)
def test_each_restriction_rejects_its_edit_and_keeps_the_catalog(
    wb, catalog, flag, change, kind, reason
):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA, **{flag: False})
    before = labels_state(catalog)
    edit(wb, "r1", change)
    report = wb.load_annotations("r1")
    assert [(r.frame_id, r.change, r.reason) for r in report.rejected] == [("img-0", kind, reason)]
    assert report.changes == 0
    assert labels_state(catalog) == before


@pytest.mark.parametrize(("flag", "change", "kind", "reason"), RESTRICTED)
def test_the_same_edits_apply_when_allowed(wb, catalog, flag, change, kind, reason):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    edit(wb, "r1", change)
    report = wb.load_annotations("r1")
    assert report.rejected == () and report.changes == 1


def test_index_edits_and_keyframes_on_a_sequence(wb, catalog):
    wb.annotate(SEQUENCE, "r1", label_field="ground_truth", allow_index_edits=False)
    moved = ((20.0, 5.0, 30.0, 5.0, 30.0, 15.0, 20.0, 15.0),)
    change = replace_where("seq-2", geometry=moved, keyframe=None)
    edit(wb, "r1", lambda shapes: replace_where("seq-3", track_index=7)(change(shapes)))
    report = wb.load_annotations("r1")
    assert [(r.frame_id, r.change) for r in report.rejected] == [("seq-3", "index")]
    assert [r.frame_id for r in report.changed] == ["seq-2"]
    # moving an interpolated box on the platform made it a keyframe
    assert roi(catalog, "seq-2", "t2")[4:6] == (1, True)
    assert roi(catalog, "seq-3", "t3")[4:6] == (1, False)
    assert report.keyframes == 3


def test_read_only_attributes_are_put_back(wb, catalog):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    edit(wb, "r1", replace_where("img-0", attributes={"occluded": True, "color": "blue"}))
    report = wb.load_annotations("r1")
    assert [(r.change, r.reason) for r in report.rejected] == [
        ("attribute", "attribute 'color' is read-only")
    ]
    assert roi(catalog, "img-0", "b0")[2:4] == ("red", "true")


def test_values_outside_the_schema_are_rejected(wb, catalog):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    edit(wb, "r1", replace_where("img-0", label="bus"))
    edit(wb, "r1", replace_where("img-1", attributes={"occluded": "maybe", "color": "red"}))
    report = wb.load_annotations("r1")
    assert sorted((r.frame_id, r.change, r.reason) for r in report.rejected) == [
        ("img-0", "class", "label 'bus' is not a class of field 'ground_truth'"),
        ("img-1", "attribute", "attribute 'occluded': 'maybe' does not fit type 'occluded'"),
    ]
    assert roi(catalog, "img-0", "b0")[0] == "car"  # a rejected shape is not a deletion


def _with_polygon(shapes):
    polygon = Shape(
        frame_id="img-0",
        field="ground_truth",
        kind="polygon",
        label="car",
        geometry=((0.0, 0.0, 8.0, 0.0, 8.0, 8.0),),
    )
    return [*shapes, polygon]


@pytest.mark.parametrize(
    ("mode", "field", "action"),
    [("ignore", None, "ignored"), ("keep", "polygons", "kept"), ("return", None, "returned")],
)
def test_unexpected_labels_modes(wb, catalog, mode, field, action):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    edit(wb, "r1", _with_polygon)
    report = wb.load_annotations("r1", unexpected=mode)
    (group,) = report.unexpected
    assert (group.field, group.label_type, group.count, group.action) == (
        "ground_truth",
        "polygons",
        1,
        action,
    )
    stored = catalog.sql("SELECT field FROM rois WHERE kind = 'polygon'").fetchall()
    assert stored == ([(field,)] if field else [])
    assert len(group.shapes) == (1 if mode == "return" else 0)


def test_prompt_asks_the_callback_and_never_blocks_without_one(wb, catalog):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    edit(wb, "r1", _with_polygon)
    asked: list[UnexpectedLabels] = []
    returned = wb.load_annotations("r1", unexpected="prompt")
    assert returned.unexpected[0].action == "returned"

    def choose(group):
        asked.append(group)
        return "review_polygons"

    report = wb.load_annotations("r1", unexpected="prompt", on_unexpected=choose)
    assert [(g.field, g.count, len(g.shapes)) for g in asked] == [("ground_truth", 1, 1)]
    assert report.unexpected[0].destination == "review_polygons"
    assert catalog.sql("SELECT field FROM rois WHERE kind = 'polygon'").fetchall() == [
        ("review_polygons",)
    ]
    with pytest.raises(InvalidArgument, match=r"unexpected must be one of .*, got a string 'ask'"):
        wb.load_annotations("r1", unexpected="ask")


def test_dest_field_loads_into_a_new_field(wb, catalog):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    edit(wb, "r1", replace_where("img-0", label="truck"))
    # every column but a lake's stored order (rowid): the frame's ROIs are stored again
    ground_truth = (
        "SELECT COLUMNS(lambda c: c <> 'rowid') FROM rois WHERE field = 'ground_truth' ORDER BY id"
    )
    before = catalog.sql(ground_truth).fetchall()
    report = wb.load_annotations("r1", dest_field="reviewed")
    assert len(report.added) == 4 and {r.field for r in report.added} == {"reviewed"}
    assert catalog.sql(ground_truth).fetchall() == before
    assert catalog.sql(
        "SELECT label FROM rois WHERE field = 'reviewed' AND frame_id = 'img-0'"
    ).fetchall() == [("truck",)]
    assert wb.load_annotations("r1", dest_field="reviewed").unchanged == 4
    with pytest.raises(InvalidArgument, match="fields the run does not have"):
        wb.load_annotations("r1", dest_field={"nope": "x"})


def test_scalar_values_are_merged_into_frame_metadata(wb, catalog):
    wb.annotate(["img-0", "img-1"], "r1", label_field="quality")

    def change(shapes):
        shapes = [dataclasses.replace(s, value=5) if s.frame_id == "img-0" else s for s in shapes]
        return [*shapes, Shape(frame_id="img-1", field="quality", kind="scalar", value=2)]

    edit(wb, "r1", change)
    report = wb.load_annotations("r1")
    assert (len(report.changed), len(report.added)) == (1, 1)
    values = catalog.sql(
        "SELECT id, metadata->>'$.quality' FROM frames WHERE id IN ('img-0', 'img-1') ORDER BY id"
    ).fetchall()
    assert values == [("img-0", "5"), ("img-1", "2")]
    edit(wb, "r1", lambda shapes: [s for s in shapes if s.frame_id != "img-0"])
    assert len(wb.load_annotations("r1").deleted) == 1
    assert catalog.sql("SELECT metadata FROM frames WHERE id = 'img-0'").fetchall() == [(None,)]


def test_dry_run_reports_the_merge_and_writes_nothing(wb, catalog):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    edit(wb, "r1", replace_where("img-0", label="truck"))
    before = table_state(catalog)
    report = wb.load_annotations("r1", dryrun=True)
    assert report.dryrun and len(report.changed) == 1
    assert table_state(catalog) == before


def test_cleanup_after_loading_needs_confirmation_first(wb, catalog):
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    edit(wb, "r1", replace_where("img-0", label="truck"))
    before = table_state(catalog)
    with pytest.raises(ConfirmationRequired, match="would remove 4 annotations, 1 task"):
        wb.load_annotations("r1", cleanup=True)
    assert table_state(catalog) == before
    report = wb.load_annotations("r1", cleanup=True, confirm=True)
    assert report.cleanup.tasks == 1 and len(report.changed) == 1
    assert wb.list_tasks("r1") == []


class FailingCleanup(LocalBackend):
    """A platform that goes away while the run is being cleaned up."""

    def cleanup(self, con, run_id, *, dryrun):
        if not dryrun:
            raise BackendError("the platform did not answer")
        return super().cleanup(con, run_id, dryrun=dryrun)


def test_a_failure_mid_merge_leaves_the_catalog_unchanged(catalog):
    wb = Workbench(catalog, actor="tester", backends={"local": FailingCleanup()})
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    edit(wb, "r1", lambda shapes: [replace_where("img-0", label="truck")(shapes)[0], *shapes[2:]])
    before = table_state(catalog)
    with pytest.raises(BackendError, match="did not answer"):
        wb.load_annotations("r1", cleanup=True, confirm=True)
    assert table_state(catalog) == before
    entry = wb.audit_log(limit=1)[0]
    assert (entry.action, entry.outcome) == (
        "load_annotations",
        "failed: BackendError: the platform did not answer",
    )
    report = wb.load_annotations("r1")  # the same merge without the cleanup goes through
    assert len(report.changed) == 1 and len(report.deleted) == 1


def test_invalidating_a_scene_takes_its_frames_out_of_the_run(wb, catalog):
    wb.annotate(["img-0", "img-1"], "r1", label_schema=SCHEMA)
    (scene,) = [s for s in wb.query_inputs() if s.scene_external_id == "img-0"]
    plan = wb.invalidate_scenes([scene.scene_uuid], "bad-content", dryrun=True)
    assert (plan.inputs, plan.annotations, plan.tasks, plan.id_map_rows) == (1, 1, 0, 1)
    wb.invalidate_scenes([scene.scene_uuid], "bad-content", confirm=True)
    frames = [f.frame_id for f in wb.get_task(wb.list_tasks("r1")[0].task_id).frames]
    assert frames == ["img-1"]
    report = wb.load_annotations("r1")
    assert report.deleted == () and roi(catalog, "img-0", "b0") is not None


def test_deleting_the_last_input_of_a_task_removes_the_task(wb):
    wb.annotate(["img-0", "img-1"], "r1", label_schema=SCHEMA, task_size=1)
    first = next(i for i in wb.query_inputs() if i.scene_external_id == "img-0")
    plan = wb.delete_input(first.uuid, dryrun=True)
    assert (plan.inputs, plan.annotations, plan.tasks) == (1, 1, 1)
    wb.delete_input(first.uuid, confirm=True)
    assert [t.frames for t in wb.list_tasks("r1")] == [1]


class BrokenShapes(LocalBackend):
    """A platform that returns a box with a coordinate that is not a number."""

    def download(self, con, run_id):
        table = super().download(con, run_id)
        rows = table.to_pylist()
        rows[0] = {**rows[0], "geometry": [[0.0, 0.0, float("nan"), 0.0]]}
        return pa.Table.from_pylist(rows, schema=table.schema)


def test_malformed_geometry_from_a_platform_is_rejected(catalog):
    wb = Workbench(catalog, actor="tester", backends={"local": BrokenShapes()})
    wb.annotate(IMAGES, "r1", label_schema=SCHEMA)
    before = labels_state(catalog)
    report = wb.load_annotations("r1")
    (rejected,) = report.rejected
    assert rejected.change == "geometry"
    assert "ring 0 has a coordinate that is not a finite number" in rejected.reason
    assert labels_state(catalog) == before


def test_copying_into_dest_field_is_not_an_addition(wb, catalog):
    wb.annotate(["img-0"], "r1", label_field="quality", allow_additions=False)
    edit(wb, "r1", lambda shapes: [dataclasses.replace(s, value=4) for s in shapes])
    report = wb.load_annotations("r1", dest_field="quality_checked")
    assert report.rejected == () and len(report.added) == 1
    assert catalog.sql(
        "SELECT metadata->>'$.quality', metadata->>'$.quality_checked' FROM frames WHERE id = 'img-0'"
    ).fetchall() == [("3", "4")]


def test_masks_and_classifications_round_trip(wb, catalog):
    schema = {
        "seg": {"type": "segmentation", "mask_targets": {0: "background", 1: "road"}},
        "scene": {"type": "classification", "classes": ["day", "night"]},
    }
    wb.annotate(["img-0"], "r1", label_schema=schema)
    mask = {"rle": {"size": [50, 100], "counts": "abc"}}

    def change(shapes):
        night = [dataclasses.replace(s, label="night") for s in shapes if s.field == "scene"]
        extra = Shape(frame_id="img-0", field="scene", kind="classification", label="day")
        painted = Shape(frame_id="img-0", field="seg", kind="mask", label="road", mask=mask)
        return [*night, extra, painted]

    edit(wb, "r1", change)
    report = wb.load_annotations("r1")
    assert [(r.field, r.change) for r in report.rejected] == [("scene", "duplicate")]
    assert catalog.sql(
        "SELECT field, kind, label, mask->'$.rle'->>'$.counts', x_min FROM rois "
        "WHERE frame_id = 'img-0' AND field IN ('scene', 'seg') ORDER BY field"
    ).fetchall() == [
        ("scene", "classification", "night", None, None),
        ("seg", "mask", "road", "abc", None),
    ]
