"""Deciding what merging a run's annotations changes in the catalog (no writes here).

Each shape the platform returns is compared twice:

- with the snapshot of the label as it was uploaded, to see what the annotator changed and
  refuse what the run does not allow (label, spatial and index edits, read-only attributes,
  additions, deletions), putting the uploaded value back;
- with the label as the catalog holds it now, to know whether anything must be written. A
  second merge of the same results therefore writes nothing.

Only the schema's attributes are taken from the platform; other attributes of a label stay as
the catalog has them. Labels new to the catalog take the shape's id as their ROI id and are
added to the id map, so later merges recognise them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from math import fsum, isfinite
from operator import itemgetter
from typing import Any

import duckdb
import pyarrow as pa

from workbench.errors import RecordError
from workbench.model.jsontext import parse_json
from workbench.model.labels import (
    KIND_OF_LABEL_TYPE,
    LABEL_TYPE_OF_KIND,
    AttributeSpec,
    EditRestrictions,
    FieldSchema,
    LabelSchema,
)
from workbench.model.records import MIN_POINTS, ROI_KINDS, Frame, Roi
from workbench.model.validation import validate_frame
from workbench.services.context import arrow, records
from workbench.services.label_schema import attribute_value_ok, json_path
from workbench.services.reports import LabelRef, Rejection
from workbench.store.arrow import registered

# The parts of a label that are compared to decide whether it changed.
_COMPARED = (
    "field",
    "kind",
    "label",
    "labels",
    "confidence",
    "geometry",
    "mask",
    "attributes",
    "track_index",
    "keyframe",
    "source_ids",
)


@dataclass(frozen=True)
class Target:
    """Where the shapes of one schema field (or one group of unexpected shapes) go."""

    field: str  # the field the platform returned them in
    dest: str  # the catalog field they are written to
    schema: FieldSchema | None  # None: unexpected labels, merged as they are


@dataclass
class MergePlan:
    rows_to_write: list[dict[str, Any]] = field(default_factory=list)  # ROI rows
    rois_to_delete: list[tuple[str, str]] = field(default_factory=list)  # (frame_id, roi_id)
    scalar_patches: dict[str, dict[str, Any]] = field(default_factory=dict)  # frame -> patch
    new_id_map: list[dict[str, Any]] = field(default_factory=list)
    added: list[LabelRef] = field(default_factory=list)
    changed: list[LabelRef] = field(default_factory=list)
    deleted: list[LabelRef] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    unchanged: int = 0
    keyframes: int = 0


def compatible(schema: FieldSchema, kind: str) -> bool:
    return KIND_OF_LABEL_TYPE[schema.type] == kind


def label_type_of(shape: Mapping[str, Any]) -> str:
    if shape["kind"] == "box" and shape.get("mask"):
        return "instances"
    return LABEL_TYPE_OF_KIND.get(shape["kind"], shape["kind"])


class Merger:
    """Plans the merge of one run's shapes; reads the catalog through `con`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        anno_key: str,
        schema: LabelSchema,
        restrictions: EditRestrictions,
    ) -> None:
        self.con = con
        self.anno_key = anno_key
        self.schema = schema
        self.allow = restrictions
        self.plan = MergePlan()
        self.id_map = _id_map(con, anno_key)
        self.snapshots = _snapshots(con, anno_key) if _needs_snapshots(schema, restrictions) else {}
        self.present: set[str] = set()
        self.baseline: dict[tuple[str, str], dict[str, Any]] = {}
        self.scalars: dict[tuple[str, str], Any] = {}
        self.frames: set[str] = set()

    def run(self, groups: list[tuple[Target, list[dict[str, Any]]]]) -> MergePlan:
        """Plan every group; `groups` holds all shapes the platform returned."""
        self.present = {s["id"] for _, shapes in groups for s in shapes}
        self._load_baseline(groups)
        for target, shapes in groups:
            if target.schema is not None and target.schema.type == "scalar":
                self._scalars(target, shapes)
            else:
                self._shapes(target, shapes)
        for target, _ in groups:
            if target.schema is not None:
                self._deletions(target)
        return self.plan

    # -- reading the catalog ------------------------------------------------------------
    def _load_baseline(self, groups: list[tuple[Target, list[dict[str, Any]]]]) -> None:
        pairs: set[tuple[str, str]] = set()
        scalar_keys: set[tuple[str, str]] = set()
        frame_ids: set[str] = set()
        for target, shapes in groups:
            scalar = target.schema is not None and target.schema.type == "scalar"
            for s in shapes:
                frame_ids.add(s["frame_id"])
                if scalar:
                    scalar_keys.add((s["frame_id"], target.dest))
                else:
                    pairs.add((s["frame_id"], self._roi_id(target, s)[0]))
            if target.schema is not None:
                for entry in self.id_map.get(target.dest, {}).values():
                    if entry["roi_id"] is None:
                        scalar_keys.add((entry["frame_id"], target.dest))
                    else:
                        pairs.add((entry["frame_id"], entry["roi_id"]))
        self.baseline = _rois(self.con, pairs)
        self.scalars = _scalar_values(self.con, scalar_keys)
        self.frames = _existing_frames(self.con, frame_ids)

    def _uploaded(self, target: Target, shape_id: str) -> tuple[bool, dict[str, Any] | None]:
        """Whether the shape was sent with the run, and its snapshot (when snapshots are
        needed: see `_needs_snapshots`)."""
        entry = self.id_map.get(target.field, {}).get(shape_id)
        if entry is None or entry["origin"] != "upload":
            return False, None
        return True, self.snapshots.get(shape_id)

    def _roi_id(
        self, target: Target, shape: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any] | None]:
        """The ROI a shape is in the destination field, and its id-map entry if it has one."""
        entry = self.id_map.get(target.dest, {}).get(shape["id"])
        if entry is not None and entry["roi_id"] is not None:
            return entry["roi_id"], entry
        return shape["id"], entry

    # -- shapes ---------------------------------------------------------------------------
    def _shapes(self, target: Target, shapes: list[dict[str, Any]]) -> None:
        single = target.schema is not None and target.schema.type == "classification"
        if single:
            # One class per frame: a label the catalog already has wins over a new one.
            known = (
                self.id_map.get(target.field, {}).keys() | self.id_map.get(target.dest, {}).keys()
            )
            shapes = sorted(shapes, key=lambda s: s["id"] not in known)
        seen_frames: set[str] = set()
        for shape in shapes:
            if not self._usable(target, shape):
                continue
            if single:
                if shape["frame_id"] in seen_frames:
                    self._reject(target, shape, None, "duplicate", "one classification per frame")
                    continue
                seen_frames.add(shape["frame_id"])
            self._shape(target, shape)

    def _usable(self, target: Target, shape: dict[str, Any]) -> bool:
        if shape["frame_id"] not in self.frames:
            self._reject(target, shape, None, "frame", "the frame is no longer in the catalog")
            return False
        schema = target.schema
        if schema is None or schema.type == "segmentation":
            return True
        if shape["label"] not in schema.classes:
            reason = f"label {shape['label']!r} is not a class of field {target.field!r}"
            self._reject(target, shape, None, "class", reason)
            return False
        return True

    def _shape(self, target: Target, shape: dict[str, Any]) -> None:
        roi_id, entry = self._roi_id(target, shape)
        was_uploaded, snapshot = self._uploaded(target, shape["id"])
        is_new = entry is None and not was_uploaded
        if is_new and target.schema is not None and not self.allow.allow_additions:
            self._reject(target, shape, None, "addition", "additions are not allowed")
            return
        result = self._restricted(target, shape, snapshot, roi_id)
        baseline = self.baseline.get((shape["frame_id"], roi_id))
        row = _result_row(target.dest, shape["frame_id"], roi_id, result, baseline, target.schema)
        if baseline is not None and _same(row, baseline):
            self.plan.unchanged += 1
        else:
            error = _invalid(row)
            if error:
                self._reject(target, shape, roi_id, "geometry", error)
                return
            ref = LabelRef(shape["frame_id"], target.dest, roi_id)
            (self.plan.changed if baseline is not None else self.plan.added).append(ref)
            self.plan.rows_to_write.append(row)
        if result["track_index"] is not None and result["keyframe"]:
            self.plan.keyframes += 1
        if entry is None:
            self.plan.new_id_map.append(
                {
                    "frame_id": shape["frame_id"],
                    "roi_id": roi_id,
                    "field": target.dest,
                    "task_id": shape["task_id"],
                    "shape_id": shape["id"],
                }
            )

    def _restricted(
        self,
        target: Target,
        shape: dict[str, Any],
        snapshot: dict[str, Any] | None,
        roi_id: str | None,
    ) -> dict[str, Any]:
        """The shape with every change the run forbids put back as uploaded."""
        result = dict(shape)
        result["attributes"] = parse_json(shape["attributes"]) or {}
        result["mask"] = parse_json(shape["mask"])
        if snapshot is not None and target.schema is not None:
            checks = (
                ("label", ("label",), self.allow.allow_label_edits, "label edits"),
                ("spatial", ("geometry", "mask"), self.allow.allow_spatial_edits, "spatial edits"),
                ("index", ("track_index",), self.allow.allow_index_edits, "index edits"),
            )
            for change, keys, allowed, what in checks:
                if not allowed and any(result[k] != snapshot[k] for k in keys):
                    self._reject(target, shape, roi_id, change, f"{what} are not allowed")
                    for k in keys:
                        result[k] = snapshot[k]
        if target.schema is not None:
            result["attributes"] = self._attributes(
                target, shape, snapshot, result["attributes"], roi_id
            )
        return result

    def _attributes(
        self,
        target: Target,
        shape: dict[str, Any],
        snapshot: dict[str, Any] | None,
        given: dict[str, Any],
        roi_id: str | None,
    ) -> dict[str, Any]:
        assert target.schema is not None
        before = (snapshot or {}).get("attributes") or {}
        out: dict[str, Any] = {}
        for name, spec in target.schema.attributes.items():
            value = given.get(name)
            allowed = before.get(name) if snapshot is not None else spec.default
            if spec.read_only and value != allowed and not (value is None and snapshot is None):
                self._reject(target, shape, roi_id, "attribute", f"attribute {name!r} is read-only")
                value = allowed
            elif not attribute_value_ok(spec, value):
                reason = f"attribute {name!r}: {value!r} does not fit {_describe(spec)}"
                self._reject(target, shape, roi_id, "attribute", reason)
                value = allowed
            if value is None and snapshot is None:
                value = spec.default
            if value is not None:
                out[name] = value
        return out

    def _deletions(self, target: Target) -> None:
        assert target.schema is not None
        scalar = target.schema.type == "scalar"
        for shape_id, entry in sorted(self.id_map.get(target.dest, {}).items()):
            if shape_id in self.present:
                continue
            if scalar:
                exists = (entry["frame_id"], target.dest) in self.scalars
            else:
                exists = (entry["frame_id"], entry["roi_id"]) in self.baseline
            if not exists:
                continue
            ref = LabelRef(entry["frame_id"], target.dest, entry["roi_id"])
            if not self.allow.allow_deletions:
                self.plan.rejected.append(
                    Rejection(
                        ref.frame_id,
                        target.dest,
                        shape_id,
                        ref.roi_id,
                        "deletion",
                        "deletions are not allowed",
                    )
                )
                continue
            self.plan.deleted.append(ref)
            if scalar:
                self.plan.scalar_patches.setdefault(ref.frame_id, {})[target.dest] = None
            else:
                self.plan.rois_to_delete.append((ref.frame_id, str(ref.roi_id)))

    # -- scalars --------------------------------------------------------------------------
    def _scalars(self, target: Target, shapes: list[dict[str, Any]]) -> None:
        seen: set[str] = set()
        for shape in shapes:
            frame_id = shape["frame_id"]
            if frame_id not in self.frames:
                self._reject(target, shape, None, "frame", "the frame is no longer in the catalog")
                continue
            if frame_id in seen:
                self._reject(target, shape, None, "duplicate", "one value per frame")
                continue
            seen.add(frame_id)
            entry = self.id_map.get(target.dest, {}).get(shape["id"])
            was_uploaded, snapshot = self._uploaded(target, shape["id"])
            value = parse_json(shape["value"])
            if entry is None and not was_uploaded and not self.allow.allow_additions:
                self._reject(target, shape, None, "addition", "additions are not allowed")
                continue
            edited = snapshot is not None and value != parse_json(snapshot["value"])
            if edited and not self.allow.allow_label_edits:
                assert snapshot is not None
                self._reject(target, shape, None, "label", "label edits are not allowed")
                value = parse_json(snapshot["value"])
            if entry is None:
                self.plan.new_id_map.append(
                    {
                        "frame_id": frame_id,
                        "roi_id": None,
                        "field": target.dest,
                        "task_id": shape["task_id"],
                        "shape_id": shape["id"],
                    }
                )
            key = (frame_id, target.dest)
            if key in self.scalars and self.scalars[key] == value:
                self.plan.unchanged += 1
                continue
            ref = LabelRef(frame_id, target.dest, None)
            (self.plan.changed if key in self.scalars else self.plan.added).append(ref)
            self.plan.scalar_patches.setdefault(frame_id, {})[target.dest] = value

    def _reject(
        self,
        target: Target,
        shape: Mapping[str, Any],
        roi_id: str | None,
        change: str,
        reason: str,
    ) -> None:
        self.plan.rejected.append(
            Rejection(shape["frame_id"], target.dest, shape["id"], roi_id, change, reason)
        )


