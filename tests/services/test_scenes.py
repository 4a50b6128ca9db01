import pytest

from workbench.ingest import CatalogWriter, Frame, Source
from workbench.services import (
    ConfirmationRequired,
    InvalidArgument,
    SceneSpec,
    SceneSpecError,
    UnknownIds,
)

from .service_catalog import audit_rows, table_state


def test_scene_types_are_inferred_from_frames_and_sources(wb):
    single = wb.create_scenes_from_frames(["img-0"])[0]
    sequence, group = wb.create_scenes_from_contexts(["drive-1", "rig-1"])
    assert (single.scene_type, single.external_id, single.status) == (
        "camera_frame",
        "img-0",
        "created",
    )
    assert sequence.scene_type == "camera_sequence"
    assert sequence.frame_ids == ("seq-0", "seq-1", "seq-2", "seq-3", "seq-4")
    assert (sequence.external_id, sequence.context_id) == ("drive-1", "drive-1")
    assert group.scene_type == "frame_group" and group.frame_ids == ("rig-0", "rig-1")
    assert single.created is not None
    assert wb.get_scenes_by_uuids([group.uuid, single.uuid]) == [group, single]


def test_explicit_scene_type_must_fit_the_frames(wb, catalog):
    before = table_state(catalog)
    with pytest.raises(SceneSpecError) as info:
        wb.create_scenes(
            [
                SceneSpec(frame_ids=("seq-0", "seq-1"), scene_type="camera_frame"),
                SceneSpec(context_id="rig-1", scene_type="camera_sequence"),
                SceneSpec(frame_ids=("img-0", "img-1")),
                {"frame_ids": ["img-2"], "scene_type": "lidar"},
            ]
        )
    assert info.value.problems == ("scene 3: unknown scene type 'lidar'",)
    with pytest.raises(SceneSpecError) as info:
        wb.create_scenes(
            [
                SceneSpec(frame_ids=("seq-0", "seq-1"), scene_type="camera_frame"),
                SceneSpec(context_id="rig-1", scene_type="camera_sequence"),
                SceneSpec(frame_ids=("img-0", "img-1")),
            ]
        )
    problems = info.value.problems
    assert "a camera_frame is one frame with one image, got 2 frames" in problems[0]
    assert "a camera_sequence needs one camera on every frame" in problems[1]
    assert "its frames come from 2 contexts" in problems[2]
    assert table_state(catalog) == before


def test_spec_needs_frames_or_a_context(wb):
    with pytest.raises(SceneSpecError, match="give either frame_ids or context_id"):
        wb.create_scenes([SceneSpec()])
    with pytest.raises(SceneSpecError, match="a frame appears twice"):
        wb.create_scenes([SceneSpec(frame_ids=("img-0", "img-0"))])


def test_unknown_frames_and_contexts_are_named_and_nothing_is_written(wb, catalog):
    before = table_state(catalog)
    with pytest.raises(UnknownIds, match="unknown frames: 'ghost'") as info:
        wb.create_scenes_from_frames(["img-0", "ghost"])
    assert info.value.ids == ("ghost",)
    with pytest.raises(UnknownIds, match="unknown contexts: 'nowhere'"):
        wb.create_scenes_from_contexts(["drive-1", "nowhere"])
    assert table_state(catalog) == before
    assert [r[4].split(":")[0] for r in audit_rows(catalog)] == ["refused", "refused"]


def test_dry_run_validates_and_writes_nothing(wb, catalog):
    before = table_state(catalog)
    scenes = wb.create_scenes_from_contexts(["drive-1"], dryrun=True)
    assert scenes[0].status == "created" and len(scenes[0].frame_ids) == 5
    assert table_state(catalog) == before
    assert audit_rows(catalog) == [("tester", "create_scenes", 1, True, "ok")]


