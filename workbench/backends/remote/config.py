"""Settings of remote platforms: one file, the environment and arguments, never a prompt.

A platform's settings are a frozen dataclass deriving from `PlatformConfig`; each field says
where else it may come from with `setting(env=..., file_keys=..., secret=...)`. `load()`
takes each setting from the first place that has it:

1. the arguments given to `load(**settings)` (None counts as not given);
2. the environment: the field's variables, the first one set wins (`LABEL_STUDIO_URL`,
   `CVAT_URL`, ...);
3. the platform's table of the config file (`[labelstudio]`, `[cvat]`): `path`, else
   `$WORKBENCH_BACKENDS_CONFIG`, else `$XDG_CONFIG_HOME/workbench/backends.toml` (by default
   `~/.config/workbench/backends.toml`). A platform may also read an older file of its own
   (`LEGACY_FILE`), with a DeprecationWarning; the shared file wins over it.

Nothing naming the server (a `REQUIRED` setting missing) is `NotConfigured`: the backend is
simply absent, and `configured()` returns None. Anything else that cannot be used (an unknown
setting, an unreadable file, a bad value) is the platform's `ConfigurationError`, which says
where it looked. Secret settings (tokens, passwords) never appear in a repr or an error.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from workbench.backends.remote.errors import ErrorKinds, NotConfigured
from workbench.backends.remote.http import RetryPolicy

ENV_CONFIG_FILE = "WORKBENCH_BACKENDS_CONFIG"
_META = "workbench"


@dataclass(frozen=True)
class Source:
    """Where a setting may come from besides an argument, and whether it is a secret."""

    env: tuple[str, ...] = ()
    file_keys: tuple[str, ...] = ()  # other names the file may use for it
    secret: bool = False


def setting(
    default: Any = dataclasses.MISSING,
    *,
    env: str | tuple[str, ...] = (),
    file_keys: tuple[str, ...] = (),
    secret: bool = False,
) -> Any:
    """A dataclass field that `PlatformConfig.load` may fill from the environment or the
    file; a secret one is left out of the repr."""
    source = Source((env,) if isinstance(env, str) else env, file_keys, secret)
    return dataclasses.field(default=default, repr=not secret, metadata={_META: source})


@dataclass(frozen=True)
class LegacyFile:
    """A platform's own config file from before backends.toml: `explicit_env` names it, else
    `default` is read when it exists; its keys may be at the top level or under the table."""

    default: Path
    explicit_env: str


class PlatformConfig:
    """Base of the settings dataclasses of remote platforms (see the module docstring)."""

    SECTION: ClassVar[str]  # the table of backends.toml
    REQUIRED: ClassVar[tuple[str, ...]]  # settings without which nothing is configured
    ERRORS: ClassVar[ErrorKinds]
    LEGACY_FILE: ClassVar[LegacyFile | None] = None

    # Every platform config has these (as dataclass fields of its own, with its defaults).
    retries: int
    backoff: float
    max_backoff: float
    jitter: float
    max_retry_after: float

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            retries=self.retries,
            backoff=self.backoff,
            max_backoff=self.max_backoff,
            jitter=self.jitter,
            max_retry_after=self.max_retry_after,
        )

    def check_retries(self) -> None:
        """Refuse retry settings that make no sense (for `__post_init__`)."""
        errors = self.ERRORS.configuration
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise errors(f"retries must be a non-negative integer, got {self.retries!r}")
        for name in ("backoff", "max_backoff", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise errors(f"{name} must be positive, got {value!r}")
        if not isinstance(self.jitter, int | float) or not 0 <= self.jitter <= 1:
            raise errors(f"jitter must be between 0 and 1, got {self.jitter!r}")

    @classmethod
    def load(
        cls,
        *,
        path: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        **given: Any,
    ) -> Self:
        """The settings from arguments, then the environment, then the config file."""
        env = os.environ if env is None else env
        values = {**_legacy_values(cls, env), **_file_values(cls, path, env)}
        values.update(_env_values(cls, env))
        values.update({k: v for k, v in given.items() if v is not None})
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise cls.ERRORS.configuration(
                f"unknown {cls.ERRORS.platform} settings: {', '.join(unknown)}"
            )
        missing = [name for name in cls.REQUIRED if not values.get(name)]
        if missing:
            raise cls.ERRORS.not_configured(
                f"{cls.ERRORS.platform} is not configured (no {' and no '.join(missing)}): "
                f"{_where_to_configure(cls, missing, env)}"
            )
        for name, value in values.items():
            if isinstance(value, list):
                values[name] = tuple(value)  # TOML arrays into the tuples fields hold
        try:
            return cls(**values)
        except TypeError as exc:
            # The message names the field, never its value.
            raise cls.ERRORS.configuration(f"bad {cls.ERRORS.platform} settings: {exc}") from exc

    @classmethod
    def configured(cls, **given: Any) -> Self | None:
        """`load(**given)`, or None when nothing names the server (NotConfigured)."""
        try:
            return cls.load(**given)
        except NotConfigured:
            return None


def sources(cls: type[PlatformConfig]) -> dict[str, Source]:
    """Each field of a config class and where it may come from."""
    return {
        f.name: f.metadata.get(_META, Source())
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    }


def secret_names(cls: type[PlatformConfig]) -> frozenset[str]:
    return frozenset(name for name, source in sources(cls).items() if source.secret)


def default_file(env: Mapping[str, str]) -> Path:
    """The shared config file: $WORKBENCH_BACKENDS_CONFIG, else under XDG_CONFIG_HOME."""
    if env.get(ENV_CONFIG_FILE):
        return Path(env[ENV_CONFIG_FILE]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or "~", ".config")
    return Path(base).expanduser() / "workbench" / "backends.toml"


def _env_values(cls: type[PlatformConfig], env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, source in sources(cls).items():
        for variable in source.env:
            if env.get(variable):
                out[name] = env[variable]
                break
    return out


def _file_values(
    cls: type[PlatformConfig], path: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> dict[str, Any]:
    """The platform's table of the shared file; {} when the default file does not exist."""
    target = Path(path).expanduser() if path is not None else default_file(env)
    if not target.is_file():
        if path is not None:
            raise cls.ERRORS.configuration(f"{target}: config file not found")
        return {}
    return _table(cls, target, top_level=False)


