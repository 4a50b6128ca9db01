"""Fixtures of the evaluation tests: a generated COCO dataset imported into a real catalog
(the `boxes` recipe of tests/catalogs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.catalogs import CatalogFactory
from workbench.store.catalog import Catalog

from .eval_data import Dataset


@pytest.fixture(scope="session")
def box_dataset(catalog_templates: CatalogFactory) -> tuple[Dataset, Path]:
    template = catalog_templates.template("boxes")
    return template.made, template.path


@pytest.fixture
def catalog(make_catalog: Any) -> Catalog:
    """A fresh copy of the catalog (ground truth and predictions, nothing evaluated yet)."""
    return make_catalog("boxes")
