"""One Nucleus annotation or prediction payload (what the SDK's `to_json` writes of a
BoxAnnotation, PolygonAnnotation, ..., BoxPrediction, ...) read into ROIs, or refused.

The payload's `metadata` becomes the ROIs' attributes; the payload's own fields that are not
metadata and have no column of their own (class_pdf, embedding_vector, taxonomy_name,
track_reference_id, task_id, ...) are kept under the attributes key `nucleus` (`EXTRA`), so
that the export gives them back. A segmentation (one mask image, a label per pixel value)
becomes one mask ROI per segment, `{"uri": mask_url, "value": index}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import RecordError
from workbench.ingest._nucleus_items import reference_id
from workbench.model.geometry import box_ring
from workbench.model.keypoints import KeypointLabel, keypoint_label
from workbench.model.records import Roi
from workbench.model.validation import check_roi

__all__ = ["CUBOID", "EXTRA", "Annotation", "read_payload"]

EXTRA = "nucleus"  # the attributes key of the payload's fields that are not its metadata
PLACEHOLDER = "roi"  # the id of an ROI read, until it is placed
CUBOID = "a cuboid is a 3D annotation, which the catalog cannot hold"  # its refusal

# Payload types read as ROIs of each kind; the SDK reads a payload of another type (or none)
# as a segmentation, which needs a mask_url.
_KINDS = {"box": "box", "polygon": "polygon", "line": "polyline", "keypoints": "keypoints",
          "category": "classification", "multicategory": "classification"}  # fmt: skip
_MASK_TYPES = (None, "mask", "segmentation")
# The types whose payloads carry an annotation_id (categories have none).
_WITH_ID = frozenset({"box", "polygon", "line", "keypoints", "mask"})
# Fields kept under EXTRA when the payload gives them (not null).
_KEPT = ("track_reference_id", "task_id", "class_pdf", "embedding_vector", "taxonomy_name")


@dataclass(slots=True)
class Annotation:
    """A payload read: the item (or scene) it names, its type, its annotation_id (None when
    not given) and its ROIs (their ids given when placed), and a keypoints label's names."""

    reference_id: str
    type: str
    annotation_id: str | None
    rois: list[Roi]
    keypoints: KeypointLabel | None = None
    track: str | None = None
    where: str = ""


def read_payload(payload: Any, where: str, folder: Path | None = None) -> Annotation:
    """The annotation of one payload; RecordError (naming `where`) when it cannot be held.
    A segmentation's relative local mask file is read from `folder` (default: the working
    directory), as the scene importer's images are."""
    if not isinstance(payload, Mapping):
        raise RecordError(where, f"an annotation must be a JSON object, got {_kind(payload)}")
    ref = reference_id(payload.get("reference_id"), "annotation", where)
    where = f"{where}, item {ref!r}"
    kind = payload.get("type")
    if kind == "cuboid":
        raise RecordError(where, CUBOID)
    if kind not in _KINDS and not (kind in _MASK_TYPES and "mask_url" in payload):
        raise RecordError(where, f"unknown annotation type {_preview(kind)}")
    kind = kind if kind in _KINDS else "mask"
    given = payload.get("annotation_id")
    annotation_id = None if given is None else reference_id(given, "annotation_id", where)
    extra = _extra(payload, where)
    if kind == "mask" or (kind in _WITH_ID and annotation_id is None):
        # A segmentation's ROIs carry its id; elsewhere the ROI id is the annotation_id,
        # and None says that none was given, so none is written back.
        extra["annotation_id"] = annotation_id
    if "metadata" in payload and payload["metadata"] is None:
        extra["metadata"] = None  # a scene category prediction's, written back as null
    base = _Base(
        _KINDS.get(kind, "mask"),
        _attributes(payload.get("metadata"), extra, where),
        _confidence(payload.get("confidence"), where),
    )
    annotation = Annotation(ref, kind, annotation_id, [], where=where)
    annotation.track = extra.get("track_reference_id")
    if kind == "mask":
        annotation.rois = _segments(payload, base, where, folder or Path.cwd())
    elif kind in ("category", "multicategory"):
        annotation.rois = [_classification(payload, kind, base, where)]
    else:
        label = _label(payload.get("label"), where)
        geometry = payload.get("geometry")
        if not isinstance(geometry, Mapping):
            raise RecordError(where, f"a {kind} needs a geometry object, got {_kind(geometry)}")
        if kind == "keypoints":
            roi, annotation.keypoints = _keypoints(geometry, label, base, where)
        else:
            roi = _shape(kind, geometry, label, base, where)
        annotation.rois = [roi]
    for roi in annotation.rois:
        check_roi(roi, where)
    return annotation


@dataclass(frozen=True, slots=True)
class _Base:
    """What every ROI of a payload shares."""

    kind: str
    attributes: dict[str, Any]
    confidence: float | None

    def roi(self, labels: list[str], **fields: Any) -> Roi:
        """An ROI of the payload (its id, `PLACEHOLDER`, is given when placed)."""
        fields.setdefault("attributes", self.attributes)
        return Roi(PLACEHOLDER, self.kind, labels, confidence=self.confidence, **fields)


