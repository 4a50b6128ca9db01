import pytest

from workbench.ingest import CatalogWriter, Frame, Source
from workbench.services import (
    ConfirmationRequired,
    Conflict,
    InputCreationResult,
    SceneSpec,
    StateError,
    UnknownIds,
)

from .service_catalog import audit_rows, table_state


@pytest.fixture
def project(wb):
    wb.create_project("p")
    return wb.create_batch("p", external_id="b1")


def test_inputs_go_to_the_latest_open_batch_by_default(wb, project):
    wb.create_batch("p", external_id="b2", status="pending")
    latest = wb.create_batch("p", external_id="b3")
    scene = wb.create_scenes_from_frames(["img-0"])[0]
    made = wb.create_inputs_from_scenes("p", scene_uuids=[scene.uuid])
    assert [(i.batch, i.batch_id, i.project) for i in made] == [("b3", latest.id, "p")]
    named = wb.create_inputs_from_scenes("p", batch="b2", scene_uuids=[scene.uuid])
    assert named[0].batch == "b2"
    assert named[0].view_link == f"/?input={named[0].uuid}"


def test_inputs_by_external_id_take_the_newest_created_scene(wb, project):
    wb.create_scenes_from_frames(["img-0"])
    newest = wb.create_scenes_from_frames(["img-0"])[0]
    made = wb.create_inputs_from_scenes("p", external_ids=["img-0"])
    assert made[0].scene_uuid == newest.uuid and made[0].scene_external_id == "img-0"
    with pytest.raises(UnknownIds, match="'nope'"):
        wb.create_inputs_from_scenes("p", external_ids=["nope"])


def test_a_scene_is_reused_across_projects_and_batches_but_not_twice_in_one(wb, project):
    wb.create_project("q")
    wb.create_batch("q")
    scene = wb.create_scenes_from_frames(["img-0"])[0]
    first = wb.create_inputs_from_scenes("p", scene_uuids=[scene.uuid])
    second = wb.create_inputs_from_scenes("q", scene_uuids=[scene.uuid])
    assert first[0].uuid != second[0].uuid
    with pytest.raises(Conflict, match=f"already have an input in request .*{scene.uuid}"):
        wb.create_inputs_from_scenes("p", scene_uuids=[scene.uuid])
    assert {i.project for i in wb.query_inputs(scene_uuids=[scene.uuid])} == {"p", "q"}


def test_completed_batches_and_failed_scenes_take_no_inputs(wb, project, catalog, tmp_path):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame("lost", sources=[Source("image", str(tmp_path / "gone.jpg"))]))
    failed = wb.create_scenes_from_frames(["lost"])[0]
    with pytest.raises(StateError, match=f"not created: {failed.uuid} \\(failed\\)"):
        wb.create_inputs_from_scenes("p", scene_uuids=[failed.uuid])
    wb.set_batch_status("p", "b1", "completed")
    scene = wb.create_scenes_from_frames(["img-0"])[0]
    with pytest.raises(StateError, match="no open batch"):
        wb.create_inputs_from_scenes("p", scene_uuids=[scene.uuid])
    with pytest.raises(StateError, match="batch 'b1' is completed"):
        wb.create_inputs_from_scenes("p", batch="b1", scene_uuids=[scene.uuid])


def test_create_inputs_yields_one_result_per_input_with_failures(wb, project, catalog, tmp_path):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame("lost", sources=[Source("image", str(tmp_path / "gone.jpg"))]))
    results = wb.create_inputs(
        [
            SceneSpec(frame_ids=("img-0",)),
            {"context_id": "drive-1"},
            SceneSpec(frame_ids=("lost",)),
        ],
        "p",
        wait_timeout=1,
        sleep_time=0.01,
    )
    done = list(results)
    assert [(r.external_id, r.status, r.stage) for r in done] == [
        ("lost", "failed", "scene"),
        ("img-0", "created", None),
        ("drive-1", "created", None),
    ]
    assert "file not found" in done[0].error_message
    stored = {i.uuid: i for i in wb.query_inputs(project="p")}
    assert set(stored) == {done[1].input_uuid, done[2].input_uuid}
    assert all(isinstance(r, InputCreationResult) for r in done)


