"""The Label Studio backend: runs become projects, frames tasks, labels predictions.

- **Projects.** Each run gets its own project, titled `<anno_key> [<run id prefix>]`, whose
  description says which run owns it; with `project=` in the config every run goes into that
  existing project instead (its description lists the runs in it). Cleanup deletes a run's
  own project, or only the run's tasks in a shared one.
- **Tasks.** One task per frame (a sequence is one task per frame, in time order, linked by
  `wb_context` and `wb_frame_index` in the task data). Task data carries our ids (`wb_run`,
  `wb_frame`, `wb_input`, ...) and what was sent (see results.py); the run's existing labels
  are the task's prediction, with our shape ids as region ids. Tasks are imported in bulk;
  `task_size` scenes form a group (`wb_group`), and groups are never split across imports
  unless a group is larger than `import_chunk`.
- **Idempotency.** Every create looks first: a project is found by its run, a task by
  (run, frame), a storage by its path, an uploaded file by its content hash. When a create
  fails after it was sent (OutcomeUnknown), the backend looks again and sends only what is
  missing, so a retry never makes a second project, task or file.
- **Reading back.** Every task of the run with annotations, in pages. The newest submitted
  annotation wins (a ground-truth one first); a task nobody annotated still holds the labels
  as sent. Tasks naming frames the run did not send, and frames of the run without a task,
  stop the load with an error that names them: nothing is merged from a project that does
  not match the run.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
from tqdm.auto import tqdm

from workbench.backends.base import Capabilities, Removal, TaskStatus, UploadRequest, UploadResult
from workbench.backends.labelstudio.client import LabelStudioClient, create_once, expect
from workbench.backends.labelstudio.config import LabelStudioConfig
from workbench.backends.labelstudio.convert import (
    SUPPORTED_ATTRIBUTE_TYPES,
    SUPPORTED_LABEL_TYPES,
    ConfigError,
    Controls,
    label_config,
    same_config,
)
from workbench.backends.labelstudio.errors import LabelStudioError, LabelStudioResponseError
from workbench.backends.labelstudio.media import MediaServer, plan_image
from workbench.backends.labelstudio.results import TaskReader, stable_id
from workbench.backends.labelstudio.tasks import (
    annotation_count,
    build_tasks,
    import_chunks,
    latest_results,
    preferred,
    run_frames,
    sent_frames,
    task_status,
    tracked_fields,
)
from workbench.model.labels import LabelSchema
from workbench.model.shapes import SHAPE_SCHEMA, Shape
from workbench.store.run_data import run_label_schema


def run_marker(run_id: str) -> str:
    return f"workbench run {run_id}"


def owner_marker(run_id: str) -> str:
    return f"workbench run {run_id} owns this project"


class LabelStudioBackend:
    """Label Studio over its REST API. Configured lazily: nothing is read or contacted until
    the first call that needs the server (see LabelStudioConfig.load for where settings come
    from). `client` replaces the HTTP client (tests pass one with a special transport).
    """

    name: ClassVar[str] = "labelstudio"
    capabilities: ClassVar[Capabilities] = Capabilities(
        label_types=SUPPORTED_LABEL_TYPES,
        attribute_types=SUPPORTED_ATTRIBUTE_TYPES,
        # Sequences are accepted: one task per frame, linked by context in the task data.
        supports_video=True,
        # Label Studio shows them editable; the merge puts back any change (and reports it).
        supports_read_only_attributes=True,
        supports_task_editing=False,
    )

    def __init__(
        self,
        config: LabelStudioConfig | None = None,
        *,
        client: LabelStudioClient | None = None,
        **settings: Any,
    ) -> None:
        self._config = client.config if client is not None else config
        self._settings = settings
        self._client = client
        self._projects: dict[str, int] = {}  # run id -> project id

    def __repr__(self) -> str:
        where = self._config.api_url if self._config else "not configured yet"
        return f"LabelStudioBackend({where})"

    @property
    def config(self) -> LabelStudioConfig:
        if self._config is None:
            self._config = LabelStudioConfig.load(**self._settings)
        return self._config

    @property
    def client(self) -> LabelStudioClient:
        if self._client is None:
            self._client = LabelStudioClient(self.config)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- the AnnotationBackend protocol ---------------------------------------------------
    def upload(self, con: duckdb.DuckDBPyConnection, request: UploadRequest) -> UploadResult:
        frames = run_frames(con, request)
        labels = request.labels.to_pylist()
        shape_ids = [
            stable_id(request.run_id, r["frame_id"], r["field"], r["roi_id"] or "scalar")
            for r in labels
        ]
        controls = Controls.for_schema(
            request.label_schema, tracked_fields(request, labels, frames)
        )
        images = [
            plan_image(f["frame_id"], f["source"], self.config.local_files_root) for f in frames
        ]
        if request.dryrun:
            planned = [f"planned:{r['frame_id']}" for r in labels]
            return UploadResult(shape_ids=shape_ids, task_ids=planned, tasks=len(frames))
        project_id, ours = self._run_project(request, label_config(controls))
        try:
            server_root = self.config.local_files_server_root or self.config.local_files_root
            urls = MediaServer(self.client, server_root).urls(project_id, images)
            tasks = build_tasks(request, frames, images, urls, labels, shape_ids, controls)
            task_of_frame = self._import(project_id, request.run_id, tasks)
        except BaseException:
            if ours:
                self._discard(project_id, request.run_id)
            raise
        return UploadResult(
            shape_ids=shape_ids,
            task_ids=[str(task_of_frame[r["frame_id"]]) for r in labels],
            tasks=len(frames),
        )

    def download(self, con: duckdb.DuckDBPyConnection, run_id: str) -> pa.Table:
        project_id = self.project_of_run(run_id)
        if project_id is None:
            raise LabelStudioError(
                f"no Label Studio project at {self.config.api_url} holds run {run_id}: was it "
                "deleted there, or is this backend configured for another server?"
            )
        expected = sent_frames(con, run_id)
        controls = self._controls(con, run_id, project_id)
        chosen: dict[str, dict[str, Any]] = {}
        strays: list[str] = []
        for task in self._run_tasks(project_id, run_id, full=True, what="reading results"):
            frame_id = str(task["data"].get("wb_frame"))
            if frame_id not in expected:
                strays.append(f"task {task.get('id')} (frame {frame_id!r})")
            elif frame_id not in chosen or preferred(task, chosen[frame_id]):
                chosen[frame_id] = task
        if strays:
            raise LabelStudioResponseError(
                f"{len(strays)} tasks of run {run_id} in project {project_id} hold frames the "
                f"run did not send: {', '.join(strays[:10])}; nothing was merged"
            )
        missing = sorted(set(expected) - set(chosen))
        if missing:
            raise LabelStudioError(
                f"{len(missing)} frames of run {run_id} have no task in project {project_id} "
                f"(deleted in Label Studio?): {', '.join(missing[:10])}; delete their inputs in "
                "workbench to load the rest"
            )
        shapes: list[Shape] = []
        for task in chosen.values():
            reader = TaskReader(run_id, str(task.get("id")), task["data"], controls)
            shapes += reader.shapes(latest_results(task, reader))
        return pa.Table.from_pylist([s.to_row() for s in shapes], schema=SHAPE_SCHEMA)

    def task_statuses(self, con: duckdb.DuckDBPyConnection, run_id: str) -> list[TaskStatus]:
        project_id = self.project_of_run(run_id)
        if project_id is None:
            return []
        out = [task_status(t) for t in self._run_tasks(project_id, run_id, full=False)]
        return sorted(out, key=lambda s: (s.position, s.task_id))

    def remove_inputs(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: str,
        input_uuids: Sequence[str],
        *,
        dryrun: bool,
    ) -> Removal:
        project_id = self.project_of_run(run_id)
        if project_id is None:
            return Removal()
        gone = set(input_uuids)
        tasks = [
            t
            for t in self._run_tasks(project_id, run_id, full=False)
            if t["data"].get("wb_input") in gone
        ]
        if not dryrun and tasks:
            self.client.delete_tasks(project_id, [int(t["id"]) for t in tasks])
        return Removal(tasks=len(tasks), annotations=sum(annotation_count(t) for t in tasks))

    def cleanup(self, con: duckdb.DuckDBPyConnection, run_id: str, *, dryrun: bool) -> Removal:
        project_id = self.project_of_run(run_id)
        if project_id is None:
            return Removal()
        tasks = list(self._run_tasks(project_id, run_id, full=False))
        removal = Removal(tasks=len(tasks), annotations=sum(annotation_count(t) for t in tasks))
        if not dryrun:
            description = str(self.client.project(project_id).get("description") or "")
            if owner_marker(run_id) in description:
                self.client.delete(f"/api/projects/{project_id}")
            else:
                self.client.delete_tasks(project_id, [int(t["id"]) for t in tasks])
            self._projects.pop(run_id, None)
        return removal

    # -- projects -------------------------------------------------------------------------
    def project_of_run(self, run_id: str) -> int | None:
        """The id of the project holding a run's tasks, or None."""
        if run_id in self._projects:
            return self._projects[run_id]
        found = self._owned_project(run_id)
        if found is None:
            marker = run_marker(run_id)
            candidates = self.client.projects(include="id,description")
            found = min(
                (int(p["id"]) for p in candidates if marker in str(p.get("description") or "")),
                default=None,
            )
        if found is not None:
            self._projects[run_id] = found
        return found

    def _owned_project(self, run_id: str) -> int | None:
        """The run's own project; duplicates left by a lost answer are deleted here."""
        marker = owner_marker(run_id)
        found = sorted(
            int(p["id"])
            for p in self.client.projects(title=f"[{run_id[:8]}]", include="id,title,description")
            if marker in str(p.get("description") or "")
        )
        for extra in found[1:]:
            self.client.delete(f"/api/projects/{extra}")
        return found[0] if found else None

    def _run_project(self, request: UploadRequest, xml: str) -> tuple[int, bool]:
        """(project id, whether it is the run's own project) for a run about to be sent."""
        if self.config.project is not None:
            project_id = self._shared_project(request.run_id, xml)
            self._projects[request.run_id] = project_id
            return project_id, False
        body = {
            "title": f"{request.anno_key[:38]} [{request.run_id[:8]}]",
            "description": (
                f"Workbench annotation run {request.anno_key!r}.\n{owner_marker(request.run_id)}"
            ),
            "label_config": xml,
        }
        project_id = create_once(
            self.client,
            lambda: self._owned_project(request.run_id),
            lambda: _id(self.client.post("/api/projects", body), "POST /api/projects"),
        )
        self._projects[request.run_id] = project_id
        return project_id, True

    def _shared_project(self, run_id: str, xml: str) -> int:
        wanted = self.config.project
        if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit()):
            project = self.client.project(int(wanted))
        else:
            named = [p for p in self.client.projects(title=str(wanted)) if p.get("title") == wanted]
            if len(named) != 1:
                raise LabelStudioError(
                    f"expected one Label Studio project titled {wanted!r}, found {len(named)}"
                )
            project = self.client.project(_id(named[0], "GET /api/projects"))
        project_id = _id(project, "GET /api/projects/{id}")
        if not same_config(str(project.get("label_config") or ""), xml):
            if project.get("task_number"):
                raise ConfigError(
                    f"project {project_id} ({project.get('title')!r}) has tasks and another "
                    "labelling config than this run needs; use a project per run, or a schema "
                    "that gives the same config"
                )
            self.client.patch(f"/api/projects/{project_id}", {"label_config": xml})
        description = str(project.get("description") or "")
        if run_marker(run_id) not in description:
            lines = [description, run_marker(run_id)] if description else [run_marker(run_id)]
            self.client.patch(f"/api/projects/{project_id}", {"description": "\n".join(lines)})
        return project_id

    def _discard(self, project_id: int, run_id: str) -> None:
        """Best effort after a failed upload: the run will not exist, so neither should its
        project. A server that is down keeps it (the title names the run)."""
        self._projects.pop(run_id, None)
        with contextlib.suppress(LabelStudioError):
            self.client.delete(f"/api/projects/{project_id}")

    def _controls(self, con: duckdb.DuckDBPyConnection, run_id: str, project_id: int) -> Controls:
        stored = run_label_schema(con, run_id)
        if stored is None:
            raise LabelStudioError(f"run {run_id} is not in this catalog")
        schema = LabelSchema.from_dict(stored)
        xml = str(self.client.project(project_id).get("label_config") or "")
        try:
            names = {e.get("name") for e in ET.fromstring(xml).iter() if e.get("name")}
        except ET.ParseError as exc:
            raise LabelStudioResponseError(
                f"project {project_id}: unreadable labelling config: {exc}"
            ) from exc
        tracked = [f for f in schema.fields if f"{f}__track" in names]
        return Controls.for_schema(schema, tracked)

    # -- tasks ----------------------------------------------------------------------------
    def _run_tasks(
        self, project_id: int, run_id: str, *, full: bool, what: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The project's tasks that belong to the run (their data names it)."""
        bar = tqdm(
            desc=f"Label Studio: {what}", unit="task", disable=not (what and self.config.progress)
        )
        try:
            for page, total in self.client.iter_tasks(project_id, full=full):
                bar.total = total
                bar.update(len(page))
                for task in page:
                    data = task.get("data")
                    if isinstance(data, dict) and data.get("wb_run") == run_id:
                        yield task
        finally:
            bar.close()

    def _task_ids(self, project_id: int, run_id: str) -> dict[str, int]:
        """frame id -> task id of the run's tasks; duplicates (a lost answer raced a retry)
        are deleted, keeping the oldest task of each frame."""
        by_frame: dict[str, list[int]] = {}
        for task in self._run_tasks(project_id, run_id, full=False):
            by_frame.setdefault(str(task["data"].get("wb_frame")), []).append(int(task["id"]))
        extra = [i for ids in by_frame.values() for i in sorted(ids)[1:]]
        if extra:
            self.client.delete_tasks(project_id, extra)
        return {frame: min(ids) for frame, ids in by_frame.items()}

    def _import(self, project_id: int, run_id: str, tasks: list[dict[str, Any]]) -> dict[str, int]:
        """frame id -> task id, importing the tasks whose frames have none yet."""
        present = self._task_ids(project_id, run_id)
        todo = [t for t in tasks if t["data"]["wb_frame"] not in present]
        with tqdm(
            total=len(tasks),
            initial=len(tasks) - len(todo),
            desc="Label Studio: sending tasks",
            unit="task",
            disable=not self.config.progress,
        ) as bar:
            for chunk in import_chunks(todo, self.config.import_chunk):
                present.update(self._import_chunk(project_id, run_id, chunk))
                bar.update(len(chunk))
        missing = [t["data"]["wb_frame"] for t in tasks if t["data"]["wb_frame"] not in present]
        if missing:
            raise LabelStudioResponseError(
                f"project {project_id}: frames without a task after the import: {missing[:10]}"
            )
        return present

    def _import_chunk(
        self, project_id: int, run_id: str, chunk: list[dict[str, Any]]
    ) -> dict[str, int]:
        """Import one request's tasks. When the answer is lost, the tasks that arrived are
        found by listing the run's tasks, and only the others are sent again."""
        where = f"POST /api/projects/{project_id}/import"
        found: dict[str, int] = {}
        todo = chunk
        sent = False

        def look() -> dict[str, int] | None:
            nonlocal todo
            if sent:  # the answer to a sent import was lost: which tasks made it?
                present = self._task_ids(project_id, run_id)
                found.update({f: present[f] for f in _frames(todo) if f in present})
                todo = [t for t in todo if t["data"]["wb_frame"] not in present]
            return found if not todo else None

        def make() -> dict[str, int]:
            nonlocal sent
            sent = True
            body = self.client.post(
                f"/api/projects/{project_id}/import", todo, return_task_ids="true"
            )
            ids = expect(expect(body, dict, where).get("task_ids"), list, f"{where} task_ids")
            if len(ids) != len(todo) or not all(isinstance(i, int) for i in ids):
                raise LabelStudioResponseError(
                    f"{where}: sent {len(todo)} tasks, got task ids {str(ids)[:200]}"
                )
            return {**found, **dict(zip(_frames(todo), ids, strict=True))}

        return create_once(self.client, look, make)


# -- helpers --------------------------------------------------------------------------------


def _frames(tasks: list[dict[str, Any]]) -> list[str]:
    return [t["data"]["wb_frame"] for t in tasks]


def _id(body: Any, where: str) -> int:
    value = expect(body, dict, where).get("id")
    if not isinstance(value, int):
        raise LabelStudioResponseError(f"{where}: expected an integer id, got {value!r}")
    return value
