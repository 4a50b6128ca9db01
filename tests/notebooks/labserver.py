"""A real JupyterLab server, started from its own virtualenv, for the notebook browser tests.

JupyterLab runs from the venvs `.ci/jupyterlab-venv` builds; the kernel runs in this
environment (`sys.executable`): JupyterLab and the kernel live in different environments, as
in most shared Jupyter installations. Everything the server reads or writes (config, data,
runtime files, the kernelspec, the notebooks) is in a temporary folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
LAB_VENV = Path(
    os.environ.get("JUPYTERLAB_VENV", Path.home() / ".cache/workbench/jupyterlab-venv")
)
# The same JupyterLab without Panel's front-end pieces (pyviz_comms, jupyter_bokeh).
BARE_LAB_VENV = LAB_VENV.with_name(LAB_VENV.name + "-bare")


@dataclass
class Lab:
    """A running JupyterLab server."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    root: Path
    notebooks: list[Path]

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}lab/tree/{notebook}?token={self.token}"

    def notebook7_url(self, notebook: str) -> str:
        return f"{self.url}notebooks/{notebook}?token={self.token}"

    def tree_url(self) -> str:
        return f"{self.url}tree?token={self.token}"

    def reset(self) -> None:
        """Shut every kernel down and put the notebooks back as they are in the repo."""
        api = httpx.Client(base_url=self.url, params={"token": self.token}, timeout=30)
        with api:
            for session in api.get("api/sessions").json():
                api.delete(f"api/sessions/{session['id']}")
        for notebook in self.notebooks:
            shutil.copyfile(notebook, self.root / notebook.name)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def write_kernelspec(share: Path) -> None:
    """A `python3` kernelspec running this interpreter, found before the lab venv's own."""
    kernel = share / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (workbench)",
        "language": "python",
        "env": {"PYTHONPATH": str(REPO)},
    }
    (kernel / "kernel.json").write_text(json.dumps(spec, indent=1))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_lab(venv: Path, home: Path, notebooks: list[Path], *, timeout: float = 120) -> Lab:
    """Start `jupyter lab` from `venv` on 127.0.0.1 with a token and no browser, its root
    a fresh folder under `home` holding copies of `notebooks`."""
    root = home / "root"
    root.mkdir(parents=True)
    for notebook in notebooks:
        shutil.copyfile(notebook, root / notebook.name)
    share = home / "share"
    write_kernelspec(share)
    # No "Would you like to get notified about official Jupyter news?" toast over the app,
    # and no "Select Kernel" dialog: the notebook's own kernelspec starts (a person clicks
    # "Select" with it chosen).
    settings = home / "config/lab/user-settings/@jupyterlab"
    for extension, plugin, value in [
        ("apputils-extension", "notification", {"fetchNews": "false"}),
        ("notebook-extension", "tracker", {"autoStartDefaultKernel": True}),
    ]:
        (settings / extension).mkdir(parents=True, exist_ok=True)
        (settings / extension / f"{plugin}.jupyterlab-settings").write_text(json.dumps(value))
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        PATH=f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_PATH=str(share),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    command = [
        str(venv / "bin" / "jupyter-lab"),
        "--no-browser",
        "--allow-root",  # CI runs as root
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
    ]
    log_path = home / "jupyterlab.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    lab = Lab(f"http://127.0.0.1:{port}/", token, process, log_path, root, notebooks)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{lab.log()}")
        try:
            status = httpx.get(f"{lab.url}api/status?token={token}", timeout=5).status_code
            if status == 200:
                return lab
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            lab.stop()
            raise RuntimeError(f"jupyter lab did not start:\n{lab.log()}")
        time.sleep(0.2)
