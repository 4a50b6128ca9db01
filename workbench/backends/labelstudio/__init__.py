"""Label Studio as an annotation backend, over its REST API.

```python
from workbench.backends.labelstudio import LabelStudioBackend

wb = Workbench(catalog, backends={"local": LocalBackend(),
                                  "labelstudio": LabelStudioBackend(url=..., token=...)})
wb.annotate(view, "boxes", backend="labelstudio", label_field="gt", label_type="detections",
            classes=["car"])
```

Without arguments the backend reads LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY, or the
[labelstudio] table of ~/.config/workbench/backends.toml, when it is first used (see
config.py). When either says
where the server is, the default `Workbench` has one already: `backend="labelstudio"` works
without building it.
See docs/backends/labelstudio.md.
"""

from __future__ import annotations

import warnings

from workbench.backends.labelstudio.backend import LabelStudioBackend
from workbench.backends.labelstudio.client import LabelStudioClient, OutcomeUnknown
from workbench.backends.labelstudio.config import LabelStudioConfig
from workbench.backends.labelstudio.convert import ConfigError, Controls, label_config
from workbench.backends.labelstudio.errors import (
    LabelStudioAuthError,
    LabelStudioConfigError,
    LabelStudioError,
    LabelStudioNotConfigured,
    LabelStudioOutcomeUnknown,
    LabelStudioRequestError,
    LabelStudioResponseError,
    LabelStudioUnavailable,
)
from workbench.backends.labelstudio.results import ResultError


def configured_backend() -> LabelStudioBackend | None:
    """A backend for the server the environment or config file names; None when neither
    names one (LabelStudioNotConfigured). Settings that cannot be used are warned about, not
    raised: a service without Label Studio still works."""
    try:
        config = LabelStudioConfig.configured()
    except LabelStudioConfigError as exc:
        warnings.warn(f"Label Studio backend left out: {exc}", stacklevel=2)
        return None
    return LabelStudioBackend(config) if config is not None else None


__all__ = [
    "ConfigError",
    "Controls",
    "LabelStudioAuthError",
    "LabelStudioBackend",
    "LabelStudioClient",
    "LabelStudioConfig",
    "LabelStudioConfigError",
    "LabelStudioError",
    "LabelStudioNotConfigured",
    "LabelStudioOutcomeUnknown",
    "LabelStudioRequestError",
    "LabelStudioResponseError",
    "LabelStudioUnavailable",
    "OutcomeUnknown",
    "ResultError",
    "configured_backend",
    "label_config",
]
