"""The exceptions workbench raises.

WorkbenchError
 +-- CatalogError            the catalog file cannot be opened, migrated or written
 |    +-- SchemaVersionError  the file was written by a newer workbench
 +-- QueryError              a query is malformed or refers to unknown fields
 |    +-- ReadOnlyQueryError  SQL typed by a person tried to write or reach files/network
 +-- IngestError             an import or export cannot proceed at all
 +-- RecordError             one record is bad; importers collect these and go on
 +-- MediaError              an image or video cannot be read or served
 +-- EvaluationError         an evaluation cannot run, or names a run that does not exist
 +-- AnalysisError           embeddings, similarity, duplicates or sequence QA cannot run,
                             or name something that does not exist

Library errors (duckdb, PIL, av) are translated once where they are caught, with
`raise X(...) from exc`, so callers only need to know this tree.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error raised on purpose by workbench."""


class CatalogError(WorkbenchError):
    pass


class SchemaVersionError(CatalogError):
    pass


class QueryError(WorkbenchError):
    pass


class ReadOnlyQueryError(QueryError):
    pass


class IngestError(WorkbenchError):
    pass


class MediaError(WorkbenchError):
    pass


class EvaluationError(WorkbenchError):
    pass


class AnalysisError(WorkbenchError):
    pass


class RecordError(WorkbenchError):
    """A bad record: says where it came from (file, line or record id) and what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
