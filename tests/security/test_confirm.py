"""`confirm` is `True` and nothing else, for every destructive action, in process and over HTTP.

Each destructive action is called with values that read as true or false by their
truthiness ("no", "false", 1, 0, "true", [], {}): every one is an InvalidArgument (400 over
HTTP) naming `confirm`, and nothing changes (every table's row count in process; the audit
log and the objects themselves over HTTP, where the server holds the file). `False` and
`None` (JSON false/null) raise ConfirmationRequired (428) with the plan of what would be
removed; `True` does it. `dryrun` and the other flags are as strict.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import workbench
from workbench.services import (
    ConfirmationRequired,
    InvalidArgument,
    RemovalReport,
    Workbench,
)

from .api_catalog import SAVED_VIEW, Work, prepare_work

NOT_CONFIRMATIONS: list[Any] = ["no", "false", 1, 0, "true", [], {}]


@dataclass(frozen=True)
class Destructive:
    """One destructive call: its method, its arguments, and how to tell it was done."""

    method: str
    arguments: Callable[[Work], dict[str, Any]]
    done: Callable[[Any, Work], bool]  # (a service or client, the work) -> removed?


def _scene_status(wb: Any, work: Work) -> str:
    return wb.get_scenes_by_uuids([work.scene_uuids[2]])[0].status


def _input_uuids(wb: Any) -> set[str]:
    return {i.uuid for i in wb.query_inputs(project="p")}


DESTRUCTIVE = [
    Destructive(
        "invalidate_scenes",
        lambda w: {"uuids": [w.scene_uuids[2]], "reason": "duplicate"},
        lambda wb, w: _scene_status(wb, w) == "invalidated:duplicate",
    ),
    Destructive(
        "delete_input",
        lambda w: {"uuid": w.input_uuids[0]},
        lambda wb, w: w.input_uuids[0] not in _input_uuids(wb),
    ),
    Destructive(
        "delete_inputs",
        lambda w: {"uuids": [w.input_uuids[1]]},
        lambda wb, w: w.input_uuids[1] not in _input_uuids(wb),
    ),
    Destructive(
        "cleanup_annotation_run",
        lambda w: {"anno_key": "run1"},
        lambda wb, w: wb.get_annotation_info("run1").status == "cleaned",
    ),
    Destructive(
        "delete_annotation_run",
        lambda w: {"anno_key": "run2"},
        lambda wb, w: "run2" not in wb.list_annotation_runs(),
    ),
    Destructive(
        "load_annotations",
        lambda w: {"anno_key": "run3", "cleanup": True},
        lambda wb, w: wb.get_annotation_info("run3").status == "cleaned",
    ),
    Destructive(
        "delete_view",
        lambda w: {"name": SAVED_VIEW},
        lambda wb, w: SAVED_VIEW not in [v.name for v in wb.get_saved_views()],
    ),
]
IDS = [d.method for d in DESTRUCTIVE]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, catalog_templates: Any) -> tuple[Path, Work]:
    path = catalog_templates.copy("api", tmp_path_factory.mktemp("confirm"))
    with workbench.open(path) as catalog:
        work = prepare_work(catalog)
        Workbench(catalog, actor="setup").annotate(
            ["f10", "f11"], "run3", label_field="ground_truth"
        )
    return path, work


# -- in process ----------------------------------------------------------------------------


@pytest.fixture
def local(template: tuple[Path, Work], tmp_path: Path) -> Iterator[tuple[Workbench, Work]]:
    path = tmp_path / "confirm.duckdb"
    shutil.copyfile(template[0], path)
    with workbench.open(path) as catalog:
        yield Workbench(catalog, actor="tester"), template[1]


def counts(wb: Workbench) -> dict[str, int]:
    con = wb.catalog.cursor()
    return {
        n: con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0]
        for n in wb.catalog.table_names()
    }


@pytest.mark.parametrize("action", DESTRUCTIVE, ids=IDS)
def test_in_process_only_true_confirms(local: tuple[Workbench, Work], action: Destructive):
    wb, work = local
    call = getattr(wb, action.method)
    arguments = action.arguments(work)
    before = counts(wb)
    for value in NOT_CONFIRMATIONS:
        with pytest.raises(InvalidArgument, match="confirm must be true or false") as refused:
            call(**arguments, confirm=value)
        assert refused.value.argument == "confirm"
        assert counts(wb) == before, f"confirm={value!r} changed the catalog"
    for value in ("no", 1, "false"):
        with pytest.raises(InvalidArgument, match="dryrun must be true or false"):
            call(**arguments, confirm=True, dryrun=value)
        assert counts(wb) == before, f"dryrun={value!r} changed the catalog"
    assert not action.done(wb, work)
    for value in (False, None):
        with pytest.raises(ConfirmationRequired) as asked:
            call(**arguments, confirm=value)
        assert isinstance(asked.value.plan, RemovalReport)
        assert asked.value.plan.describe() != "nothing"
        assert not action.done(wb, work)
    call(**arguments, confirm=True)
    assert action.done(wb, work)


def test_in_process_the_module_functions_are_as_strict(local: tuple[Workbench, Work]):
    """The action modules check `confirm` themselves, for callers that skip Workbench."""
    from workbench.services import inputs, runs, scenes

    wb, work = local
    before = counts(wb)
    ctx = wb._ctx
    with pytest.raises(InvalidArgument, match="confirm"):
        scenes.invalidate_scenes(ctx, [work.scene_uuids[0]], "duplicate", confirm="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="confirm"):
        inputs.delete_inputs(ctx, [work.input_uuids[0]], confirm=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="confirm"):
        runs.delete_annotation_run(ctx, "run2", confirm=[])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="confirm"):
        runs.cleanup_annotation_run(ctx, "run1", confirm={})  # type: ignore[arg-type]
    assert counts(wb) == before


def test_other_flags_are_strict_too(local: tuple[Workbench, Work]):
    wb, _work = local
    before = counts(wb)
    with pytest.raises(InvalidArgument, match="dryrun must be true or false"):
        wb.create_project("flags", dryrun="false")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="allow_deletions must be true or false"):
        wb.annotate(["f3"], "flags", allow_deletions=0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="cleanup must be true or false"):
        wb.load_annotations("run3", cleanup="yes", confirm=True)  # type: ignore[arg-type]
    assert counts(wb) == before
    # None is the default: no dry run, so the project is made
    assert wb.create_project("flags", dryrun=None).external_id == "flags"  # type: ignore[arg-type]


# -- over HTTP -----------------------------------------------------------------------------


@dataclass
class Served:
    http: httpx.Client
    client: Any
    work: Work


@pytest.fixture(scope="module")
def served(
    template: tuple[Path, Work], tmp_path_factory: pytest.TempPathFactory, serve_catalog: Any
) -> Iterator[Served]:
    path = tmp_path_factory.mktemp("confirm-http") / "served.duckdb"
    shutil.copyfile(template[0], path)
    app = serve_catalog(path)
    api = app.url.rstrip("/") + "/api/v1"
    with (
        httpx.Client(base_url=api, timeout=60) as http,
        workbench.connect(app.url, actor="tester") as client,
    ):
        yield Served(http, client, template[1])
    app.stop()


def newest_audit_id(http: httpx.Client) -> int:
    entries = http.post("/audit_log", json={"limit": 1}).json()["result"]
    return entries[0]["id"] if entries else 0


@pytest.mark.parametrize("action", DESTRUCTIVE, ids=IDS)
def test_over_http_only_true_confirms(served: Served, action: Destructive):
    http, work = served.http, served.work
    arguments = action.arguments(work)
    before = newest_audit_id(http)
    for value in NOT_CONFIRMATIONS:
        answer = http.post(f"/{action.method}", json={**arguments, "confirm": value})
        assert answer.status_code == 400, (value, answer.text)
        body = answer.json()
        assert body["error"] == "InvalidArgument"
        assert body["details"] == {"argument": "confirm"}
        assert "confirm must be true or false" in body["message"]
    assert newest_audit_id(http) == before, "a call that was not confirmed was carried out"
    assert not action.done(served.client, work)
    for value in (False, None):
        answer = http.post(f"/{action.method}", json={**arguments, "confirm": value})
        assert answer.status_code == 428, answer.text
        plan = RemovalReport.from_dict(answer.json()["details"]["plan"])
        assert plan.describe() != "nothing"
        assert not action.done(served.client, work)
    answer = http.post(f"/{action.method}", json={**arguments, "confirm": True})
    assert answer.status_code == 200, answer.text
    assert action.done(served.client, work)


def test_the_client_raises_what_the_service_raises(served: Served):
    client = served.client
    with pytest.raises(InvalidArgument, match="confirm must be true or false") as refused:
        client.delete_annotation_run("run1", confirm="yes")
    assert refused.value.argument == "confirm"
    with pytest.raises(ConfirmationRequired) as asked:
        client.cleanup_annotation_run("run3", confirm=False)
    assert isinstance(asked.value.plan, RemovalReport)
