"""Frames as Label Studio tasks, and tasks back: what goes in each task's data, in what
order tasks are imported, which results of a task stand for it now, and its status."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import duckdb

from workbench.backends.base import TaskStatus, UploadRequest
from workbench.backends.labelstudio.convert import IMAGE, Controls
from workbench.backends.labelstudio.errors import LabelStudioError
from workbench.backends.labelstudio.media import Image
from workbench.backends.labelstudio.results import TaskReader, frame_prediction
from workbench.model.labels import TRACKABLE_TYPES
from workbench.store.run_data import frame_sources, run_input_frames

# The model version of the prediction that carries a task's labels as sent.
PREDICTION_VERSION = "workbench"


def run_frames(con: duckdb.DuckDBPyConnection, request: UploadRequest) -> list[dict[str, Any]]:
    """The run's frames in order, each with its context, time, index in its scene and the
    one source to show."""
    rows = sorted(request.frames.to_pylist(), key=lambda r: r["position"])
    known = frame_sources(con, [r["frame_id"] for r in rows])
    out: list[dict[str, Any]] = []
    index_in_scene: dict[int, int] = {}
    for row in rows:
        frame = known[row["frame_id"]]
        sources = [
            {"id": s.id, "uri": s.uri, "width": s.width, "height": s.height} for s in frame.sources
        ]
        source = _pick_source(frame.frame_id, sources, request.media_field)
        scene = row["scene_index"]
        index = index_in_scene.get(scene, 0)
        index_in_scene[scene] = index + 1
        out.append(
            {
                "frame_id": frame.frame_id,
                "input_uuid": row["input_uuid"],
                "scene_index": scene,
                "position": row["position"],
                "context_id": frame.context_id,
                "timestamp": frame.timestamp,
                "frame_index": index,
                "source": source,
                "sources": len(sources),
            }
        )
    return out


def _pick_source(
    frame_id: str, sources: list[dict[str, Any]], media_field: str | None
) -> dict[str, Any]:
    if media_field is not None:
        for source in sources:
            if source["id"] == media_field:
                return source
        raise LabelStudioError(f"frame {frame_id!r} has no source {media_field!r}")
    if len(sources) == 1:
        return sources[0]
    names = ", ".join(s["id"] for s in sources) or "none"
    raise LabelStudioError(
        f"frame {frame_id!r} has {len(sources)} sources ({names}): a Label Studio task shows "
        "one image, so pick it with media_field"
    )


def tracked_fields(
    request: UploadRequest, labels: list[dict[str, Any]], frames: list[dict[str, Any]]
) -> list[str]:
    """Fields that get a track number control: trackable ones, where labels have tracks or
    the run has sequences."""
    sequences = any(f["frame_index"] > 0 for f in frames)
    with_tracks = {r["field"] for r in labels if r["track_index"] is not None}
    return [
        name
        for name, spec in request.label_schema.fields.items()
        if spec.type in TRACKABLE_TYPES and (sequences or name in with_tracks)
    ]


def build_tasks(
    request: UploadRequest,
    frames: list[dict[str, Any]],
    images: list[Image],
    urls: dict[str, str],
    labels: list[dict[str, Any]],
    shape_ids: list[str],
    controls: Controls,
) -> list[dict[str, Any]]:
    """One task per frame: its image, our ids and what was sent in its data, its labels as
    the prediction (see docs/backends/labelstudio.md for every data key)."""
    by_frame: dict[str, list[int]] = {}
    for n, row in enumerate(labels):
        by_frame.setdefault(row["frame_id"], []).append(n)
    out: list[dict[str, Any]] = []
    for frame, image in zip(frames, images, strict=True):
        picked = by_frame.get(frame["frame_id"], [])
        prediction = frame_prediction(
            [labels[n] for n in picked],
            [shape_ids[n] for n in picked],
            controls,
            (image.width, image.height),
            image.source_id,
        )
        data: dict[str, Any] = {
            IMAGE: urls[frame["frame_id"]],
            "wb_run": request.run_id,
            "wb_anno_key": request.anno_key,
            "wb_frame": frame["frame_id"],
            "wb_input": frame["input_uuid"],
            "wb_context": frame["context_id"],
            "wb_frame_index": frame["frame_index"],
            "wb_timestamp": frame["timestamp"],
            "wb_scene": frame["scene_index"],
            "wb_group": frame["scene_index"] // request.task_size if request.task_size else 0,
            "wb_position": frame["position"],
            "wb_size": [image.width, image.height],
            "wb_source": image.source_id,
            "wb_sources": frame["sources"],
            "wb_shapes": prediction.sent,
        }
        if prediction.hidden:
            data["wb_hidden"] = prediction.hidden
        task: dict[str, Any] = {"data": data}
        if prediction.results:
            task["predictions"] = [
                {"model_version": PREDICTION_VERSION, "result": prediction.results}
            ]
        out.append(task)
    return out


def import_chunks(tasks: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Import requests of whole groups (task_size scenes each), at most `size` tasks unless a
    single group is bigger."""
    chunk: list[dict[str, Any]] = []
    for group in _groups(tasks):
        if chunk and len(chunk) + len(group) > size:
            yield chunk
            chunk = []
        while len(group) > size:
            yield group[:size]
            group = group[size:]
        chunk += group
    if chunk:
        yield chunk


def _groups(tasks: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    group: list[dict[str, Any]] = []
    for task in tasks:
        if group and task["data"]["wb_group"] != group[-1]["data"]["wb_group"]:
            yield group
            group = []
        group.append(task)
    if group:
        yield group


def sent_frames(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, str]:
    """frame id -> input uuid, for the frames the run's inputs hold now."""
    return run_input_frames(con, run_id)


def annotation_count(task: Mapping[str, Any]) -> int:
    value = task.get("total_annotations")
    return value if isinstance(value, int) else 0


def preferred(task: dict[str, Any], other: dict[str, Any]) -> bool:
    """Of two tasks for one frame, keep the annotated one, else the older."""
    return (-annotation_count(task), int(task["id"])) < (-annotation_count(other), int(other["id"]))


def latest_results(task: dict[str, Any], reader: TaskReader) -> list[Any]:
    """The results that stand for the task now: the newest submitted annotation (a ground
    truth first), else the labels as sent."""
    annotations = [
        a
        for a in task.get("annotations") or []
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    if annotations:
        best = max(
            annotations,
            key=lambda a: (
                bool(a.get("ground_truth")),
                str(a.get("updated_at") or ""),
                a.get("id") or 0,
            ),
        )
        result = best.get("result")
    else:
        ours = [
            p
            for p in task.get("predictions") or []
            if isinstance(p, dict) and p.get("model_version") == PREDICTION_VERSION
        ]
        result = max(ours, key=lambda p: p.get("id") or 0).get("result") if ours else []
    if not isinstance(result, list):
        raise reader.error(None, f"the result is not a list: {result!r:.100}")
    return result


def task_status(task: dict[str, Any]) -> TaskStatus:
    done = annotation_count(task)
    if done:
        status = "done"
    elif task.get("cancelled_annotations") or task.get("drafts"):
        status = "in_progress"
    else:
        status = "new"
    position = task["data"].get("wb_position")
    return TaskStatus(
        task_id=str(task["id"]),
        status=status,
        frames=1,
        annotations=done,
        position=position if isinstance(position, int) else 0,
        updated=_time(task.get("updated_at")),
    )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None
