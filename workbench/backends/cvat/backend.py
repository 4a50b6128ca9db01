"""The CVAT annotation backend: `AnnotationBackend` over CVAT's REST API.

A run becomes one CVAT project (its labels and attributes from the run's label schema) with
tasks of `task_size` scenes, `segment_size` frames per job. Existing labels are uploaded as
tags, shapes and tracks; `download` reads them back as Shapes for the service's merge. What
the backend must remember (project, tasks, which frame each task frame is, what each label
was sent as) is kept in the catalog (see ledger.py), in the service's transaction.

```python
from workbench.backends.cvat import CvatBackend, CvatConfig
wb = Workbench(catalog, backends={"cvat": CvatBackend(CvatConfig.load())})
wb.annotate(view, "review", backend="cvat", label_field="gt", label_type="detections",
            classes=["car"], task_size=10, segment_size=200)
```
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol

import duckdb
import httpx
import pyarrow as pa
from tqdm.auto import tqdm

from workbench.backends.base import (
    BackendError,
    Capabilities,
    Removal,
    TaskStatus,
    UploadRequest,
    UploadResult,
)
from workbench.backends.cvat.client import CvatClient
from workbench.backends.cvat.config import CvatConfig
from workbench.backends.cvat.creation import Creator, project_name, task_name
from workbench.backends.cvat.errors import CvatResponseError
from workbench.backends.cvat.labels import (
    CVAT_LABEL_TYPE,
    CvatLabel,
    ProjectLabels,
    foreign_label,
    label_names,
)
from workbench.backends.cvat.ledger import CvatLedger, FrameRef, RunRecord, TaskRecord
from workbench.backends.cvat.media import TaskData, TaskPlan, frame_media, plan_tasks, task_data
from workbench.backends.cvat.payload import Prepared, assign_ids, prepare
from workbench.backends.cvat.results import TaskReader, track_indexes
from workbench.model.jsontext import parse_json
from workbench.model.labels import ATTRIBUTE_TYPES
from workbench.model.shapes import SHAPE_SCHEMA, Shape


class Reader(Protocol):
    """Reads one task's annotations as Shapes (fetching them unless `data` is given)."""

    def __call__(self, task: TaskRecord, data: Any = None) -> list[Shape]: ...


# Job states of a task that count as done / as started.
_DONE_STATES = ("completed",)
_STARTED_STATES = ("in progress", "rejected", "completed")


