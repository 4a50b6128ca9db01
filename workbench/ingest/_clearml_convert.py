"""ClearML frame dicts to workbench records and back.

A ClearML frame (SingleFrame or FrameGroup) is a JSON object with `id`, `context_id`,
`timestamp`, `meta`, `sources` (one per camera) and `rois`. An ROI's `poly` is a flat list of
coordinates in which the value -999999999 separates the rings of one ROI.

ClearML has no ROI kinds, label fields or tracks, so the exporter keeps ours in reserved keys
of ROI `meta` (`_kind`, `_field`, ...) and frame `meta` (`_frame_index`, `_source_meta`); the
importer takes them back out, which makes an export -> import round trip exact.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from workbench.errors import RecordError
from workbench.model.geometry import Ring, bounds, is_box_ring
from workbench.model.limits import MAX_SAVED_MS, MIN_SAVED_MS
from workbench.model.records import ROI_KINDS, Frame, Roi, Source
from workbench.model.validation import check_id

RING_SEPARATOR = -999999999
DEFAULT_FIELD = "ground_truth"

# Reserved ROI meta keys: ours, never attributes.
ROI_KIND_KEY = "_kind"
ROI_FIELD_KEY = "_field"
ROI_TRACK_KEY = "_track_index"
ROI_KEYFRAME_KEY = "_keyframe"
ROI_BBOX_KEY = "_bbox"
# The ClearML SDK's own ROI type (DataSubEntryImage.add_annotation): 2D box, polygon, keypoints.
SDK_TYPE_KEY = "_type"
SDK_KINDS = {"b2d": "box", "p2d": "polygon", "k2d": "point"}
# The SDK's own ROI id (add_annotation(id=...), get_annotations(id=...)): the ROI's id when
# it has no `id`, and kept in its attributes, so that an export gives it back where the SDK
# looks for it.
SDK_ID_KEY = "_id"
SDK_TYPES = {kind: sdk for sdk, kind in SDK_KINDS.items()}
# The SDK's other shapes, which the catalog has no kind for: their `poly` is not a list of 2D
# points (an ellipse's centre, radii and angle; 3D points), so reading it as rings would store
# a wrong shape. A frame holding one is refused, naming the ROI and the shape.
SDK_UNSUPPORTED = {
    "elp": "an ellipse (cx, cy, rx, ry, angle)",
    "p3d": "a 3D polygon",
    "k3d": "3D keypoints",
    "b3d": "a 3D box",
}
# Reserved frame meta keys.
FRAME_INDEX_KEY = "_frame_index"
# ClearML sources carry a `meta` dict; the catalog has no column for it, so it lives in the
# frame's metadata as {source id: meta}.
SOURCE_META_KEY = "_source_meta"

_EPOCH = datetime(1970, 1, 1)


# -- ClearML -> records ----------------------------------------------------------------------


def frame_from_clearml(data: Any, where: str, base: Path | None = None) -> Frame:
    """Build a Frame from one ClearML frame dict; relative URIs resolve against `base`.

    Raises RecordError naming `where` for anything that is not a valid frame.
    """
    if not isinstance(data, Mapping):
        raise RecordError(where, f"a frame must be a JSON object, got {_type_name(data)}")
    frame_id = _id(data.get("id"), "frame id", where)
    if frame_id is None:
        raise RecordError(where, "frame has no id")
    meta = dict(_mapping(data.get("meta"), "meta", where))
    frame_index = _int(meta.pop(FRAME_INDEX_KEY, None), FRAME_INDEX_KEY, where)
    dataset = data.get("dataset")
    if dataset is not None and not isinstance(dataset, Mapping):
        raise RecordError(where, f"dataset must be an object with id and version, got {dataset!r}")
    sources: list[Source] = []
    for number, item in enumerate(_list(data.get("sources"), "sources", where)):
        source, extra = _source(item, number, where, base)
        sources.append(source)
        if extra:
            # The catalog has no column for a source's meta: keep it in the frame's metadata.
            kept = meta.setdefault(SOURCE_META_KEY, {})
            if not isinstance(kept, dict):
                raise RecordError(
                    where, f"meta key {SOURCE_META_KEY!r} is reserved for source meta"
                )
            kept[source.id] = dict(extra)
    taken: set[str] = set()
    rois = [
        _roi(item, number, frame_id, where, taken)
        for number, item in enumerate(_list(data.get("rois"), "rois", where))
    ]
    return Frame(
        id=frame_id,
        sources=sources,
        rois=rois,
        context_id=_str(data.get("context_id"), "context_id", where),
        timestamp=_int(data.get("timestamp"), "timestamp", where),
        metadata=meta,
        dataset=_id(dataset.get("id"), "dataset id", where) if dataset else None,
        version=_id(dataset.get("version"), "dataset version", where) if dataset else None,
        frame_index=frame_index,
        num_frames=_int(data.get("num_frames"), "num_frames", where),
        saved=_saved(data.get("saved"), where),
        saved_in_version=_id(data.get("saved_in_version"), "saved_in_version", where),
    )


def _source(
    data: Any, number: int, where: str, base: Path | None
) -> tuple[Source, Mapping[str, Any]]:
    """The source record and the source's own `meta`."""
    if not isinstance(data, Mapping):
        raise RecordError(where, f"source {number} must be an object, got {_type_name(data)}")
    here = f"{where}, source {number}"
    uri = _str(data.get("uri"), "uri", here)
    if not uri:
        raise RecordError(here, "source has no uri")
    preview = data.get("preview")
    preview_uri = (
        _str(preview.get("uri"), "preview uri", here) if isinstance(preview, Mapping) else None
    )
    masks = []
    for mask in _list(data.get("masks"), "masks", here):
        if not isinstance(mask, Mapping):
            raise RecordError(here, f"a mask must be an object, got {_type_name(mask)}")
        mask = dict(mask)
        if isinstance(mask.get("uri"), str):
            mask["uri"] = resolve_uri(mask["uri"], base)
        masks.append(mask)
    source_id = _id(data.get("id"), "source id", here)
    source = Source(
        # A SingleFrame's one source is called "default" by the ClearML SDK.
        id=source_id if source_id is not None else ("default" if number == 0 else str(number)),
        uri=resolve_uri(uri, base),
        width=_int(data.get("width"), "width", here),
        height=_int(data.get("height"), "height", here),
        content_type=_str(data.get("content_type"), "content_type", here),
        timestamp=_int(data.get("timestamp"), "timestamp", here),
        preview_uri=resolve_uri(preview_uri, base) if preview_uri else None,
        masks=masks,
    )
    return source, _mapping(data.get("meta"), "meta", here)


