"""A task's existing labels as the body of PUT /api/tasks/{id}/annotations/.

- classifications become tags;
- boxes, polygons, polylines and points without a track index become shapes;
- labels sharing (scene, field, track index, class) become one track. Its keyframes are the
  labels not flagged `keyframe: false`, plus those CVAT needs to draw the track as the catalog
  has it: the first and last frame, both sides of a gap, and where attributes or occlusion
  change. A shape with `outside: true` ends the track after its last frame and at each gap,
  so a track never runs on into the next scene of the task.

For every label `Prepared.sent` records what CVAT will show for it (geometry, keyframe flag,
attribute texts; for a tracked label on a frame between keyframes, the interpolation), so
that results can tell a shape nobody touched from an edited one.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.backends.base import BackendError, ShapeError
from workbench.backends.cvat.errors import CvatResponseError
from workbench.backends.cvat.geometry import CvatGeometry, Keyframe, to_cvat, track_frames
from workbench.backends.cvat.labels import (
    CvatLabel,
    ProjectLabels,
    attribute_text,
    shown_texts,
)
from workbench.model.labels import FieldSchema

# CVAT's `source` of shapes that came with the data rather than from an annotator.
SOURCE = "file"


@dataclass
class Member:
    """One label of the run, placed on its task frame, with its attribute texts."""

    index: int  # position in the run's labels table
    row: dict[str, Any]
    frame: int
    scene: int
    label: CvatLabel
    schema: FieldSchema
    texts: dict[str, str | None]

    @property
    def where(self) -> str:
        return f"label {self.row['roi_id']} of field {self.row['field']!r} on frame {self.row['frame_id']!r}"

    def values(self) -> dict[int, str]:
        """Attribute texts by spec id (occluded and group are shape fields)."""
        return {
            self.label.attributes[name]: text
            for name, text in self.texts.items()
            if text is not None and name in self.label.attributes
        }

    def occluded(self) -> bool:
        return any(
            self.texts[n] == "true"
            for n, s in self.schema.attributes.items()
            if s.type == "occluded"
        )

    def group(self) -> int | None:
        for name, spec in self.schema.attributes.items():
            if spec.type == "group_id" and self.texts[name] is not None:
                return int(str(self.texts[name]))
        return None


@dataclass
class Prepared:
    body: dict[str, Any] = field(
        default_factory=lambda: {"version": 0, "tags": [], "shapes": [], "tracks": []}
    )
    tags: list[int] = field(default_factory=list)  # label index of each tag
    shapes: list[int] = field(default_factory=list)  # label index of each shape
    tracks: list[list[tuple[int, int]]] = field(default_factory=list)  # (label index, frame)
    sent: dict[int, dict[str, Any]] = field(default_factory=dict)  # label index -> as shown


def prepare(
    rows: Sequence[tuple[int, dict[str, Any]]],
    frame_numbers: Mapping[str, int],
    scenes: Mapping[str, int],
    size: int,
    labels: ProjectLabels,
) -> Prepared:
    """The annotations body of one task of `size` frames from its labels (index, row)."""
    prepared = Prepared()
    tracks: dict[tuple[int, str, int, str], list[Member]] = {}
    for index, row in rows:
        member = _member(index, row, frame_numbers, scenes, labels)
        if row["kind"] == "classification":
            _add_tag(prepared, member)
        elif row["track_index"] is not None:
            key = (member.scene, row["field"], int(row["track_index"]), str(row["label"]))
            tracks.setdefault(key, []).append(member)
        else:
            _add_shape(prepared, member)
    for members in tracks.values():
        _add_track(prepared, sorted(members, key=lambda m: m.frame), size, labels.mutable)
    return prepared


def _member(
    index: int,
    row: dict[str, Any],
    frame_numbers: Mapping[str, int],
    scenes: Mapping[str, int],
    labels: ProjectLabels,
) -> Member:
    label = labels.label(row["field"], row["label"])
    if label is None:
        raise BackendError(
            f"label {row['roi_id']} on frame {row['frame_id']!r}: class {row['label']!r} is not "
            f"a class of field {row['field']!r} in the run's label schema; add it to `classes`"
        )
    schema = labels.schema.fields[row["field"]]
    attributes = json.loads(row["attributes"]) if row["attributes"] else {}
    texts = {
        name: attribute_text(spec, attributes.get(name)) for name, spec in schema.attributes.items()
    }
    frame_id = row["frame_id"]
    return Member(index, row, frame_numbers[frame_id], scenes[frame_id], label, schema, texts)


def _attribute_vals(values: Mapping[int, str]) -> list[dict[str, Any]]:
    return [{"spec_id": spec_id, "value": text} for spec_id, text in sorted(values.items())]


def _sent(
    geometry: CvatGeometry | None, keyframe: bool | None, texts: dict[str, str | None]
) -> dict[str, Any]:
    return {"geometry": geometry.key() if geometry else None, "keyframe": keyframe, "texts": texts}


def _geometry(member: Member) -> CvatGeometry:
    try:
        return to_cvat(member.row["kind"], member.row["geometry"] or [])
    except ValueError as exc:
        raise ShapeError(f"{member.where}: {exc}") from exc


def _add_tag(prepared: Prepared, member: Member) -> None:
    tag: dict[str, Any] = {
        "frame": member.frame,
        "label_id": member.label.id,
        "source": SOURCE,
        "attributes": _attribute_vals(member.values()),
    }
    group = member.group()
    if group is not None:
        tag["group"] = group
    prepared.body["tags"].append(tag)
    prepared.tags.append(member.index)
    shown = shown_texts(member.schema, member.label, member.values(), False, group)
    prepared.sent[member.index] = _sent(None, None, shown)


def _add_shape(prepared: Prepared, member: Member) -> None:
    geometry = _geometry(member)
    shape: dict[str, Any] = {
        "type": geometry.type,
        "frame": member.frame,
        "label_id": member.label.id,
        "points": list(geometry.points),
        "rotation": geometry.rotation,
        "occluded": member.occluded(),
        "outside": False,
        "z_order": 0,
        "source": SOURCE,
        "attributes": _attribute_vals(member.values()),
    }
    group = member.group()
    if group is not None:
        shape["group"] = group
    prepared.body["shapes"].append(shape)
    prepared.shapes.append(member.index)
    shown = shown_texts(member.schema, member.label, member.values(), member.occluded(), group)
    prepared.sent[member.index] = _sent(geometry, None, shown)


def _keyframe_positions(members: list[Member]) -> list[int]:
    """Which members must be CVAT keyframes for the track to look as the catalog has it."""
    keys: list[int] = []
    for i, member in enumerate(members):
        before = members[i - 1] if i else None
        after = members[i + 1] if i + 1 < len(members) else None
        if (
            member.row["keyframe"] is not False
            or before is None
            or after is None
            or before.frame != member.frame - 1
            or after.frame != member.frame + 1
            or before.texts != member.texts
        ):
            keys.append(i)
    return keys


def _add_track(prepared: Prepared, members: list[Member], size: int, mutable: bool) -> None:
    first = members[0]
    for before, member in itertools.pairwise(members):
        if before.frame == member.frame:
            raise ShapeError(
                f"{member.where}: track {member.row['track_index']} has two labels on this frame"
            )
    geometries = [_geometry(m) for m in members]
    if len({g.type for g in geometries}) != 1:
        raise ShapeError(
            f"{first.where}: a track mixes shape types {sorted({g.type for g in geometries})}"
        )
    keyframes = _track_keyframes(members, geometries, size, mutable)
    fixed = {} if mutable else first.values()
    track: dict[str, Any] = {
        "frame": first.frame,
        "label_id": first.label.id,
        "source": SOURCE,
        "attributes": _attribute_vals(fixed),
        "shapes": [_tracked_shape(key) for key in keyframes],
    }
    group = first.group()
    if group is not None:
        track["group"] = group
    prepared.body["tracks"].append(track)
    prepared.tracks.append([(m.index, m.frame) for m in members])
    shown = {f.frame: f for f in track_frames(keyframes, size)}
    for member in members:
        view = shown[member.frame]
        texts = shown_texts(
            member.schema, member.label, fixed | view.attributes, view.occluded, group
        )
        prepared.sent[member.index] = _sent(view.geometry, view.keyframe, texts)


def _track_keyframes(
    members: list[Member], geometries: list[CvatGeometry], size: int, mutable: bool
) -> list[Keyframe]:
    """The keyframes of a track, with an `outside` one after each last frame before a gap
    or the end (unless the task ends there)."""
    keyframes: list[Keyframe] = []
    for i in _keyframe_positions(members):
        member = members[i]
        values = tuple(member.values().items()) if mutable else ()
        keyframes.append(Keyframe(member.frame, geometries[i], False, member.occluded(), values))
        ends = i + 1 == len(members) or members[i + 1].frame > member.frame + 1
        if ends and member.frame + 1 < size:
            keyframes.append(
                Keyframe(member.frame + 1, geometries[i], True, member.occluded(), values)
            )
    return keyframes


def _tracked_shape(key: Keyframe) -> dict[str, Any]:
    return {
        "type": key.geometry.type,
        "frame": key.frame,
        "points": list(key.geometry.points),
        "rotation": key.geometry.rotation,
        "occluded": key.occluded,
        "outside": key.outside,
        "z_order": 0,
        "attributes": _attribute_vals(dict(key.attributes)),
    }


def assign_ids(prepared: Prepared, answer: Any, task_id: int) -> dict[int, str]:
    """Label index -> shape id, from CVAT's answer to the PUT (items in the order sent)."""
    if not isinstance(answer, dict):
        raise _bad(task_id, "the answer is not an object")
    out: dict[int, str] = {}
    for key, indexes in (("tags", prepared.tags), ("shapes", prepared.shapes)):
        items = _items(answer, key, len(indexes), task_id)
        for sent, item, index in zip(prepared.body[key], items, indexes, strict=True):
            _same_item(sent, item, key, task_id)
            out[index] = f"{key[:-1]}:{item['id']}"
    items = _items(answer, "tracks", len(prepared.tracks), task_id)
    for sent, item, members in zip(prepared.body["tracks"], items, prepared.tracks, strict=True):
        _same_item(sent, item, "tracks", task_id)
        for index, frame in members:
            out[index] = f"track:{item['id']}:{frame}"
    return out


def _items(answer: dict[str, Any], key: str, count: int, task_id: int) -> list[dict[str, Any]]:
    items = answer.get(key)
    if not isinstance(items, list) or len(items) != count:
        found = len(items) if isinstance(items, list) else "no"
        raise _bad(task_id, f"{found} {key} in the answer, {count} were sent")
    return items


def _same_item(sent: dict[str, Any], item: Any, key: str, task_id: int) -> None:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("id"), int)
        or item.get("frame") != sent["frame"]
        or item.get("label_id") != sent["label_id"]
    ):
        raise _bad(task_id, f"{key} came back without ids or in another order: {item!r:.120}")


def _bad(task_id: int, problem: str) -> BackendError:
    return CvatResponseError(f"CVAT saved the annotations of task {task_id} but {problem}")
