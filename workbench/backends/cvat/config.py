"""Where the CVAT server is, how to log in, and how tasks are made there.

A `CvatConfig` comes from arguments, environment variables and the `[cvat]` table of the
shared config file, in that order of precedence (see workbench.backends.remote.config);
nothing is ever asked for interactively, so a served app or a batch job never hangs on a
prompt:

| setting | environment | file key |
|---|---|---|
| server URL | `CVAT_URL` | `url` |
| user name and password (logged in with `POST /api/auth/login`) | `CVAT_USERNAME`, `CVAT_PASSWORD` | `username`, `password` |
| personal access token (sent as `Bearer`) | `CVAT_TOKEN` | `token` |
| organisation slug (`X-Organization`) | `CVAT_ORG` | `organization` |

The older file of this backend (`config_file=`, else `$CVAT_CONFIG`, else
`~/.config/workbench/cvat.toml` when it exists; keys at the top level or under `[cvat]`) is
still read, below the shared file, with a DeprecationWarning.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from workbench.backends.cvat.errors import ERRORS, CvatConfigError, CvatNotConfigured
from workbench.backends.remote.config import LegacyFile, PlatformConfig, setting
from workbench.backends.remote.errors import ErrorKinds

DEFAULT_CONFIG_FILE = Path("~/.config/workbench/cvat.toml")
ENV_CONFIG_FILE = "CVAT_CONFIG"


@dataclass(frozen=True)
class CvatConfig(PlatformConfig):
    """Connection and task settings of the CVAT backend. Secrets never appear in its repr."""

    SECTION: ClassVar[str] = "cvat"
    REQUIRED: ClassVar[tuple[str, ...]] = ("url",)
    ERRORS: ClassVar[ErrorKinds] = ERRORS
    LEGACY_FILE: ClassVar[LegacyFile | None] = LegacyFile(DEFAULT_CONFIG_FILE, ENV_CONFIG_FILE)

    url: str = setting(env="CVAT_URL")
    username: str | None = setting(None, env="CVAT_USERNAME")
    password: str | None = setting(None, env="CVAT_PASSWORD", secret=True)
    token: str | None = setting(None, env="CVAT_TOKEN", secret=True)
    organization: str | None = setting(None, env="CVAT_ORG")
    # Data upload (POST /api/tasks/{id}/data/).
    image_quality: int = 75
    use_cache: bool = True
    chunk_size: int | None = None
    # Frames two consecutive jobs of a task share (CVAT's default for videos is 5).
    segment_overlap: int = 0
    # A local folder mounted as CVAT's share: files under it are sent as server_files
    # (paths relative to it) instead of being uploaded.
    share_root: str | None = None
    # Job assignees by user name, round robin over a run's jobs; the task assignee.
    job_assignees: tuple[str, ...] = ()
    task_assignee: str | None = None
    # HTTP behaviour.
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.2
    max_retry_after: float = 120.0
    # How long a background request (data processing) may take, and the longest pause
    # between two polls of it.
    request_timeout: float = 3600.0
    poll_interval: float = 5.0
    # Files are uploaded in requests of at most this many bytes (a bigger file goes alone).
    max_request_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        parts = urlsplit(self.url if isinstance(self.url, str) else "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CvatConfigError(f"CVAT url must be http(s)://host[:port], got {self.url!r}")
        if self.token is None and (self.username is None or self.password is None):
            raise CvatConfigError(
                "CVAT needs a token (CVAT_TOKEN) or a username and password "
                "(CVAT_USERNAME, CVAT_PASSWORD)"
            )
        if not 1 <= self.image_quality <= 100:
            raise CvatConfigError(f"image_quality must be 1..100, got {self.image_quality}")
        for name in ("timeout", "backoff", "request_timeout", "poll_interval"):
            if getattr(self, name) <= 0:
                raise CvatConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.segment_overlap < 0:
            raise CvatConfigError("segment_overlap must not be negative")
        self.check_retries()

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @classmethod
    def load(
        cls,
        *,
        path: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        **given: Any,
    ) -> CvatConfig:
        """Settings from arguments, then the environment, then the config file.
        `config_file` names the older cvat.toml and `environ` is the older name of `env`."""
        env = environ if env is None else env
        if config_file is not None:
            env = {**(os.environ if env is None else env), ENV_CONFIG_FILE: str(config_file)}
        return super().load(path=path, env=env, **given)


__all__ = ["CvatConfig", "CvatConfigError", "CvatNotConfigured"]