def _describe(spec: AttributeSpec) -> str:
    if spec.values:
        return f"{spec.type} values {list(spec.values)}"
    return f"type {spec.type!r}"


def _result_row(
    dest: str,
    frame_id: str,
    roi_id: str,
    result: dict[str, Any],
    baseline: dict[str, Any] | None,
    schema: FieldSchema | None,
) -> dict[str, Any]:
    """The ROI row a merged shape becomes (compared as-is with the catalog's row)."""
    attributes = dict(result["attributes"])
    if baseline is not None:
        kept = baseline["attributes"] or {}
        schema_keys = set(schema.attributes) if schema is not None else set()
        attributes = {k: v for k, v in kept.items() if k not in schema_keys} | attributes
    label = result["label"]
    if baseline is not None and label == baseline["label"]:
        labels = list(baseline["labels"] or [])
    else:
        labels = [label] if label is not None else []
    return {
        "frame_id": frame_id,
        "id": roi_id,
        "field": dest,
        "kind": result["kind"],
        "label": label,
        "labels": labels,
        "confidence": result["confidence"],
        "geometry": [list(ring) for ring in result["geometry"] or []],
        "mask": result["mask"],
        "attributes": attributes,
        "track_index": result["track_index"],
        "keyframe": result["keyframe"],
        "source_ids": list(result["source_ids"] or []),
    }


