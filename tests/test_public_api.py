"""The names `import workbench` offers are public API: changing them is a decision, not an accident."""

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import workbench
import workbench.errors


def test_public_names_are_pinned():
    assert sorted(workbench.__all__) == sorted(
        [
            "AnalysisError",
            "Catalog",
            "CatalogError",
            "DetectionResults",
            "EvaluationError",
            "IngestError",
            "MediaError",
            "QueryError",
            "ReadOnlyQueryError",
            "RecordError",
            "RoiRef",
            "SchemaVersionError",
            "Workbench",
            "WorkbenchError",
            "__version__",
            "connect",
            "open",
        ]
    )
    for name in workbench.__all__:
        assert hasattr(workbench, name), name


def test_every_error_is_a_workbench_error():
    for name in workbench.__all__:
        value = getattr(workbench, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, workbench.WorkbenchError), name


# -- every subpackage's names --------------------------------------------------------------

PUBLIC_NAMES: dict[str, list[str]] = {
    "analysis": [],
    "analysis.embeddings": [
        "CallableEmbedder",
        "Descriptor",
        "Embedder",
        "EmbeddingInfo",
        "EmbeddingRemoval",
        "EmbeddingReport",
        "OnnxEmbedder",
        "add_embeddings",
        "compute_embeddings",
        "delete",
        "embedder_of",
        "list_embeddings",
        "read_vectors",
        "require",
    ],
    "analysis.sequence_qa": [
        "QA_KINDS",
        "QaReport",
        "SEQUENCE_CHECKS",
        "SEVERITIES",
        "Thresholds",
        "frames_of",
        "list_issues",
        "sequence_qa",
        "thresholds_of",
    ],
    "analysis.similarity": [
        "APPROXIMATE_FROM",
        "Hits",
        "Neighbours",
        "Query",
        "RoiRef",
        "SimilarityIndex",
        "VectorMatrix",
        "index_dir",
        "load",
        "search",
    ],
    "analysis.evaluation": [
        "BACKGROUND", "OUTCOMES", "ClassResult", "ConfusionMatrix", "DetectionResults",
        "EvaluationConfig", "EvaluationInfo", "EvaluationRemoval", "PRCurve", "delete",
        "evaluate_detections", "list_evaluations", "load_results", "load_view", "rename",
    ],
    "backends": [
        "ATTRIBUTE_TYPES", "AnnotationBackend", "AttributeSpec", "BackendError", "Capabilities",
        "EditRestrictions", "FieldSchema", "LABEL_TYPES", "LabelSchema", "LocalBackend",
        "Removal", "SHAPE_SCHEMA", "Serialisable", "Shape", "ShapeError", "TaskStatus",
        "UploadRequest", "UploadResult", "default_backends",
    ],
    "backends.cvat": [
        "CvatAuthError", "CvatBackend", "CvatClient", "CvatConfig", "CvatConfigError",
        "CvatError", "CvatHTTPError", "CvatNotConfigured", "CvatOutcomeUnknown", "CvatRejected",
        "CvatRequestFailed", "CvatResponseError", "CvatTimeout", "CvatUnavailable",
        "configured_backend",
    ],
    "backends.labelstudio": [
        "ConfigError", "Controls", "LabelStudioAuthError", "LabelStudioBackend",
        "LabelStudioClient", "LabelStudioConfig", "LabelStudioConfigError", "LabelStudioError",
        "LabelStudioNotConfigured", "LabelStudioOutcomeUnknown", "LabelStudioRequestError",
        "LabelStudioResponseError", "LabelStudioUnavailable", "OutcomeUnknown", "ResultError",
        "configured_backend", "label_config",
    ],
    "backends.remote": [
        "AuthError", "BadResponse", "ConfigurationError", "ErrorKinds", "NotConfigured",
        "OutcomeUnknown", "PlatformClient", "PlatformConfig", "PlatformError", "Rejected",
        "RetryPolicy", "Unavailable", "create_once", "setting",
    ],
    "cli": ["EXIT_ERROR", "EXIT_REJECTED", "format_table", "main", "parse_options"],
    "demo": ["Defect", "DemoSummary", "build_demo", "default_media_dir"],
    "ingest": [
        "CatalogWriter", "FORMATS", "Frame", "IngestReport", "Roi", "Source", "box_ring",
        "exporter", "importer",
    ],
    "media": [],
    "model": [
        "ATTRIBUTE_TYPES", "AttributeSpec", "AttributeType", "Box", "EditRestrictions",
        "FieldSchema", "Frame", "LABEL_TYPES", "LabelSchema", "LabelType", "ROI_KINDS",
        "Regions", "Ring", "Roi", "RoiKind", "Serialisable", "Shape", "ShapeKind", "Source",
        "bounds", "box_areas", "box_iou", "box_ring", "corner_ring", "decode_rle_strings",
        "polygon_area", "polygon_ring", "rasterise_polygons",
    ],
    "query": ["Compiled", "SavedView", "View", "delete_view", "list_views", "load_view", "save_view"],
    "services": [
        "AnnotationConfig", "AnnotationResults", "AnnotationRunInfo", "AttributeSpec",
        "AuditEntry", "BackendError", "Batch", "ConfirmationRequired", "Conflict",
        "EditRestrictions", "FieldSchema", "INVALIDATION_REASONS", "IdMap", "IdMapEntry",
        "Input", "InputCreationResult", "InvalidArgument", "LabelRef", "LabelSchema",
        "LabelSchemaError", "MergeReport", "Project", "Rejection", "RemovalReport", "Request",
        "RequestTooLarge", "RoiRef", "RunStatus", "SCENE_TYPES", "SaveResult", "SavedViewInfo",
        "Scene", "SceneSpec", "SceneSpecError", "ServiceError", "Shape", "ShapeError",
        "StateError", "TagReport", "TaskDetail", "TaskFrame", "TaskSource", "TaskStatus",
        "UNEXPECTED_MODES", "UnexpectedLabels", "UnknownIds", "Workbench", "WorkbenchService",
    ],
    "jobs": [
        "ENGINES", "JOB_KINDS", "EngineConfig", "EvaluationJob", "IngestJob", "JobReport",
        "QaJobReport", "SequenceQaJob", "run_embeddings", "run_evaluation", "run_ingest",
        "run_sequence_qa",
    ],
    "store": [
        "Catalog", "CatalogInfo", "check_read_only", "default_catalog_path", "open_catalog",
        "quote_ident",
    ],
    "ui": [],  # nothing is imported there, so the server modules load without Panel's widgets
}  # fmt: skip


