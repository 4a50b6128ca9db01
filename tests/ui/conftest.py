"""Fixtures of the UI tests: the `ui` catalog (ui_catalog.py), a service on it acting as
"ana" with the local platform, and a session's state over both.

`catalog` is a fresh copy per test (tests may write); a module whose tests only read
overrides it with one copy for the module (`read_only_catalogs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.catalogs import CatalogFactory
from workbench.backends import LocalBackend
from workbench.services import Workbench
from workbench.store.catalog import Catalog
from workbench.ui.media import ServedMediaUrls
from workbench.ui.state import WorkbenchState


@pytest.fixture
def catalog(make_catalog: Any) -> Catalog:
    return make_catalog("ui")


@pytest.fixture(scope="module")
def read_only_catalogs(
    catalog_templates: CatalogFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Catalog]]:
    """`read_only_catalogs("ui")`: one open copy of a recipe for the whole module."""
    opened: list[Catalog] = []

    def make(recipe: str) -> Catalog:
        catalog = catalog_templates.open(recipe, tmp_path_factory.mktemp(recipe))
        opened.append(catalog)
        return catalog

    try:
        yield make
    finally:
        for catalog in opened:
            catalog.close()


@pytest.fixture
def service(catalog: Catalog) -> Workbench:
    return Workbench(catalog, actor="ana", backends={"local": LocalBackend()})


@pytest.fixture
def state(catalog: Catalog, service: Workbench) -> WorkbenchState:
    return WorkbenchState(catalog, ServedMediaUrls(), service=service)
