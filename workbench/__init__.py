"""workbench: an interactive curation workbench for computer-vision frame data.

import workbench
catalog = workbench.open("workbench.duckdb")
catalog.sql("SELECT label, count(*) FROM rois GROUP BY 1").df()
"""

from workbench.analysis.evaluation import DetectionResults
from workbench.catalog import Catalog, open_catalog
from workbench.errors import (
    AnalysisError,
    CatalogError,
    EvaluationError,
    IngestError,
    MediaError,
    QueryError,
    ReadOnlyQueryError,
    RecordError,
    SchemaVersionError,
    WorkbenchError,
)
from workbench.model.similarity import RoiRef
from workbench.services import Workbench
from workbench.services.client import connect

open = open_catalog  # `workbench.open(path)` is the public entry point

__version__ = "0.1.0"

__all__ = [
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