def _roi(data: Any, number: int, frame_id: str, where: str, taken: set[str]) -> Roi:
    if not isinstance(data, Mapping):
        raise RecordError(where, f"ROI {number} must be an object, got {_type_name(data)}")
    roi_id = _id(data.get("id"), "ROI id", where)
    # ClearML ROIs may have no id; a stable one keeps re-imports idempotent.
    stable = f"{where}, ROI {roi_id or f'{frame_id}:{number}'!r}"
    meta = _mapping(data.get("meta"), "meta", stable)
    if roi_id is None:
        # The SDK's id (add_annotation(id=...)) is `meta._id`, kept there as given; the shapes
        # of one add_annotation share it, so a later one of them takes the stable id.
        sdk_id = _id(meta.get(SDK_ID_KEY), f"meta.{SDK_ID_KEY}", stable)
        roi_id = sdk_id if sdk_id not in taken else None
    roi_id = roi_id if roi_id is not None else f"{frame_id}:{number}"
    taken.add(roi_id)
    here = f"{where}, ROI {roi_id!r}"
    attributes = dict(meta)
    explicit_kind = attributes.pop(ROI_KIND_KEY, None)
    field = attributes.pop(ROI_FIELD_KEY, None) or DEFAULT_FIELD
    track_index = _int(attributes.pop(ROI_TRACK_KEY, None), ROI_TRACK_KEY, here)
    keyframe = attributes.pop(ROI_KEYFRAME_KEY, None)
    bbox = _bbox(attributes.pop(ROI_BBOX_KEY, None), here)
    # The SDK's type is a string; any other value is an attribute like the rest.
    sdk_type = attributes.get(SDK_TYPE_KEY)
    sdk_type = sdk_type if isinstance(sdk_type, str) else None
    if explicit_kind is not None:
        # Our own export writes the SDK's type beside ours: ours is the one kept.
        if sdk_type is not None and SDK_KINDS.get(sdk_type) == explicit_kind:
            attributes.pop(SDK_TYPE_KEY)
    elif sdk_type in SDK_UNSUPPORTED:
        raise RecordError(
            here,
            f"meta._type {sdk_type!r} marks {SDK_UNSUPPORTED[sdk_type]}, which the catalog "
            "cannot hold (only 2D boxes, polygons, points and masks)",
        )
    elif sdk_type in SDK_KINDS:
        # The kind, as `_kind` is: export writes it again from the kind.
        explicit_kind = SDK_KINDS[sdk_type]
        attributes.pop(SDK_TYPE_KEY)
    elif attributes.get("kind") in ROI_KINDS:
        explicit_kind = attributes["kind"]
    rings = split_poly(data.get("poly"), here)
    mask = data.get("mask")
    if mask is not None and not isinstance(mask, Mapping):
        raise RecordError(here, f"mask must be an object with id and value, got {mask!r}")
    labels = data.get("label", data.get("labels"))
    if isinstance(labels, str):
        labels = [labels]
    labels = _list(labels, "label", here)
    if not all(isinstance(label, str) for label in labels):
        raise RecordError(here, f"labels must be strings, got {labels!r}")
    return Roi(
        id=roi_id,
        kind=str(explicit_kind) if explicit_kind is not None else infer_kind(rings, mask),
        labels=labels,
        field=str(field),
        geometry=rings,
        confidence=_float(data.get("confidence"), "confidence", here),
        source_ids=[
            check_id(s, "source id", here) for s in _list(data.get("sources"), "sources", here)
        ],
        mask=dict(mask) if mask else None,
        attributes=attributes,
        track_index=track_index,
        keyframe=bool(keyframe) if keyframe is not None else None,
        bbox=bbox,
    )


