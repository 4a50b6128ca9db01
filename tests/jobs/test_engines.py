"""The engines run a job's units: on Daft's native runner, `workers` of them at a time."""

from __future__ import annotations

import importlib.util
import threading
import time
from typing import Any

import pytest

from workbench.jobs import EngineConfig
from workbench.jobs.engines import run_units

_LOCK = threading.Lock()
_RUNNING = [0, 0]  # now, peak


def _slow_unit(unit: dict[str, Any]) -> str:
    with _LOCK:
        _RUNNING[0] += 1
        _RUNNING[1] = max(_RUNNING[1], _RUNNING[0])
    time.sleep(0.3)
    with _LOCK:
        _RUNNING[0] -= 1
    return f"unit {unit['n']}"


@pytest.mark.skipif(importlib.util.find_spec("daft") is None, reason="Daft has its own venv")
@pytest.mark.parametrize("workers", [2, 1])
def test_daft_runs_workers_units_at_a_time(workers: int) -> None:
    _RUNNING[:] = [0, 0]
    units = [{"n": n} for n in range(6)]
    results = run_units(units, _slow_unit, EngineConfig("daft", workers), progress=False)
    assert results == [f"unit {n}" for n in range(6)]  # in unit order
    assert _RUNNING[1] == workers


def test_local_runs_one_unit_after_another() -> None:
    _RUNNING[:] = [0, 0]
    results = run_units([{"n": 1}, {"n": 2}], _slow_unit, EngineConfig("local"), progress=False)
    assert results == ["unit 1", "unit 2"] and _RUNNING[1] == 1
