"""Running a few lines of Python in the virtualenv of the format SDKs whose pins clash with
ours (datumaro, scale-nucleus; built by .ci/format-sdks-venv)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

VENV = Path(os.environ.get("FORMAT_SDKS_VENV", Path.home() / ".cache/workbench/format-sdks-venv"))
PYTHON = VENV / "bin" / "python"


def run_in_sdk_venv(code: str, *args: str, timeout: float = 300) -> Any:
    """Run `code` (which prints one JSON value last) there; skip when the venv is missing."""
    if not PYTHON.is_file():
        pytest.skip(f"no format SDK virtualenv at {VENV} (.ci/format-sdks-venv builds it)")
    done = subprocess.run(
        [str(PYTHON), "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
