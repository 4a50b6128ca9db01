"""What the CVAT backend remembers about a run, in tables of the catalog.

- `cvat_runs`: the server, the project and its labels (ids of labels and attribute specs);
- `cvat_tasks`: each task of a run, its position and frame count;
- `cvat_task_frames`: which catalog frame (and input) each task frame number is;
- `cvat_shapes`: each uploaded label as it was sent (the CVAT geometry and attribute texts)
  and as the catalog held it, so that a shape nobody touched comes back exactly as it was
  (no float noise from rotated boxes, no flags CVAT cannot hold).

They are written in the service's transaction, so a failed or dry-run annotate leaves none
behind. Until the catalog schema has a migration for them they are created on first use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from workbench.backends.cvat.labels import ProjectLabels

# The tables are created by the catalog's schema (migration 3, workbench/store/schema.py).
TABLES: tuple[str, ...] = ("cvat_runs", "cvat_tasks", "cvat_task_frames", "cvat_shapes")


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


def save_run(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    tasks: Sequence[TaskRecord],
    shapes: Sequence[dict[str, Any]],
) -> None:
    """Record a run: its project, tasks, task frames and uploaded shapes."""
    con.execute(
        "INSERT INTO cvat_runs (run_id, url, project_id, labels) VALUES (?, ?, ?, ?)",
        [run.run_id, run.url, run.project_id, json.dumps(run.labels.to_dict())],
    )
    _insert(
        con,
        "cvat_tasks",
        pa.table(
            {
                "run_id": pa.array([run.run_id] * len(tasks), pa.string()),
                "task_id": pa.array([t.task_id for t in tasks], pa.int64()),
                "position": pa.array([t.position for t in tasks], pa.int32()),
                "name": pa.array([t.name for t in tasks], pa.string()),
                "size": pa.array([t.size for t in tasks], pa.int32()),
            }
        ),
    )
    frames = [(t.task_id, n, ref) for t in tasks for n, ref in sorted(t.frames.items())]
    _insert(
        con,
        "cvat_task_frames",
        pa.table(
            {
                "run_id": pa.array([run.run_id] * len(frames), pa.string()),
                "task_id": pa.array([f[0] for f in frames], pa.int64()),
                "frame": pa.array([f[1] for f in frames], pa.int32()),
                "frame_id": pa.array([f[2].frame_id for f in frames], pa.string()),
                "input_uuid": pa.array([f[2].input_uuid for f in frames], pa.string()),
                "source_id": pa.array([f[2].source_id for f in frames], pa.string()),
            }
        ),
    )
    _insert(
        con,
        "cvat_shapes",
        pa.table(
            {
                "run_id": pa.array([run.run_id] * len(shapes), pa.string()),
                "task_id": pa.array([s["task_id"] for s in shapes], pa.int64()),
                "shape_id": pa.array([s["shape_id"] for s in shapes], pa.string()),
                "frame_id": pa.array([s["frame_id"] for s in shapes], pa.string()),
                "sent": pa.array([json.dumps(s["sent"]) for s in shapes], pa.string()),
                "original": pa.array([json.dumps(s["original"]) for s in shapes], pa.string()),
            }
        ),
    )


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    con.register("_wb_cvat_rows", rows)
    try:
        columns = ", ".join(rows.column_names)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _wb_cvat_rows")
    finally:
        con.unregister("_wb_cvat_rows")


def load_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunRecord | None:
    found = con.execute(
        "SELECT url, project_id, labels::VARCHAR FROM cvat_runs WHERE run_id = ?", [run_id]
    ).fetchall()
    if not found:
        return None
    url, project_id, labels = found[0]
    return RunRecord(run_id, url, int(project_id), ProjectLabels.from_dict(json.loads(labels)))


def load_tasks(con: duckdb.DuckDBPyConnection, run_id: str) -> list[TaskRecord]:
    tasks = con.execute(
        "SELECT task_id, position, name, size FROM cvat_tasks WHERE run_id = ? ORDER BY position",
        [run_id],
    ).fetchall()
    frames: dict[int, dict[int, FrameRef]] = {int(t[0]): {} for t in tasks}
    for task_id, frame, frame_id, input_uuid, source_id in con.execute(
        "SELECT task_id, frame, frame_id, input_uuid, source_id FROM cvat_task_frames "
        "WHERE run_id = ?",
        [run_id],
    ).fetchall():
        frames.setdefault(int(task_id), {})[int(frame)] = FrameRef(frame_id, input_uuid, source_id)
    return [
        TaskRecord(int(t[0]), int(t[1]), str(t[2]), int(t[3]), frames[int(t[0])]) for t in tasks
    ]


def load_shapes(
    con: duckdb.DuckDBPyConnection, run_id: str
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """shape id -> (as sent, as the catalog held it) for every uploaded label of the run."""
    found = con.execute(
        "SELECT shape_id, sent::VARCHAR, original::VARCHAR FROM cvat_shapes WHERE run_id = ?",
        [run_id],
    ).fetchall()
    return {r[0]: (json.loads(r[1]), json.loads(r[2])) for r in found}


def forget_frames(
    con: duckdb.DuckDBPyConnection, run_id: str, task_id: int, frames: Sequence[int]
) -> None:
    """Drop frames (of removed inputs) from a task: their shapes are no longer the run's."""
    gone = [int(f) for f in frames]
    con.execute(
        "DELETE FROM cvat_shapes WHERE run_id = ? AND task_id = ? AND frame_id IN "
        "(SELECT frame_id FROM cvat_task_frames WHERE run_id = ? AND task_id = ? "
        "AND frame IN (SELECT unnest(?::INTEGER[])))",
        [run_id, task_id, run_id, task_id, gone],
    )
    con.execute(
        "DELETE FROM cvat_task_frames WHERE run_id = ? AND task_id = ? "
        "AND frame IN (SELECT unnest(?::INTEGER[]))",
        [run_id, task_id, gone],
    )


def forget_tasks(con: duckdb.DuckDBPyConnection, run_id: str, task_ids: Sequence[int]) -> None:
    ids = [int(t) for t in task_ids]
    for table in ("cvat_shapes", "cvat_task_frames", "cvat_tasks"):
        con.execute(
            f"DELETE FROM {table} WHERE run_id = ? AND task_id IN (SELECT unnest(?::BIGINT[]))",
            [run_id, ids],
        )


def forget_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    for table in TABLES:
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
