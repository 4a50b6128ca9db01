"""What every annotation backend is: capabilities, label schema, shapes, and the protocol.

The split follows FiftyOne's annotation integration, without its thousand-method classes:

- `LabelSchema` (fields, label types, classes, attributes) is what a run asks for;
- an `AnnotationBackend` uploads frames and existing labels (`upload`), hands back what the
  annotators made (`download`, an Arrow table of `SHAPE_SCHEMA`), reports task status and
  removes its own objects (`remove_inputs`, `cleanup`);
- the service layer keeps the run record, the id map and the merge policy, so a backend never
  touches the catalog's frames or ROIs.

Backends receive the catalog connection of the service's transaction: the local backend keeps
its tasks in catalog tables; remote ones (Label Studio, CVAT) read what they need of the run
through workbench.store.run_data, keep their bookkeeping through workbench.store.ledger,
and talk HTTP for the rest (workbench.backends.remote). Everything here that crosses the service boundary is a frozen
dataclass with `to_dict`/`from_dict`, so the HTTP API can carry it unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import duckdb
import pyarrow as pa

from workbench.errors import WorkbenchError
from workbench.model.geometry import Ring, corner_ring

# -- errors ---------------------------------------------------------------------------------


class BackendError(WorkbenchError):
    """An annotation backend cannot do what was asked (unsupported, unreachable, refused)."""


class ShapeError(BackendError):
    """A shape sent to a platform is malformed: says which shape and what is wrong."""


class SerialisationError(WorkbenchError):
    """A dict cannot be turned back into the object it claims to describe."""


# -- serialisation --------------------------------------------------------------------------


class Serialisable:
    """`to_dict()` / `from_dict()` for frozen dataclasses, driven by their type hints.

    Tuples become lists, datetimes ISO strings, dict keys strings, nested dataclasses dicts;
    `from_dict` converts back using the annotations, so `T.from_dict(t.to_dict()) == t`.
    """

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        if not isinstance(data, Mapping):
            raise SerialisationError(f"{cls.__name__}: expected a dict, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise SerialisationError(f"{cls.__name__}: unknown keys {', '.join(unknown)}")
        kwargs = {
            name: _load(hints[name], value, f"{cls.__name__}.{name}")
            for name, value in data.items()
        }
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise SerialisationError(f"{cls.__name__}: {exc}") from exc


def _dump(value: Any) -> Any:
    if isinstance(value, Serialisable):
        return value.to_dict()
    if isinstance(value, tuple | list | frozenset):
        return [_dump(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _dump(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _load(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or value is None:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None):
                try:
                    return _load(arg, value, where)
                except (SerialisationError, TypeError, ValueError):
                    continue
        raise SerialisationError(f"{where}: {value!r} matches none of {hint}")
    if origin is typing.Literal:
        if value not in args:
            raise SerialisationError(f"{where}: {value!r} is not one of {args}")
        return value
    if origin in (tuple, Sequence):  # a ring (Sequence[float]) comes back as a tuple too
        item = args[0] if args else Any
        return tuple(_load(item, v, where) for v in _as_list(value, where))
    if origin is list:
        return [_load(args[0] if args else Any, v, where) for v in _as_list(value, where)]
    if origin in (dict, Mapping) or hint is dict:
        key_type, value_type = args if args else (Any, Any)
        if not isinstance(value, Mapping):
            raise SerialisationError(f"{where}: expected a dict, got {type(value).__name__}")
        return {
            (int(k) if key_type is int else k): _load(value_type, v, where)
            for k, v in value.items()
        }
    if isinstance(hint, type) and issubclass(hint, Serialisable):
        return hint.from_dict(value)
    if hint is datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise SerialisationError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise SerialisationError(f"{where}: expected a list, got {type(value).__name__}")
    return list(value)


# -- label schema ---------------------------------------------------------------------------

LABEL_TYPES: tuple[str, ...] = (
    "classification",
    "classifications",
    "detections",
    "instances",
    "polylines",
    "polygons",
    "keypoints",
    "segmentation",
    "scalar",
)
ATTRIBUTE_TYPES: tuple[str, ...] = ("text", "select", "radio", "checkbox", "occluded", "group_id")
# Attribute types whose values must be listed in the schema.
VALUED_ATTRIBUTE_TYPES: tuple[str, ...] = ("select", "radio")

# The shape kind (a catalog ROI kind, or 'scalar') each label type is made of.
KIND_OF_LABEL_TYPE: dict[str, str] = {
    "classification": "classification",
    "classifications": "classification",
    "detections": "box",
    "instances": "box",
    "polylines": "polyline",
    "polygons": "polygon",
    "keypoints": "point",
    "segmentation": "mask",
    "scalar": "scalar",
}
# The label type a shape of some kind is, when it arrives where it was not expected.
LABEL_TYPE_OF_KIND: dict[str, str] = {
    "classification": "classifications",
    "box": "detections",
    "polyline": "polylines",
    "polygon": "polygons",
    "point": "keypoints",
    "mask": "segmentation",
    "scalar": "scalar",
}
# Label types whose objects can be tracks across the frames of a sequence.
TRACKABLE_TYPES: tuple[str, ...] = ("detections", "instances", "polylines", "polygons", "keypoints")


@dataclass(frozen=True)
class AttributeSpec(Serialisable):
    """One attribute of a label field: its input type, allowed values, default, editability."""

    type: str
    values: tuple[Any, ...] = ()
    default: Any = None
    read_only: bool = False


@dataclass(frozen=True)
class FieldSchema(Serialisable):
    """One label field of a run: its label type, classes, attributes and mask targets."""

    type: str
    classes: tuple[str, ...] = ()
    attributes: dict[str, AttributeSpec] = field(default_factory=dict)
    mask_targets: dict[int, str] | None = None
    # Whether the field already held labels of this type when the run was created.
    existing: bool = False

    @property
    def kind(self) -> str:
        return KIND_OF_LABEL_TYPE[self.type]


@dataclass(frozen=True)
class LabelSchema(Serialisable):
    """The label fields a run annotates. Built and validated by the service layer."""

    fields: dict[str, FieldSchema]

    def names(self) -> list[str]:
        return list(self.fields)


@dataclass(frozen=True)
class EditRestrictions(Serialisable):
    """What annotators may change of the labels sent with a run (FiftyOne's allow_* flags)."""

    allow_additions: bool = True
    allow_deletions: bool = True
    allow_label_edits: bool = True
    allow_index_edits: bool = True
    allow_spatial_edits: bool = True


# -- capabilities ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Capabilities(Serialisable):
    """What a backend can do. The service refuses a run that asks for more before anything
    is sent (label and attribute types, sequences, read-only attributes: see
    services/label_schema.py and services/annotate.py); the app's Send dialog offers only
    the backend's label types, and its runs panel edits tasks only where the backend can."""

    label_types: tuple[str, ...]
    attribute_types: tuple[str, ...]
    # Sequences annotated as video (tracks with an index across frames).
    supports_video: bool
    supports_read_only_attributes: bool
    # The task editing API (list tasks, get a task's frames and shapes, save, complete).
    supports_task_editing: bool


# -- shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape(Serialisable):
    """One annotation on a platform: a box, polygon, polyline, points, mask, class or value.

    Geometry follows the catalog: rings of flat `x0, y0, x1, y1, ...` in source pixels, y down;
    a box is one ring of four corners (`Shape.box`). `id` is the platform's shape id; leave it
    None for a new shape and the platform assigns one. `value` is the value of a scalar field.
    """

    frame_id: str
    field: str
    kind: str
    label: str | None = None
    geometry: tuple[Ring, ...] = ()
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: str | None = None
    task_id: str | None = None
    confidence: float | None = None
    mask: dict[str, Any] | None = None
    value: Any = None
    track_index: int | None = None
    keyframe: bool | None = None
    source_ids: tuple[str, ...] = ()

    @classmethod
    def box(
        cls,
        frame_id: str,
        field: str,
        label: str,
        x: float,
        y: float,
        w: float,
        h: float,
        **more: Any,
    ) -> Shape:
        """A box from its top-left corner and size, as four corners clockwise."""
        ring = corner_ring(x, y, x + w, y + h)
        return cls(
            frame_id=frame_id, field=field, kind="box", label=label, geometry=(ring,), **more
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Shape:
        """A shape from a row of `SHAPE_SCHEMA` (JSON columns as text)."""
        return cls(
            frame_id=row["frame_id"],
            field=row["field"],
            kind=row["kind"],
            label=row["label"],
            geometry=tuple(tuple(ring) for ring in row["geometry"] or ()),
            attributes=_json(row["attributes"]) or {},
            id=row["id"],
            task_id=row["task_id"],
            confidence=row["confidence"],
            mask=_json(row["mask"]),
            value=_json(row["value"]),
            track_index=row["track_index"],
            keyframe=row["keyframe"],
            source_ids=tuple(row["source_ids"] or ()),
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "id": self.id,
            "frame_id": self.frame_id,
            "field": self.field,
            "kind": self.kind,
            "label": self.label,
            "confidence": self.confidence,
            "geometry": [list(map(float, ring)) for ring in self.geometry],
            "mask": json_or_none(self.mask),
            "attributes": json_or_none(self.attributes or None),
            "value": json_or_none(self.value),
            "track_index": self.track_index,
            "keyframe": self.keyframe,
            "source_ids": list(self.source_ids),
        }


_GEOMETRY = pa.list_(pa.list_(pa.float64()))
SHAPE_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("id", pa.string()),
        ("frame_id", pa.string()),
        ("field", pa.string()),
        ("kind", pa.string()),
        ("label", pa.string()),
        ("confidence", pa.float64()),
        ("geometry", _GEOMETRY),
        ("mask", pa.string()),
        ("attributes", pa.string()),
        ("value", pa.string()),
        ("track_index", pa.int32()),
        ("keyframe", pa.bool_()),
        ("source_ids", pa.list_(pa.string())),
    ]
)