def split_poly(poly: Any, where: str) -> list[list[float]]:
    """Split a ClearML `poly` into rings at every -999999999; empty rings are dropped."""
    values = _list(poly, "poly", where)
    for value in values:
        # `type() is` rather than isinstance: True and False are not coordinates.
        if type(value) is not int and type(value) is not float:
            raise RecordError(where, f"poly holds {value!r}, which is not a number")
    if RING_SEPARATOR not in values:
        return [[float(v) for v in values]] if values else []
    rings: list[list[float]] = [[]]
    for value in values:
        if value == RING_SEPARATOR:
            rings.append([])
        else:
            rings[-1].append(float(value))
    return [ring for ring in rings if ring]


def infer_kind(rings: Sequence[Ring], mask: Any) -> str:
    if not rings:
        return "mask" if mask else "classification"
    if len(rings) == 1 and is_box_ring(rings[0]):
        return "box"
    if len(rings) == 1 and len(rings[0]) == 2:
        return "point"
    return "polygon"


def resolve_uri(uri: str, base: Path | None) -> str:
    """A relative local path made absolute against `base`; URLs and absolute paths unchanged."""
    if base is None or "://" in uri or os.path.isabs(uri):
        return uri
    return os.path.normpath(os.path.join(os.path.abspath(base), uri))


# -- catalog rows -> ClearML -----------------------------------------------------------------


