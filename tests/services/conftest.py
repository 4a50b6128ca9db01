"""Fixtures of the service tests: a fresh copy of the `services` catalog per test (see
service_catalog.py) and a service on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.catalogs import CatalogFactory
from workbench.services import Workbench
from workbench.store.catalog import Catalog


@pytest.fixture(scope="session")
def catalog_template(catalog_templates: CatalogFactory) -> tuple[Path, Path]:
    """The session's `services` catalog file and its media folder (copy before writing)."""
    template = catalog_templates.template("services")
    return template.path, template.media


@pytest.fixture
def catalog(make_catalog: Any) -> Catalog:
    return make_catalog("services")


@pytest.fixture
def media(catalog_template: tuple[Path, Path]) -> Path:
    return catalog_template[1]


@pytest.fixture
def wb(catalog: Catalog) -> Workbench:
    return Workbench(catalog, actor="tester")
