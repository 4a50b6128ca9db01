"""The embedded annotation platform: tasks and shapes kept in the catalog itself.

Nothing else needs to be installed or running: a run's frames are split into tasks
(`task_size` scenes each, scenes never split), each task's frames into segments of
`segment_size`, and existing labels become shapes the annotator edits through the service
(list tasks, get a task's frames and shapes, save shapes, mark a task done). Tables:
`local_tasks`, `local_task_frames`, `local_shapes` (see docs/catalog.md). Every write is one
set-based statement over an Arrow table, never a statement per frame.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from workbench.backends.base import (
    Capabilities,
    Removal,
    ShapeError,
    TaskStatus,
    UploadRequest,
    UploadResult,
)
from workbench.errors import RecordError
from workbench.model.labels import ATTRIBUTE_TYPES, LABEL_TYPES
from workbench.model.records import ROI_KINDS, Frame, Roi
from workbench.model.serialise import Serialisable
from workbench.model.shapes import SHAPE_SCHEMA, Shape
from workbench.model.validation import validate_frame
from workbench.store.arrow import append_rows

TASK_STATUSES: tuple[str, ...] = ("new", "in_progress", "done")
SHAPE_KINDS: tuple[str, ...] = (*ROI_KINDS, "scalar")

_SHAPE_COLUMNS = (
    "task_id, id, frame_id, field, kind, label, confidence, geometry, mask::VARCHAR AS mask, "
    "attributes::VARCHAR AS attributes, value::VARCHAR AS value, track_index, keyframe, "
    "source_ids"
)


@dataclass(frozen=True)
class TaskSource(Serialisable):
    id: str
    uri: str | None
    width: int | None = None
    height: int | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class TaskFrame(Serialisable):
    """One frame of a task, in annotation order, with the images to draw on."""

    frame_id: str
    position: int
    segment: int
    input_uuid: str | None
    context_id: str | None
    timestamp: int | None
    sources: tuple[TaskSource, ...]


@dataclass(frozen=True)
class SaveResult(Serialisable):
    """What saving a task's shapes did: counted against the shapes it replaced."""

    task_id: str
    frames: int
    shapes: int
    added: int
    changed: int
    removed: int
    shape_ids: tuple[str, ...] = ()