def frame_to_clearml(
    frame: Mapping[str, Any],
    sources: Sequence[Mapping[str, Any]],
    rois: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """A ClearML frame dict from catalog rows of one frame, its sources and its ROIs."""
    meta = _loads(frame["metadata"]) or {}
    source_meta = meta.pop(SOURCE_META_KEY, {}) if isinstance(meta, dict) else {}
    if frame["frame_index"] is not None:
        meta[FRAME_INDEX_KEY] = frame["frame_index"]
    out: dict[str, Any] = {
        "id": frame["id"],
        "context_id": frame["context_id"],
        "timestamp": frame["timestamp"],
        "num_frames": frame["num_frames"],
        "meta": meta or None,
        "sources": [_source_out(s, source_meta) for s in sources],
        "rois": [_roi_out(r) for r in rois],
        "dataset": _drop_none({"id": frame["dataset"], "version": frame["version"]}) or None,
        "saved": _saved_ms(frame["saved"]),
        "saved_in_version": frame["saved_in_version"],
    }
    return _drop_none(out)


def _source_out(row: Mapping[str, Any], source_meta: Mapping[str, Any]) -> dict[str, Any]:
    return _drop_none(
        {
            "id": row["id"],
            "uri": row["uri"],
            "content_type": row["content_type"],
            "width": row["width"],
            "height": row["height"],
            "timestamp": row["timestamp"],
            "preview": {"uri": row["preview_uri"]} if row["preview_uri"] else None,
            "masks": _loads(row["masks"]),
            "meta": source_meta.get(row["id"]) if isinstance(source_meta, Mapping) else None,
        }
    )


def _roi_out(row: Mapping[str, Any]) -> dict[str, Any]:
    rings = row["geometry"] or []
    meta = _loads(row["attributes"]) or {}
    meta[ROI_KIND_KEY] = row["kind"]
    if row["kind"] in SDK_TYPES:
        meta.setdefault(SDK_TYPE_KEY, SDK_TYPES[row["kind"]])  # what the ClearML SDK reads
    if row["field"] != DEFAULT_FIELD:
        meta[ROI_FIELD_KEY] = row["field"]
    if row["track_index"] is not None:
        meta[ROI_TRACK_KEY] = row["track_index"]
    if row["keyframe"] is not None:
        meta[ROI_KEYFRAME_KEY] = row["keyframe"]
    stored = (row["x_min"], row["y_min"], row["x_max"], row["y_max"])
    if stored[0] is not None and stored != (bounds(rings) or (None,) * 4):
        # A box not derived from the rings (masks, RLE regions) must travel explicitly.
        meta[ROI_BBOX_KEY] = list(stored)
    return _drop_none(
        {
            "id": row["id"],
            "label": list(row["labels"] or []),
            "poly": join_rings(rings) or None,
            "confidence": row["confidence"],
            "sources": list(row["source_ids"] or []),
            "mask": _loads(row["mask"]),
            "meta": meta,
        }
    )


def join_rings(rings: Sequence[Sequence[float]]) -> list[float | int]:
    """Flatten rings into one ClearML `poly`, -999999999 between rings; integral values as int."""
    poly: list[float | int] = []
    for number, ring in enumerate(rings):
        if number:
            poly.append(RING_SEPARATOR)
        poly.extend(int(v) if v.is_integer() and abs(v) < 2**53 else v for v in ring)
    return poly


# -- small value checks ----------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _id(value: Any, name: str = "id", where: str = "") -> str | None:
    """An id: a string or an integer (as text); lists, objects, floats and booleans are refused."""
    if value is None or value == "":
        return None
    return check_id(value, name, where)


def _str(value: Any, name: str, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise RecordError(where, f"{name} must be a string, got {value!r}")


def _int(value: Any, name: str, where: str) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise RecordError(where, f"{name} must be an integer, got {value!r}")
    return int(value)


def _float(value: Any, name: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(where, f"{name} must be a number, got {value!r}")
    return float(value)


def _list(value: Any, name: str, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(where, f"{name} must be a list, got {value!r}")
    return value


def _mapping(value: Any, name: str, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError(where, f"{name} must be an object, got {value!r}")
    return value


def _bbox(value: Any, where: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int | float) and math.isfinite(v) for v in value)
    ):
        raise RecordError(
            where, f"{ROI_BBOX_KEY} must be [x_min, y_min, x_max, y_max], got {value!r}"
        )
    return (float(value[0]), float(value[1]), float(value[2]), float(value[3]))


def _saved(value: Any, where: str) -> datetime | None:
    """ClearML's `saved` is milliseconds since the epoch; the catalog keeps a UTC timestamp."""
    ms = _int(value, "saved", where)
    if ms is not None and not MIN_SAVED_MS <= ms <= MAX_SAVED_MS:
        raise RecordError(where, f"saved {ms} is not a date (milliseconds since 1970)")
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)


def _saved_ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}
