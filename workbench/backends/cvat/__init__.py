"""The CVAT annotation backend (see docs/backends/cvat.md).

```python
from workbench.backends.cvat import CvatBackend, CvatConfig
backend = CvatBackend(CvatConfig.load())   # CVAT_URL, CVAT_USERNAME/CVAT_PASSWORD or CVAT_TOKEN
wb = Workbench(catalog, backends={"local": LocalBackend(), "cvat": backend})
```
"""

from __future__ import annotations

import warnings

from workbench.backends.cvat.backend import CvatBackend
from workbench.backends.cvat.client import (
    CvatClient,
    CvatError,
    CvatHTTPError,
    CvatRequestFailed,
    CvatResponseError,
    CvatTimeout,
)
from workbench.backends.cvat.config import CvatConfig, CvatConfigError


def configured_backend() -> CvatBackend | None:
    """A backend for the server the environment (CVAT_URL, ...) or the config file names;
    None when neither names one. Nothing is contacted here. Settings that name a server but
    cannot be used are warned about, not raised: a service without CVAT still works."""
    try:
        config = CvatConfig.load()
    except CvatConfigError as exc:
        if not str(exc).startswith("no CVAT url"):
            warnings.warn(f"CVAT backend left out: {exc}", stacklevel=2)
        return None
    return CvatBackend(config)


__all__ = [
    "CvatBackend",
    "CvatClient",
    "CvatConfig",
    "CvatConfigError",
    "CvatError",
    "CvatHTTPError",
    "CvatRequestFailed",
    "CvatResponseError",
    "CvatTimeout",
    "configured_backend",
]