def test_a_scene_whose_image_is_missing_fails_with_the_reason(wb, catalog, tmp_path):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame("lost", sources=[Source("image", str(tmp_path / "gone.jpg"))]))
        writer.add(Frame("remote", sources=[Source("image", "https://example.org/x.jpg")]))
    lost, remote = wb.create_scenes_from_frames(["lost", "remote"])
    assert lost.status == "failed"
    assert lost.error_message == (
        f"source 'image' of frame 'lost': file not found: {tmp_path / 'gone.jpg'}"
    )
    assert remote.status == "created"
    assert wb.get_scenes_by_uuids([lost.uuid])[0].status == "failed"


def test_get_scenes_rejects_unknown_uuids(wb):
    scene = wb.create_scenes_from_frames(["img-0"])[0]
    with pytest.raises(UnknownIds, match="unknown scenes: 'x'"):
        wb.get_scenes_by_uuids([scene.uuid, "x"])
    with pytest.raises(InvalidArgument, match="uuids must be a list of strings, got a string"):
        wb.get_scenes_by_uuids(scene.uuid)


def _placed(wb):
    """Two scenes, each placed in two batches of a project; one more scene placed once."""
    wb.create_project("p")
    wb.create_batch("p", external_id="b1")
    wb.create_batch("p", external_id="b2")
    a, b, c = wb.create_scenes_from_frames(["img-0", "img-1", "img-2"])
    for batch in ("b1", "b2"):
        wb.create_inputs_from_scenes("p", batch=batch, scene_uuids=[a.uuid, b.uuid])
    wb.create_inputs_from_scenes("p", batch="b1", scene_uuids=[c.uuid])
    return a, b, c


def test_invalidation_needs_confirmation_stating_what_goes(wb, catalog):
    a, b, _ = _placed(wb)
    before = table_state(catalog)
    with pytest.raises(ConfirmationRequired) as info:
        wb.invalidate_scenes([a.uuid, b.uuid], "duplicate")
    assert str(info.value).startswith(
        "invalidate_scenes would remove 2 scenes, 4 inputs: pass confirm=True"
    )
    assert info.value.plan.inputs == 4 and info.value.plan.scenes == 2
    dry = wb.invalidate_scenes([a.uuid, b.uuid], "duplicate", dryrun=True)
    assert dry == info.value.plan.__class__(**{**info.value.plan.__dict__, "dryrun": True})
    assert table_state(catalog) == before
    assert [r[3:] for r in audit_rows(catalog)[-2:]] == [
        (False, "refused: ConfirmationRequired: " + str(info.value)),
        (True, "ok"),
    ]


def test_invalidation_cascades_to_every_input_of_the_scene(wb):
    a, b, c = _placed(wb)
    report = wb.invalidate_scenes([a.uuid], "bad-content", confirm=True)
    assert (report.scenes, report.inputs, report.dryrun) == (1, 2, False)
    assert wb.get_scenes_by_uuids([a.uuid])[0].status == "invalidated:bad-content"
    left = wb.query_inputs(project="p")
    assert sorted(i.scene_uuid for i in left) == sorted([b.uuid, b.uuid, c.uuid])
    again = wb.invalidate_scenes([a.uuid], "duplicate", confirm=True)
    assert (again.scenes, again.inputs, again.note) == (
        0,
        0,
        "1 already invalidated, left as they are",
    )
    assert wb.get_scenes_by_uuids([a.uuid])[0].status == "invalidated:bad-content"


def test_invalidation_rejects_unknown_ids_and_reasons_before_any_work(wb, catalog):
    a, _, _ = _placed(wb)
    before = table_state(catalog)
    with pytest.raises(UnknownIds, match="unknown scenes: 'nope'"):
        wb.invalidate_scenes([a.uuid, "nope"], "duplicate", confirm=True)
    with pytest.raises(InvalidArgument, match="invalidation reason 'boring'"):
        wb.invalidate_scenes([a.uuid], "boring", confirm=True)
    assert table_state(catalog) == before
    assert wb.get_scenes_by_uuids([a.uuid])[0].status == "created"
