"""Start a real Label Studio server for tests and benchmarks, offline, on loopback.

Label Studio lives in its own virtualenv (`.ci/labelstudio-venv` makes it). Its first
`label-studio init` runs ~30 s of migrations, so an initialised data dir is built once per
version under ~/.cache/workbench/ and copied for each server; a copy starts in a few seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from workbench.backends.labelstudio import LabelStudioConfig

VERSION = "1.23.2"
CACHE = Path.home() / ".cache" / "workbench"
VENV = Path(os.environ.get("LABEL_STUDIO_VENV", CACHE / "labelstudio-venv"))
EXECUTABLE = VENV / "bin" / "label-studio"
USERNAME = "workbench@example.com"
PASSWORD = "workbench-tests"
TOKEN = "3f6c1b0e9a8d4c2e7b5a1f0d9c8e7b6a5f4e3d2c"  # the legacy API token init gives the user
START_TIMEOUT = 90.0


def installed() -> bool:
    return EXECUTABLE.exists() and (VENV / f".stamp-label-studio-{VERSION}").exists()


def not_installed_reason() -> str:
    return (
        f"Label Studio {VERSION} is not installed in {VENV}: run .ci/labelstudio-venv "
        "(make test does)"
    )


def environment(home: Path, data: Path, document_root: Path) -> dict[str, str]:
    """An offline, quiet server: no analytics, no version check, no Sentry, loopback only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO"))}
    env.update(
        HOME=str(home),
        LABEL_STUDIO_BASE_DATA_DIR=str(data),
        LABEL_STUDIO_USERNAME=USERNAME,
        LABEL_STUDIO_PASSWORD=PASSWORD,
        LABEL_STUDIO_USER_TOKEN=TOKEN,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(document_root),
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
    )
    return env


def template_dir() -> Path:
    """An initialised data dir for this version, built once (under a lock) and cached."""
    template = CACHE / f"labelstudio-template-{VERSION}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"labelstudio-template-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (template / "label_studio.sqlite3").exists():
            return template
        work = Path(tempfile.mkdtemp(prefix="ls-template-", dir=CACHE))
        try:
            data = work / "data"
            (work / "home").mkdir()
            (work / "root").mkdir()
            env = environment(work / "home", data, work / "root")
            subprocess.run(
                [
                    str(EXECUTABLE),
                    "init",
                    "--data-dir",
                    str(data),
                    "--username",
                    USERNAME,
                    "--password",
                    PASSWORD,
                    "--user-token",
                    TOKEN,
                    "--enable-legacy-api-token",
                ],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=600,
            )
            shutil.rmtree(template, ignore_errors=True)
            data.rename(template)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return template


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LabelStudioServer:
    """One server on a copy of the template, in `workdir`. `document_root` is where tests put
    media the server may serve."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.home = workdir / "home"
        self.document_root = workdir / "files"
        self.log_path = workdir / "server.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.token = TOKEN

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not self.data.exists():
            shutil.copytree(template_dir(), self.data)
        self.home.mkdir(exist_ok=True)
        self.document_root.mkdir(exist_ok=True)
        # A busy port makes Label Studio quietly take the next one: ask again elsewhere.
        for _ in range(3):
            self.port = self.port or free_port()
            self._launch()
            if self._wait_ready():
                return
            self.stop()
            self.port = 0
        raise RuntimeError(f"Label Studio did not start; see {self.log_path}:\n{self.log_tail()}")

    def _launch(self) -> None:
        env = environment(self.home, self.data, self.document_root)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the server writes to it until stopped
        command = [
            str(EXECUTABLE),
            "start",
            "--data-dir",
            str(self.data),
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def _wait_ready(self) -> bool:
        """Whether the port we asked for answers /health (not some other server's port)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{self.url}/health", timeout=2.0)
                if response.status_code == 200 and response.json().get("status") == "UP":
                    return True
            time.sleep(0.25)
        return False

    def stop(self) -> None:
        """Stop the server we started (its whole process group), waiting for it to exit."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop, then start again on the same port and data."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def personal_access_token(self) -> str:
        """A personal access token (a JWT) for the user, made with the legacy token."""
        headers = {"Authorization": f"Token {self.token}"}
        response = httpx.post(f"{self.url}/api/token/", headers=headers, timeout=30)
        response.raise_for_status()
        return str(response.json()["token"])


def backend_config(server: LabelStudioServer, **settings: object) -> LabelStudioConfig:
    """A backend configuration for `server`: quick retries, no progress bars."""
    defaults: dict[str, object] = {
        "url": server.url,
        "token": server.token,
        "local_files_root": str(server.document_root),
        "retries": 4,
        "backoff": 0.05,
        "max_backoff": 0.5,
        "progress": False,
    }
    return LabelStudioConfig(**{**defaults, **settings})  # type: ignore[arg-type]