def _extra(payload: Mapping[str, Any], where: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for key in _KEPT:
        value = payload.get(key)
        if value is None:
            continue
        if key == "class_pdf" and not isinstance(value, Mapping):
            raise RecordError(where, f"class_pdf must be an object, got {_kind(value)}")
        if key == "embedding_vector" and not isinstance(value, list):
            raise RecordError(where, f"embedding_vector must be a list, got {_kind(value)}")
        if key in ("track_reference_id", "taxonomy_name", "task_id"):
            value = reference_id(value, key, where)
        extra[key] = value
    return extra


def _attributes(metadata: Any, extra: dict[str, Any], where: str) -> dict[str, Any]:
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise RecordError(where, f"metadata must be an object, got {_kind(metadata)}")
    if EXTRA in metadata:
        raise RecordError(where, f"metadata key {EXTRA!r} is reserved")
    return {**metadata, EXTRA: extra} if extra else dict(metadata)


def _confidence(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(where, f"confidence must be a number, got {_kind(value)}")
    return float(value)


def _label(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError(where, f"label must be a non-empty string, got {_preview(value)}")
    return value


def _number(point: Any, key: str, what: str, where: str) -> float:
    value = point.get(key) if isinstance(point, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(where, f"{what} has no number {key!r}, got {_preview(value)}")
    return value


def _shape(kind: str, geometry: Mapping[str, Any], label: str, base: _Base, where: str) -> Roi:
    if kind == "box":
        x, y, w, h = (_number(geometry, k, "the box", where) for k in ("x", "y", "width", "height"))
        if w < 0 or h < 0:
            raise RecordError(where, f"a box of width {w} and height {h}: neither may be negative")
        ring = box_ring(x, y, w, h)
    else:
        vertices = geometry.get("vertices")
        if not isinstance(vertices, list):
            raise RecordError(where, f"a {kind} needs a list of vertices, got {_kind(vertices)}")
        ring = []
        for n, vertex in enumerate(vertices):
            ring += [_number(vertex, "x", f"vertex {n}", where),
                     _number(vertex, "y", f"vertex {n}", where)]  # fmt: skip
    return base.roi([label], geometry=[ring])


def _keypoints(
    geometry: Mapping[str, Any], label: str, base: _Base, where: str
) -> tuple[Roi, KeypointLabel]:
    """Points in the order of `names`, visible 2, hidden 1, without coordinates 0 (at 0, 0)."""
    points, names = geometry.get("keypoints"), geometry.get("names")
    if not isinstance(points, list) or not isinstance(names, list) or len(points) != len(names):
        raise RecordError(where, "keypoints need lists 'keypoints' and 'names' of one length")
    skeleton = geometry.get("skeleton")
    if isinstance(skeleton, list):  # numbered from 0 in Nucleus, from 1 in the catalog
        skeleton = [[n + 1 if _is_int(n) else n for n in pair] if isinstance(pair, list) else pair
                    for pair in skeleton]  # fmt: skip
    keypoints = keypoint_label(label, names, skeleton, where)
    ring: list[float] = []
    visibility: list[int] = []
    for n, point in enumerate(points):
        what = f"keypoint {n} ({names[n]!r})"
        if not isinstance(point, Mapping) or not isinstance(point.get("visible"), bool | int):
            raise RecordError(where, f"{what} has no 'visible' flag")
        placed = point.get("x") is not None or point.get("y") is not None
        if point["visible"] and not placed:
            raise RecordError(where, f"{what} is visible without coordinates")
        if placed:
            ring += [_number(point, "x", what, where), _number(point, "y", what, where)]
            visibility.append(2 if point["visible"] else 1)
        else:
            ring += [0, 0]
            visibility.append(0)
    return base.roi([label], geometry=[ring], visibility=visibility), keypoints


def _classification(payload: Mapping[str, Any], kind: str, base: _Base, where: str) -> Roi:
    if kind == "category":
        return base.roi([_label(payload.get("label"), where)])
    given = payload.get("labels")
    if not isinstance(given, list) or not given:
        raise RecordError(where, "a multicategory needs a non-empty list of labels")
    labels = [_label(label, where) for label in given]
    # One label or several, written back as a multicategory.
    extra = {**base.attributes.get(EXTRA, {}), "type": kind}
    return base.roi(labels, attributes={**base.attributes, EXTRA: extra})


def _segments(payload: Mapping[str, Any], base: _Base, where: str, folder: Path) -> list[Roi]:
    uri = payload.get("mask_url")
    if not isinstance(uri, str) or not uri:
        raise RecordError(where, f"mask_url must be a non-empty string, got {_preview(uri)}")
    if "://" not in uri.removeprefix("file://"):  # a local file: an absolute path stays
        uri = str(folder / uri.removeprefix("file://"))
    segments = payload.get("annotations", [])
    if not isinstance(segments, list) or not segments:
        raise RecordError(where, "a segmentation needs a non-empty list of annotations")
    rois = []
    for n, segment in enumerate(segments):
        what = f"{where}, segment {n}"
        if not isinstance(segment, Mapping):
            raise RecordError(what, f"a segment must be an object, got {_kind(segment)}")
        index = segment.get("index")
        value = (
            int(index) if isinstance(index, str) and index.isascii() and index.isdigit() else index
        )
        if value is not None and not _is_int(value):
            raise RecordError(what, f"index must be an integer, got {_preview(index)}")
        attributes = dict(base.attributes)
        if value is not index:  # an integer given as text (as the SDK's examples give it)
            attributes[EXTRA] = {**attributes.get(EXTRA, {}), "index": index}
        metadata = segment.get("metadata")
        if metadata is not None:
            attributes = {**_attributes(metadata, {}, what), **attributes}
        mask = {"uri": uri} if value is None else {"uri": uri, "value": value}
        label = _label(segment.get("label"), what)
        rois.append(base.roi([label], mask=mask, attributes=attributes))
    return rois


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _preview(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
