"""Fixtures of the service tests: a fresh small catalog per test and a service on it."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from service_catalog import build_catalog

import workbench
from workbench.services import Workbench
from workbench.store.catalog import Catalog


@pytest.fixture(scope="session")
def catalog_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("services")
    media = folder / "media"
    build_catalog(folder / "template.duckdb", media).close()
    return folder / "template.duckdb", media


@pytest.fixture
def catalog(catalog_template: tuple[Path, Path], tmp_path: Path) -> Iterator[Catalog]:
    path = tmp_path / "services.duckdb"
    shutil.copyfile(catalog_template[0], path)
    with workbench.open(path) as cat:
        yield cat


@pytest.fixture
def media(catalog_template: tuple[Path, Path]) -> Path:
    return catalog_template[1]


@pytest.fixture
def wb(catalog: Catalog) -> Workbench:
    return Workbench(catalog, actor="tester")
