"""Projects, tasks, media and removal on a live Label Studio; what it accepts; bad results."""

import json
import math

import httpx
import pyarrow as pa
import pytest

from workbench.backends import LocalBackend
from workbench.backends.labelstudio import (
    LabelStudioBackend,
    LabelStudioError,
    LabelStudioResponseError,
    ResultError,
)
from workbench.backends.labelstudio.convert import Controls, label_config
from workbench.backends.labelstudio.media import MediaServer, plan_image
from workbench.backends.labelstudio.results import frame_prediction
from workbench.ingest import CatalogWriter, Frame, Roi, Source
from workbench.services import Workbench

from .ls_annotator import (
    IMAGES,
    SCHEMA,
    prediction,
    project_tasks,
    rectangle,
    region,
    submit,
    tasks_by_frame,
)
from .ls_netfaults import Reply, ScriptedServer
from .ls_samples import LABELS
from .ls_samples import SCHEMA as EVERY_TYPE
from .lsserver import backend_config

GT = {"ground_truth": SCHEMA["ground_truth"]}


def project_ids(api):
    return sorted(
        p["id"] for p in api.get("/api/projects", params={"page_size": 100}).json()["results"]
    )


def rois_state(catalog):
    return catalog.sql(
        "SELECT frame_id, id, label, geometry, attributes FROM rois ORDER BY ALL"
    ).fetchall()


@pytest.mark.parametrize("field", list(EVERY_TYPE.fields))
def test_the_server_accepts_the_config_and_labels_of_every_label_type(api, field):
    schema = type(EVERY_TYPE)(fields={field: EVERY_TYPE.fields[field]})
    controls = Controls.for_schema(schema, tracked=[field] if field == "gt" else [])
    made = api.post(
        "/api/projects", json={"title": f"type {field}", "label_config": label_config(controls)}
    )
    assert made.status_code == 201, made.text
    project = made.json()["id"]
    try:
        rows = [row for row in LABELS if row["field"] == field and not row["source_ids"]]
        sent = frame_prediction(
            rows, [f"s{n}" for n in range(len(rows))], controls, (200, 100), None
        )
        task = {
            "data": {"image": "/data/local-files/?d=x/y.png"},
            "predictions": [{"result": sent.results}],
        }
        imported = api.post(f"/api/projects/{project}/import", json=[task])
        assert imported.status_code == 201, imported.text
        stored = api.get("/api/tasks", params={"project": project, "fields": "all"}).json()["tasks"]
        assert stored[0]["predictions"][0]["result"] == sent.results
    finally:
        api.delete(f"/api/projects/{project}")


def test_rotated_boxes_are_sent_and_read_back_through_pixel_space(wb, catalog, backend, api, media):
    # A 40 x 20 px box turned 30 degrees clockwise about its top-left corner (100, 20).
    r = math.radians(30)
    ring = [100, 20, 100 + 40 * math.cos(r), 20 + 40 * math.sin(r)]
    ring += [
        ring[2] - 20 * math.sin(r),
        ring[3] + 20 * math.cos(r),
        100 - 20 * math.sin(r),
        20 + 20 * math.cos(r),
    ]
    with CatalogWriter(catalog, progress=False) as writer:
        source = Source("image", str(media / "img-0.png"), 200, 100)
        writer.add(
            Frame("rot-0", sources=[source], rois=[Roi("r0", "box", ["car"], geometry=[ring])])
        )
    info = wb.annotate(["rot-0"], "rot", backend="labelstudio", label_schema=GT).info
    task = tasks_by_frame(api, backend.project_of_run(info.run_id))["rot-0"]
    sent = region(prediction(task), "ground_truth")["value"]
    assert sent["x"] == pytest.approx(50.0) and sent["y"] == pytest.approx(20.0)
    assert sent["width"] == pytest.approx(20.0) and sent["height"] == pytest.approx(20.0)
    assert sent["rotation"] == pytest.approx(30.0)
    # The annotator turns it to 90 degrees: its width now points down from (100, 20).
    results = prediction(task)
    region(results, "ground_truth")["value"]["rotation"] = 90
    submit(api, task["id"], results)

    report = wb.load_annotations("rot")

    assert [r.roi_id for r in report.changed] == ["r0"]
    geometry = catalog.sql("SELECT geometry FROM rois WHERE id = 'r0'").fetchall()[0][0][0]
    assert geometry == pytest.approx([100, 20, 100, 60, 80, 60, 80, 20], abs=1e-9)


