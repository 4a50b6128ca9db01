"""The errors of remote annotation platforms (Label Studio, CVAT): one tree for all of them,
under BackendError (drawn with every other in workbench/errors.py).

PlatformError has one subclass per way a platform fails (ConfigurationError, NotConfigured,
AuthError, Unavailable, OutcomeUnknown, Rejected, BadResponse). Each platform names these
classes for its users, as subclasses of its own base (LabelStudioError, CvatError):
`ErrorKinds` lists them, and the shared HTTP client (`workbench.backends.remote.http`) raises
the platform's class of the right kind, so code may catch either `Unavailable` or
`LabelStudioUnavailable`. Library errors (httpx, tomllib) are translated once, where they
happen, with `raise X(...) from exc`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.backends.base import BackendError


class PlatformError(BackendError):
    """A remote annotation platform failed. Request failures say which request and how."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail


class ConfigurationError(PlatformError):
    """The settings of a platform cannot be used; says which setting and where it came from."""


class NotConfigured(ConfigurationError):
    """No argument, environment variable or config file names the platform's server."""


class AuthError(PlatformError):
    """The platform refused the credentials."""


class Unavailable(PlatformError):
    """The platform cannot be reached, timed out, or kept failing until the retries ran out."""


class OutcomeUnknown(Unavailable):
    """A request that changes something got no usable answer after it was sent: it may
    have taken effect. Look for what it meant to do before sending it again."""


class Rejected(PlatformError):
    """The platform refused the request (a 4xx) and said why (`.detail`)."""


class BadResponse(PlatformError):
    """An answer the platform never gives: HTML, truncated JSON, an unexpected shape."""


@dataclass(frozen=True)
class ErrorKinds:
    """One platform's classes for each kind of failure, and how its messages name it."""

    platform: str  # the name messages use: "Label Studio", "CVAT"
    base: type[PlatformError]
    configuration: type[ConfigurationError]
    not_configured: type[NotConfigured]
    auth: type[AuthError]
    unavailable: type[Unavailable]
    outcome_unknown: type[OutcomeUnknown]
    rejected: type[Rejected]
    bad_response: type[BadResponse]
    # How messages name the refused credentials, and what to check when they are.
    credentials: str = "the credentials"
    auth_hint: str = ""

    def __post_init__(self) -> None:
        for name in (
            "configuration",
            "not_configured",
            "auth",
            "unavailable",
            "outcome_unknown",
            "rejected",
            "bad_response",
        ):
            kind = getattr(self, name)
            if not issubclass(kind, self.base):
                raise TypeError(f"{kind.__name__} is not a {self.base.__name__}")


__all__ = [
    "AuthError",
    "BadResponse",
    "ConfigurationError",
    "ErrorKinds",
    "NotConfigured",
    "OutcomeUnknown",
    "PlatformError",
    "Rejected",
    "Unavailable",
]
