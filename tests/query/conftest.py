"""Fixtures of the query tests: the small catalog described in query_catalog.py."""

from typing import Any

import pytest

from workbench.store.catalog import Catalog


@pytest.fixture
def catalog(make_catalog: Any) -> Catalog:
    """A fresh copy of the small catalog for each test (a test may write to it)."""
    return make_catalog("query")
