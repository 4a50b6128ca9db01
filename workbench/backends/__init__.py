"""Annotation platforms behind one protocol: the embedded local platform (default), Label
Studio over HTTP (workbench.backends.labelstudio); CVAT later.

`default_backends()` is what a service uses unless given others; a backend is any object that
satisfies `AnnotationBackend` (see workbench/backends/base.py for what it must do).
"""

from __future__ import annotations

from workbench.backends.base import (
    ATTRIBUTE_TYPES,
    LABEL_TYPES,
    SHAPE_SCHEMA,
    AnnotationBackend,
    AttributeSpec,
    BackendError,
    Capabilities,
    EditRestrictions,
    FieldSchema,
    LabelSchema,
    Removal,
    Serialisable,
    Shape,
    ShapeError,
    TaskStatus,
    UploadRequest,
    UploadResult,
)
from workbench.backends.local import LocalBackend


def default_backends() -> dict[str, AnnotationBackend]:
    """The backends a service has unless told otherwise: the local platform, and Label Studio
    when the environment or the config file says where it is (nothing is contacted here)."""
    from workbench.backends.labelstudio import configured_backend

    backends: dict[str, AnnotationBackend] = {LocalBackend.name: LocalBackend()}
    labelstudio = configured_backend()
    if labelstudio is not None:
        backends[labelstudio.name] = labelstudio
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
