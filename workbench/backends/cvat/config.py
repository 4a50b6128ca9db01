"""Where the CVAT server is, how to log in, and how tasks are made there.

A `CvatConfig` comes from arguments, environment variables and a TOML file, in that order of
precedence (an argument beats an environment variable, which beats the file); nothing is ever
asked for interactively, so a served app or a batch job never hangs on a prompt:

| setting | environment | file key |
|---|---|---|
| server URL | `CVAT_URL` | `url` |
| user name and password (logged in with `POST /api/auth/login`) | `CVAT_USERNAME`, `CVAT_PASSWORD` | `username`, `password` |
| personal access token (sent as `Bearer`) | `CVAT_TOKEN` | `token` |
| organisation slug (`X-Organization`) | `CVAT_ORG` | `organization` |

The file is `config_file`, else `$CVAT_CONFIG`, else `~/.config/workbench/cvat.toml` when it
exists; its keys are the field names of `CvatConfig` (optionally under a `[cvat]` table).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workbench.backends.base import BackendError

DEFAULT_CONFIG_FILE = Path("~/.config/workbench/cvat.toml")

_ENVIRONMENT = {
    "url": "CVAT_URL",
    "username": "CVAT_USERNAME",
    "password": "CVAT_PASSWORD",
    "token": "CVAT_TOKEN",
    "organization": "CVAT_ORG",
}


class CvatConfigError(BackendError):
    """The CVAT settings are missing or inconsistent; says which and where it looked."""


@dataclass(frozen=True)
class CvatConfig:
    """Connection and task settings of the CVAT backend. Secrets never appear in its repr."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    organization: str | None = None
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
    # How long a background request (data processing) may take, and the longest pause
    # between two polls of it.
    request_timeout: float = 3600.0
    poll_interval: float = 5.0
    # Files are uploaded in requests of at most this many bytes (a bigger file goes alone).
    max_request_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
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
        if self.retries < 0 or self.segment_overlap < 0:
            raise CvatConfigError("retries and segment_overlap must not be negative")

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @classmethod
    def load(
        cls,
        *,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> CvatConfig:
        """Settings from arguments, then the environment, then the config file."""
        env = os.environ if environ is None else environ
        values = _file_values(config_file, env)
        for name, variable in _ENVIRONMENT.items():
            if env.get(variable):
                values[name] = env[variable]
        given = {"url": url, "username": username, "password": password, "token": token}
        values.update({k: v for k, v in {**given, **options}.items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CvatConfigError(f"unknown CVAT settings: {', '.join(unknown)}")
        if not values.get("url"):
            raise CvatConfigError(
                "no CVAT url: pass url=..., set CVAT_URL, or write it to "
                f"{config_file or env.get('CVAT_CONFIG') or DEFAULT_CONFIG_FILE}"
            )
        if "job_assignees" in values:
            values["job_assignees"] = tuple(values["job_assignees"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise CvatConfigError(f"bad CVAT settings: {exc}") from exc


def _file_values(config_file: str | Path | None, env: Mapping[str, str]) -> dict[str, Any]:
    explicit = config_file or env.get("CVAT_CONFIG")
    path = Path(explicit).expanduser() if explicit else DEFAULT_CONFIG_FILE.expanduser()
    if not path.is_file():
        if explicit:
            raise CvatConfigError(f"CVAT config file {path} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CvatConfigError(f"CVAT config file {path}: {exc}") from exc
    section = data.get("cvat", data)
    if not isinstance(section, dict):
        raise CvatConfigError(f"CVAT config file {path}: [cvat] must be a table")
    return dict(section)
