"""Label Studio JSON: a list of tasks, each `{"data": {"image": ...}, "predictions": [...],
"annotations": [...]}`, whose results place rectangles, polygons, keypoints and choices in
percent of the image (as Label Studio's own export and import and its converter have them).

Export writes one task per frame of a view, its ROIs of one field as the results of one
prediction (or annotation): boxes as `rectanglelabels`, polygons (one ring each) as
`polygonlabels`, points as `keypointlabels` (one per point), keypoints as a rectangle with
its points as `keypointlabels` children (_labelstudio_keypoints.py), masks as `brushlabels`
(Label Studio's RLE, _labelstudio_brush.py), classifications as `choices`.
A frame whose image size is unknown cannot be placed in percent: its shapes are counted as
skipped. `data.frame_id` names the frame, so importing the file back finds it; a task without
it is matched by its image's URI (equal, or ending with the same file name).

Import replaces the field on each frame a task names with the results of its last annotation
(its last prediction when it has none); a turned rectangle is the polygon of its corners. A
bad task or result, or one of a tool not held here, costs only itself, named by file, task
number and result number.
"""

from __future__ import annotations

import json
import os
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from workbench.errors import IngestError, RecordError
from workbench.ingest import _labelstudio_brush as brush
from workbench.ingest._budget import held_to_budget
from workbench.ingest._labelstudio_keypoints import keypoint_results, keypoint_rois, label_config
from workbench.ingest.export import ExportReport, written_atomically
from workbench.ingest.imports import recorded
from workbench.ingest.jsonread import Unreadable, read_document
from workbench.ingest.views import ViewLike, view_frames
from workbench.ingest.writer import CatalogWriter, IngestReport
from workbench.model import rle
from workbench.model.geometry import corner_ring
from workbench.model.keypoints import KeypointLabel
from workbench.model.records import Roi
from workbench.store.arrow import registered
from workbench.store.keypoints import keypoint_labels

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["export_files", "import_files"]

Target = Literal["predictions", "annotations"]
_TYPES = {"box": "rectanglelabels", "polygon": "polygonlabels", "point": "keypointlabels",
          "mask": "brushlabels"}  # fmt: skip
_HELD = "rectanglelabels, polygonlabels, keypointlabels, brushlabels (rle), choices"


# -- export ------------------------------------------------------------------------------------
@held_to_budget
def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    field: str = "predictions",
    target: Target = "predictions",
    data_key: str = "image",
    from_name: str = "label",
    to_name: str = "image",
    choices_name: str = "choice",
    keypoints_name: str = "keypoint",
    brush_name: str = "brush",
) -> ExportReport:
    """Write the view's frames as Label Studio tasks with their ROIs of `field` as the
    results of one prediction (`target="annotations"`: of one annotation). With keypoints
    ROIs, a labelling config for them is written beside (`<dest stem>.label_config.xml`)."""
    if target not in ("predictions", "annotations"):
        raise IngestError(f"target must be 'predictions' or 'annotations', got {target!r}")
    path = Path(dest)
    ids = list(view.frame_ids())
    rois: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in view.rois().to_pylist():
        if row["field"] == field:
            rois[row["frame_id"]].append(row)
    report = ExportReport(dest=path, files=[path])
    skipped: dict[str, int] = defaultdict(int)
    names = (from_name, to_name, choices_name, keypoints_name, brush_name)
    points = keypoint_labels(view.catalog.cursor())
    tasks = []
    for chunk in view_frames(view.catalog, ids):
        for frame in chunk:
            source = frame.sources[0] if frame.sources else None
            size = (source.width, source.height) if source is not None else (None, None)
            results = []
            for row in rois.get(frame.id, []):
                made = _results(row, size, names, skipped, points)
                results += made
                report.rois += bool(made)
            # Ids as Label Studio's own export has them (its converter needs them; an import
            # into Label Studio gives new ones).
            number = report.frames + 1
            entry: dict[str, Any] = {"id": number, "model_version": "workbench", "result": results}
            if target == "annotations":
                entry = {"id": number, "result": results}
            data = {data_key: source.uri if source is not None else None, "frame_id": frame.id}
            tasks.append({"id": number, "data": data, target: [entry]})
            report.frames += 1
    with written_atomically(path) as out:
        json.dump(tasks, out)
    _write_config(report, tasks, points, (from_name, to_name, keypoints_name))
    report.skipped = [f"{n} {reason}" for reason, n in sorted(skipped.items())]
    return report


