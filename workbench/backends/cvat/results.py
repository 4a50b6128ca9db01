"""A task's CVAT annotations (GET /api/tasks/{id}/annotations/) read back as Shapes.

Tags become classifications, shapes become boxes, polygons, polylines and points, and each
track becomes one shape per frame it is visible on (keyframes exact, frames between them
interpolated as CVAT does, `keyframe` saying which is which). Shape ids are stable across
downloads: `shape:<id>`, `tag:<id>`, `track:<id>:<frame number>`.

A shape that is what was uploaded gets back the catalog's own values (geometry, keyframe flag,
attribute values, confidence, source ids), so merging an untouched run changes nothing.

Answers CVAT would not give raise `CvatResponseError` naming the task and the item (missing
fields, a label id the project never had, a frame the task does not have); shapes on frames
of inputs removed from the run are left out. Shape types the catalog has no kind for
(ellipse, mask, ...) keep their CVAT type as kind, so the merge reports them as unexpected.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workbench.backends.cvat.errors import CvatResponseError
from workbench.backends.cvat.geometry import (
    KIND_OF_CVAT_TYPE,
    CvatGeometry,
    Keyframe,
    from_cvat,
    track_frames,
)
from workbench.backends.cvat.labels import CvatLabel, ProjectLabels, attribute_value, shown_texts
from workbench.backends.cvat.ledger import FrameRef, TaskRecord
from workbench.model.shapes import Shape

Uploaded = Mapping[str, tuple[dict[str, Any], dict[str, Any]]]
LabelLookup = Callable[[int], CvatLabel | None]


@dataclass(frozen=True)
class Found:
    """One annotation as CVAT holds it on one frame, before it becomes a Shape."""

    shape_id: str
    ref: FrameRef
    label: CvatLabel
    kind: str
    geometry: CvatGeometry | None
    keyframe: bool | None
    occluded: bool
    group: int | None
    values: dict[int, str]
    track_index: int | None = None


class TaskReader:
    """Reads one task's annotations; `labels` maps label ids, `foreign` finds labels added
    in CVAT after the run was made."""

    def __init__(
        self,
        task: TaskRecord,
        labels: ProjectLabels,
        uploaded: Uploaded,
        foreign: LabelLookup,
        track_indexes: Mapping[int, int],
    ) -> None:
        self.task = task
        self.labels = labels
        self.known = labels.by_id()
        self.uploaded = uploaded
        self.foreign = foreign
        self.track_indexes = track_indexes

    def read(self, data: Any) -> list[Shape]:
        where = f"CVAT task {self.task.task_id}"
        if not isinstance(data, dict):
            raise CvatResponseError(f"{where}: the annotations are not an object")
        found: list[Found] = []
        for key, reader in (("tags", self._tag), ("shapes", self._shape), ("tracks", self._track)):
            items = data.get(key, [])
            if not isinstance(items, list):
                raise CvatResponseError(f"{where}: `{key}` is not a list")
            for number, item in enumerate(items):
                if not isinstance(item, dict):
                    raise CvatResponseError(f"{where}: {key}[{number}] is not an object")
                found.extend(reader(item, f"{where} {key}[{number}] (id {item.get('id')})"))
        return [self._shape_of(f) for f in found]

    # -- items ----------------------------------------------------------------------------
    def _tag(self, item: dict[str, Any], where: str) -> list[Found]:
        ref = self._frame(item, where)
        if ref is None:
            return []
        return [
            Found(
                shape_id=f"tag:{_int(item, 'id', where)}",
                ref=ref,
                label=self._label(item, where),
                kind="classification",
                geometry=None,
                keyframe=None,
                occluded=False,
                group=_group(item),
                values=_values(item, where),
            )
        ]

    def _shape(self, item: dict[str, Any], where: str) -> list[Found]:
        ref = self._frame(item, where)
        if ref is None:
            return []
        geometry = _geometry(item, where)
        return [
            Found(
                shape_id=f"shape:{_int(item, 'id', where)}",
                ref=ref,
                label=self._label(item, where),
                kind=KIND_OF_CVAT_TYPE.get(geometry.type, geometry.type),
                geometry=geometry,
                keyframe=None,
                occluded=bool(item.get("occluded", False)),
                group=_group(item),
                values=_values(item, where),
            )
        ]

    def _track(self, item: dict[str, Any], where: str) -> list[Found]:
        track_id = _int(item, "id", where)
        label = self._label(item, where)
        fixed = _values(item, where)
        shapes = item.get("shapes")
        if not isinstance(shapes, list):
            raise CvatResponseError(f"{where}: a track without a list of shapes")
        keyframes: list[Keyframe] = []
        for number, shape in enumerate(shapes):
            at = f"{where} shapes[{number}]"
            if not isinstance(shape, dict):
                raise CvatResponseError(f"{at}: not an object")
            self._frame(shape, at)  # a keyframe on a frame the task does not have is an error
            keyframes.append(
                Keyframe(
                    frame=_int(shape, "frame", at),
                    geometry=_geometry(shape, at),
                    outside=bool(shape.get("outside", False)),
                    occluded=bool(shape.get("occluded", False)),
                    attributes=tuple(_values(shape, at).items()),
                )
            )
        # An uploaded track keeps the catalog's track index; a new one takes CVAT's id.
        index = self.track_indexes.get(track_id, track_id)
        out: list[Found] = []
        for view in track_frames(keyframes, self.task.size):
            ref = self.task.frames.get(view.frame)
            if ref is None:
                continue
            out.append(
                Found(
                    shape_id=f"track:{track_id}:{view.frame}",
                    ref=ref,
                    label=label,
                    kind=KIND_OF_CVAT_TYPE.get(view.geometry.type, view.geometry.type),
                    geometry=view.geometry,
                    keyframe=view.keyframe,
                    occluded=view.occluded,
                    group=_group(item),
                    values=fixed | view.attributes,
                    track_index=index,
                )
            )
        return out

    def _frame(self, item: dict[str, Any], where: str) -> FrameRef | None:
        frame = _int(item, "frame", where)
        if not 0 <= frame < self.task.size:
            raise CvatResponseError(
                f"{where}: frame {frame} was never sent (the task has frames 0..{self.task.size - 1})"
            )
        return self.task.frames.get(frame)  # None: the frame's input was removed from the run

    def _label(self, item: dict[str, Any], where: str) -> CvatLabel:
        label_id = _int(item, "label_id", where)
        label = self.known.get(label_id) or self.foreign(label_id)
        if label is None:
            raise CvatResponseError(f"{where}: label id {label_id} is not a label of the project")
        return label

    # -- to Shape -------------------------------------------------------------------------
    def _shape_of(self, found: Found) -> Shape:
        label = found.label
        field_schema = self.labels.schema.fields.get(label.field)
        texts: dict[str, str | None] = {}
        attributes: dict[str, Any] = {}
        if field_schema is not None:
            texts = shown_texts(field_schema, label, found.values, found.occluded, found.group)
            for name, spec in field_schema.attributes.items():
                value = attribute_value(spec, texts[name])
                if value is not None:
                    attributes[name] = value
        geometry: tuple[tuple[float, ...], ...] = ()
        if found.geometry is not None:
            known = found.kind in _CATALOG_KINDS
            geometry = from_cvat(found.geometry) if known else (tuple(found.geometry.points),)
        shape = Shape(
            frame_id=found.ref.frame_id,
            field=label.field,
            kind=found.kind,
            label=label.class_name,
            geometry=geometry,
            attributes=attributes,
            id=found.shape_id,
            task_id=str(self.task.task_id),
            track_index=found.track_index,
            keyframe=found.keyframe,
            source_ids=(found.ref.source_id,) if found.ref.source_id else (),
        )
        uploaded = self.uploaded.get(found.shape_id)
        return _as_uploaded(shape, found, texts, *uploaded) if uploaded else shape


def _as_uploaded(
    shape: Shape,
    found: Found,
    texts: Mapping[str, str | None],
    sent: Mapping[str, Any],
    original: Mapping[str, Any],
) -> Shape:
    """An uploaded label: what nobody changed in CVAT comes back as the catalog had it; the
    confidence and source ids, which CVAT does not edit, always do."""
    changes: dict[str, Any] = {
        "confidence": original.get("confidence"),
        "source_ids": tuple(original.get("source_ids") or ()),
    }
    if sent.get("geometry") == (found.geometry.key() if found.geometry else None):
        changes["geometry"] = tuple(tuple(ring) for ring in original.get("geometry") or ())
    if sent.get("keyframe") == found.keyframe:
        changes["keyframe"] = original.get("keyframe")
    before, kept = sent.get("texts") or {}, original.get("attributes") or {}
    attributes = dict(shape.attributes)
    for name, text in texts.items():
        if name in before and before[name] == text:
            attributes.pop(name, None)
            if kept.get(name) is not None:
                attributes[name] = kept[name]
    changes["attributes"] = attributes
    return dataclasses.replace(shape, **changes)


_CATALOG_KINDS = frozenset(KIND_OF_CVAT_TYPE.values())


def track_indexes(uploaded: Uploaded) -> dict[int, int]:
    """CVAT track id -> the catalog track index of the labels uploaded as that track."""
    out: dict[int, int] = {}
    for shape_id, (_, original) in uploaded.items():
        if shape_id.startswith("track:") and original.get("track_index") is not None:
            out[int(shape_id.split(":")[1])] = int(original["track_index"])
    return out


def _int(item: Mapping[str, Any], key: str, where: str) -> int:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CvatResponseError(f"{where}: `{key}` is {value!r}, not an integer")
    return value


def _group(item: Mapping[str, Any]) -> int | None:
    group = item.get("group")
    return group if isinstance(group, int) and not isinstance(group, bool) and group > 0 else None


def _values(item: Mapping[str, Any], where: str) -> dict[int, str]:
    attributes = item.get("attributes", [])
    if not isinstance(attributes, list):
        raise CvatResponseError(f"{where}: `attributes` is not a list")
    out: dict[int, str] = {}
    for value in attributes:
        if not isinstance(value, dict):
            raise CvatResponseError(f"{where}: an attribute value is not an object")
        out[_int(value, "spec_id", where)] = str(value.get("value", ""))
    return out


def _geometry(item: Mapping[str, Any], where: str) -> CvatGeometry:
    shape_type = item.get("type")
    points = item.get("points")
    if not isinstance(shape_type, str):
        raise CvatResponseError(f"{where}: no shape type")
    if not isinstance(points, list) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p) for p in points
    ):
        raise CvatResponseError(f"{where}: `points` is not a list of numbers")
    rotation = item.get("rotation", 0.0) or 0.0
    if not isinstance(rotation, int | float) or isinstance(rotation, bool):
        raise CvatResponseError(f"{where}: `rotation` is {rotation!r}")
    if shape_type == "rectangle" and len(points) != 4:
        raise CvatResponseError(f"{where}: a rectangle with {len(points)} coordinates, not 4")
    return CvatGeometry(shape_type, tuple(float(p) for p in points), float(rotation))
