"""Fixtures of the CVAT backend tests: a fake CVAT per test, a backend talking to it
through its MockTransport (no network, no sleeping), and a small catalog with images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.catalogs import CatalogFactory

try:
    from .fake_cvat import Clock, FakeCvat
except ModuleNotFoundError as exc:  # cvat-sdk (the dev extra) is not installed
    if not (exc.name or "").startswith("cvat_sdk"):
        raise
    collect_ignore_glob = ["test_*.py"]

from workbench.backends import LocalBackend
from workbench.backends.cvat import CvatBackend, CvatConfig
from workbench.services import Workbench
from workbench.store.catalog import Catalog


@pytest.fixture
def fake() -> FakeCvat:
    return FakeCvat(videos={"clip.mp4": 10})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(fake: FakeCvat) -> CvatConfig:
    # No jitter: the waits are asserted exactly.
    return CvatConfig(
        url=fake.url, username="admin", password="secret", retries=3, backoff=0.5, jitter=0
    )


@pytest.fixture
def backend(fake: FakeCvat, config: CvatConfig, clock: Clock) -> Iterator[CvatBackend]:
    backend = CvatBackend(
        config, transport=fake.transport, sleep=clock.sleep, clock=clock, progress=False
    )
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def catalog_template(catalog_templates: CatalogFactory) -> tuple[Path, Path]:
    """The session's `cvat` catalog file and its media folder (copy before writing)."""
    template = catalog_templates.template("cvat")
    return template.path, template.media


@pytest.fixture
def catalog(make_catalog: Any) -> Catalog:
    """A fresh copy of the `cvat` catalog (cvat_catalog.py)."""
    return make_catalog("cvat")


@pytest.fixture
def wb(catalog: Catalog, backend: CvatBackend) -> Workbench:
    return Workbench(catalog, actor="tester", backends={"local": LocalBackend(), "cvat": backend})
