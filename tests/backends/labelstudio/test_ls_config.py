"""Configuration by arguments, environment and config file; never a prompt."""

import pytest

from workbench.backends import default_backends
from workbench.backends.labelstudio import (
    LabelStudioBackend,
    LabelStudioConfig,
    LabelStudioConfigError,
)
from workbench.backends.labelstudio.config import LabelStudioError

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def test_arguments_win_over_environment_which_wins_over_the_file(tmp_path):
    file = tmp_path / "backends.toml"
    file.write_text(
        '[labelstudio]\nurl = "http://file:8080"\napi_key = "from-file"\n'
        'local_files_root = "/srv/files"\nretries = 2\n'
    )
    env = {"LABEL_STUDIO_URL": "http://env:8080", "WORKBENCH_BACKENDS_CONFIG": str(file)}
    config = LabelStudioConfig.resolve(env=env)
    assert (config.url, config.token, config.local_files_root, config.retries) == (
        "http://env:8080",
        "from-file",
        "/srv/files",
        2,
    )
    env["LABEL_STUDIO_TOKEN"] = "from-env"
    assert LabelStudioConfig.resolve(env=env).token == "from-env"
    env["LABEL_STUDIO_API_KEY"] = "api-key"  # Label Studio's own name comes first
    assert LabelStudioConfig.resolve(env=env).token == "api-key"
    given = LabelStudioConfig.resolve("http://arg:1", "arg-token", env=env, retries=0)
    assert (given.url, given.token, given.retries) == ("http://arg:1", "arg-token", 0)


def test_the_default_file_is_under_xdg_config_home(tmp_path):
    folder = tmp_path / "workbench"
    folder.mkdir()
    (folder / "backends.toml").write_text(
        f'[labelstudio]\nurl = "http://x:1/"\ntoken = "{TOKEN}"\n'
    )
    config = LabelStudioConfig.resolve(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert config.api_url == "http://x:1"
    assert TOKEN not in repr(config)  # the token never shows in a repr or a log line


def test_nothing_configured_says_where_to_configure(tmp_path):
    with pytest.raises(LabelStudioConfigError) as caught:
        LabelStudioConfig.resolve(env={"HOME": str(tmp_path)})
    message = str(caught.value)
    assert "no url and no token" in message
    assert "LABEL_STUDIO_URL" in message and "LABEL_STUDIO_API_KEY" in message
    assert str(tmp_path / ".config" / "workbench" / "backends.toml") in message


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[labelstudio\n", "cannot read the config file"),
        ('labelstudio = "x"\n', r"\[labelstudio\] must be a table"),
        (
            '[labelstudio]\nurl = "http://x"\ntoken = "t"\ncolour = 1\n',
            "unknown Label Studio settings: colour",
        ),
        ('[labelstudio]\nurl = "ftp://x"\ntoken = "t"\n', "must start with http"),
        ('[labelstudio]\nurl = "http://x"\ntoken = "t"\nverify = false\n', "cannot be turned off"),
        ('[labelstudio]\nurl = "http://x"\ntoken = "t"\npage_size = 0\n', "page_size must be"),
    ],
)
def test_a_bad_config_file_is_a_clear_error(tmp_path, text, error):
    file = tmp_path / "b.toml"
    file.write_text(text)
    with pytest.raises(LabelStudioConfigError, match=error):
        LabelStudioConfig.resolve(path=file, env={})


def test_a_named_config_file_must_exist(tmp_path):
    with pytest.raises(LabelStudioConfigError, match="config file not found"):
        LabelStudioConfig.resolve(path=tmp_path / "missing.toml", env={})


def test_the_backend_reads_its_configuration_only_when_first_used(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    backend = LabelStudioBackend()  # fine without any configuration
    assert "not configured yet" in repr(backend)
    with pytest.raises(LabelStudioConfigError, match="not configured"):
        backend.project_of_run("run")
    assert issubclass(LabelStudioConfigError, LabelStudioError)
    configured = LabelStudioBackend(url="http://h:8080", token=TOKEN, env={})
    assert configured.config.api_url == "http://h:8080"


def test_the_default_service_has_label_studio_once_it_is_configured(monkeypatch, tmp_path, recwarn):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in (
        "LABEL_STUDIO_URL",
        "LABEL_STUDIO_API_KEY",
        "LABEL_STUDIO_TOKEN",
        "XDG_CONFIG_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WORKBENCH_BACKENDS_CONFIG", raising=False)
    assert list(default_backends()) == ["local"]
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://ls:8080")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    backends = default_backends()
    assert list(backends) == ["local", "labelstudio"]
    assert backends["labelstudio"].config.api_url == "http://ls:8080"
    broken = tmp_path / "broken.toml"
    broken.write_text("[labelstudio\n")
    monkeypatch.setenv("WORKBENCH_BACKENDS_CONFIG", str(broken))
    assert list(default_backends()) == ["local"]
    assert "cannot read the config file" in str(recwarn.pop(UserWarning).message)
