import pytest

from workbench.services import Conflict, InvalidArgument, StateError, UnknownIds


def test_projects_and_batches_are_created_and_listed(wb):
    project = wb.create_project("p1", title="First", description="d")
    assert (project.external_id, project.title, project.backend) == ("p1", "First", "local")
    b1 = wb.create_batch("p1", external_id="b1")
    b2 = wb.create_batch(project.id, external_id="b2", status="pending")
    assert [(b.external_id, b.status) for b in wb.get_batches("p1")] == [
        ("b1", "open"),
        ("b2", "pending"),
    ]
    assert b1.project_id == b2.project_id == project.id
    assert [p.external_id for p in wb.get_projects()] == ["p1"]


def test_duplicate_names_conflict(wb):
    wb.create_project("p1")
    wb.create_batch("p1", external_id="b1")
    with pytest.raises(Conflict, match="external id 'p1' exists"):
        wb.create_project("p1")
    with pytest.raises(Conflict, match="already has a batch 'b1'"):
        wb.create_batch("p1", external_id="b1")


def test_unknown_project_and_backend_are_named(wb):
    with pytest.raises(UnknownIds, match="unknown projects: 'nope'") as info:
        wb.create_batch("nope")
    assert info.value.ids == ("nope",) and info.value.kind == "projects"
    with pytest.raises(InvalidArgument, match="unknown backend 'cvat'"):
        wb.create_project("p2", backend="cvat")


def test_batches_only_move_forward(wb):
    wb.create_project("p1")
    wb.create_batch("p1", external_id="b1", status="pending")
    assert wb.set_batch_status("p1", "b1", "open").status == "open"
    assert wb.set_batch_status("p1", "b1", "completed").status == "completed"
    with pytest.raises(StateError, match="is completed: it cannot become open"):
        wb.set_batch_status("p1", "b1", "open")
    with pytest.raises(InvalidArgument, match="batch status 'closed'"):
        wb.set_batch_status("p1", "b1", "closed")


def test_requests_default_to_latest_open_batch(wb):
    wb.create_project("p1")
    with pytest.raises(StateError, match="has no open batch"):
        wb.create_request("p1", title="r")
    wb.create_batch("p1", external_id="old")
    newest = wb.create_batch("p1", external_id="new")
    request = wb.create_request("p1", title="r")
    assert request.batch_id == newest.id
    assert [r.title for r in wb.get_requests("p1", batch="new")] == ["r"]
    assert wb.get_requests("p1", batch="old") == []


def test_dry_run_creates_nothing_but_is_audited(wb, catalog):
    project = wb.create_project("p1", dryrun=True)
    assert project.external_id == "p1"
    assert wb.get_projects() == []
    entry = wb.audit_log(limit=1)[0]
    assert (entry.action, entry.dry_run, entry.outcome, entry.actor) == (
        "create_project",
        True,
        "ok",
        "tester",
    )
