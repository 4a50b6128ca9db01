"""Nucleus export: each context of a view as one VideoScene of image frames."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.errors import IngestError
from workbench.ingest import _nucleus_export_sql as sql
from workbench.ingest._budget import held_to_budget
from workbench.ingest.export import ExportReport
from workbench.ingest.images import SOURCE_ID
from workbench.ingest.views import ExportFrame, ViewLike, view_frames
from workbench.store.arrow import registered

# Frame metadata keys the importer writes (the scene's metadata, its frame rate); export reads
# them back and leaves them, and the importer's own video keys, out of item metadata.
SCENE_KEY = "scene"
FPS_KEY = "fps"
_RESERVED_KEYS = frozenset({SCENE_KEY, FPS_KEY, "video", "codec"})


@held_to_budget
def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    frame_rate: float | None = None,
) -> ExportReport:
    """Write each context of the view as one Nucleus VideoScene of image frames.

    `dest` ending in .json gets a JSON list, anything else NDJSON (one scene per line).
    Scenes go in the order of their first frame in the view, frames in frame_index order
    (then timestamp, then the view's order). The scene's frame_rate is `frame_rate` if given,
    else the one imported with the scene, else derived from the timestamps. Scenes are built
    by the catalog's engine and written a group of contexts at a time (memory holds one group).
    """
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = ExportReport(dest=target)
    ids = view.frames(columns=["id"]).column("id")
    table = pa.table({"id": ids, "o": pa.array(np.arange(len(ids), dtype=np.int64))})
    left_out: Counter[str] = Counter()
    con = view.catalog.cursor()
    try:
        with (
            registered(con, "_wb_export_ids", table),
            tqdm(total=len(ids), desc="export nucleus", unit="frame", disable=not progress) as bar,
            _SceneFile(target) as out,
        ):
            contexts = con.execute(sql.CONTEXTS).fetchall()
            for group in _groups(contexts):
                for text, frames, skipped in _scene_texts(con, view, group, frame_rate):
                    if text is not None:
                        out.write(text)
                    report.frames += frames
                    report.skipped.extend(skipped)
                    bar.update(frames)
            # ROIs are only counted (as the view's ROI filters leave them), when there are any.
            any_roi = con.execute(sql.ANY_ROI).fetchall()
        for start in range(0, len(ids) if any_roi else 0, _ROI_CHUNK):
            left_out.update(_roi_kinds(view, ids.slice(start, _ROI_CHUNK).to_pylist()))
    finally:
        con.close()
    report.files.append(target)
    report.skipped.extend(
        f"{n} {kind} ROIs (a Nucleus scene carries no annotations: export them as nucleus_annotations)"
        for kind, n in sorted(left_out.items())
    )
    return report


_FRAMES_PER_GROUP = 100_000  # frames of the scenes built by one query
_ROI_CHUNK = 50_000


def _groups(contexts: list[tuple[Any, int, int]]) -> Iterator[list[Any]]:
    """The contexts in export order, in groups of about _FRAMES_PER_GROUP frames."""
    group: list[Any] = []
    held = 0
    for context, frames, _ in contexts:
        group.append(context)
        held += frames
        if held >= _FRAMES_PER_GROUP:
            yield group
            group, held = [], 0
    if group:
        yield group


def _scene_texts(
    con: Any, view: ViewLike, group: list[Any], frame_rate: float | None
) -> Iterator[tuple[str | None, int, list[str]]]:
    """(JSON text, frames written, skipped) of each scene of the group (no text: the scene has
    no image), in the group's order: built in SQL, or in Python for the scenes SQL leaves to it."""
    named = [c for c in group if c is not None]
    contexts = pa.table({"context_id": pa.array(named, pa.string()),
                         "g": pa.array(range(len(named)), pa.int64())})  # fmt: skip
    with registered(con, "_wb_nu_group", contexts):
        built = {row[1]: row for row in con.execute(sql.SCENES).fetchall()}
    for context in group:
        row = built.get(context)
        if row is None or row[2]:  # no context id, or values SQL leaves to Python
            ids = [r[0] for r in con.execute(sql.CONTEXT_IDS, [context]).fetchall()]
            frames = [f for chunk in view_frames(view.catalog, ids) for f in chunk]
            frames.sort(key=lambda f: (f.frame_index is None, f.frame_index or 0, f.timestamp or 0))
            scene, skipped = _scene_payload(context, frames, frame_rate)
            text = json.dumps(scene, default=str) if scene["frames"] else None
            yield text, len(scene["frames"]), skipped
            continue
        _, _, _, first_meta, items, count, no_image, timed, indexed, i0, t0, i1, t1 = row
        skipped = [f"frame {frame_id!r}: has no image" for frame_id in no_image or ()]
        if not count:
            yield None, 0, skipped
            continue
        first = json.loads(first_meta) if first_meta else {}
        derived = _rate_of(i0, t0, i1, t1) if timed >= 2 and indexed else 1.0
        rate = frame_rate or first.get(FPS_KEY) or derived
        scene_meta = first.get(SCENE_KEY)
        head = {"reference_id": context, "frame_rate": _number(rate),
                "metadata": scene_meta if isinstance(scene_meta, dict) else {}}  # fmt: skip
        yield f'{json.dumps(head)[:-1]}, "frames": [{items}]}}', count, skipped


class _SceneFile:
    """Scene texts written as NDJSON lines, or as one JSON list for a `.json` target."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.listed = target.suffix.lower() == ".json"
        self.count = 0

    def __enter__(self) -> _SceneFile:
        try:
            self.out = self.target.open("w", encoding="utf-8")
            if self.listed:
                self.out.write("[")
        except OSError as exc:
            raise IngestError(f"cannot write {self.target}: {exc}") from exc
        return self

    def write(self, text: str) -> None:
        try:
            if self.listed:
                self.out.write(", " + text if self.count else text)
            else:
                self.out.write(text + "\n")
        except OSError as exc:
            raise IngestError(f"cannot write {self.target}: {exc}") from exc
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        try:
            if self.listed and exc[0] is None:
                self.out.write("]")
            self.out.close()
        except OSError as err:
            raise IngestError(f"cannot write {self.target}: {err}") from err


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
        return _rate_of(i0, t0, i1, t1)
    return 1.0


def _rate_of(i0: int | None, t0: int, i1: int | None, t1: int) -> float:
    """Frames per second between a scene's first and last timed frames (1 when undefined)."""
    if t1 > t0 and i1 is not None and i0 is not None and i1 > i0:
        return (i1 - i0) * 1000 / (t1 - t0)
    return 1.0


def _number(value: Any) -> int | float:
    rate = float(value)
    return int(rate) if rate.is_integer() else round(rate, 3)