def _write_config(
    report: ExportReport,
    tasks: Sequence[Mapping[str, Any]],
    points: Mapping[str, KeypointLabel],
    names: tuple[str, str, str],
) -> None:
    """The labelling config of the keypoints written, when there are any."""
    entries = [e for t in tasks for key in ("predictions", "annotations") for e in t.get(key, [])]
    results = [r for e in entries for r in e["result"]]
    if not any(r["type"] == "keypointlabels" and "parentID" in r for r in results):
        return
    rectangles = sorted({r["value"]["rectanglelabels"][0] for r in results
                         if r["type"] == "rectanglelabels"})  # fmt: skip
    config = report.dest.with_name(report.dest.stem + ".label_config.xml")
    with written_atomically(config) as out:
        out.write(label_config(rectangles, points, names))
    report.files.append(config)


def _results(
    row: Mapping[str, Any],
    size: tuple[int | None, int | None],
    names: tuple[str, str, str, str, str],
    skipped: dict[str, int],
    points: Mapping[str, KeypointLabel],
) -> list[dict[str, Any]]:
    from_name, to_name, choices_name, keypoints_name, brush_name = names
    kind, label = row["kind"], row["label"]
    if label is None:
        skipped["ROIs without a label"] += 1
        return []
    common: dict[str, Any] = {"id": _result_id(row), "to_name": to_name}
    if row["confidence"] is not None:
        common["score"] = row["confidence"]
    if kind == "classification":
        value: dict[str, Any] = {"choices": list(row["labels"] or [label])}
        return [{**common, "from_name": choices_name, "type": "choices", "value": value}]
    width, height = size
    if kind == "keypoints" and row["geometry"] and row["label"] not in points:
        skipped["keypoints ROIs whose label has no point names"] += 1
        return []
    if kind == "keypoints" and not any(row["visibility"] or ()):
        skipped["keypoints ROIs without a labelled point"] += 1
        return []
    mask = _mask_of(row) if kind == "mask" else None
    if (kind not in _TYPES and kind != "keypoints") or not (row["geometry"] or mask):
        what = "boxes, polygons, points, RLE masks"
        skipped[f"{kind} ROIs (Label Studio JSON here holds {what})"] += 1
        return []
    if not width or not height:
        skipped[f"{kind} ROIs of images whose size is unknown"] += 1
        return []
    if mask is not None:
        if list(mask["size"]) != [height, width]:
            skipped["mask ROIs whose size differs from their image's"] += 1
            return []
        pixels = rle.decode(mask["counts"], mask["size"])
        value = {"format": "rle", "rle": brush.encode(pixels), "brushlabels": [label]}
        return [{**common, "from_name": brush_name, "type": "brushlabels", "value": value,
                 "original_width": width, "original_height": height, "image_rotation": 0}]  # fmt: skip
    placed = {**common, "from_name": from_name, "type": _TYPES.get(kind),
              "original_width": width, "original_height": height, "image_rotation": 0}  # fmt: skip
    if kind == "keypoints":
        names_of = points[label].names
        return keypoint_results(row, names_of, (width, height), placed, keypoints_name)
    ring = row["geometry"][0]
    labels: dict[str, Any] = {_TYPES[kind]: [label]}
    if kind == "box":
        x, y = row["x_min"] / width * 100, row["y_min"] / height * 100
        w = (row["x_max"] - row["x_min"]) / width * 100
        h = (row["y_max"] - row["y_min"]) / height * 100
        return [{**placed, "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0,
                                     **labels}}]  # fmt: skip
    percent = [
        [x / width * 100, y / height * 100] for x, y in zip(ring[0::2], ring[1::2], strict=True)
    ]
    if kind == "polygon":  # a ring a result (Label Studio's polygons have one): `<id>.<n>`
        return [
            {**placed, "id": f"{common['id']}.{n}" if n else common["id"],
             "value": {"points": _percent(part, width, height), "closed": True, **labels}}
            for n, part in enumerate(row["geometry"])
        ]  # fmt: skip
    results = []
    for n, (x, y) in enumerate(percent):
        value = {"x": x, "y": y, "width": 1.0, **labels}
        results.append({**placed, "id": f"{common['id']}.{n}" if n else common["id"],
                        "value": value})  # fmt: skip
    return results


def _percent(ring: Sequence[float], width: int, height: int) -> list[list[float]]:
    return [
        [x / width * 100, y / height * 100] for x, y in zip(ring[0::2], ring[1::2], strict=True)
    ]


