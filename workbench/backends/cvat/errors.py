"""CVAT's names for the platform errors (workbench.backends.remote.errors): each is a CvatError
and the platform error kind it stands for; the tree is drawn in workbench/errors.py."""

from __future__ import annotations

from workbench.backends.remote.errors import (
    AuthError,
    BadResponse,
    ConfigurationError,
    ErrorKinds,
    NotConfigured,
    OutcomeUnknown,
    PlatformError,
    Rejected,
    Unavailable,
)


class CvatError(PlatformError):
    """Something went wrong talking to CVAT."""


class CvatConfigError(CvatError, ConfigurationError):
    """The CVAT settings are missing or inconsistent; says which and where it looked."""


class CvatNotConfigured(CvatConfigError, NotConfigured):
    """Nothing names a CVAT server."""


class CvatHTTPError(CvatError):
    """A request to CVAT failed (see its subclasses for how)."""


class CvatAuthError(CvatHTTPError, AuthError):
    pass


class CvatUnavailable(CvatHTTPError, Unavailable):
    pass


class CvatOutcomeUnknown(CvatUnavailable, OutcomeUnknown):
    pass


class CvatRejected(CvatHTTPError, Rejected):
    pass


class CvatResponseError(CvatError, BadResponse):
    """CVAT (or something in front of it) answered with something CVAT does not send."""


class CvatRequestFailed(CvatError, Rejected):
    """A background request finished with status `failed`; `.message` is CVAT's reason."""

    def __init__(self, rq_id: str, operation: str, message: str) -> None:
        super().__init__(f"CVAT request {rq_id} ({operation}) failed: {message}", detail=message)
        self.rq_id = rq_id
        self.message = message


class CvatTimeout(CvatError, Unavailable):
    """A background request did not finish in time."""


ERRORS = ErrorKinds(
    platform="CVAT",
    base=CvatError,
    configuration=CvatConfigError,
    not_configured=CvatNotConfigured,
    auth=CvatAuthError,
    unavailable=CvatUnavailable,
    outcome_unknown=CvatOutcomeUnknown,
    rejected=CvatRejected,
    bad_response=CvatResponseError,
    auth_hint="check CVAT_TOKEN, or CVAT_USERNAME and CVAT_PASSWORD",
)
