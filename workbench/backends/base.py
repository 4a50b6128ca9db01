"""What every annotation backend is: its errors, capabilities, what it receives and returns,
and the protocol.

The split follows FiftyOne's annotation integration, without its thousand-method classes:

- the run's `LabelSchema` (fields, label types, classes, attributes) and the `Shape`s a
  platform holds are the kernel's vocabulary (workbench.model.labels, workbench.model.shapes);
- an `AnnotationBackend` uploads frames and existing labels (`upload`), hands back what the
  annotators made (`download`, an Arrow table of `SHAPE_SCHEMA`), reports task status and
  removes its own objects (`remove_inputs`, `cleanup`);
- the service layer keeps the run record, the id map and the merge policy, so a backend never
  touches the catalog's frames or ROIs.

Backends receive the catalog connection of the service's transaction: the local backend keeps
its tasks in catalog tables; remote ones (Label Studio, CVAT) read what they need of the run
through workbench.store.run_data, keep their bookkeeping through workbench.store.ledger, and
talk HTTP for the rest (workbench.backends.remote). What crosses the service boundary is a
frozen dataclass with `to_dict`/`from_dict` (workbench.model.serialise), so the HTTP API can
carry it unchanged. The errors are drawn with every other in workbench/errors.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol, runtime_checkable

import duckdb
import pyarrow as pa

from workbench.errors import WorkbenchError
from workbench.model.labels import EditRestrictions, LabelSchema
from workbench.model.serialise import Serialisable

# -- errors ---------------------------------------------------------------------------------


class BackendError(WorkbenchError):
    """An annotation backend cannot do what was asked (unsupported, unreachable, refused)."""


class ShapeError(BackendError):
    """A shape sent to a platform is malformed: says which shape and what is wrong."""


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