def _subpackages() -> list[str]:
    root = Path(workbench.__file__).parent
    return sorted(
        ".".join(p.parent.relative_to(root).parts)
        for p in root.rglob("__init__.py")
        if p.parent != root
    )


def test_every_subpackage_has_its_names_pinned():
    assert _subpackages() == sorted(PUBLIC_NAMES)
    for name, pinned in PUBLIC_NAMES.items():
        module = importlib.import_module(f"workbench.{name}")
        assert sorted(getattr(module, "__all__", [])) == sorted(pinned), name
        for public in pinned:
            assert hasattr(module, public), f"workbench.{name}.{public}"


# -- one exception tree ----------------------------------------------------------------------


def _modules() -> list[ModuleType]:
    found = [workbench]
    for info in pkgutil.walk_packages(workbench.__path__, "workbench."):
        found.append(importlib.import_module(info.name))
    return found


def _exception_classes() -> dict[str, type[BaseException]]:
    classes: dict[str, type[BaseException]] = {}
    for module in _modules():
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                classes[name] = value
    return classes


def _drawn_tree() -> list[tuple[str, str]]:
    """(class, parent) for every class drawn in workbench/errors.py's docstring."""
    lines = (workbench.errors.__doc__ or "").splitlines()
    root = lines.index("WorkbenchError")
    stack: list[tuple[int, str]] = [(-1, "WorkbenchError")]
    pairs = []
    for line in lines[root + 1 :]:
        found = re.match(r"^([ |]*)\+-- (\w+)", line)
        if not found:
            continue
        column = len(found.group(1))
        while stack[-1][0] >= column:
            stack.pop()
        pairs.append((found.group(2), stack[-1][1]))
        stack.append((column, found.group(2)))
    return pairs


def test_every_public_exception_is_drawn_in_the_one_tree():
    classes = _exception_classes()
    drawn = dict(_drawn_tree())
    assert len(classes) > 40, "the walk found too few exception classes"
    assert sorted(set(classes) - set(drawn) - {"WorkbenchError"}) == []
    assert sorted(set(drawn) - set(classes)) == []
    for name, cls in classes.items():
        assert issubclass(cls, workbench.WorkbenchError), name


def test_the_tree_is_drawn_as_the_classes_descend():
    classes = _exception_classes()
    for name, parent in _drawn_tree():
        assert classes[parent] in classes[name].__bases__, f"{name} under {parent}"
