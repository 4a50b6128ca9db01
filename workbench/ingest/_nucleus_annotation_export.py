"""Nucleus annotation export: a view's ROIs as the payloads the Nucleus SDK's `to_json` writes
(BoxAnnotation, PolygonAnnotation, LineAnnotation, KeypointsAnnotation, CategoryAnnotation,
MultiCategoryAnnotation, SceneCategoryAnnotation, SegmentationAnnotation), a prediction's
(BoxPrediction, ...) for an ROI with a confidence, one per line (or a JSON list)."""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from workbench.errors import IngestError
from workbench.ingest._budget import held_to_budget
from workbench.ingest._nucleus_payloads import EXTRA
from workbench.ingest.export import ExportReport, written_atomically
from workbench.ingest.views import ViewLike
from workbench.model.keypoints import KeypointLabel
from workbench.store.keypoints import keypoint_labels

_CHUNK = 5000  # frames whose ROIs are read at once
_NO_PREDICTION = ("multicategory", "mask")  # Nucleus has no confidence for these


@held_to_budget
def export_files(
    view: ViewLike, dest: str | os.PathLike[str], *, progress: bool = True
) -> ExportReport:
    """Write the view's ROIs (as its ROI filters leave them) as Nucleus annotation payloads,
    each naming its frame's id as `reference_id`: prediction payloads for ROIs with a
    confidence. `dest` ending in .json gets a JSON list, anything else NDJSON. What Nucleus
    cannot hold (points, rings past the first, masks without a mask file) is counted in the
    report's `skipped`."""
    target = Path(dest)
    report = ExportReport(dest=target)
    frames = view.frames(columns=["id", "context_id"])
    ids: list[str] = frames["id"].to_pylist()
    contexts = dict(zip(ids, frames["context_id"].to_pylist(), strict=True))
    con = view.catalog.cursor()
    try:
        keypoints = keypoint_labels(con)
    finally:
        con.close()
    skipped: Counter[str] = Counter()
    payloads = _Payloads(contexts, keypoints, skipped)
    listed = target.suffix.lower() == ".json"
    try:
        with (
            written_atomically(target) as out,
            tqdm(
                total=len(ids),
                desc="export nucleus annotations",
                unit="frame",
                disable=not progress,
            ) as bar,  # fmt: skip
        ):
            out.write("[" if listed else "")
            written = 0
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                rows = view.rois(chunk).to_pylist()
                for payload, rois in payloads.of(rows):
                    text = json.dumps(payload, allow_nan=False)
                    out.write((", " if written else "") + text if listed else text + "\n")
                    written += 1
                    report.rois += rois
                report.frames += len({row["frame_id"] for row in rows})
                bar.update(len(chunk))
            out.write("]" if listed else "")
    except OSError as exc:
        raise IngestError(f"cannot write {target}: {exc}") from exc
    report.files.append(target)
    report.skipped.extend(f"{n} {what}" for what, n in sorted(skipped.items()))
    return report


