"""Runs on CVAT when things go wrong or come to an end: failed processing, retries, bad
answers, removed inputs, status, cleanup, dry runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from workbench.backends import EditRestrictions, LabelSchema, UploadRequest
from workbench.backends.cvat import (
    CvatBackend,
    CvatConfig,
    CvatHTTPError,
    CvatRequestFailed,
    CvatResponseError,
)
from workbench.model.shapes import LABEL_SCHEMA, UPLOAD_FRAME_SCHEMA
from workbench.services import Workbench
from workbench.store.catalog import Catalog

from .cvat_catalog import IMAGES, SCHEMA, rois
from .fake_cvat import Clock, FakeCvat


def _input_of(catalog: Catalog, frame_id: str) -> str:
    return str(
        catalog.cursor()
        .execute(
            "SELECT i.uuid FROM inputs i JOIN scenes s ON s.uuid = i.scene_uuid "
            "WHERE list_contains(s.frame_ids, ?)",
            [frame_id],
        )
        .fetchall()[0][0]
    )


def _ledger_rows(catalog: Catalog) -> int:
    tables = ("cvat_runs", "cvat_tasks", "cvat_task_frames", "cvat_shapes")
    con = catalog.cursor()
    return sum(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables)


def test_failed_processing_leaves_nothing_behind(
    wb: Workbench, fake: FakeCvat, catalog: Catalog
) -> None:
    fake.fail_processing = "Could not read 000001_img-1.jpg"
    with pytest.raises(CvatRequestFailed, match=re.escape("Could not read 000001_img-1.jpg")):
        wb.annotate(IMAGES, "broken", backend="cvat", label_schema=SCHEMA)
    assert wb.list_annotation_runs() == []
    assert fake.projects == {} and fake.tasks == {}  # the half-made project was deleted
    assert catalog.cursor().execute("SELECT count(*) FROM inputs").fetchall() == [(0,)]


def test_retries_never_make_a_second_project_or_task(
    wb: Workbench, fake: FakeCvat, clock: Clock
) -> None:
    fake.fail("POST", r"/api/projects", "after", status=504)  # made, answer lost
    fake.fail("POST", r"/api/tasks", "drop")  # made, connection dropped
    fake.fail("POST", r"/api/tasks/\d+/data", "refuse")  # Upload-Start never arrived
    fake.fail("POST", r"/api/tasks/\d+/data", "drop", skip=2)  # Upload-Finish: lost answer
    fake.fail("GET", r"/api/requests/.+", "status", status=429, headers={"Retry-After": "2"})
    fake.fail("PUT", r"/api/tasks/\d+/annotations", "status", status=503)
    wb.annotate(IMAGES, "flaky", backend="cvat", label_schema=SCHEMA, task_size=2)
    assert len(fake.projects) == 1
    assert sorted(t.name for t in fake.tasks.values()) == ["flaky #1", "flaky #2"]
    assert all(f.times == 0 for f in fake.faults)
    assert 2.0 in clock.slept
    report = wb.load_annotations("flaky")
    assert (report.added, report.changed, report.deleted, report.unchanged) == ((), (), (), 6)


def test_a_dropped_file_upload_is_not_resent(wb: Workbench, fake: FakeCvat) -> None:
    # CVAT appends uploaded files to what it has: a resent request could corrupt them.
    fake.fail("POST", r"/api/tasks/\d+/data", "drop", skip=1)
    with pytest.raises(CvatHTTPError, match=r"POST /api/tasks/\d+/data/: no answer"):
        wb.annotate(IMAGES, "dropped", backend="cvat", label_schema=SCHEMA)
    assert fake.projects == {} and wb.list_annotation_runs() == []


def test_a_lost_answer_to_the_data_upload_is_found_again(wb: Workbench, fake: FakeCvat) -> None:
    # Upload-Start, the files, then Upload-Finish: CVAT starts processing, the answer is lost.
    fake.fail("POST", r"/api/tasks/\d+/data", "after", status=502, skip=2)
    wb.annotate(IMAGES[:1], "finish", backend="cvat", label_schema=SCHEMA)
    (task,) = fake.tasks.values()
    assert task.size == 1 and len(fake.rq) == 1
    assert ("GET", "/api/requests") in fake.log


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("html", "text/html, not JSON"),
        ("truncated", "malformed or truncated JSON"),
        ("label", "label id 99999 is not a label of the project"),
        ("frame", "frame 7 was never sent \\(the task has frames 0..0\\)"),
        ("points", "a rectangle with 3 coordinates"),
    ],
)
def test_bad_answers_stop_the_load_before_anything_is_merged(
    wb: Workbench, fake: FakeCvat, catalog: Catalog, damage: str, message: str
) -> None:
    wb.annotate(IMAGES, "bad", backend="cvat", label_schema=SCHEMA, task_size=2)
    first = fake.task_named("#1")
    fake.items(first.id, "shapes")[0]["points"] = [0.0, 0.0, 3.0, 3.0]  # an edit to merge
    before = rois(catalog, "gt")
    second = fake.task_named("#2")
    shape = fake.items(second.id, "shapes")[0]
    if damage in ("html", "truncated"):
        fake.fail("GET", rf"/api/tasks/{second.id}/annotations", damage)
    elif damage == "label":
        shape["label_id"] = 99999
    elif damage == "frame":
        shape["frame"] = 7
    else:
        shape["points"] = [1.0, 2.0, 3.0]
    with pytest.raises(CvatResponseError, match=message):
        wb.load_annotations("bad")
    assert rois(catalog, "gt") == before
    assert wb.get_annotation_info("bad").status == "open"


def test_removed_inputs_leave_cvat_and_the_merge(
    wb: Workbench, fake: FakeCvat, catalog: Catalog
) -> None:
    wb.annotate(IMAGES, "removal", backend="cvat", label_schema=SCHEMA, task_size=2)
    first, second = fake.task_named("#1"), fake.task_named("#2")
    gone = [_input_of(catalog, "img-1"), _input_of(catalog, "img-2")]
    plan = wb.delete_inputs(gone, dryrun=True)
    assert (plan.tasks, plan.annotations) == (1, 4)
    assert len(fake.tasks) == 2 and len(fake.items(first.id, "shapes")) == 2  # a dry run
    report = wb.delete_inputs(gone, confirm=True)
    assert (report.tasks, report.annotations) == (1, 4)
    assert list(fake.tasks) == [first.id] and second.id not in fake.tasks
    assert [s["frame"] for s in fake.items(first.id, "shapes")] == [0]
    assert [t["frame"] for t in fake.items(first.id, "tags")] == [0]
    assert first.deleted == {1}
    # An annotator still draws on the removed frame: the merge does not see it.
    fake.add_shape(first.id, 1, "car", "rectangle", [1, 1, 5, 5])
    report = wb.load_annotations("removal")
    assert (report.added, report.changed, report.deleted, report.unchanged) == ((), (), (), 2)
    assert {k[0] for k in rois(catalog, "gt")} == {
        "img-0",
        "img-1",
        "img-2",
        "seq-0",
        "seq-1",
        "seq-2",
        "seq-3",
    }


def test_invalidated_scenes_delete_their_task(
    wb: Workbench, fake: FakeCvat, catalog: Catalog
) -> None:
    wb.annotate(["seq-0", "seq-1", "seq-2"], "seq", backend="cvat", label_schema=SCHEMA)
    scene = catalog.cursor().execute("SELECT uuid FROM scenes").fetchall()[0][0]
    report = wb.invalidate_scenes([scene], "bad-content", confirm=True)
    assert (report.tasks, report.annotations) == (1, 3)
    assert fake.tasks == {} and len(fake.projects) == 1
    assert wb.get_annotation_status("seq").tasks == ()


def test_status_jobs_and_assignees(fake: FakeCvat, catalog: Catalog, clock: Clock) -> None:
    config = CvatConfig(
        url=fake.url,
        token=fake.token,
        job_assignees=("alice", "bob"),
        task_assignee="admin",
        segment_overlap=0,
    )
    backend = CvatBackend(
        config, transport=fake.transport, sleep=clock.sleep, clock=clock, progress=False
    )
    wb = Workbench(catalog, actor="tester", backends={"cvat": backend})
    wb.annotate(IMAGES, "status", backend="cvat", label_schema=SCHEMA, task_size=2, segment_size=1)
    first, second = fake.task_named("#1"), fake.task_named("#2")
    assert (first.segment_size, first.assignee_id) == (1, 1)
    jobs = sorted(fake.jobs.values(), key=lambda j: j["id"])
    assert [(j["task_id"], j["start_frame"], j["assignee"]["username"]) for j in jobs] == [
        (first.id, 0, "alice"),
        (first.id, 1, "bob"),
        (second.id, 0, "alice"),
    ]
    fake.set_job_state(first.id, "completed", "acceptance")
    fake.add_shape(second.id, 0, "car", "rectangle", [1, 1, 5, 5])
    status = wb.get_annotation_status("status")
    assert [(t.position, t.status, t.frames, t.annotations, t.assignee) for t in status.tasks] == [
        (0, "done", 2, 4, "alice, bob"),
        (1, "new", 1, 3, "alice"),
    ]
    assert status.tasks[0].updated == datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
    assert ("POST", "/api/auth/login") not in fake.log  # the token is sent as Bearer


def test_cleanup_deletes_tasks_project_and_records(
    wb: Workbench, fake: FakeCvat, catalog: Catalog
) -> None:
    wb.annotate(IMAGES, "cleanup", backend="cvat", label_schema=SCHEMA, task_size=2)
    assert _ledger_rows(catalog) > 0
    plan = wb.cleanup_annotation_run("cleanup", dryrun=True)
    assert (plan.tasks, plan.annotations) == (2, 6) and len(fake.tasks) == 2
    report = wb.cleanup_annotation_run("cleanup", confirm=True)
    assert (report.tasks, report.annotations) == (2, 6)
    assert fake.tasks == {} and fake.projects == {} and fake.labels == {}
    assert _ledger_rows(catalog) == 0
    assert wb.get_annotation_info("cleanup").status == "cleaned"


def test_a_dry_upload_touches_nothing(
    backend: CvatBackend, fake: FakeCvat, catalog: Catalog
) -> None:
    frames = pa.Table.from_pylist(
        [
            {"frame_id": f, "input_uuid": f"in-{f}", "scene_index": i, "position": i}
            for i, f in enumerate(IMAGES)
        ],
        schema=UPLOAD_FRAME_SCHEMA,
    )
    request = UploadRequest(
        run_id="r",
        anno_key="dry",
        label_schema=LabelSchema.from_dict(
            {"fields": {"gt": {"type": "detections", "classes": ["car"]}}}
        ),
        restrictions=EditRestrictions(),
        project_id="p",
        batch_id="b",
        frames=frames,
        labels=LABEL_SCHEMA.empty_table(),
        task_size=2,
        dryrun=True,
    )
    with catalog.transaction() as con:
        result = backend.upload(con, request)
    assert result.tasks == 2 and fake.log == []


def test_a_run_stays_with_its_server(
    wb: Workbench, fake: FakeCvat, catalog: Catalog, clock: Clock
) -> None:
    wb.annotate(IMAGES[:1], "here", backend="cvat", label_schema=SCHEMA)
    other = CvatBackend(
        CvatConfig(url="http://other.test", token="t"),
        transport=fake.transport,
        sleep=clock.sleep,
        clock=clock,
        progress=False,
    )
    elsewhere = Workbench(catalog, actor="tester", backends={"cvat": other})
    with pytest.raises(Exception, match=re.escape("this run's tasks are on http://cvat.test")):
        elsewhere.load_annotations("here")


def test_a_dry_run_through_the_service_touches_nothing(wb: Workbench, fake: FakeCvat) -> None:
    results = wb.annotate(IMAGES, "dry", backend="cvat", label_schema=SCHEMA, dryrun=True)
    assert results.info.dryrun and results.info.labels == 6
    assert fake.log == [] and wb.list_annotation_runs() == []