def test_create_inputs_checks_the_project_at_call_time(wb):
    with pytest.raises(UnknownIds, match="unknown projects: 'nope'"):
        wb.create_inputs([SceneSpec(frame_ids=("img-0",))], "nope")


def test_create_inputs_dry_run_writes_nothing(wb, project, catalog):
    before = table_state(catalog)
    done = list(wb.create_inputs([SceneSpec(context_id="rig-1")], "p", dryrun=True))
    assert [(r.status, r.dryrun, r.input_uuid) for r in done] == [("created", True, None)]
    assert table_state(catalog) == before


def test_query_inputs_filters(wb, project):
    wb.create_batch("p", external_id="b2")
    a, b = wb.create_scenes_from_frames(["img-0", "img-1"])
    wb.create_inputs_from_scenes("p", batch="b1", scene_uuids=[a.uuid, b.uuid])
    wb.create_inputs_from_scenes("p", batch="b2", scene_uuids=[a.uuid])
    assert len(wb.query_inputs()) == 3
    assert [i.scene_external_id for i in wb.query_inputs(project="p", batch="b2")] == ["img-0"]
    assert len(wb.query_inputs(batch="b1")) == 2
    assert [i.batch for i in wb.query_inputs(external_ids=["img-1"])] == ["b1"]
    assert len(wb.query_inputs(scene_uuids=[a.uuid])) == 2
    with pytest.raises(UnknownIds):
        wb.query_inputs(project="p", batch="b9")


def test_delete_input_keeps_the_scene_and_its_other_inputs(wb, project, catalog):
    wb.create_batch("p", external_id="b2")
    scene = wb.create_scenes_from_frames(["img-0"])[0]
    one = wb.create_inputs_from_scenes("p", batch="b1", scene_uuids=[scene.uuid])[0]
    other = wb.create_inputs_from_scenes("p", batch="b2", scene_uuids=[scene.uuid])[0]
    before = table_state(catalog)
    with pytest.raises(ConfirmationRequired, match="delete_inputs would remove 1 input:"):
        wb.delete_input(one.uuid)
    dry = wb.delete_input(one.uuid, dryrun=True)
    assert (dry.inputs, dry.dryrun, dry.input_uuids) == (1, True, (one.uuid,))
    assert table_state(catalog) == before
    done = wb.delete_input(one.uuid, confirm=True)
    assert (done.inputs, done.dryrun) == (1, False)
    assert [i.uuid for i in wb.query_inputs()] == [other.uuid]
    assert wb.get_scenes_by_uuids([scene.uuid])[0].status == "created"
    assert audit_rows(catalog)[-3:] == [
        ("tester", "delete_inputs", None, False, audit_rows(catalog)[-3][4]),
        ("tester", "delete_inputs", 1, True, "ok"),
        ("tester", "delete_inputs", 1, False, "ok"),
    ]
    assert audit_rows(catalog)[-3][4].startswith("refused: ConfirmationRequired")


def test_delete_input_rejects_unknown_ids_before_any_work(wb, project, catalog):
    scene = wb.create_scenes_from_frames(["img-0"])[0]
    made = wb.create_inputs_from_scenes("p", scene_uuids=[scene.uuid])[0]
    before = table_state(catalog)
    with pytest.raises(UnknownIds, match="unknown inputs: 'ghost-1', 'ghost-2'"):
        wb.delete_inputs([made.uuid, "ghost-2", "ghost-1"], confirm=True)
    assert table_state(catalog) == before


def test_create_inputs_checks_the_scene_specs_at_call_time(wb, project, catalog):
    before = table_state(catalog)
    with pytest.raises(UnknownIds, match="unknown frames: 'ghost'"):
        wb.create_inputs([SceneSpec(frame_ids=("ghost",))], "p")
    assert table_state(catalog) == before
