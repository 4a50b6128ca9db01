"""Where the Label Studio server is and how to talk to it, resolved without ever prompting.

Each setting is taken from the first place that has it:

1. arguments given to `LabelStudioConfig.resolve(...)` (or to `LabelStudioBackend(...)`);
2. environment variables: `LABEL_STUDIO_URL`, `LABEL_STUDIO_API_KEY` (or `LABEL_STUDIO_TOKEN`),
   `LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`, `LABEL_STUDIO_PROJECT`;
3. the `[labelstudio]` table of a TOML file: the path given, else `$WORKBENCH_BACKENDS_CONFIG`,
   else `$XDG_CONFIG_HOME/workbench/backends.toml` (default `~/.config/workbench/backends.toml`).

A missing URL or token is a `LabelStudioConfigError` that names all three places.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.backends.base import BackendError

SECTION = "labelstudio"
ENV_URL = "LABEL_STUDIO_URL"
ENV_TOKENS = ("LABEL_STUDIO_API_KEY", "LABEL_STUDIO_TOKEN")
ENV_DOCUMENT_ROOT = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
ENV_PROJECT = "LABEL_STUDIO_PROJECT"
ENV_CONFIG_FILE = "WORKBENCH_BACKENDS_CONFIG"


class LabelStudioError(BackendError):
    """Something about Label Studio went wrong (base of this backend's errors)."""


class LabelStudioConfigError(LabelStudioError):
    """The backend is not configured, or its configuration cannot be read."""


@dataclass(frozen=True)
class LabelStudioConfig:
    """How to reach one Label Studio server and how this backend uses it.

    `token` is a legacy API token (sent as `Token ...`) or a personal access token (a JWT,
    exchanged for short-lived `Bearer` access tokens). `local_files_root` is the server's
    LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT as this machine sees it: media below it are served
    by the server itself (`local_files_server_root` is that folder's path on the server, if it
    differs); anything else local is uploaded. `project` (a title or an id) puts
    every run into that existing project instead of one new project per run.
    """

    url: str
    token: str = dataclasses.field(repr=False)
    local_files_root: str | None = None
    # The same folder as the server sees it, when that differs (a server in a container).
    local_files_server_root: str | None = None
    project: str | int | None = None
    timeout: float = 120.0
    connect_timeout: float = 5.0
    # Attempts after the first for a request that failed in a way worth retrying, waiting
    # backoff * 2**n seconds (at most max_backoff, or what Retry-After asks) in between.
    retries: int = 8
    backoff: float = 0.5
    max_backoff: float = 8.0
    import_chunk: int = 500
    page_size: int = 500
    # TLS verification: True, or the path of a CA bundle. Never switched off.
    verify: bool | str = True
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise LabelStudioConfigError(
                f"Label Studio URL must start with http(s)://, got {self.url!r}"
            )
        if not self.token:
            raise LabelStudioConfigError("Label Studio token is empty")
        if self.verify is False:
            raise LabelStudioConfigError("TLS verification cannot be turned off; give a CA bundle")
        for name in ("retries", "import_chunk", "page_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "retries" else 1):
                raise LabelStudioConfigError(f"{name} must be a positive integer, got {value!r}")

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
        """The configuration from arguments, then environment, then the config file."""
        env = os.environ if env is None else env
        from_file = _read_file(path, env)
        from_env = _from_env(env)
        given = {k: v for k, v in {"url": url, "token": token, **settings}.items() if v is not None}
        merged: dict[str, Any] = {**from_file, **from_env, **given}
        unknown = sorted(set(merged) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise LabelStudioConfigError(f"unknown Label Studio settings: {', '.join(unknown)}")
        missing = [name for name in ("url", "token") if not merged.get(name)]
        if missing:
            raise LabelStudioConfigError(
                f"Label Studio is not configured (no {' and no '.join(missing)}): pass url= and "
                f"token=, or set {ENV_URL} and {ENV_TOKENS[0]}, or write url and api_key under "
                f"[{SECTION}] in {_default_file(env)}"
            )
        try:
            return cls(**merged)
        except TypeError as exc:
            raise LabelStudioConfigError(f"bad Label Studio settings: {exc}") from exc


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if env.get(ENV_URL):
        out["url"] = env[ENV_URL]
    for name in ENV_TOKENS:
        if env.get(name):
            out["token"] = env[name]
            break
    if env.get(ENV_DOCUMENT_ROOT):
        out["local_files_root"] = env[ENV_DOCUMENT_ROOT]
    if env.get(ENV_PROJECT):
        out["project"] = env[ENV_PROJECT]
    return out


def _default_file(env: Mapping[str, str]) -> Path:
    if env.get(ENV_CONFIG_FILE):
        return Path(env[ENV_CONFIG_FILE]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or "~", ".config")
    return Path(base).expanduser() / "workbench" / "backends.toml"


def _read_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> dict[str, Any]:
    """The [labelstudio] table of the config file; {} when the default file does not exist."""
    target = Path(path).expanduser() if path is not None else _default_file(env)
    if not target.exists():
        if path is not None:
            raise LabelStudioConfigError(f"{target}: config file not found")
        return {}
    try:
        data = tomllib.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LabelStudioConfigError(f"{target}: cannot read the config file: {exc}") from exc
    section = data.get(SECTION, {})
    if not isinstance(section, dict):
        raise LabelStudioConfigError(f"{target}: [{SECTION}] must be a table")
    out = dict(section)
    # The file may say api_key (Label Studio's own word) or token.
    if "api_key" in out:
        out.setdefault("token", out.pop("api_key"))
    return out
