"""Annotation platforms behind one protocol: the embedded local platform (default), Label
Studio and CVAT over HTTP (workbench.backends.labelstudio, workbench.backends.cvat).

`default_backends()` is what a service uses unless given others; a backend is any object that
satisfies `AnnotationBackend` (see workbench/backends/base.py for what it must do).
"""

from __future__ import annotations

from workbench.backends.base import (
    AnnotationBackend,
    BackendError,
    Capabilities,
    Removal,
    ShapeError,
    TaskStatus,
    UploadRequest,
    UploadResult,
)
from workbench.backends.local import LocalBackend
from workbench.model.labels import (
    ATTRIBUTE_TYPES,
    LABEL_TYPES,
    AttributeSpec,
    EditRestrictions,
    FieldSchema,
    LabelSchema,
)
from workbench.model.serialise import Serialisable
from workbench.model.shapes import SHAPE_SCHEMA, Shape


def default_backends() -> dict[str, AnnotationBackend]:
    """The backends a service has unless told otherwise: the local platform, and Label Studio
    and CVAT when the environment or the config file says where they are (nothing is
    contacted here)."""
    from workbench.backends import cvat, labelstudio

    backends: dict[str, AnnotationBackend] = {LocalBackend.name: LocalBackend()}
    for configured in (labelstudio.configured_backend(), cvat.configured_backend()):
        if configured is not None:
            backends[configured.name] = configured
    return backends


__all__ = [
    "ATTRIBUTE_TYPES",
    "LABEL_TYPES",
    "SHAPE_SCHEMA",
    "AnnotationBackend",
    "AttributeSpec",
    "BackendError",
    "Capabilities",
    "EditRestrictions",
    "FieldSchema",
    "LabelSchema",
    "LocalBackend",
    "Removal",
    "Serialisable",
    "Shape",
    "ShapeError",
    "TaskStatus",
    "UploadRequest",
    "UploadResult",
    "default_backends",
]