class LocalBackend:
    """The local platform. Stateless: every method works on the connection it is given."""

    name: ClassVar[str] = "local"
    capabilities: ClassVar[Capabilities] = Capabilities(
        label_types=LABEL_TYPES,
        attribute_types=ATTRIBUTE_TYPES,
        supports_video=True,
        supports_read_only_attributes=True,
        supports_task_editing=True,
    )

    # -- the AnnotationBackend protocol ---------------------------------------------------
    def upload(self, con: duckdb.DuckDBPyConnection, request: UploadRequest) -> UploadResult:
        frames = request.frames
        scene_index = frames.column("scene_index").to_pylist()
        size = request.task_size or max(len(frames), 1)
        task_of_row = [index // size for index in scene_index]
        count = max(task_of_row, default=-1) + 1
        task_ids = [str(uuid.uuid4()) for _ in range(count)]
        tasks = pa.table(
            {
                "id": task_ids,
                "run_id": [request.run_id] * count,
                "position": list(range(count)),
            }
        )
        append_rows(con, "local_tasks", tasks)
        frame_tasks = [task_ids[t] for t in task_of_row]
        self._insert_task_frames(
            con, request, frames.append_column("task_id", pa.array(frame_tasks, pa.string()))
        )
        task_of_frame = dict(zip(frames.column("frame_id").to_pylist(), frame_tasks, strict=True))
        labels = request.labels
        label_tasks = [task_of_frame[f] for f in labels.column("frame_id").to_pylist()]
        shape_ids = [str(uuid.uuid4()) for _ in range(labels.num_rows)]
        shapes = (
            labels.drop_columns(["roi_id"])
            .append_column("run_id", pa.array([request.run_id] * labels.num_rows, pa.string()))
            .append_column("task_id", pa.array(label_tasks, pa.string()))
            .append_column("id", pa.array(shape_ids, pa.string()))
        )
        append_rows(con, "local_shapes", shapes)
        return UploadResult(shape_ids=shape_ids, task_ids=label_tasks, tasks=count)

    def _insert_task_frames(
        self, con: duckdb.DuckDBPyConnection, request: UploadRequest, frames: pa.Table
    ) -> None:
        segment = int(request.segment_size or 0)
        con.register("_wb_local_frames", frames)
        try:
            con.execute(
                """INSERT INTO local_task_frames
                   SELECT task_id, ?, input_uuid, frame_id, pos,
                          CASE WHEN ? > 0 THEN pos // ? ELSE 0 END
                   FROM (SELECT *, (row_number() OVER (PARTITION BY task_id ORDER BY position)
                                    - 1)::INTEGER AS pos
                         FROM _wb_local_frames)""",
                [request.run_id, segment, segment],
            )
        finally:
            con.unregister("_wb_local_frames")

    def download(self, con: duckdb.DuckDBPyConnection, run_id: str) -> pa.Table:
        table = _arrow(
            con,
            f"SELECT {_SHAPE_COLUMNS} FROM local_shapes WHERE run_id = ? "
            "ORDER BY task_id, frame_id, id",
            [run_id],
        )
        return table.cast(SHAPE_SCHEMA)

    def task_statuses(self, con: duckdb.DuckDBPyConnection, run_id: str) -> list[TaskStatus]:
        found = con.execute(
            """SELECT t.id, t.status,
                      (SELECT count(*) FROM local_task_frames f WHERE f.task_id = t.id),
                      (SELECT count(*) FROM local_shapes s WHERE s.task_id = t.id),
                      t.position, t.assignee, t.updated
               FROM local_tasks t WHERE t.run_id = ? ORDER BY t.position""",
            [run_id],
        ).fetchall()
        return [
            TaskStatus(
                task_id=r[0],
                status=r[1],
                frames=int(r[2]),
                annotations=int(r[3]),
                position=int(r[4]),
                assignee=r[5],
                updated=r[6],
            )
            for r in found
        ]

    def remove_inputs(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: str,
        input_uuids: Sequence[str],
        *,
        dryrun: bool,
    ) -> Removal:
        con.register(
            "_wb_gone_inputs", pa.table({"uuid": pa.array(list(input_uuids), pa.string())})
        )
        try:
            gone_frames = (
                "SELECT task_id, frame_id FROM local_task_frames WHERE run_id = ? "
                "AND input_uuid IN (SELECT uuid FROM _wb_gone_inputs)"
            )
            annotations = con.execute(
                f"SELECT count(*) FROM local_shapes WHERE run_id = ? AND (task_id, frame_id) IN "
                f"(SELECT (task_id, frame_id) FROM ({gone_frames}))",
                [run_id, run_id],
            ).fetchall()[0][0]
            emptied = [
                r[0]
                for r in con.execute(
                    "SELECT task_id FROM local_task_frames WHERE run_id = ? GROUP BY task_id "
                    "HAVING bool_and(input_uuid IN (SELECT uuid FROM _wb_gone_inputs))",
                    [run_id],
                ).fetchall()
            ]
            if not dryrun:
                con.execute(
                    f"DELETE FROM local_shapes WHERE run_id = ? AND (task_id, frame_id) IN "
                    f"(SELECT (task_id, frame_id) FROM ({gone_frames}))",
                    [run_id, run_id],
                )
                con.execute(
                    "DELETE FROM local_task_frames WHERE run_id = ? "
                    "AND input_uuid IN (SELECT uuid FROM _wb_gone_inputs)",
                    [run_id],
                )
                con.execute(
                    "DELETE FROM local_tasks WHERE id IN (SELECT unnest(?::VARCHAR[]))", [emptied]
                )
        finally:
            con.unregister("_wb_gone_inputs")
        return Removal(tasks=len(emptied), annotations=int(annotations))

    def cleanup(self, con: duckdb.DuckDBPyConnection, run_id: str, *, dryrun: bool) -> Removal:
        tasks = con.execute(
            "SELECT count(*) FROM local_tasks WHERE run_id = ?", [run_id]
        ).fetchall()
        shapes = con.execute(
            "SELECT count(*) FROM local_shapes WHERE run_id = ?", [run_id]
        ).fetchall()
        if not dryrun:
            for table in ("local_shapes", "local_task_frames", "local_tasks"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
        return Removal(tasks=int(tasks[0][0]), annotations=int(shapes[0][0]))

    # -- the task editing API (local platform only) ---------------------------------------
    def task_run(self, con: duckdb.DuckDBPyConnection, task_id: str) -> str | None:
        """The run a task belongs to, or None for an unknown task."""
        found = con.execute("SELECT run_id FROM local_tasks WHERE id = ?", [task_id]).fetchall()
        return str(found[0][0]) if found else None

    def task_status(self, con: duckdb.DuckDBPyConnection, task_id: str) -> TaskStatus:
        run_id = self.task_run(con, task_id)
        if run_id is None:
            raise ShapeError(f"unknown task {task_id!r}")
        return next(t for t in self.task_statuses(con, run_id) if t.task_id == task_id)

    def task_frames(
        self,
        con: duckdb.DuckDBPyConnection,
        task_id: str,
        media_field: str | None = None,
        segment: int | None = None,
    ) -> list[TaskFrame]:
        """The task's frames in order (one segment of them if asked), with their images."""
        found = con.execute(
            """SELECT tf.frame_id, tf.position, tf.segment, tf.input_uuid, f.context_id,
                      f.timestamp,
                      list({'id': s.id, 'uri': s.uri, 'width': s.width, 'height': s.height,
                            'content_type': s.content_type} ORDER BY s.id)
                        FILTER (WHERE s.id IS NOT NULL AND (? IS NULL OR s.id = ?))
               FROM local_task_frames tf
               LEFT JOIN frames f ON f.id = tf.frame_id
               LEFT JOIN sources s ON s.frame_id = tf.frame_id
               WHERE tf.task_id = ? AND (? IS NULL OR tf.segment = ?)
               GROUP BY ALL ORDER BY tf.position""",
            [media_field, media_field, task_id, segment, segment],
        ).fetchall()
        return [
            TaskFrame(
                frame_id=r[0],
                position=int(r[1]),
                segment=int(r[2]),
                input_uuid=r[3],
                context_id=r[4],
                timestamp=r[5],
                sources=tuple(TaskSource(**s) for s in r[6] or ()),
            )
            for r in found
        ]

    def task_shapes(
        self,
        con: duckdb.DuckDBPyConnection,
        task_id: str,
        frame_ids: Sequence[str] | None = None,
    ) -> list[Shape]:
        query = f"SELECT {_SHAPE_COLUMNS} FROM local_shapes WHERE task_id = ?"
        params: list[Any] = [task_id]
        if frame_ids is not None:
            query += " AND frame_id IN (SELECT unnest(?::VARCHAR[]))"
            params.append(list(frame_ids))
        table = _arrow(con, query + " ORDER BY frame_id, field, id", params)
        return [Shape.from_row(row) for row in table.to_pylist()]

    def save_shapes(
        self,
        con: duckdb.DuckDBPyConnection,
        task_id: str,
        shapes: Sequence[Shape],
        frame_ids: Sequence[str] | None = None,
    ) -> SaveResult:
        """Replace the task's shapes on `frame_ids` (default: all its frames) with `shapes`.

        Shapes keep their ids; new ones (id None) get one. A tracked shape saved without a
        keyframe flag becomes a keyframe when it is new or moved, as in a video annotator.
        """
        run_id = self.task_run(con, task_id)
        if run_id is None:
            raise ShapeError(f"unknown task {task_id!r}")
        task_frames = {
            r[0]
            for r in con.execute(
                "SELECT frame_id FROM local_task_frames WHERE task_id = ?", [task_id]
            ).fetchall()
        }
        scope = set(task_frames if frame_ids is None else frame_ids)
        outside = sorted(scope - task_frames)
        if outside:
            raise ShapeError(f"task {task_id!r} has no frames {', '.join(outside[:10])}")
        old = {s.id: s for s in self.task_shapes(con, task_id, sorted(scope))}
        new = _checked_shapes(con, run_id, task_id, shapes, scope, old)
        table = pa.Table.from_pylist([s.to_row() for s in new], schema=SHAPE_SCHEMA)
        table = table.append_column("run_id", pa.array([run_id] * len(new), pa.string()))
        con.execute(
            "DELETE FROM local_shapes WHERE task_id = ? AND frame_id IN (SELECT unnest(?::VARCHAR[]))",
            [task_id, sorted(scope)],
        )
        append_rows(con, "local_shapes", table)
        con.execute(
            "UPDATE local_tasks SET updated = current_timestamp, "
            "status = CASE WHEN status = 'new' THEN 'in_progress' ELSE status END WHERE id = ?",
            [task_id],
        )
        ids = {s.id for s in new}
        return SaveResult(
            task_id=task_id,
            frames=len(scope),
            shapes=len(new),
            added=sum(1 for s in new if s.id not in old),
            changed=sum(1 for s in new if s.id in old and old[s.id] != s),
            removed=sum(1 for i in old if i not in ids),
            shape_ids=tuple(str(s.id) for s in new),
        )

    def set_task_status(
        self, con: duckdb.DuckDBPyConnection, task_id: str, status: str, assignee: str | None = None
    ) -> None:
        if status not in TASK_STATUSES:
            raise ShapeError(f"unknown task status {status!r}: expected one of {TASK_STATUSES}")
        con.execute(
            "UPDATE local_tasks SET status = ?, assignee = coalesce(?, assignee), "
            "updated = current_timestamp WHERE id = ?",
            [status, assignee, task_id],
        )


def _checked_shapes(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    task_id: str,
    shapes: Sequence[Shape],
    scope: set[str],
    old: dict[str | None, Shape],
) -> list[Shape]:
    """The shapes to store: validated, with ids, task id and keyframe flags filled in."""
    out: list[Shape] = []
    seen: set[str] = set()
    for number, shape in enumerate(shapes):
        where = f"shape {number} ({shape.id or 'new'}) on frame {shape.frame_id!r}"
        _check_shape(shape, where, scope)
        shape_id = shape.id or str(uuid.uuid4())
        if shape_id in seen:
            raise ShapeError(f"{where}: id {shape_id!r} appears twice")
        seen.add(shape_id)
        before = old.get(shape_id)
        keyframe = shape.keyframe
        if keyframe is None and shape.track_index is not None:
            moved = before is None or before.geometry != _floats(shape.geometry)
            keyframe = True if moved else before.keyframe if before else None
        geometry = _floats(shape.geometry)
        out.append(
            dataclasses.replace(
                shape, id=shape_id, task_id=task_id, keyframe=keyframe, geometry=geometry
            )
        )
    claimed = [s.id for s in out if s.id not in old]
    if claimed:
        taken = con.execute(
            "SELECT id FROM local_shapes WHERE run_id = ? AND task_id <> ? "
            "AND id IN (SELECT unnest(?::VARCHAR[]))",
            [run_id, task_id, claimed],
        ).fetchall()
        if taken:
            raise ShapeError(f"shape ids belong to other tasks: {sorted(r[0] for r in taken)[:10]}")
    return out


def _floats(geometry: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in ring) for ring in geometry)


def _check_shape(shape: Shape, where: str, scope: set[str]) -> None:
    if shape.frame_id not in scope:
        raise ShapeError(f"{where}: the frame is not one of the frames being saved")
    if shape.kind not in SHAPE_KINDS:
        raise ShapeError(f"{where}: unknown kind {shape.kind!r} (expected one of {SHAPE_KINDS})")
    if not shape.field:
        raise ShapeError(f"{where}: no label field")
    if shape.kind == "scalar":
        return
    roi = Roi(
        id=shape.id or "new",
        kind=shape.kind,
        labels=[shape.label] if shape.label else [],
        field=shape.field,
        geometry=[list(ring) for ring in shape.geometry],
        confidence=shape.confidence,
        mask=shape.mask,
    )
    try:
        validate_frame(Frame(id=shape.frame_id, rois=[roi]), where)
    except RecordError as exc:
        raise ShapeError(str(exc)) from exc


def _arrow(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> pa.Table:
    table = con.sql(query, params=list(params)).to_arrow_table()
    if table is None:
        raise ShapeError(f"query returned no result: {query[:80]}")
    return table
