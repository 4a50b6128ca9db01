"""The local platform on its own: tasks, segments, shapes, removal, cleanup."""

from pathlib import Path

import pyarrow as pa
import pytest

import workbench
from workbench.backends import (
    SHAPE_SCHEMA,
    AnnotationBackend,
    EditRestrictions,
    FieldSchema,
    LabelSchema,
    LocalBackend,
    Shape,
    ShapeError,
    UploadRequest,
)
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.model.shapes import LABEL_SCHEMA, UPLOAD_FRAME_SCHEMA

SCHEMA = LabelSchema(fields={"gt": FieldSchema(type="detections", classes=("car",))})
BOX = [[0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0]]


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "local.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for i in range(4):
                sources = [Source("front", f"/m/{i}f.jpg", 10, 10), Source("rear", f"/m/{i}r.jpg")]
                writer.add(Frame(f"f{i}", sources=sources, context_id="c", timestamp=i))
        yield cat


def _label(frame_id, roi_id, track_index=None):
    return {
        "roi_id": roi_id,
        "frame_id": frame_id,
        "field": "gt",
        "kind": "box",
        "label": "car",
        "confidence": None,
        "geometry": BOX,
        "mask": None,
        "attributes": '{"occluded":false}',
        "value": None,
        "track_index": track_index,
        "keyframe": None,
        "source_ids": [],
    }


def _upload(catalog, run_id="run", task_size=2, segment_size=None):
    # four frames in three scenes: f0+f1 are one scene (a sequence), f2 and f3 one each
    frames = pa.Table.from_pylist(
        [
            {"frame_id": f"f{i}", "input_uuid": f"in{s}", "scene_index": s, "position": i}
            for i, s in enumerate([0, 0, 1, 2])
        ],
        schema=UPLOAD_FRAME_SCHEMA,
    )
    labels = pa.Table.from_pylist(
        [_label("f0", "a", 1), _label("f1", "b", 1), _label("f3", "c")], schema=LABEL_SCHEMA
    )
    request = UploadRequest(
        run_id=run_id,
        anno_key=run_id,
        label_schema=SCHEMA,
        restrictions=EditRestrictions(),
        project_id="p",
        batch_id="b",
        frames=frames,
        labels=labels,
        task_size=task_size,
        segment_size=segment_size,
    )
    with catalog.transaction() as con:
        return LocalBackend().upload(con, request)


def test_the_local_backend_is_an_annotation_backend():
    backend = LocalBackend()
    assert isinstance(backend, AnnotationBackend)
    assert backend.capabilities.supports_task_editing
    assert "segmentation" in backend.capabilities.label_types


def test_upload_splits_scenes_into_tasks_and_returns_a_shape_per_label(catalog):
    result = _upload(catalog, task_size=2, segment_size=1)
    assert result.tasks == 2
    assert len(set(result.shape_ids)) == 3
    backend = LocalBackend()
    con = catalog.cursor()
    statuses = backend.task_statuses(con, "run")
    assert [(t.position, t.frames, t.annotations, t.status) for t in statuses] == [
        (0, 3, 2, "new"),
        (1, 1, 1, "new"),
    ]
    assert result.task_ids == [statuses[0].task_id] * 2 + [statuses[1].task_id]
    frames = backend.task_frames(con, statuses[0].task_id)
    assert [(f.frame_id, f.position, f.segment, f.input_uuid) for f in frames] == [
        ("f0", 0, 0, "in0"),
        ("f1", 1, 1, "in0"),
        ("f2", 2, 2, "in1"),
    ]
    assert [s.id for s in frames[0].sources] == ["front", "rear"]
    rear = backend.task_frames(con, statuses[0].task_id, media_field="rear")
    assert [[s.uri for s in f.sources] for f in rear] == [
        ["/m/0r.jpg"],
        ["/m/1r.jpg"],
        ["/m/2r.jpg"],
    ]
    shapes = backend.download(con, "run")
    assert shapes.schema == SHAPE_SCHEMA and shapes.num_rows == 3
    first = Shape.from_row(shapes.to_pylist()[0])
    assert (first.label, first.attributes, first.geometry) == (
        "car",
        {"occluded": False},
        tuple(map(tuple, BOX)),
    )


