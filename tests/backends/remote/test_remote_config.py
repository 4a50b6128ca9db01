"""One settings loader for every remote platform: precedence, the shared backends.toml, the
older files, secrets kept out of reprs and errors, and "not configured" decided by type."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from workbench.backends import default_backends
from workbench.backends import labelstudio as ls
from workbench.backends.cvat import CvatConfig, CvatConfigError, CvatNotConfigured
from workbench.backends.cvat import errors as cvat_errors
from workbench.backends.labelstudio import (
    LabelStudioConfig,
    LabelStudioConfigError,
    LabelStudioNotConfigured,
)
from workbench.backends.labelstudio import errors as ls_errors
from workbench.backends.remote import (
    AuthError,
    BadResponse,
    ConfigurationError,
    NotConfigured,
    OutcomeUnknown,
    Rejected,
    Unavailable,
)
from workbench.backends.remote.config import default_file, secret_names

SECRET = "s3cr3t-value-that-must-never-show"
ENV_NAMES = (
    "LABEL_STUDIO_URL",
    "LABEL_STUDIO_API_KEY",
    "LABEL_STUDIO_TOKEN",
    "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT",
    "LABEL_STUDIO_PROJECT",
    "CVAT_URL",
    "CVAT_USERNAME",
    "CVAT_PASSWORD",
    "CVAT_TOKEN",
    "CVAT_ORG",
    "CVAT_CONFIG",
    "WORKBENCH_BACKENDS_CONFIG",
    "XDG_CONFIG_HOME",
)


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty home and no platform variables: nothing is configured."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def write_shared(home: Path, text: str) -> Path:
    path = home / ".config" / "workbench" / "backends.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


SHARED = f"""
[labelstudio]
url = "http://ls-file:8080"
api_key = "{SECRET}"
retries = 2