# Existing labels handed to `upload`: SHAPE_SCHEMA without platform ids, plus the ROI id
# (NULL for scalar values, which live in frame metadata).
LABEL_SCHEMA = pa.schema(
    [("roi_id", pa.string())] + [f for f in SHAPE_SCHEMA if f.name not in ("task_id", "id")]
)

# Frames handed to `upload`, in run order; scenes are never split across tasks.
UPLOAD_FRAME_SCHEMA = pa.schema(
    [
        ("frame_id", pa.string()),
        ("input_uuid", pa.string()),
        ("scene_index", pa.int32()),
        ("position", pa.int32()),
    ]
)


def json_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _json(text: Any) -> Any:
    if text is None or not isinstance(text, str):
        return text
    return json.loads(text)


# -- what backends receive and return -------------------------------------------------------


@dataclass(frozen=True)
class UploadRequest:
    """Everything a backend needs to create the tasks of a run."""

    run_id: str
    anno_key: str
    label_schema: LabelSchema
    restrictions: EditRestrictions
    project_id: str
    batch_id: str
    frames: pa.Table  # UPLOAD_FRAME_SCHEMA
    labels: pa.Table  # LABEL_SCHEMA
    task_size: int | None = None
    segment_size: int | None = None
    media_field: str | None = None
    # A dry run: plan and check, return the ids, but create nothing on a remote platform
    # (the local platform's writes roll back with the service's transaction anyway).
    dryrun: bool = False


