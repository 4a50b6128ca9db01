"""Where the Label Studio server is and how to talk to it, resolved without ever prompting.

`LabelStudioConfig.load(path=None, env=None, **settings)` takes each setting from its
argument, else the environment, else the `[labelstudio]` table of the shared config file
(see workbench.backends.remote.config for the file and the order):

| setting | environment | in the file |
|---|---|---|
| `url` | `LABEL_STUDIO_URL` | `url` |
| `token` | `LABEL_STUDIO_API_KEY`, else `LABEL_STUDIO_TOKEN` | `api_key` or `token` |
| `local_files_root` | `LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT` | `local_files_root` |
| `project` | `LABEL_STUDIO_PROJECT` | `project` |

A missing URL or token is `LabelStudioNotConfigured` (a `LabelStudioConfigError`) naming the
three places. `resolve(url, token, ...)` is the older spelling of `load`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.backends.labelstudio.errors import (
    ERRORS,
    LabelStudioConfigError,
    LabelStudioError,
    LabelStudioNotConfigured,
)
from workbench.backends.remote.config import ENV_CONFIG_FILE, PlatformConfig, setting
from workbench.backends.remote.errors import ErrorKinds

SECTION = "labelstudio"
ENV_URL = "LABEL_STUDIO_URL"
ENV_TOKENS = ("LABEL_STUDIO_API_KEY", "LABEL_STUDIO_TOKEN")
ENV_DOCUMENT_ROOT = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
ENV_PROJECT = "LABEL_STUDIO_PROJECT"


@dataclass(frozen=True)
class LabelStudioConfig(PlatformConfig):
    """How to reach one Label Studio server and how this backend uses it.

    `token` is a legacy API token (sent as `Token ...`) or a personal access token (a JWT,
    exchanged for short-lived `Bearer` access tokens). `local_files_root` is the server's
    LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT as this machine sees it: media below it are served
    by the server itself (`local_files_server_root` is that folder's path on the server, if it
    differs); anything else local is uploaded. `project` (a title or an id) puts
    every run into that existing project instead of one new project per run.
    """

    SECTION: ClassVar[str] = SECTION
    REQUIRED: ClassVar[tuple[str, ...]] = ("url", "token")
    ERRORS: ClassVar[ErrorKinds] = ERRORS

    url: str = setting(env=ENV_URL)
    token: str = setting(env=ENV_TOKENS, file_keys=("api_key",), secret=True)
    local_files_root: str | None = setting(None, env=ENV_DOCUMENT_ROOT)
    # The same folder as the server sees it, when that differs (a server in a container).
    local_files_server_root: str | None = None
    project: str | int | None = setting(None, env=ENV_PROJECT)
    timeout: float = 120.0
    connect_timeout: float = 5.0
    # Attempts after the first for a request that failed in a way worth retrying, waiting
    # backoff * 2**n seconds (at most max_backoff, or what Retry-After asks) in between.
    retries: int = 8
    backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.2
    max_retry_after: float = 120.0
    import_chunk: int = 500
    page_size: int = 500
    # TLS verification: True, or the path of a CA bundle. Never switched off.
    verify: bool | str = True
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise LabelStudioConfigError(
                f"Label Studio URL must start with http(s)://, got {self.url!r}"
            )
        if not self.token:
            raise LabelStudioConfigError("Label Studio token is empty")
        if self.verify is False:
            raise LabelStudioConfigError("TLS verification cannot be turned off; give a CA bundle")
        for name in ("import_chunk", "page_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise LabelStudioConfigError(f"{name} must be a positive integer, got {value!r}")
        self.check_retries()

    @property
    def api_url(self) -> str:
        return self.url.rstrip("/")

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        token: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> LabelStudioConfig:
        """`load(path=..., env=..., url=url, token=token, **settings)`."""
        return cls.load(path=path, env=env, url=url, token=token, **settings)


__all__ = [
    "ENV_CONFIG_FILE",
    "LabelStudioConfig",
    "LabelStudioConfigError",
    "LabelStudioError",
    "LabelStudioNotConfigured",
]