[cvat]
url = "http://cvat-file:8080"
username = "file-user"
password = "{SECRET}"
organization = "file-org"
"""


def test_one_file_holds_both_platforms(home: Path) -> None:
    write_shared(home, SHARED)
    lsc = LabelStudioConfig.load()
    cvat = CvatConfig.load()
    assert (lsc.url, lsc.token, lsc.retries) == ("http://ls-file:8080", SECRET, 2)
    assert (cvat.url, cvat.username, cvat.password, cvat.organization) == (
        "http://cvat-file:8080",
        "file-user",
        SECRET,
        "file-org",
    )


@pytest.mark.parametrize("platform", ["labelstudio", "cvat"])
def test_arguments_beat_the_environment_which_beats_the_file(
    home: Path, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    write_shared(home, SHARED)
    config_class, variable = {
        "labelstudio": (LabelStudioConfig, "LABEL_STUDIO_URL"),
        "cvat": (CvatConfig, "CVAT_URL"),
    }[platform]
    assert config_class.load().url.endswith("-file:8080")
    monkeypatch.setenv(variable, "http://env:1")
    assert config_class.load().url == "http://env:1"
    assert config_class.load(url="http://arg:2").url == "http://arg:2"
    assert config_class.load(url=None).url == "http://env:1"  # None is not an argument
    given = {"HOME": str(home), variable: "http://given-env:3"}
    assert config_class.load(env=given).url == "http://given-env:3"


def test_the_file_can_be_named(home: Path, tmp_path: Path, monkeypatch) -> None:
    named = tmp_path / "elsewhere.toml"
    named.write_text('[cvat]\nurl = "http://named:1"\ntoken = "t"\n')
    assert CvatConfig.load(path=named).url == "http://named:1"
    monkeypatch.setenv("WORKBENCH_BACKENDS_CONFIG", str(named))
    assert default_file({"WORKBENCH_BACKENDS_CONFIG": str(named)}) == named
    assert CvatConfig.load().url == "http://named:1"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_file({"XDG_CONFIG_HOME": "/x"}) == Path("/x/workbench/backends.toml")
    with pytest.raises(CvatConfigError, match=r"missing\.toml: config file not found"):
        CvatConfig.load(path=tmp_path / "missing.toml")


def test_the_older_cvat_file_is_still_read_with_a_deprecation_note(home: Path) -> None:
    old = home / ".config" / "workbench" / "cvat.toml"
    old.parent.mkdir(parents=True)
    old.write_text('url = "http://old:1"\ntoken = "old-token"\nimage_quality = 50\n')
    with pytest.warns(DeprecationWarning, match=r"cvat.toml: the CVAT settings belong under \["):
        config = CvatConfig.load()
    assert (config.url, config.image_quality) == ("http://old:1", 50)
    write_shared(home, '[cvat]\nurl = "http://shared:1"\n')
    with pytest.warns(DeprecationWarning):
        config = CvatConfig.load()
    assert (config.url, config.token) == ("http://shared:1", "old-token")  # the shared file wins


def test_nothing_configured_is_a_type_not_a_message(home: Path) -> None:
    for config_class, kind in (
        (LabelStudioConfig, LabelStudioNotConfigured),
        (CvatConfig, CvatNotConfigured),
    ):
        with pytest.raises(NotConfigured) as caught:
            config_class.load()
        assert type(caught.value) is kind
        assert config_class.configured() is None
    # A URL without a token is still nothing Label Studio can use: not configured.
    with pytest.raises(LabelStudioNotConfigured, match=r"no token\): pass token="):
        LabelStudioConfig.load(url="http://ls:1")
    # A CVAT URL without credentials names a server: a configuration error, not absence.
    with pytest.raises(CvatConfigError) as caught:
        CvatConfig.load(url="http://cvat:1")
    assert not isinstance(caught.value, NotConfigured)


def test_default_backends_leave_out_the_unconfigured_and_warn_about_the_broken(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing configured: silence, not a warning
        assert list(default_backends()) == ["local"]
    write_shared(home, SHARED)
    assert list(default_backends()) == ["local", "labelstudio", "cvat"]
    monkeypatch.setenv("CVAT_URL", "cvat-without-scheme")
    with pytest.warns(UserWarning, match="CVAT backend left out: CVAT url must be http"):
        assert list(default_backends()) == ["local", "labelstudio"]


def test_secrets_never_show_in_reprs(home: Path) -> None:
    write_shared(home, SHARED)
    for config in (LabelStudioConfig.load(), CvatConfig.load(token=SECRET)):
        assert SECRET not in repr(config) and SECRET not in str(config)
    assert secret_names(LabelStudioConfig) == {"token"}
    assert secret_names(CvatConfig) == {"password", "token"}
    backend = ls.LabelStudioBackend()
    assert backend.config.token == SECRET
    assert repr(backend) == "LabelStudioBackend(http://ls-file:8080)"
    assert repr(backend.client) == "LabelStudioClient('http://ls-file:8080')"
    backend.close()


@pytest.mark.parametrize(
    ("config_class", "given"),
    [
        (LabelStudioConfig, {"url": "ftp://x", "token": SECRET}),
        (LabelStudioConfig, {"url": "http://x", "token": SECRET, "colour": SECRET}),
        (LabelStudioConfig, {"url": "http://x", "token": SECRET, "retries": -1}),
        (LabelStudioConfig, {"url": "http://x", "token": SECRET, "jitter": 2}),
        (LabelStudioConfig, {"token": SECRET}),
        (CvatConfig, {"url": "http://x", "password": SECRET}),
        (CvatConfig, {"url": "http://x", "token": SECRET, "image_quality": 0}),
        (CvatConfig, {"url": "nowhere", "token": SECRET, "password": SECRET}),
    ],
)
def test_secrets_never_show_in_errors(home: Path, config_class, given) -> None:
    with pytest.raises(ConfigurationError) as caught:
        config_class.load(**given)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


def test_a_broken_file_never_quotes_a_secret(home: Path) -> None:
    write_shared(home, f'[labelstudio]\nurl = "http://x"\napi_key = "{SECRET}\n')
    with pytest.raises(LabelStudioConfigError, match="cannot read the config file") as caught:
        LabelStudioConfig.load()
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("kinds", [ls_errors.ERRORS, cvat_errors.ERRORS])
def test_each_platform_names_every_kind_of_the_one_tree(kinds) -> None:
    generic = {
        "configuration": ConfigurationError,
        "not_configured": NotConfigured,
        "auth": AuthError,
        "unavailable": Unavailable,
        "outcome_unknown": OutcomeUnknown,
        "rejected": Rejected,
        "bad_response": BadResponse,
    }
    for name, parent in generic.items():
        kind = getattr(kinds, name)
        assert issubclass(kind, parent) and issubclass(kind, kinds.base), name


def test_the_older_names_still_catch_what_they_caught() -> None:
    assert issubclass(ls.OutcomeUnknown, ls.LabelStudioUnavailable)
    assert issubclass(ls.OutcomeUnknown, OutcomeUnknown)
    assert issubclass(ls.LabelStudioNotConfigured, ls.LabelStudioConfigError)
    assert issubclass(ls.ConfigError, ls.LabelStudioError)
    assert issubclass(ls.ResultError, ls.LabelStudioResponseError)
    for kind in (
        cvat_errors.CvatUnavailable,
        cvat_errors.CvatOutcomeUnknown,
        cvat_errors.CvatRejected,
        cvat_errors.CvatAuthError,
    ):
        assert issubclass(kind, cvat_errors.CvatHTTPError)
    assert issubclass(CvatConfigError, cvat_errors.CvatError)
    assert issubclass(cvat_errors.CvatTimeout, Unavailable)
    assert issubclass(cvat_errors.CvatRequestFailed, Rejected)