def _mask_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """A mask ROI's COCO RLE; None for a mask stored as an image."""
    mask = json.loads(row["mask"]) if isinstance(row["mask"], str) else row["mask"] or {}
    found = mask.get("rle") if isinstance(mask, dict) else None
    return rle.compress(found) if isinstance(found, dict) else None


def _result_id(row: Mapping[str, Any]) -> str:
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{row['frame_id']}#{row['id']}"))[:10]


# -- import ------------------------------------------------------------------------------------
@recorded("labelstudio_json")
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    progress: bool = True,
    field: str = "predictions",
    data_key: str = "image",
) -> IngestReport:
    """Import Label Studio JSON tasks as the ROIs of `field` on the frames they name."""
    files = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    with CatalogWriter(catalog, progress=progress, desc="label studio import") as writer:
        for path in files:
            tasks: list[tuple[str, Any]] = []
            for index, task in read_document(path):
                where = f"{path}, task #{(index or 0) + 1}"
                if isinstance(task, Unreadable):
                    if task.fatal or index is None:
                        raise IngestError(f"{path}: not a JSON list of tasks ({task.problem})")
                    writer.reject(RecordError(where, task.problem))
                    continue
                tasks.append((where, task))
            frames = _frames_of(catalog, [t for _, t in tasks], data_key)
            points = keypoint_labels(catalog.cursor())
            for (where, task), frame_id in zip(tasks, frames, strict=True):
                with writer.record(where):
                    if frame_id is None:
                        raise RecordError(where, "no frame is named by data.frame_id or its image")
                    rois = _task_rois(task, where, field, writer, points)
                    writer.add_labels(frame_id, field, rois, where=where)
    return writer.report


# The file name of a task's image: Label Studio serves local files as `...?d=<path>`.
_PATH = (
    "CASE WHEN contains(t.image, '?d=') THEN url_decode(split_part(t.image, '?d=', 2)) "
    "ELSE regexp_replace(t.image, '[?#].*$', '') END"
)
_NAME = f"string_split({_PATH}, '/')[-1]"


def _frames_of(catalog: Catalog, tasks: Sequence[Any], data_key: str) -> list[str | None]:
    """The frame each task names: data.frame_id, else the frame whose image is its image."""
    keys, images = [], []
    for task in tasks:
        data = task.get("data") if isinstance(task, dict) else None
        data = data if isinstance(data, dict) else {}
        frame_id, image = data.get("frame_id"), data.get(data_key)
        keys.append(frame_id if isinstance(frame_id, str) else None)
        images.append(image if isinstance(image, str) else None)
    table = pa.table({"n": pa.array(range(len(tasks)), pa.int64()),
                      "frame_id": pa.array(keys, pa.string()),
                      "image": pa.array(images, pa.string())})  # fmt: skip
    con = catalog.cursor()
    try:
        with registered(con, "_wb_tasks", table):
            rows = con.execute(
                f"SELECT t.n, coalesce(f.id, (SELECT min(s.frame_id) FROM sources s "
                f"WHERE s.uri = t.image OR ends_with(s.uri, '/' || {_NAME}))) "
                "FROM _wb_tasks t LEFT JOIN frames f ON f.id = t.frame_id ORDER BY t.n"
            ).fetchall()
    finally:
        con.close()
    return [row[1] for row in rows]


def _task_rois(
    task: Any, where: str, field: str, writer: CatalogWriter, points: Mapping[str, KeypointLabel]
) -> list[Roi]:
    if not isinstance(task, dict):
        raise RecordError(where, "a task must be a JSON object")
    chosen, score = None, None
    for key in ("annotations", "predictions"):
        entries = task.get(key)
        if isinstance(entries, list) and entries:
            chosen = entries[-1]
            # A prediction's own score (Label Studio's SDK writes it there, not per result) is
            # the confidence of its results that give none; an annotation has none.
            if key == "predictions" and isinstance(chosen, dict):
                score = _number(chosen.get("score"))
            break
    results = chosen.get("result") if isinstance(chosen, dict) else []
    if not isinstance(results, list):
        raise RecordError(where, "result must be a list")
    rois: list[Roi] = []
    used: set[int] = set()
    if points:
        with writer.record(where):
            rois, used = keypoint_rois(results, points, field, where)
    ids = {roi.id for roi in rois}
    for number, result in enumerate(results):
        here = f"{where}, result {number + 1}"
        if number in used:
            continue
        with writer.record(here):  # a result whose id is taken costs only itself
            roi = _roi(result, here, field)
            if roi is not None and roi.id in ids:
                raise RecordError(here, f"result id {roi.id!r} is an earlier result's")
            if roi is not None:
                rois.append(roi)
                ids.add(roi.id)
    if score is not None:
        rois = [roi if roi.confidence is not None else replace(roi, confidence=score)
                for roi in rois]  # fmt: skip
    return _rings_joined(rois)


