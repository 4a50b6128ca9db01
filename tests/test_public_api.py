"""The names `import workbench` offers are public API: changing them is a decision, not an accident."""

import workbench


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