def test_local_files_are_served_by_the_server_and_others_uploaded(wb, backend, api, tmp_path):
    info = wb.annotate(["img-3", "out-0"], "media", backend="labelstudio", label_schema=GT).info
    tasks = tasks_by_frame(api, backend.project_of_run(info.run_id))
    served, uploaded = tasks["img-3"]["data"], tasks["out-0"]["data"]
    assert served["image"].startswith("/data/local-files/?d=media-")
    assert uploaded["image"].startswith("/data/upload/")
    assert api.get(served["image"]).status_code == 200
    assert api.get(uploaded["image"]).content == (tmp_path / "outside" / "out-0.png").read_bytes()
    assert served["wb_size"] == [200, 100]  # img-3 has no size in the catalog: read from the file
    # sending the media again (a retry) finds the file by its content hash: no second upload
    project = backend.project_of_run(info.run_id)
    image = plan_image(
        "out-0", {"id": "image", "uri": str(tmp_path / "outside" / "out-0.png")}, None
    )
    assert MediaServer(backend.client, None).urls(project, [image]) == {"out-0": uploaded["image"]}
    files = api.get(f"/api/projects/{project}/file-uploads", params={"all": "true"}).json()
    assert len(files) == 1


def test_one_camera_of_several_is_shown_and_the_other_cameras_labels_are_kept(
    wb, catalog, backend, api
):
    with pytest.raises(LabelStudioError, match=r"2 sources \(front, rear\).*media_field"):
        wb.annotate(["rig-0"], "rig", backend="labelstudio", label_schema=GT)
    info = wb.annotate(
        ["rig-0"], "rig", backend="labelstudio", label_schema=GT, media_field="rear"
    ).info
    task = tasks_by_frame(api, backend.project_of_run(info.run_id))["rig-0"]
    assert task["data"]["image"].endswith("rig-0-rear.png")
    shown = [r for r in prediction(task) if r["from_name"] == "ground_truth"]
    assert len(shown) == 1 and shown[0]["value"]["x"] == pytest.approx(25.0)
    results = prediction(task)
    results.append(rectangle("new", "car", (0, 0, 10, 10)))
    submit(api, task["id"], results)

    report = wb.load_annotations("rig")

    assert report.unchanged == 2 and len(report.added) == 1
    added = catalog.sql(
        "SELECT source_ids FROM rois WHERE id = ?", [report.added[0].roi_id]
    ).fetchall()
    assert added == [(["rear"],)]


def test_a_retried_upload_creates_nothing_new(catalog, backend, api, wb):
    info = wb.annotate(IMAGES, "retry", backend="labelstudio", label_schema=GT, dryrun=True).info
    projects = project_ids(api)
    request = _request(catalog, "00000000-1111-2222-3333-444444444444", "retry")
    with catalog.transaction() as con:
        first = backend.upload(con, request)
    with catalog.transaction() as con:
        second = backend.upload(con, request)
    assert first == second and first.tasks == 4 and info.tasks == 0
    assert len(project_ids(api)) == len(projects) + 1
    assert len(project_tasks(api, backend.project_of_run(request.run_id))) == 4


def _request(catalog, run_id, anno_key):
    from workbench.backends import EditRestrictions, LabelSchema, UploadRequest
    from workbench.model.shapes import LABEL_SCHEMA, UPLOAD_FRAME_SCHEMA

    frames = pa.Table.from_pylist(
        [
            {"frame_id": f, "input_uuid": f"in-{f}", "scene_index": i, "position": i}
            for i, f in enumerate(IMAGES)
        ],
        schema=UPLOAD_FRAME_SCHEMA,
    )
    labels = catalog.sql(
        "SELECT id AS roi_id, frame_id, field, kind, label, confidence, geometry, mask::VARCHAR AS mask, "
        "attributes::VARCHAR AS attributes, NULL AS value, track_index, keyframe, source_ids FROM rois "
        "WHERE field = 'ground_truth' AND frame_id LIKE 'img-%' ORDER BY frame_id"
    ).to_arrow_table()
    return UploadRequest(
        run_id=run_id,
        anno_key=anno_key,
        label_schema=LabelSchema.from_dict(
            {"fields": {"ground_truth": {**GT["ground_truth"], "classes": ["car", "truck"]}}}
        ),
        restrictions=EditRestrictions(),
        project_id="p",
        batch_id="b",
        frames=frames,
        labels=labels.cast(LABEL_SCHEMA),
    )