def _legacy_values(cls: type[PlatformConfig], env: Mapping[str, str]) -> dict[str, Any]:
    legacy = cls.LEGACY_FILE
    if legacy is None:
        return {}
    named = env.get(legacy.explicit_env)
    target = Path(named).expanduser() if named else legacy.default.expanduser()
    if not target.is_file():
        if named:
            raise cls.ERRORS.configuration(
                f"{cls.ERRORS.platform} config file {target} does not exist"
            )
        return {}
    warnings.warn(
        f"{target}: the {cls.ERRORS.platform} settings belong under [{cls.SECTION}] in "
        f"{default_file(env)} (or ${ENV_CONFIG_FILE}); {target.name} is still read for now",
        DeprecationWarning,
        stacklevel=4,
    )
    return _table(cls, target, top_level=True)


def _table(cls: type[PlatformConfig], target: Path, *, top_level: bool) -> dict[str, Any]:
    """The platform's table of a TOML file (or its top level, for an older own file), with
    the file's other names for settings turned into field names."""
    try:
        data = tomllib.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise cls.ERRORS.configuration(f"{target}: cannot read the config file: {exc}") from exc
    section = data.get(cls.SECTION, data if top_level else {})
    if not isinstance(section, dict):
        raise cls.ERRORS.configuration(f"{target}: [{cls.SECTION}] must be a table")
    out = dict(section)
    for name, source in sources(cls).items():
        for key in source.file_keys:
            if key in out:
                value = out.pop(key)
                out.setdefault(name, value)
    return out


def _where_to_configure(
    cls: type[PlatformConfig], missing: list[str], env: Mapping[str, str]
) -> str:
    known = sources(cls)
    arguments = " and ".join(f"{name}=" for name in missing)
    variables = " and ".join(known[name].env[0] for name in missing if known[name].env)
    keys = " and ".join((known[name].file_keys or (name,))[0] for name in missing)
    found = f"pass {arguments}"
    if variables:
        found += f", or set {variables}"
    return f"{found}, or write {keys} under [{cls.SECTION}] in {default_file(env)}"