class _Payloads:
    """Payloads of ROI rows, a frame's in the order read; a scene's category written once."""

    def __init__(
        self, contexts: dict[str, Any], keypoints: dict[str, KeypointLabel], skipped: Counter[str]
    ) -> None:
        self.contexts = contexts
        self.keypoints = keypoints
        self.skipped = skipped
        self.scene_done: set[tuple[Any, str, str]] = set()

    def of(self, rows: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], int]]:
        """(payload, ROIs it holds) of the rows of some frames (each frame's rows together),
        a frame's segmentations after its other payloads."""
        for frame_id, group in itertools.groupby(rows, key=lambda row: row["frame_id"]):
            masks: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for row in group:
                attributes = json.loads(row["attributes"]) if row["attributes"] else {}
                row["attributes"] = attributes if isinstance(attributes, dict) else {}
                if row["kind"] != "mask":
                    payload = self._payload(row)
                    if payload is not None:
                        yield payload, 1
                    continue
                mask = json.loads(row["mask"]) if row["mask"] else {}
                if not isinstance(mask, dict) or not isinstance(mask.get("uri"), str):
                    self.skipped["mask ROIs without a mask file (Nucleus takes a mask_url)"] += 1
                    continue
                row["mask"] = mask
                key = (mask["uri"], json.dumps(_extra(row).get("annotation_id")))
                masks.setdefault(key, []).append(row)
            for (uri, _), segments in masks.items():
                yield _segmentation(frame_id, uri, segments, self.skipped), len(segments)

    def _payload(self, row: dict[str, Any]) -> dict[str, Any] | None:
        kind, extra = row["kind"], _extra(row)
        if kind == "classification":
            return self._category(row, extra)
        if not row["label"]:
            self.skipped[f"{kind} ROIs without a label (a Nucleus annotation has one)"] += 1
            return None
        if kind == "keypoints":
            return self._keypoints(row)
        if kind not in ("box", "polygon", "polyline"):
            self.skipped[f"{kind} ROIs (Nucleus has no {kind} annotation)"] += 1
            return None
        rings = row["geometry"] or []
        if kind != "box" and len(rings) != 1:
            self.skipped[f"{kind} ROIs of {len(rings)} rings (Nucleus takes one)"] += 1
            return None
        if kind == "box":
            x0, y0, x1, y1 = row["x_min"], row["y_min"], row["x_max"], row["y_max"]
            geometry: dict[str, Any] = {"x": _n(x0), "y": _n(y0), "width": _n(x1 - x0),
                                        "height": _n(y1 - y0)}  # fmt: skip
        else:
            ring = rings[0]
            geometry = {"vertices": [{"x": _n(ring[i]), "y": _n(ring[i + 1])}
                                     for i in range(0, len(ring), 2)]}  # fmt: skip
        payload = self._head(row, "line" if kind == "polyline" else kind, geometry)
        if kind != "polyline":
            payload["embedding_vector"] = extra.get("embedding_vector")
        return self._tail(payload, row, extra)

    def _keypoints(self, row: dict[str, Any]) -> dict[str, Any] | None:
        known = self.keypoints.get(row["label"] or "")
        ring, visibility = (row["geometry"] or [[]])[0], row["visibility"] or []
        if known is None or len(known.names) != len(visibility):
            self.skipped["keypoints ROIs whose label has no point names"] += 1
            return None
        points = [
            {"x": _n(ring[2 * n]), "y": _n(ring[2 * n + 1]), "visible": v == 2}
            if v else {"x": None, "y": None, "visible": False}
            for n, v in enumerate(visibility)
        ]  # fmt: skip
        skeleton = [[a - 1, b - 1] for a, b in known.skeleton] or None
        geometry = {"keypoints": points, "names": list(known.names), "skeleton": skeleton}
        return self._tail(self._head(row, "keypoints", geometry), row, _extra(row))

    def _category(self, row: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any] | None:
        labels = row["labels"] or ([row["label"]] if row["label"] else [])
        if not labels:
            self.skipped["classification ROIs without a label"] += 1
            return None
        multi = extra.get("type") == "multicategory" or len(labels) > 1
        payload: dict[str, Any] = {"labels": labels} if multi else {"label": labels[0]}
        payload |= {"type": "multicategory" if multi else "category", "geometry": {}}
        if extra.get("scene"):
            context = self.contexts.get(row["frame_id"])
            seen = (context, row["field"], row["id"])
            if seen in self.scene_done:
                return None
            self.scene_done.add(seen)
            payload |= {"reference_id": context, "metadata": _metadata(row)}
        else:
            payload |= {"reference_id": row["frame_id"], "metadata": _metadata(row),
                        "track_reference_id": self._track(row, extra)}  # fmt: skip
        payload["task_id"] = extra.get("task_id")
        if extra.get("taxonomy_name") is not None:
            payload["taxonomy_name"] = extra["taxonomy_name"]
        if multi:
            if row["confidence"] is not None:
                self.skipped["confidences of multicategory ROIs (Nucleus has none)"] += 1
            return payload
        if extra.get("scene"):
            if row["confidence"] is not None:
                payload["confidence"] = row["confidence"]
            return payload
        return _prediction(payload, row, extra)

    def _head(self, row: dict[str, Any], kind: str, geometry: dict[str, Any]) -> dict[str, Any]:
        extra = _extra(row)
        given = extra["annotation_id"] if "annotation_id" in extra else row["id"]
        return {"label": row["label"], "type": kind, "geometry": geometry,
                "reference_id": row["frame_id"], "annotation_id": given,
                "metadata": _metadata(row)}  # fmt: skip

    def _tail(
        self, payload: dict[str, Any], row: dict[str, Any], extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        payload["track_reference_id"] = self._track(row, extra)
        payload["task_id"] = extra.get("task_id")
        return _prediction(payload, row, extra)

    def _track(self, row: dict[str, Any], extra: Mapping[str, Any]) -> str | None:
        """The track's name as imported, else `<context>:<track index>`."""
        if extra.get("track_reference_id") is not None:
            return str(extra["track_reference_id"])
        if row["track_index"] is None:
            return None
        return f"{self.contexts.get(row['frame_id'])}:{row['track_index']}"


def _prediction(
    payload: dict[str, Any], row: dict[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    if row["confidence"] is not None:
        payload["confidence"] = row["confidence"]
        if extra.get("class_pdf") is not None:
            payload["class_pdf"] = extra["class_pdf"]
    return payload


def _segmentation(
    frame_id: str, uri: str, rows: list[dict[str, Any]], skipped: Counter[str]
) -> dict[str, Any]:
    """One SegmentationAnnotation of a frame's mask ROIs drawn from one mask image."""
    segments = []
    for row in rows:
        extra = _extra(row)
        index = extra["index"] if "index" in extra else row["mask"].get("value")
        segment: dict[str, Any] = {"label": row["label"], "index": index}
        if metadata := _metadata(row):
            segment["metadata"] = metadata
        segments.append(segment)
        if row["confidence"] is not None:
            skipped["confidences of mask ROIs (a Nucleus segmentation has none)"] += 1
    return {"type": "mask", "mask_url": uri, "annotations": segments,
            "annotation_id": _extra(rows[0]).get("annotation_id"),
            "reference_id": frame_id}  # fmt: skip


def _extra(row: Mapping[str, Any]) -> dict[str, Any]:
    extra = row["attributes"].get(EXTRA)
    return extra if isinstance(extra, dict) else {}


def _metadata(row: Mapping[str, Any]) -> dict[str, Any] | None:
    metadata = {k: v for k, v in row["attributes"].items() if k != EXTRA}
    return None if not metadata and "metadata" in _extra(row) else metadata


def _n(value: float) -> int | float:
    """Whole numbers as integers, as the SDK's payloads usually hold them."""
    return int(value) if float(value).is_integer() else value