@dataclass(frozen=True)
class UploadResult:
    """Per uploaded label (in `labels` order) the shape and task it became; the task count."""

    shape_ids: Sequence[str]
    task_ids: Sequence[str]
    tasks: int


@dataclass(frozen=True)
class Removal(Serialisable):
    """What removing inputs or cleaning a run up takes (or took) off a platform."""

    tasks: int = 0
    annotations: int = 0


@dataclass(frozen=True)
class TaskStatus(Serialisable):
    task_id: str
    status: str
    frames: int
    annotations: int
    position: int = 0
    assignee: str | None = None
    updated: datetime | None = None


@runtime_checkable
class AnnotationBackend(Protocol):
    """An annotation platform. `con` is a cursor; inside a transaction where one is open."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def upload(self, con: duckdb.DuckDBPyConnection, request: UploadRequest) -> UploadResult:
        """Create the run's tasks with its frames and labels; return the shape of each label."""
        ...

    def download(self, con: duckdb.DuckDBPyConnection, run_id: str) -> pa.Table:
        """Every shape of the run as it stands now, as a table of SHAPE_SCHEMA."""
        ...

    def task_statuses(self, con: duckdb.DuckDBPyConnection, run_id: str) -> list[TaskStatus]: ...

    def remove_inputs(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: str,
        input_uuids: Sequence[str],
        *,
        dryrun: bool,
    ) -> Removal:
        """Take these inputs (and their shapes, and tasks left empty) off the platform."""
        ...

    def cleanup(self, con: duckdb.DuckDBPyConnection, run_id: str, *, dryrun: bool) -> Removal:
        """Delete every task and shape of the run from the platform."""
        ...
