"""What the CVAT backend remembers about a run, in tables of the catalog.

- `cvat_runs`: the server, the project and its labels (ids of labels and attribute specs);
- `cvat_tasks`: each task of a run, its position and frame count;
- `cvat_task_frames`: which catalog frame (and input) each task frame number is;
- `cvat_shapes`: each uploaded label as it was sent (the CVAT geometry and attribute texts)
  and as the catalog held it, so that a shape nobody touched comes back exactly as it was
  (no float noise from rotated boxes, no flags CVAT cannot hold).

The backend declares these tables (`TABLES`) and reads and writes them through the store's
ledger (workbench/store/ledger.py), which makes them on first use: in the service's
transaction, so a failed or dry-run annotate leaves none behind. Catalogs made by schema
version 3 already have them, with the same columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from workbench.backends.cvat.labels import ProjectLabels
from workbench.store.ledger import Column, Ledger, LedgerTable

TABLES: tuple[LedgerTable, ...] = (
    LedgerTable(
        "cvat_runs",
        (
            Column("run_id", "VARCHAR"),
            Column("url", "VARCHAR", not_null=True),
            Column("project_id", "BIGINT", not_null=True),
            Column("labels", "JSON", not_null=True),
            Column("created", "TIMESTAMP", default="current_timestamp"),
        ),
        primary_key=("run_id",),
    ),
    LedgerTable(
        "cvat_tasks",
        (
            Column("run_id", "VARCHAR", not_null=True),
            Column("task_id", "BIGINT", not_null=True),
            Column("position", "INTEGER", not_null=True),
            Column("name", "VARCHAR", not_null=True),
            Column("size", "INTEGER", not_null=True),
        ),
    ),
    LedgerTable(
        "cvat_task_frames",
        (
            Column("run_id", "VARCHAR", not_null=True),
            Column("task_id", "BIGINT", not_null=True),
            Column("frame", "INTEGER", not_null=True),
            Column("frame_id", "VARCHAR", not_null=True),
            Column("input_uuid", "VARCHAR"),
            Column("source_id", "VARCHAR"),
        ),
    ),
    LedgerTable(
        "cvat_shapes",
        (
            Column("run_id", "VARCHAR", not_null=True),
            Column("task_id", "BIGINT", not_null=True),
            Column("shape_id", "VARCHAR", not_null=True),
            Column("frame_id", "VARCHAR", not_null=True),
            Column("sent", "JSON"),
            Column("original", "JSON"),
        ),
    ),
)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    url: str
    project_id: int
    labels: ProjectLabels


@dataclass(frozen=True)
class FrameRef:
    frame_id: str
    input_uuid: str | None
    source_id: str | None


@dataclass(frozen=True)
class TaskRecord:
    """A task of a run; `frames` maps its frame numbers still in the run to catalog frames.
    Frame numbers below `size` missing from it belonged to removed inputs."""

    task_id: int
    position: int
    name: str
    size: int
    frames: dict[int, FrameRef]


class CvatLedger:
    """The CVAT bookkeeping of a catalog, on the cursor the service handed the backend."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._ledger = Ledger(con, TABLES)

    def save_run(
        self, run: RunRecord, tasks: Sequence[TaskRecord], shapes: Sequence[dict[str, Any]]
    ) -> None:
        """Record a run: its project, tasks, task frames and uploaded shapes."""
        book = self._ledger
        book.put(
            "cvat_runs",
            [
                {
                    "run_id": run.run_id,
                    "url": run.url,
                    "project_id": run.project_id,
                    "labels": run.labels.to_dict(),
                }
            ],
        )
        book.put(
            "cvat_tasks",
            [
                {
                    "run_id": run.run_id,
                    "task_id": t.task_id,
                    "position": t.position,
                    "name": t.name,
                    "size": t.size,
                }
                for t in tasks
            ],
        )
        book.put(
            "cvat_task_frames",
            [
                {
                    "run_id": run.run_id,
                    "task_id": t.task_id,
                    "frame": number,
                    "frame_id": ref.frame_id,
                    "input_uuid": ref.input_uuid,
                    "source_id": ref.source_id,
                }
                for t in tasks
                for number, ref in sorted(t.frames.items())
            ],
        )
        book.put(
            "cvat_shapes",
            [
                {
                    "run_id": run.run_id,
                    "task_id": s["task_id"],
                    "shape_id": s["shape_id"],
                    "frame_id": s["frame_id"],
                    "sent": s["sent"],
                    "original": s["original"],
                }
                for s in shapes
            ],
        )

    def load_run(self, run_id: str) -> RunRecord | None:
        found = self._ledger.get("cvat_runs", run_id=run_id)
        if found is None:
            return None
        labels = ProjectLabels.from_dict(found["labels"])
        return RunRecord(run_id, found["url"], int(found["project_id"]), labels)

    def load_tasks(self, run_id: str) -> list[TaskRecord]:
        tasks = self._ledger.rows("cvat_tasks", run_id=run_id, order_by=("position",))
        frames: dict[int, dict[int, FrameRef]] = {int(t["task_id"]): {} for t in tasks}
        for row in self._ledger.rows("cvat_task_frames", run_id=run_id):
            ref = FrameRef(row["frame_id"], row["input_uuid"], row["source_id"])
            frames.setdefault(int(row["task_id"]), {})[int(row["frame"])] = ref
        return [
            TaskRecord(
                int(t["task_id"]),
                int(t["position"]),
                str(t["name"]),
                int(t["size"]),
                frames[int(t["task_id"])],
            )
            for t in tasks
        ]

    def load_shapes(self, run_id: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """shape id -> (as sent, as the catalog held it) for every uploaded label of the run."""
        return {
            r["shape_id"]: (r["sent"], r["original"])
            for r in self._ledger.rows("cvat_shapes", run_id=run_id)
        }

    def forget_frames(self, run_id: str, task_id: int, frames: Sequence[int]) -> None:
        """Drop frames (of removed inputs) from a task: their shapes are no longer the run's."""
        numbers = [int(f) for f in frames]
        book, task = self._ledger, int(task_id)
        gone = book.rows("cvat_task_frames", run_id=run_id, task_id=task, frame=numbers)
        frame_ids = sorted({row["frame_id"] for row in gone})
        if frame_ids:
            book.delete("cvat_shapes", run_id=run_id, task_id=task, frame_id=frame_ids)
            book.delete("cvat_task_frames", run_id=run_id, task_id=task, frame=numbers)

    def forget_tasks(self, run_id: str, task_ids: Sequence[int]) -> None:
        ids = [int(t) for t in task_ids]
        for table in ("cvat_shapes", "cvat_task_frames", "cvat_tasks"):
            self._ledger.delete(table, run_id=run_id, task_id=ids)

    def forget_run(self, run_id: str) -> None:
        for table in TABLES:
            self._ledger.delete(table.name, run_id=run_id)