_compared = itemgetter(*_COMPARED)


def _same(row: dict[str, Any], baseline: dict[str, Any]) -> bool:
    return bool(_compared(row) == _compared(baseline))


def _needs_snapshots(schema: LabelSchema, allow: EditRestrictions) -> bool:
    """Snapshots matter only to edit restrictions and attribute checks; without either the
    merge skips reading them."""
    restricted = not (
        allow.allow_label_edits and allow.allow_spatial_edits and allow.allow_index_edits
    )
    return restricted or any(f.attributes for f in schema.fields.values())


def _invalid(row: dict[str, Any]) -> str | None:
    """Why the catalog cannot hold this row, or None. A quick check first; the catalog's own
    validation (slower, with the precise message) only for rows the quick check doubts."""
    minimum = MIN_POINTS.get(row["kind"])
    confidence = row["confidence"]
    plausible = row["kind"] in ROI_KINDS and (confidence is None or 0.0 <= confidence <= 1.0)
    if minimum is not None:
        plausible = plausible and bool(row["geometry"])
        for ring in row["geometry"]:
            if not plausible:
                break
            try:
                plausible = len(ring) % 2 == 0 and len(ring) >= 2 * minimum and isfinite(fsum(ring))
            except (OverflowError, TypeError):
                plausible = False
    if plausible:
        return None
    try:
        validate_frame(Frame(id=row["frame_id"], rois=[_as_roi(row)]), f"frame {row['frame_id']!r}")
    except RecordError as exc:
        return str(exc)
    return None