def test_a_dry_run_sends_nothing(wb, api):
    before = project_ids(api)
    info = wb.annotate(IMAGES, "dry", backend="labelstudio", label_schema=GT, dryrun=True).info
    assert info.dryrun and info.frames == 4
    assert project_ids(api) == before


def test_task_status_counts_annotated_tasks(wb, backend, api):
    results = wb.annotate(IMAGES, "status", backend="labelstudio", label_schema=GT)
    tasks = tasks_by_frame(api, backend.project_of_run(results.info.run_id))
    submit(api, tasks["img-1"]["id"], prediction(tasks["img-1"]))
    status = wb.get_annotation_status("status")
    assert [(t.status, t.frames, t.annotations, t.position) for t in status.tasks] == [
        ("new", 1, 0, 0),
        ("done", 1, 1, 1),
        ("new", 1, 0, 2),
        ("new", 1, 0, 3),
    ]
    assert status.tasks[1].task_id == str(tasks["img-1"]["id"])


def test_deleting_inputs_and_invalidating_scenes_delete_their_tasks(wb, catalog, backend, api):
    info = wb.annotate(IMAGES, "gone", backend="labelstudio", label_schema=GT).info
    project = backend.project_of_run(info.run_id)
    tasks = tasks_by_frame(api, project)
    submit(api, tasks["img-0"]["id"], [])  # the annotator deleted img-0's box
    inputs = {i.scene_external_id: i for i in wb.query_inputs()}

    report = wb.delete_input(inputs["img-0"].uuid, confirm=True)
    assert (report.tasks, report.annotations) == (1, 1)
    scene = inputs["img-1"].scene_uuid
    assert wb.invalidate_scenes([scene], "duplicate", dryrun=True).tasks == 1
    assert len(project_tasks(api, project)) == 3  # a dry run deletes nothing
    assert wb.invalidate_scenes([scene], "duplicate", confirm=True).tasks == 1

    assert sorted(t["data"]["wb_frame"] for t in project_tasks(api, project)) == ["img-2", "img-3"]
    report = wb.load_annotations("gone")  # img-0's deletion is not merged: its input is gone
    assert report.deleted == () and report.unchanged == 2
    assert catalog.sql("SELECT count(*) FROM rois WHERE id = 'b0'").fetchall() == [(1,)]


def test_cleanup_deletes_the_runs_project(wb, backend, api):
    info = wb.annotate(IMAGES, "clean", backend="labelstudio", label_schema=GT).info
    project = backend.project_of_run(info.run_id)
    report = wb.cleanup_annotation_run("clean", confirm=True)
    assert report.tasks == 4
    assert api.get(f"/api/projects/{project}").status_code == 404
    assert backend.project_of_run(info.run_id) is None


def test_runs_in_a_shared_project_are_cleaned_up_task_by_task(ls_server, catalog, api):
    title = "Shared review"
    made = api.post("/api/projects", json={"title": title})
    assert made.status_code == 201
    shared = LabelStudioBackend(backend_config(ls_server, project=title))
    wb = Workbench(catalog, backends={"local": LocalBackend(), "labelstudio": shared})
    try:
        wb.annotate(IMAGES[:2], "a", backend="labelstudio", label_schema=GT)
        wb.annotate(IMAGES[2:], "b", backend="labelstudio", label_schema=GT)
        with pytest.raises(LabelStudioError, match="another labelling config"):
            wb.annotate(
                ["seq-0"], "c", backend="labelstudio", label_schema={"scene": SCHEMA["scene"]}
            )
        project = made.json()["id"]
        assert len(project_tasks(api, project)) == 4
        wb.cleanup_annotation_run("a", confirm=True)
        left = sorted(t["data"]["wb_frame"] for t in project_tasks(api, project))
        assert left == ["img-2", "img-3"]
        assert wb.load_annotations("b").unchanged == 2
    finally:
        api.delete(f"/api/projects/{made.json()['id']}")
        shared.close()