def test_saving_replaces_the_frames_shapes_and_marks_moved_tracks_as_keyframes(catalog):
    _upload(catalog)
    backend = LocalBackend()
    con = catalog.cursor()
    task = backend.task_statuses(con, "run")[0].task_id
    old = {s.frame_id: s for s in backend.task_shapes(con, task)}
    moved = Shape(
        **{**old["f1"].__dict__, "geometry": ((1, 1, 5, 1, 5, 5, 1, 5),), "keyframe": None}
    )
    kept = Shape(**{**old["f0"].__dict__, "keyframe": None})
    new = Shape.box("f2", "gt", "car", 0, 0, 2, 2)
    with catalog.transaction() as tx:
        result = backend.save_shapes(tx, task, [kept, moved, new])
    assert (result.shapes, result.added, result.changed, result.removed) == (3, 1, 1, 0)
    saved = {s.frame_id: s for s in backend.task_shapes(con, task)}
    assert saved["f1"].keyframe is True and saved["f1"].geometry == (
        (1.0, 1.0, 5.0, 1.0, 5.0, 5.0, 1.0, 5.0),
    )
    assert saved["f0"].keyframe is None  # untouched track box keeps its flag
    assert saved["f2"].id == result.shape_ids[2]
    assert backend.task_status(con, task).status == "in_progress"
    with catalog.transaction() as tx:
        result = backend.save_shapes(tx, task, [], frame_ids=["f2"])
    assert (result.removed, result.frames) == (1, 1)
    assert sorted(s.frame_id for s in backend.task_shapes(con, task)) == ["f0", "f1"]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            Shape.box("f3", "gt", "car", 0, 0, 1, 1),
            "the frame is not one of the frames being saved",
        ),
        (Shape(frame_id="f0", field="gt", kind="cuboid"), "unknown kind 'cuboid'"),
        (Shape(frame_id="f0", field="gt", kind="box", geometry=((1.0, 2.0, 3.0),)), "odd number"),
        (Shape(frame_id="f0", field="", kind="classification"), "no label field"),
    ],
)
def test_malformed_shapes_are_refused(catalog, shape, message):
    _upload(catalog)
    backend = LocalBackend()
    task = backend.task_statuses(catalog.cursor(), "run")[0].task_id
    with pytest.raises(ShapeError, match=message), catalog.transaction() as tx:
        backend.save_shapes(tx, task, [shape])


def test_shape_ids_are_unique_within_a_run(catalog):
    _upload(catalog, task_size=2)
    backend = LocalBackend()
    con = catalog.cursor()
    first, second = (t.task_id for t in backend.task_statuses(con, "run"))
    theirs = backend.task_shapes(con, second)[0]
    stolen = Shape.box("f0", "gt", "car", 0, 0, 1, 1, id=theirs.id)
    with pytest.raises(ShapeError, match="belong to other tasks"), catalog.transaction() as tx:
        backend.save_shapes(tx, first, [stolen])
    twice = Shape.box("f0", "gt", "car", 0, 0, 1, 1, id="x")
    with pytest.raises(ShapeError, match="appears twice"), catalog.transaction() as tx:
        backend.save_shapes(tx, first, [twice, twice])
    with pytest.raises(ShapeError, match="unknown task 'nope'"), catalog.transaction() as tx:
        backend.save_shapes(tx, "nope", [])


def test_removing_inputs_counts_first_and_drops_emptied_tasks(catalog):
    _upload(catalog, task_size=2)
    _upload(catalog, run_id="other")
    backend = LocalBackend()
    with catalog.transaction() as tx:
        plan = backend.remove_inputs(tx, "run", ["in0", "in2"], dryrun=True)
    assert (plan.tasks, plan.annotations) == (1, 3)
    assert len(backend.download(catalog.cursor(), "run")) == 3
    with catalog.transaction() as tx:
        done = backend.remove_inputs(tx, "run", ["in0", "in2"], dryrun=False)
    assert done == plan
    con = catalog.cursor()
    assert [t.frames for t in backend.task_statuses(con, "run")] == [1]
    assert len(backend.download(con, "run")) == 0
    assert len(backend.download(con, "other")) == 3  # other runs are untouched


def test_cleanup_removes_one_run(catalog):
    _upload(catalog)
    _upload(catalog, run_id="other")
    backend = LocalBackend()
    with catalog.transaction() as tx:
        removal = backend.cleanup(tx, "run", dryrun=False)
    assert (removal.tasks, removal.annotations) == (2, 3)
    con = catalog.cursor()
    assert backend.task_statuses(con, "run") == []
    assert len(backend.task_statuses(con, "other")) == 2


def test_task_status_can_be_set(catalog):
    _upload(catalog)
    backend = LocalBackend()
    task = backend.task_statuses(catalog.cursor(), "run")[0].task_id
    with catalog.transaction() as tx:
        backend.set_task_status(tx, task, "done", assignee="ann")
    status = backend.task_status(catalog.cursor(), task)
    assert (status.status, status.assignee) == ("done", "ann")
    with (
        pytest.raises(ShapeError, match="unknown task status 'finished'"),
        catalog.transaction() as tx,
    ):
        backend.set_task_status(tx, task, "finished")