class CvatBackend:
    """CVAT over HTTP. `transport`, `sleep` and `clock` replace the network and time in
    tests; `progress` shows a bar while tasks are created."""

    name: ClassVar[str] = "cvat"
    capabilities: ClassVar[Capabilities] = Capabilities(
        label_types=(
            "classification",
            "classifications",
            "detections",
            "polylines",
            "polygons",
            "keypoints",
        ),
        attribute_types=ATTRIBUTE_TYPES,
        supports_video=True,
        # Read-only attributes are enforced at merge (CVAT itself lets annotators edit them).
        supports_read_only_attributes=True,
        supports_task_editing=False,
    )

    def __init__(
        self,
        config: CvatConfig | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        progress: bool = True,
    ) -> None:
        self.config = config if config is not None else CvatConfig.load()
        self.progress = progress
        self._transport, self._sleep, self._clock = transport, sleep, clock
        self._client: CvatClient | None = None

    @property
    def client(self) -> CvatClient:
        """The HTTP session, opened (and logged in) on first use."""
        if self._client is None:
            self._client = CvatClient(
                self.config, transport=self._transport, sleep=self._sleep, clock=self._clock
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        return f"CvatBackend({self.config.base_url})"

    # -- upload ---------------------------------------------------------------------------
    def upload(self, con: duckdb.DuckDBPyConnection, request: UploadRequest) -> UploadResult:
        plans = plan_tasks(frame_media(con, request.frames, request.media_field), request.task_size)
        datas = [task_data(plan, self.config) for plan in plans]
        labels = request.labels.to_pylist()
        scenes = Counter(request.frames.column("scene_index").to_pylist())
        mutable = any(count > 1 for count in scenes.values())
        rows = _rows_by_task(plans, labels)
        # Everything that can be refused is checked before CVAT is touched: the payloads
        # are built once with stand-in label ids.
        stand_in = _stand_in_labels(request, mutable)
        for plan, task_rows in zip(plans, rows, strict=True):
            _prepare(plan, task_rows, stand_in)
        if request.dryrun:
            return _planned(plans, labels)
        creator = Creator(self.client)
        creator.use_assignees(self.config.job_assignees)
        assignee = creator.user_id(self.config.task_assignee) if self.config.task_assignee else None
        name = project_name(request.anno_key, request.run_id)
        project_id, created = creator.project(name, request.label_schema, mutable)
        try:
            project = creator.labels(project_id, request.label_schema, mutable)
            records, shapes, shape_ids = self._tasks(
                creator, request, project_id, project, plans, datas, rows, assignee
            )
            run = RunRecord(request.run_id, self.config.base_url, project_id, project)
            CvatLedger(con).save_run(run, records, shapes)
        except BaseException:
            if created:
                creator.discard_project(project_id)
            raise
        task_of = {ref.frame_id: str(t.task_id) for t in records for ref in t.frames.values()}
        return UploadResult(
            shape_ids=[shape_ids[i] for i in range(len(labels))],
            task_ids=[task_of[label["frame_id"]] for label in labels],
            tasks=len(records),
        )

    def _tasks(
        self,
        creator: Creator,
        request: UploadRequest,
        project_id: int,
        project: ProjectLabels,
        plans: list[TaskPlan],
        datas: list[TaskData],
        rows: list[list[tuple[int, dict[str, Any]]]],
        assignee: int | None,
    ) -> tuple[list[TaskRecord], list[dict[str, Any]], dict[int, str]]:
        records: list[TaskRecord] = []
        shapes: list[dict[str, Any]] = []
        shape_ids: dict[int, str] = {}
        bar = tqdm(total=len(plans), desc="CVAT tasks", unit="task", disable=not self.progress)
        with bar:
            for plan, data, task_rows in zip(plans, datas, rows, strict=True):
                body: dict[str, Any] = {
                    "name": task_name(request.anno_key, plan.position),
                    "project_id": project_id,
                    "overlap": self.config.segment_overlap,
                }
                if request.segment_size:
                    body["segment_size"] = request.segment_size
                if assignee is not None:
                    body["assignee_id"] = assignee
                task, fresh = creator.task(body)
                task_id = int(task["id"])
                creator.add_data(task_id, data, fresh=fresh)
                prepared = _prepare(plan, task_rows, project)
                answer = self.client.request(
                    "PUT", f"/api/tasks/{task_id}/annotations/", json=prepared.body
                )
                ids = assign_ids(prepared, answer, task_id)
                creator.assign_jobs(task_id)
                records.append(_record(task_id, body["name"], plan))
                shapes.extend(_uploaded(task_id, prepared, ids, dict(task_rows)))
                shape_ids.update(ids)
                bar.update()
        return records, shapes, shape_ids

    # -- download -------------------------------------------------------------------------
    def download(self, con: duckdb.DuckDBPyConnection, run_id: str) -> pa.Table:
        book = CvatLedger(con)
        run = self._run(book, run_id)
        if run is None:
            return SHAPE_SCHEMA.empty_table()
        read = self._reader(book, run)
        rows: list[dict[str, Any]] = []
        for task in book.load_tasks(run_id):
            rows.extend(s.to_row() for s in read(task))
        rows.sort(key=lambda r: (int(r["task_id"]), r["frame_id"], r["id"]))
        return pa.Table.from_pylist(rows, schema=SHAPE_SCHEMA)

    def _reader(self, book: CvatLedger, run: RunRecord) -> Reader:
        """A function reading one task's annotations as Shapes (fetched unless given)."""
        uploaded = book.load_shapes(run.run_id)
        tracks = track_indexes(uploaded)
        foreign = self._foreign_labels(run)

        def read(task: TaskRecord, data: Any = None) -> list[Shape]:
            if data is None:
                data = self.client.get(f"/api/tasks/{task.task_id}/annotations/")
            return TaskReader(task, run.labels, uploaded, foreign, tracks).read(data)

        return read

    def _run(self, book: CvatLedger, run_id: str) -> RunRecord | None:
        run = book.load_run(run_id)
        if run is not None and run.url != self.config.base_url:
            raise BackendError(
                f"this run's tasks are on {run.url}; this CVAT backend talks to "
                f"{self.config.base_url}"
            )
        return run

    def _foreign_labels(self, run: RunRecord) -> Callable[[int], CvatLabel | None]:
        """Labels added to the project in CVAT after the run was made (looked up once)."""
        cache: dict[int, CvatLabel] = {}

        def lookup(label_id: int) -> CvatLabel | None:
            if not cache:
                for item in self.client.pages("/api/labels", project_id=run.project_id):
                    label = foreign_label(item, run.labels.schema)
                    if label is not None:
                        cache[label.id] = label
            return cache.get(label_id)

        return lookup

    # -- status ---------------------------------------------------------------------------
    def task_statuses(self, con: duckdb.DuckDBPyConnection, run_id: str) -> list[TaskStatus]:
        book = CvatLedger(con)
        run = self._run(book, run_id)
        if run is None:
            return []
        read = self._reader(book, run)
        out: list[TaskStatus] = []
        for task in book.load_tasks(run_id):
            jobs = list(self.client.pages("/api/jobs", task_id=task.task_id))
            out.append(
                TaskStatus(
                    task_id=str(task.task_id),
                    status=_task_status(jobs),
                    frames=len(task.frames),
                    annotations=self._count(task, read),
                    position=task.position,
                    assignee=_assignees(jobs),
                    updated=_updated(jobs),
                )
            )
        return out

    def _count(
        self, task: TaskRecord, read: Reader, data: Any = None, frames: Sequence[int] | None = None
    ) -> int:
        """Annotations on the task's frames (or on `frames` of it), as a load would count
        them. Counting never fails on what a load would refuse: then the objects CVAT lists
        on those frames are counted."""
        if data is None:
            data = self.client.get(f"/api/tasks/{task.task_id}/annotations/")
        wanted = set(task.frames if frames is None else frames)
        try:
            frame_ids = {task.frames[n].frame_id for n in wanted}
            return sum(1 for s in read(task, data) if s.frame_id in frame_ids)
        except CvatResponseError:
            if not isinstance(data, dict):
                raise
            items = [*(data.get("tags") or []), *(data.get("shapes") or [])]
            count = sum(1 for item in items if item.get("frame") in wanted)
            tracks = data.get("tracks") or []
            return count + sum(
                1 for t in tracks if any(s.get("frame") in wanted for s in t.get("shapes") or [])
            )

    # -- removal --------------------------------------------------------------------------
    def remove_inputs(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: str,
        input_uuids: Sequence[str],
        *,
        dryrun: bool,
    ) -> Removal:
        """Tasks left with no frames are deleted; otherwise the removed frames' annotations
        are deleted and the frames marked deleted in CVAT (annotators no longer see them)."""
        book = CvatLedger(con)
        run = self._run(book, run_id)
        if run is None:
            return Removal()
        gone = set(input_uuids)
        read = self._reader(book, run)
        tasks = annotations = 0
        for task in book.load_tasks(run_id):
            frames = sorted(n for n, ref in task.frames.items() if ref.input_uuid in gone)
            if not frames:
                continue
            data = self.client.get(f"/api/tasks/{task.task_id}/annotations/")
            annotations += self._count(task, read, data, frames)
            emptied = len(frames) == len(task.frames)
            tasks += emptied
            if dryrun:
                continue
            if emptied:
                self.client.request("DELETE", f"/api/tasks/{task.task_id}", missing_ok=True)
                book.forget_tasks(run_id, [task.task_id])
            else:
                self._clear_frames(task.task_id, frames, data)
                book.forget_frames(run_id, task.task_id, frames)
        return Removal(tasks=tasks, annotations=annotations)

    def _clear_frames(self, task_id: int, frames: list[int], data: dict[str, Any]) -> None:
        wanted = set(frames)
        doomed = {
            "tags": [t for t in data.get("tags", []) if t.get("frame") in wanted],
            "shapes": [s for s in data.get("shapes", []) if s.get("frame") in wanted],
            "tracks": [
                t
                for t in data.get("tracks", [])
                if all(s.get("frame") in wanted or s.get("outside") for s in t.get("shapes", []))
            ],
        }
        if any(doomed.values()):
            self.client.request(
                "PATCH",
                f"/api/tasks/{task_id}/annotations/",
                params={"action": "delete"},
                json={"version": data.get("version", 0), **doomed},
            )
        meta = self.client.get_object(f"/api/tasks/{task_id}/data/meta")
        deleted = sorted(set(meta.get("deleted_frames") or []) | wanted)
        self.client.request(
            "PATCH", f"/api/tasks/{task_id}/data/meta", json={"deleted_frames": deleted}
        )

    def cleanup(self, con: duckdb.DuckDBPyConnection, run_id: str, *, dryrun: bool) -> Removal:
        book = CvatLedger(con)
        run = self._run(book, run_id)
        if run is None:
            return Removal()
        read = self._reader(book, run)
        tasks = book.load_tasks(run_id)
        annotations = sum(self._count(task, read) for task in tasks)
        if not dryrun:
            for task in tasks:
                self.client.request("DELETE", f"/api/tasks/{task.task_id}", missing_ok=True)
            self.client.request("DELETE", f"/api/projects/{run.project_id}", missing_ok=True)
            book.forget_run(run_id)
        return Removal(tasks=len(tasks), annotations=annotations)


# -- helpers --------------------------------------------------------------------------------


def _rows_by_task(
    plans: list[TaskPlan], labels: list[dict[str, Any]]
) -> list[list[tuple[int, dict[str, Any]]]]:
    position = {f.frame_id: plan.position for plan in plans for f in plan.frames}
    rows: list[list[tuple[int, dict[str, Any]]]] = [[] for _ in plans]
    for index, label in enumerate(labels):
        rows[position[label["frame_id"]]].append((index, label))
    return rows


def _prepare(
    plan: TaskPlan, rows: list[tuple[int, dict[str, Any]]], labels: ProjectLabels
) -> Prepared:
    numbers = {f.frame_id: n for n, f in enumerate(plan.frames)}
    scenes = {f.frame_id: f.scene_index for f in plan.frames}
    return prepare(rows, numbers, scenes, len(plan.frames), labels)


def _stand_in_labels(request: UploadRequest, mutable: bool) -> ProjectLabels:
    """The project's labels with made-up ids: enough to check every payload before upload."""
    schema = request.label_schema
    labels = []
    for number, ((field_name, class_name), name) in enumerate(label_names(schema).items()):
        specs = {a: i for i, a in enumerate(schema.fields[field_name].attributes)}
        kind = CVAT_LABEL_TYPE[schema.fields[field_name].type]
        labels.append(CvatLabel(number, name, field_name, class_name, kind, specs))
    return ProjectLabels(labels=tuple(labels), schema=schema, mutable=mutable)


def _planned(plans: list[TaskPlan], labels: list[dict[str, Any]]) -> UploadResult:
    """What a dry run reports: the tasks that would be made, stand-in ids."""
    position = {f.frame_id: plan.position for plan in plans for f in plan.frames}
    return UploadResult(
        shape_ids=[f"planned:{i}" for i in range(len(labels))],
        task_ids=[f"planned:{position[label['frame_id']]}" for label in labels],
        tasks=len(plans),
    )


def _record(task_id: int, name: str, plan: TaskPlan) -> TaskRecord:
    frames = {n: FrameRef(f.frame_id, f.input_uuid, f.source_id) for n, f in enumerate(plan.frames)}
    return TaskRecord(task_id, plan.position, name, len(plan.frames), frames)


def _uploaded(
    task_id: int, prepared: Prepared, ids: dict[int, str], rows: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The ledger rows of a task's uploaded labels: as sent, and as the catalog held them."""
    out = []
    for index, shape_id in ids.items():
        row = rows[index]
        original = {
            "geometry": row["geometry"],
            "keyframe": row["keyframe"],
            "attributes": parse_json(row["attributes"]),
            "confidence": row["confidence"],
            "source_ids": row["source_ids"],
            "track_index": row["track_index"],
        }
        out.append(
            {
                "task_id": task_id,
                "shape_id": shape_id,
                "frame_id": row["frame_id"],
                "sent": prepared.sent[index],
                "original": original,
            }
        )
    return out


def _task_status(jobs: list[dict[str, Any]]) -> str:
    states = [str(j.get("state")) for j in jobs]
    stages = [str(j.get("stage")) for j in jobs]
    if jobs and all(
        s in _DONE_STATES or g == "acceptance" for s, g in zip(states, stages, strict=True)
    ):
        return "done"
    if any(s in _STARTED_STATES for s in states) or any(g != "annotation" for g in stages):
        return "in_progress"
    return "new"


def _assignees(jobs: list[dict[str, Any]]) -> str | None:
    names = sorted(
        {
            str(j["assignee"].get("username"))
            for j in jobs
            if isinstance(j.get("assignee"), dict) and j["assignee"].get("username")
        }
    )
    return ", ".join(names) or None


def _updated(jobs: list[dict[str, Any]]) -> datetime | None:
    stamps = []
    for job in jobs:
        try:
            stamps.append(datetime.fromisoformat(str(job.get("updated_date"))))
        except ValueError:
            continue
    return max(stamps) if stamps else None