def test_tasks_the_run_did_not_send_stop_the_load_before_anything_merges(wb, catalog, backend, api):
    info = wb.annotate(IMAGES, "stray", backend="labelstudio", label_schema=GT).info
    project = backend.project_of_run(info.run_id)
    tasks = tasks_by_frame(api, project)
    submit(api, tasks["img-0"]["id"], [])  # a deletion that must not be merged
    before = rois_state(catalog)
    stray = {"data": {**tasks["img-1"]["data"], "wb_frame": "seq-2"}}
    api.post(f"/api/projects/{project}/import", json=[stray]).raise_for_status()
    with pytest.raises(
        LabelStudioResponseError,
        match=r"1 tasks .* hold frames the run did not send: task \d+ \(frame 'seq-2'\)",
    ):
        wb.load_annotations("stray")
    assert rois_state(catalog) == before

    api.delete(
        f"/api/tasks/{next(t for t in project_tasks(api, project) if t['data']['wb_frame'] == 'seq-2')['id']}"
    )
    api.delete(f"/api/tasks/{tasks['img-3']['id']}")  # deleted in Label Studio, not here
    with pytest.raises(LabelStudioError, match=r"1 frames of run .* have no task .*: img-3"):
        wb.load_annotations("stray")
    assert rois_state(catalog) == before


def test_an_unreadable_result_stops_the_load(wb, catalog, backend, api):
    info = wb.annotate(IMAGES, "broken", backend="labelstudio", label_schema=GT).info
    tasks = tasks_by_frame(api, backend.project_of_run(info.run_id))
    submit(api, tasks["img-0"]["id"], [])
    submit(
        api,
        tasks["img-2"]["id"],
        [
            {
                "id": "x1",
                "from_name": "ground_truth",
                "type": "rectanglelabels",
                "value": {"x": None},
            }
        ],
    )
    before = rois_state(catalog)
    with pytest.raises(
        ResultError, match=r"frame 'img-2'\), region 'x1': x is not a finite number"
    ):
        wb.load_annotations("broken")
    assert rois_state(catalog) == before


def test_a_personal_access_token_works_end_to_end(ls_server, personal_token, catalog, api):
    backend = LabelStudioBackend(backend_config(ls_server, token=personal_token))
    wb = Workbench(catalog, backends={"local": LocalBackend(), "labelstudio": backend})
    try:
        info = wb.annotate(IMAGES, "pat", backend="labelstudio", label_schema=GT).info
        assert info.tasks == 4
        assert wb.load_annotations("pat").unchanged == 4
    finally:
        backend.close()
    bad = LabelStudioBackend(backend_config(ls_server, token="not-a-token"))
    with pytest.raises(LabelStudioError, match="refused the token"):
        bad.project_of_run("x")
    with httpx.Client(base_url=ls_server.url) as anonymous:
        assert anonymous.get("/api/projects").status_code == 401


def test_a_broken_answer_in_the_middle_of_a_load_leaves_the_catalog_alone(
    ls_server, wb, catalog, backend, api
):
    info = wb.annotate(IMAGES, "cut", backend="labelstudio", label_schema=GT).info
    project = api.get(f"/api/projects/{backend.project_of_run(info.run_id)}").json()
    submit(api, tasks_by_frame(api, project["id"])["img-0"]["id"], [])
    before = rois_state(catalog)
    impostor = ScriptedServer()  # answers as the server did, until the task list goes wrong
    impostor.on("/api/projects", Reply(200, {"results": [project], "next": None}))
    impostor.on(f"/api/projects/{project['id']}", Reply(200, project))
    page = json.dumps({"total": 4, "tasks": [{"id": 1, "data": {"wb_run": info.run_id}}]})
    elsewhere = LabelStudioBackend(backend_config(ls_server, url=impostor.url))
    service = Workbench(catalog, backends={"labelstudio": elsewhere})
    try:
        for broken, error in [
            (Reply(200, page[: len(page) // 2]), "malformed or truncated JSON"),
            (Reply(200, "<html><title>Login</title></html>", "text/html"), "'Login'"),
        ]:
            impostor.on("/api/tasks", broken)
            with pytest.raises(LabelStudioResponseError, match=error):
                service.load_annotations("cut")
            assert rois_state(catalog) == before
            assert wb.get_annotation_info("cut").status == "open"
    finally:
        elsewhere.close()
        impostor.close()
    assert [r.roi_id for r in wb.load_annotations("cut").deleted] == ["b0"]  # the real one
