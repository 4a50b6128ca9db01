"""Lost answers, dropped connections and a server restart in the middle of a run."""

import threading
import time
from urllib.parse import urlsplit

import pytest

from workbench.backends import LocalBackend
from workbench.backends.labelstudio import LabelStudioBackend
from workbench.services import Workbench

from .ls_annotator import IMAGES, SCHEMA, prediction, project_tasks, submit, tasks_by_frame
from .ls_netfaults import FaultyProxy
from .lsserver import backend_config

GT = {"ground_truth": SCHEMA["ground_truth"]}


@pytest.fixture
def proxy(ls_server):
    parts = urlsplit(ls_server.url)
    made = FaultyProxy((parts.hostname, parts.port))
    yield made
    made.close()


@pytest.fixture
def proxied(ls_server, proxy, catalog):
    backend = LabelStudioBackend(backend_config(ls_server, url=proxy.url))
    yield Workbench(catalog, backends={"local": LocalBackend(), "labelstudio": backend}), backend
    backend.close()


def titled(api, fragment):
    found = api.get("/api/projects", params={"title": fragment, "page_size": 100}).json()
    return [p["id"] for p in found["results"]]


def test_a_lost_import_answer_is_not_imported_twice(proxied, proxy, api):
    wb, backend = proxied
    proxy.drop_answer(b"/import?return_task_ids=true")
    info = wb.annotate(IMAGES, "lost-import", backend="labelstudio", label_schema=GT).info
    assert proxy.faults == 1
    tasks = project_tasks(api, backend.project_of_run(info.run_id))
    assert sorted(t["data"]["wb_frame"] for t in tasks) == IMAGES
    assert wb.load_annotations("lost-import").unchanged == 4


def test_a_lost_project_answer_makes_one_project(proxied, proxy, api):
    wb, backend = proxied
    proxy.drop_answer(b"POST /api/projects HTTP")
    info = wb.annotate(IMAGES, "lost-project", backend="labelstudio", label_schema=GT).info
    assert proxy.faults == 1
    assert titled(api, f"[{info.run_id[:8]}]") == [backend.project_of_run(info.run_id)]
    assert len(project_tasks(api, backend.project_of_run(info.run_id))) == 4


def test_a_dropped_connection_is_retried(proxied, proxy, api):
    wb, backend = proxied
    proxy.hang_up_next()
    info = wb.annotate(IMAGES, "dropped", backend="labelstudio", label_schema=GT).info
    assert proxy.faults == 1 and info.tasks == 4
    project = backend.project_of_run(info.run_id)
    tasks = tasks_by_frame(api, project)
    submit(api, tasks["img-0"]["id"], [])
    # A fresh backend opens a new connection for its first request: that one is cut.
    fresh = LabelStudioBackend(backend.config)
    proxy.hang_up_next()
    report = Workbench(wb.catalog, backends={"labelstudio": fresh}).load_annotations("dropped")
    fresh.close()
    assert proxy.faults == 2
    assert [r.roi_id for r in report.deleted] == ["b0"]


def test_the_server_restarting_in_the_middle_of_a_run(ls_server, catalog, api):
    # Retries wait 0.25, 0.5, 1, 2, 2, ... s: about 25 s in all, longer than a restart.
    backend = LabelStudioBackend(
        backend_config(ls_server, retries=14, backoff=0.25, max_backoff=2.0)
    )
    wb = Workbench(catalog, backends={"local": LocalBackend(), "labelstudio": backend})
    try:
        info = wb.annotate(IMAGES, "restart", backend="labelstudio", label_schema=GT).info
        task = tasks_by_frame(api, backend.project_of_run(info.run_id))["img-1"]
        submit(
            api,
            task["id"],
            [r for r in prediction(task) if r["from_name"] != "ground_truth__color"],
        )

        ls_server.stop()
        started = threading.Thread(target=lambda: (time.sleep(1.0), ls_server.start()))
        started.start()
        began = time.monotonic()
        report = wb.load_annotations("restart")  # first attempts find nobody listening
        waited = time.monotonic() - began
        started.join()

        assert waited > 1.0
        assert [r.roi_id for r in report.changed] == ["b1"]
        # and the run goes on: the server still has exactly one task per frame
        assert len(project_tasks(api, backend.project_of_run(info.run_id))) == 4
    finally:
        backend.close()
