"""The CVAT annotation backend (see docs/backends/cvat.md).

```python
from workbench.backends.cvat import CvatBackend, CvatConfig
backend = CvatBackend(CvatConfig.load())   # CVAT_URL, CVAT_USERNAME/CVAT_PASSWORD or CVAT_TOKEN,
                                           # or [cvat] in ~/.config/workbench/backends.toml
wb = Workbench(catalog, backends={"local": LocalBackend(), "cvat": backend})
```
"""

from __future__ import annotations

import warnings

from workbench.backends.cvat.backend import CvatBackend
from workbench.backends.cvat.client import CvatClient
from workbench.backends.cvat.config import CvatConfig
from workbench.backends.cvat.errors import (
    CvatAuthError,
    CvatConfigError,
    CvatError,
    CvatHTTPError,
    CvatNotConfigured,
    CvatOutcomeUnknown,
    CvatRejected,
    CvatRequestFailed,
    CvatResponseError,
    CvatTimeout,
    CvatUnavailable,
)


def configured_backend() -> CvatBackend | None:
    """A backend for the server the environment (CVAT_URL, ...) or the config file names;
    None when neither names one (CvatNotConfigured). Nothing is contacted here. Settings that
    name a server but cannot be used are warned about, not raised: a service without CVAT
    still works."""
    try:
        config = CvatConfig.configured()
    except CvatConfigError as exc:
        warnings.warn(f"CVAT backend left out: {exc}", stacklevel=2)
        return None
    return CvatBackend(config) if config is not None else None


__all__ = [
    "CvatAuthError",
    "CvatBackend",
    "CvatClient",
    "CvatConfig",
    "CvatConfigError",
    "CvatError",
    "CvatHTTPError",
    "CvatNotConfigured",
    "CvatOutcomeUnknown",
    "CvatRejected",
    "CvatRequestFailed",
    "CvatResponseError",
    "CvatTimeout",
    "CvatUnavailable",
    "configured_backend",
]
