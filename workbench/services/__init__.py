"""The service layer: curation actions, scenes and inputs, annotation runs, audit.

```python
import workbench
from workbench.services import Workbench

wb = Workbench(workbench.open("cat.duckdb"))
results = wb.annotate(catalog.view().match_tags("review"), "review-1",
                      label_field="ground_truth", label_type="detections", classes=["car"])
task = wb.get_task(wb.list_tasks("review-1")[0].task_id)
wb.save_task_annotations(task.task.task_id, [...])
report = wb.load_annotations("review-1")
```

Every argument and result is JSON-friendly (frozen dataclasses with `to_dict`/`from_dict`),
so the same API can be served over HTTP. See docs/services.md and docs/annotation.md.
"""

from workbench.backends.base import TaskStatus
from workbench.backends.local import SaveResult, TaskFrame, TaskSource
from workbench.model.labels import AttributeSpec, EditRestrictions, FieldSchema, LabelSchema
from workbench.model.shapes import Shape
from workbench.services.errors import (
    BackendError,
    ConfirmationRequired,
    Conflict,
    InvalidArgument,
    LabelSchemaError,
    RequestTooLarge,
    SceneSpecError,
    ServiceError,
    ShapeError,
    StateError,
    UnknownIds,
)
from workbench.services.models import (
    INVALIDATION_REASONS,
    SCENE_TYPES,
    AuditEntry,
    Batch,
    Input,
    InputCreationResult,
    Project,
    RemovalReport,
    Request,
    RoiRef,
    SavedViewInfo,
    Scene,
    SceneSpec,
    TagReport,
)
from workbench.services.protocol import WorkbenchService
from workbench.services.reports import (
    UNEXPECTED_MODES,
    AnnotationConfig,
    AnnotationResults,
    AnnotationRunInfo,
    IdMap,
    IdMapEntry,
    LabelRef,
    MergeReport,
    Rejection,
    RunStatus,
    TaskDetail,
    UnexpectedLabels,
)
from workbench.services.workbench import Workbench

__all__ = [
    "INVALIDATION_REASONS",
    "SCENE_TYPES",
    "UNEXPECTED_MODES",
    "AnnotationConfig",
    "AnnotationResults",
    "AnnotationRunInfo",
    "AttributeSpec",
    "AuditEntry",
    "BackendError",
    "Batch",
    "ConfirmationRequired",
    "Conflict",
    "EditRestrictions",
    "FieldSchema",
    "IdMap",
    "IdMapEntry",
    "Input",
    "InputCreationResult",
    "InvalidArgument",
    "LabelRef",
    "LabelSchema",
    "LabelSchemaError",
    "MergeReport",
    "Project",
    "Rejection",
    "RemovalReport",
    "Request",
    "RequestTooLarge",
    "RoiRef",
    "RunStatus",
    "SaveResult",
    "SavedViewInfo",
    "Scene",
    "SceneSpec",
    "SceneSpecError",
    "ServiceError",
    "Shape",
    "ShapeError",
    "StateError",
    "TagReport",
    "TaskDetail",
    "TaskFrame",
    "TaskSource",
    "TaskStatus",
    "UnexpectedLabels",
    "UnknownIds",
    "Workbench",
    "WorkbenchService",
]
