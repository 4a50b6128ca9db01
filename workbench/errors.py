"""The exceptions workbench raises: one tree, drawn here whole, with WorkbenchError at its root.

The classes live with the layer that raises them (the module in brackets); this is the one
place the tree is drawn, and tests/test_public_api.py checks that every public exception class
is in it, under the parent drawn.

WorkbenchError
 +-- CatalogError                 the catalog file cannot be opened, migrated or written
 |    +-- SchemaVersionError       the file was written by a newer workbench
 |    +-- LakeError                a lake-backed catalog's tables cannot be reached,
 |         |                       read at their snapshot, or written
 |         +-- LakeUndoError       a write the catalog rolled back cannot be undone in the
 |                                 lake (`workbench lake accept` keeps it instead)
 +-- QueryError                   a query is malformed or refers to unknown fields
 |    +-- ReadOnlyQueryError       SQL typed by a person tried to write or reach files/network
 +-- IngestError                  an import or export cannot proceed at all
 +-- RecordError                  one record is bad; importers collect these and go on
 |    +-- MaskSkipped              [ingest._labelbox_export_masks] a mask ROI an export
 |                                 leaves out; `.reason` is what it is counted under
 +-- MediaError                   an image or video cannot be read or served
 +-- EvaluationError              an evaluation cannot run, or names a run that does not exist
 +-- AnalysisError               embeddings, similarity, duplicates or sequence QA cannot
 |                                run, or name something that does not exist
 +-- SerialisationError           a dict cannot be read back as the object it describes
 |                                (workbench.model.serialise: `from_dict`)
 +-- ServiceError                 [services.errors] an action was refused; nothing was changed
 |    +-- ConfirmationRequired     a destructive action without confirm=True; `.plan` says
 |    |                            exactly what it would remove
 |    +-- UnknownIds               ids that name nothing; `.kind` and `.ids` say which
 |    +-- InvalidArgument          a value the action cannot take (a reason, a status, a size);
 |    |    |                       `.argument` names it when one argument is at fault
 |    |    +-- LabelSchemaError    a label schema that cannot be annotated; `.field`, `.problem`
 |    |    +-- SceneSpecError      scenes that cannot be built from the frames given
 |    |    +-- RequestTooLarge     (HTTP) a call's arguments larger than the server takes
 |    |    +-- Mismatch            [services.typecheck] a value that does not fit its type hint;
 |    |                            the boundary raises it again as an InvalidArgument naming
 |    |                            the method
 |    +-- Conflict                 the action clashes with what exists (an anno_key in use...)
 |    +-- StateError               an object is in the wrong state (batch completed, scene
 |                                 invalidated, run cleaned up)
 +-- ClientError                  [services.client_wire] a call through the HTTP API got no
 |    |                           usable answer from the service; `.method`, `.status`
 |    +-- ServerUnreachable        no connection, or no answer in time (a timed-out action may
 |    |                            still have happened: look at audit_log)
 |    +-- AccessDenied             401/403: the API token is missing or wrong, or the server
 |    |                            only answers loopback requests without one
 |    +-- ServerError              the server failed unexpectedly (500), or a stream broke off
 |    +-- ProtocolError            an answer this client cannot read (another API version...)
 +-- ActionFailed                 [ui.dialogs] an action of the app failed for a reason the
 |                                service did not foresee (its message is shown)
 +-- Outdated                     [ui.facets] the query changed while its facets were being
 |                                counted (the count stops early; nothing is shown)
 +-- BackendError                 [backends.base] a platform cannot do what was asked
      +-- ShapeError               a malformed shape sent to a platform
      +-- PlatformError            [backends.remote.errors] a remote platform failed;
           |                       `.platform`, and for a request `.method`, `.path`,
           |                       `.status` and `.detail`
           +-- ConfigurationError  settings that cannot be used (a bad value, an unreadable
           |    |                  file, a URL without credentials)
           |    +-- NotConfigured  nothing names a server: the backend is simply absent
           +-- AuthError           the credentials were refused (401/403, a failed login)
           +-- Unavailable         unreachable, timed out, or 429/5xx until the retries ran out
           |    +-- OutcomeUnknown no usable answer to a request that changes something, after
           |                       it was sent: it may or may not have been applied, so look
           |                       before sending it again
           +-- Rejected            the platform refused the request (a 4xx) and said why
           +-- BadResponse         an answer the platform's API never gives: an HTML page,
           |                       truncated or malformed JSON, JSON of an unexpected shape
           +-- LabelStudioError    [backends.labelstudio.errors] Label Studio's names for the
           |    |                  kinds above; each is also the kind in brackets
           |    +-- LabelStudioConfigError          (ConfigurationError)
           |    |    +-- LabelStudioNotConfigured   (NotConfigured)
           |    +-- LabelStudioUnavailable          (Unavailable)
           |    |    +-- LabelStudioOutcomeUnknown  (OutcomeUnknown)
           |    +-- LabelStudioAuthError            (AuthError)
           |    +-- LabelStudioRequestError         (Rejected)
           |    +-- LabelStudioResponseError        (BadResponse)
           |    |    +-- ResultError   [.results] an annotation result that cannot be read
           |    +-- ConfigError        [.convert] a label schema Label Studio cannot express
           +-- CvatError               [backends.cvat.errors] CVAT's names for the kinds above
                +-- CvatConfigError             (ConfigurationError)
                |    +-- CvatNotConfigured      (NotConfigured)
                +-- CvatHTTPError      a request failed; `.method`, `.path`, `.status`
                |    +-- CvatAuthError          (AuthError)
                |    +-- CvatUnavailable        (Unavailable)
                |    |    +-- CvatOutcomeUnknown (OutcomeUnknown)
                |    +-- CvatRejected           (Rejected)
                +-- CvatResponseError           (BadResponse)
                +-- CvatRequestFailed  (Rejected) a background request (data processing)
                |                      failed
                +-- CvatTimeout        (Unavailable) a background request did not finish

Every ServiceError is raised before any part of the work is written: the catalog is as it
was. Library errors (duckdb, PIL, av, httpx, tomllib) are translated once where they are
caught, with `raise X(...) from exc`, so callers only need to know this tree.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error raised on purpose by workbench."""


class CatalogError(WorkbenchError):
    pass


class SchemaVersionError(CatalogError):
    pass


class LakeError(CatalogError):
    pass


class LakeUndoError(LakeError):
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


class SerialisationError(WorkbenchError):
    """A dict cannot be turned back into the object it claims to describe."""


class RecordError(WorkbenchError):
    """A bad record: says where it came from (file, line or record id) and what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
