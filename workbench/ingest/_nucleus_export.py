"""Nucleus export: each context of a view as one VideoScene of image frames."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.errors import IngestError
from workbench.ingest.export import ExportReport
from workbench.ingest.images import SOURCE_ID
from workbench.ingest.views import ExportFrame, ViewLike, view_frames

# Frame metadata keys the importer writes (the scene's metadata, its frame rate); export reads
# them back and leaves them, and the importer's own video keys, out of item metadata.
SCENE_KEY = "scene"
FPS_KEY = "fps"
_RESERVED_KEYS = frozenset({SCENE_KEY, FPS_KEY, "video", "codec"})


def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    frame_rate: float | None = None,
) -> ExportReport:
    """Write each context of the view as one Nucleus VideoScene of image frames.

    `dest` ending in .json gets a JSON list, anything else NDJSON (one scene per line).
    Frames go in frame_index order (then timestamp). The scene's frame_rate is `frame_rate`
    if given, else the one imported with the scene, else derived from the timestamps.
    """
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = ExportReport(dest=target)
    by_context: dict[str, list[ExportFrame]] = {}
    ids = view.frame_ids()
    left_out: Counter[str] = Counter()
    with tqdm(total=len(ids), desc="export nucleus", unit="frame", disable=not progress) as bar:
        for chunk in view_frames(view.catalog, ids):
            for frame in chunk:
                by_context.setdefault(frame.context_id, []).append(frame)
            left_out.update(_roi_kinds(view, [f.id for f in chunk]))
            bar.update(len(chunk))
    scenes = []
    for context, frames in by_context.items():
        frames.sort(key=lambda f: (f.frame_index is None, f.frame_index or 0, f.timestamp or 0))
        scene, skipped = _scene_payload(context, frames, frame_rate)
        report.skipped.extend(skipped)
        if scene["frames"]:
            scenes.append(scene)
            report.frames += len(scene["frames"])
    try:
        with target.open("w", encoding="utf-8") as out:
            if target.suffix.lower() == ".json":
                json.dump(scenes, out, default=str)
            else:
                for scene in scenes:
                    out.write(json.dumps(scene, default=str) + "\n")
    except OSError as exc:
        raise IngestError(f"cannot write {target}: {exc}") from exc
    report.files.append(target)
    report.skipped.extend(
        f"{n} {kind} ROIs (a Nucleus scene carries no annotations)"
        for kind, n in sorted(left_out.items())
    )
    return report


def _roi_kinds(view: ViewLike, frame_ids: list[str]) -> Counter[str]:
    """How many ROIs of each kind the view has on these frames (none is written)."""
    kinds = view.rois(frame_ids).column("kind")
    counts = pc.value_counts(kinds).to_pylist() if len(kinds) else []
    return Counter({str(c["values"]): int(c["counts"]) for c in counts})


def _scene_payload(
    context: str, frames: list[ExportFrame], frame_rate: float | None
) -> tuple[dict[str, Any], list[str]]:
    items: list[dict[str, Any]] = []
    skipped: list[str] = []
    for frame in frames:
        source = next((s for s in frame.sources if s.id == SOURCE_ID), None) or next(
            iter(frame.sources), None
        )
        if source is None:
            skipped.append(f"frame {frame.id!r}: has no image")
            continue
        meta = {k: v for k, v in frame.metadata.items() if k not in _RESERVED_KEYS}
        items.append(_item(frame.id, source.uri, meta))
    first = frames[0].metadata
    rate = frame_rate or first.get(FPS_KEY) or _derived_rate(frames)
    scene: dict[str, Any] = {"reference_id": context, "frame_rate": _number(rate)}
    scene_meta = first.get(SCENE_KEY)
    scene["metadata"] = scene_meta if isinstance(scene_meta, dict) else {}
    scene["frames"] = items
    return scene, skipped


def _item(reference_id: str, uri: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """A frame as the Nucleus SDK writes it (DatasetItem.to_payload: `url`, `type`). Its
    from_json takes `url` only for .jpg and .png files, so other images also get `image_url`."""
    item: dict[str, Any] = {"reference_id": reference_id, "url": uri, "type": "image"}
    if uri.split("?", 1)[0].rsplit(".", 1)[-1] not in ("jpg", "png"):
        item["image_url"] = uri
    item["metadata"] = metadata
    return item


def _derived_rate(frames: list[ExportFrame]) -> float:
    timed = [(f.frame_index, f.timestamp) for f in frames if f.timestamp is not None]
    if len(timed) >= 2 and all(i is not None for i, _ in timed):
        (i0, t0), (i1, t1) = timed[0], timed[-1]
        if t1 > t0 and i1 is not None and i0 is not None and i1 > i0:
            return (i1 - i0) * 1000 / (t1 - t0)
    return 1.0


def _number(value: Any) -> int | float:
    rate = float(value)
    return int(rate) if rate.is_integer() else round(rate, 3)
