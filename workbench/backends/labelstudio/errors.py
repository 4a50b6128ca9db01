"""Label Studio's names for the platform errors (workbench.backends.remote.errors): each is a
LabelStudioError and the platform error kind it stands for; the tree is drawn in
workbench/errors.py (with ConfigError of convert.py and ResultError of results.py)."""

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


class LabelStudioError(PlatformError):
    """Something about Label Studio went wrong (base of this backend's errors)."""


class LabelStudioConfigError(LabelStudioError, ConfigurationError):
    """The backend's settings cannot be used (or, as LabelStudioNotConfigured, are absent)."""


class LabelStudioNotConfigured(LabelStudioConfigError, NotConfigured):
    """Nothing names a Label Studio server."""


class LabelStudioUnavailable(LabelStudioError, Unavailable):
    """The server cannot be reached, or kept failing until the retries ran out."""


class LabelStudioOutcomeUnknown(LabelStudioUnavailable, OutcomeUnknown):
    """A request that changes something failed after it was sent; it may have taken effect."""


class LabelStudioAuthError(LabelStudioError, AuthError):
    """The server refused the token."""


class LabelStudioRequestError(LabelStudioError, Rejected):
    """The server refused a request and said why (a 4xx answer)."""


class LabelStudioResponseError(LabelStudioError, BadResponse):
    """The server answered with something the API never returns."""


ERRORS = ErrorKinds(
    platform="Label Studio",
    base=LabelStudioError,
    configuration=LabelStudioConfigError,
    not_configured=LabelStudioNotConfigured,
    auth=LabelStudioAuthError,
    unavailable=LabelStudioUnavailable,
    outcome_unknown=LabelStudioOutcomeUnknown,
    rejected=LabelStudioRequestError,
    bad_response=LabelStudioResponseError,
    credentials="the token",
    auth_hint=(
        "check LABEL_STUDIO_API_KEY (legacy tokens work only where the organisation enables "
        "them; personal access tokens are JWTs)"
    ),
)