def _rings_joined(rois: list[Roi]) -> list[Roi]:
    """Results `<id>.<n>` joined to the ROI `<id>` of the same kind and labels, as the export
    writes a polygon's rings (each a ring of it) and a point ROI's points (each a point)."""
    owners = {(roi.id, roi.kind): n for n, roi in enumerate(rois) if roi.kind in _JOINED}
    joined: list[Roi | None] = list(rois)
    for n, roi in enumerate(rois):
        base, dot, part = roi.id.rpartition(".")
        first = owners.get((base, roi.kind), n) if dot and part.isdigit() else n
        owner = joined[first]
        if first == n or owner is None or list(owner.labels) != list(roi.labels):
            continue
        if roi.kind == "polygon":
            joined[first] = replace(owner, geometry=[*owner.geometry, *roi.geometry])
        else:
            joined[first] = replace(owner, geometry=[[*owner.geometry[0], *roi.geometry[0]]])
        joined[n] = None
    return [roi for roi in joined if roi is not None]


_JOINED = frozenset({"polygon", "point"})


def _roi(result: Any, where: str, field: str) -> Roi | None:
    if not isinstance(result, dict) or not isinstance(result.get("value"), dict):
        raise RecordError(where, "a result must be an object with a value")
    kind, value = result.get("type"), result["value"]
    roi_id = str(result.get("id") or where)
    confidence = _number(result.get("score"))
    if kind == "choices":
        labels = value.get("choices")
        if not isinstance(labels, list) or not labels:
            raise RecordError(where, "choices must be a non-empty list")
        return Roi(roi_id, "classification", [str(x) for x in labels], field, confidence=confidence)
    if kind not in ("rectanglelabels", "polygonlabels", "keypointlabels", "brushlabels"):
        raise RecordError(where, f"{kind!r} results are not imported (here: {_HELD})")
    labels = value.get(kind)
    if not isinstance(labels, list) or not labels:
        raise RecordError(where, f"{kind} must be a non-empty list of labels")
    width, height = result.get("original_width"), result.get("original_height")
    if not _positive(width) or not _positive(height):
        raise RecordError(where, "original_width and original_height are needed to place it")
    if kind == "brushlabels":
        made = _brush(value, (width, height), where)
        return replace(made, id=roi_id, labels=[str(x) for x in labels], field=field,
                       confidence=confidence)  # fmt: skip
    sx, sy = float(width) / 100, float(height) / 100  # type: ignore[arg-type]
    try:
        if kind == "rectanglelabels":
            x, y = float(value["x"]) * sx, float(value["y"]) * sy
            w, h = float(value["width"]) * sx, float(value["height"]) * sy
            turn = float(value.get("rotation") or 0)
            ring = list(corner_ring(x, y, x + w, y + h))
            roi_kind = "box"
            if turn % 360:  # the catalog's boxes are upright: a turned one is its polygon
                ring, roi_kind = brush.turned_corners(x, y, w, h, turn), "polygon"
        elif kind == "polygonlabels":
            ring = [c for x, y in value["points"] for c in (float(x) * sx, float(y) * sy)]
            roi_kind = "polygon"
        else:
            ring = [float(value["x"]) * sx, float(value["y"]) * sy]
            roi_kind = "point"
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(where, f"malformed {kind} value: {exc}") from exc
    return Roi(roi_id, roi_kind, [str(x) for x in labels], field, [ring], confidence)


def _brush(value: Mapping[str, Any], size: tuple[Any, Any], where: str) -> Roi:
    """The mask ROI of a brush result (Label Studio's RLE of the image's pixels), without
    its id, labels, field and confidence."""
    if value.get("format", "rle") != "rle" or "rle" not in value:
        raise RecordError(where, f"a brush must be given as rle, not {value.get('format')!r}")
    width, height = size
    if not isinstance(width, int) or not isinstance(height, int):
        raise RecordError(where, "a brush's original_width and original_height must be integers")
    counts = rle.encode(brush.decode(value["rle"], width, height, where))
    x, y, w, h = rle.bbox(counts, [height, width])
    mask = {"size": [height, width], "counts": rle.to_string(counts)}
    return Roi("", "mask", [], "", mask={"rle": mask}, bbox=(x, y, x + w, y + h))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
