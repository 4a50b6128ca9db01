"""The notebooks' kernels keep their scratch folders under one folder removed after the run.

The test runner stops each kernel at once, before the notebook's temporary folders are
cleaned up as they are when a person shuts a kernel down.
"""

import os
import shutil
import tempfile
from collections.abc import Generator

import pytest

_SCRATCH: list[str] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    # A notebook's kernel starts in its first cell's setup and reads TMPDIR then.
    if not _SCRATCH:
        _SCRATCH.append(tempfile.mkdtemp(prefix="workbench-notebooks-"))
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = _SCRATCH[0]
    try:
        return (yield)
    finally:
        if before is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = before


def pytest_unconfigure(config: pytest.Config) -> None:
    for scratch in _SCRATCH:
        shutil.rmtree(scratch, ignore_errors=True)
