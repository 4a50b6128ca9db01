"""Label Studio as an annotation backend, over its REST API.

```python
from workbench.backends.labelstudio import LabelStudioBackend

wb = Workbench(catalog, backends={"local": LocalBackend(),
                                  "labelstudio": LabelStudioBackend(url=..., token=...)})
wb.annotate(view, "boxes", backend="labelstudio", label_field="gt", label_type="detections",
            classes=["car"])
```

Without arguments the backend reads LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY, or
~/.config/workbench/backends.toml, when it is first used (see config.py). When either says
where the server is, the default `Workbench` has one already: `backend="labelstudio"` works
without building it.
See docs/backends/labelstudio.md.
"""

from __future__ import annotations

import warnings

from workbench.backends.labelstudio.backend import LabelStudioBackend
from workbench.backends.labelstudio.client import (
    LabelStudioAuthError,
    LabelStudioClient,
    LabelStudioRequestError,
    LabelStudioResponseError,
    LabelStudioUnavailable,
    OutcomeUnknown,
)
from workbench.backends.labelstudio.config import (
    LabelStudioConfig,
    LabelStudioConfigError,
    LabelStudioError,
)
from workbench.backends.labelstudio.convert import ConfigError, Controls, label_config
from workbench.backends.labelstudio.results import ResultError


def configured_backend() -> LabelStudioBackend | None:
    """A backend for the server the environment or config file names; None when neither
    names one. A config file that cannot be used is warned about, not raised: a service
    without Label Studio still works."""
    try:
        config = LabelStudioConfig.resolve()
    except LabelStudioConfigError as exc:
        if "not configured" not in str(exc):
            warnings.warn(f"Label Studio backend left out: {exc}", stacklevel=2)
        return None
    return LabelStudioBackend(config)


__all__ = [
    "ConfigError",
    "Controls",
    "LabelStudioAuthError",
    "LabelStudioBackend",
    "LabelStudioClient",
    "LabelStudioConfig",
    "LabelStudioConfigError",
    "LabelStudioError",
    "LabelStudioRequestError",
    "LabelStudioResponseError",
    "LabelStudioUnavailable",
    "OutcomeUnknown",
    "ResultError",
    "configured_backend",
    "label_config",
]
