"""The CVAT annotation backend (see docs/backends/cvat.md).

```python
from workbench.backends.cvat import CvatBackend, CvatConfig
backend = CvatBackend(CvatConfig.load())   # CVAT_URL, CVAT_USERNAME/CVAT_PASSWORD or CVAT_TOKEN
wb = Workbench(catalog, backends={"local": LocalBackend(), "cvat": backend})
```
"""

from __future__ import annotations

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
]