def _as_roi(row: dict[str, Any]) -> Roi:
    return Roi(
        id=row["id"],
        kind=row["kind"],
        labels=row["labels"],
        field=row["field"],
        geometry=row["geometry"],
        confidence=row["confidence"],
        source_ids=row["source_ids"],
        mask=row["mask"],
        attributes=row["attributes"],
        track_index=row["track_index"],
        keyframe=row["keyframe"],
    )


def roi_record(row: dict[str, Any]) -> dict[str, Any]:
    """A merged row in the catalog's `rois` layout, with the derived bounding box."""
    xs = [v for ring in row["geometry"] for v in ring[0::2]]
    ys = [v for ring in row["geometry"] for v in ring[1::2]]
    box = (min(xs), min(ys), max(xs), max(ys)) if xs else None
    return {
        **row,
        "mask": json.dumps(row["mask"]) if row["mask"] is not None else None,
        "attributes": json.dumps(row["attributes"]) if row["attributes"] else None,
        "x_min": box[0] if box else None,
        "y_min": box[1] if box else None,
        "x_max": box[2] if box else None,
        "y_max": box[3] if box else None,
        "area": (box[2] - box[0]) * (box[3] - box[1]) if box else None,
        # Platforms return no keypoints (they are not sent): merged rows have no visibility.
        "visibility": row.get("visibility"),
    }


