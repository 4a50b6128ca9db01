"""The lake tests run over both table formats where that is cheap (`fmt`)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["delta", "iceberg"])
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)
