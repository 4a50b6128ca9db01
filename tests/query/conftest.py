"""Fixtures of the query tests: the small catalog described in query_catalog.py."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from query_catalog import build_catalog

import workbench
from workbench.store.catalog import Catalog


@pytest.fixture(scope="session")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("query") / "query.duckdb"
    build_catalog(path).close()
    return path


@pytest.fixture
def catalog(catalog_file: Path, tmp_path: Path) -> Iterator[Catalog]:
    """A fresh copy of the small catalog for each test (a test may write to it)."""
    path = tmp_path / "query.duckdb"
    shutil.copyfile(catalog_file, path)
    with workbench.open(path) as cat:
        yield cat