# -- catalog reads (set-based) --------------------------------------------------------------


def _id_map(con: duckdb.DuckDBPyConnection, anno_key: str) -> dict[str, dict[str, dict[str, Any]]]:
    """field -> shape id -> id-map entry."""
    table = arrow(
        con,
        "SELECT frame_id, roi_id, field, shape_id, origin FROM annotation_ids WHERE anno_key = ?",
        [anno_key],
    )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in records(table):
        out.setdefault(row["field"], {})[row["shape_id"]] = row
    return out


def _snapshots(con: duckdb.DuckDBPyConnection, anno_key: str) -> dict[str, dict[str, Any]]:
    table = arrow(
        con,
        "SELECT shape_id, label, geometry, mask::VARCHAR AS mask, attributes::VARCHAR AS attributes, "
        "value::VARCHAR AS value, track_index FROM annotation_snapshots WHERE anno_key = ?",
        [anno_key],
    )
    out: dict[str, dict[str, Any]] = {}
    for row in records(table):
        row["mask"] = parse_json(row["mask"])
        row["attributes"] = parse_json(row["attributes"]) or {}
        out[row["shape_id"]] = row
    return out


def _rois(
    con: duckdb.DuckDBPyConnection, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    keys = sorted(pairs)
    table = pa.table(
        {
            "frame_id": pa.array([k[0] for k in keys], pa.string()),
            "id": pa.array([k[1] for k in keys], pa.string()),
        }
    )
    with registered(con, "_wb_merge_keys", table):
        found = arrow(
            con,
            "SELECT r.frame_id, r.id, r.field, r.kind, r.label, r.labels, r.confidence, r.geometry, "
            "r.mask::VARCHAR AS mask, r.attributes::VARCHAR AS attributes, r.track_index, "
            "r.keyframe, r.source_ids FROM rois r "
            "JOIN _wb_merge_keys k ON k.frame_id = r.frame_id AND k.id = r.id",
        )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in records(found):
        row["mask"] = parse_json(row["mask"])
        row["attributes"] = parse_json(row["attributes"]) or {}
        row["labels"] = row["labels"] or []
        row["geometry"] = row["geometry"] or []
        row["source_ids"] = row["source_ids"] or []
        out[(row["frame_id"], row["id"])] = row
    return out


def _scalar_values(
    con: duckdb.DuckDBPyConnection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """(frame, key) -> the metadata value, for keys present in the frame's metadata."""
    wanted = sorted(keys)
    if not wanted:
        return {}
    table = pa.table(
        {
            "frame_id": pa.array([k[0] for k in wanted], pa.string()),
            "key": pa.array([k[1] for k in wanted], pa.string()),
            "path": pa.array([json_path(k[1]) for k in wanted], pa.string()),
        }
    )
    with registered(con, "_wb_scalar_keys", table):
        found = con.execute(
            "SELECT k.frame_id, k.key, json_extract(f.metadata, k.path)::VARCHAR "
            "FROM _wb_scalar_keys k JOIN frames f ON f.id = k.frame_id"
        ).fetchall()
    return {(f, k): json.loads(v) for f, k, v in found if v is not None and v != "null"}


def _existing_frames(con: duckdb.DuckDBPyConnection, frame_ids: set[str]) -> set[str]:
    found = con.execute(
        "SELECT id FROM frames WHERE id IN (SELECT unnest(?::VARCHAR[]))", [sorted(frame_ids)]
    ).fetchall()
    return {r[0] for r in found}
