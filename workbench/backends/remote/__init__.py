"""What the remote annotation platforms (Label Studio, CVAT) share: one HTTP client with
retries and an error table (http.py), one exception tree (errors.py), one way of reading
settings (config.py). See docs/architecture.md, "Remote platforms".
"""

from workbench.backends.remote.config import PlatformConfig, setting
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
from workbench.backends.remote.http import PlatformClient, RetryPolicy, create_once

__all__ = [
    "AuthError",
    "BadResponse",
    "ConfigurationError",
    "ErrorKinds",
    "NotConfigured",
    "OutcomeUnknown",
    "PlatformClient",
    "PlatformConfig",
    "PlatformError",
    "Rejected",
    "RetryPolicy",
    "Unavailable",
    "create_once",
    "setting",
]
